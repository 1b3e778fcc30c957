# bpfkit: `make run` (set up, build, run the main job) and `make test` (set up, build, run the suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := .stamps
CACHE  := $(HOME)/.cache/bpfkit

# Every BPF program the package ships, plus the examples. Test programs are
# built by the suite itself (tests/conftest.py), through the same builder, and
# so are the libbpf-tools ports (some keep types: `--keep-type`, per port).
BPF_SRCS := $(shell find src/bpfkit examples -name '*.bpf.c' -not -path 'examples/ports/*')
BPF_OBJS := $(BPF_SRCS:.bpf.c=.bpf.o)

# The library's own tests, run a second time against a newer libbpf (Debian's
# backports build, unpacked beside the system's, never installed).
LIBRARY_TESTS := tests/test_maps.py tests/test_ringbuf.py tests/test_perfbuf.py tests/test_attach.py \
	tests/test_hooks.py tests/test_fdmaps.py tests/test_valuemaps.py tests/test_pinning.py \
	tests/test_globals.py tests/test_testrun.py tests/test_errors.py tests/test_verifier_log.py \
	tests/test_docs.py tests/test_fileopen.py tests/test_ports.py
NEWER_LIBBPF := $(CACHE)/libbpf-backports

.PHONY: run test test-libbpf test-kernels test-kernels-ci deps build lint bench clean deb rpm zipapp
.DEFAULT_GOAL := run

# The main job: what this kernel offers, then every monitor it can run, in one
# agent in the foreground (text; metrics at http://127.0.0.1:9464/metrics).
# Ctrl+C stops it cleanly.
run: build
	$(BIN)/bpfkit doctor
	$(BIN)/bpfkit agent --metrics 127.0.0.1:9464

# The whole suite against the running kernel and the system's libbpf, then the
# library's tests against a newer libbpf. The ZFS libraries the snapaudit tests
# drive are fetched (not installed) first; offline, those tests skip and say why.
test: build $(STAMPS)/test-system
	-bash scripts/fetch-zfs-libs.sh
	$(BIN)/python -m pytest -q tests
	$(MAKE) --no-print-directory test-libbpf

test-libbpf: build
	@if bash scripts/apt-fetch.sh --suite backports --expect 'libbpf.so.1*' --name fetch-libbpf \
		$(NEWER_LIBBPF) libbpf1; then \
		lib=$$(find $(NEWER_LIBBPF)/root -name 'libbpf.so.1' | head -1); \
		echo "library tests against $$lib" >&2; \
		BPFKIT_LIBBPF=$$lib $(BIN)/python -m pytest -q $(LIBRARY_TESTS); \
	else echo "no newer libbpf to test against (no backports suite reachable): skipped" >&2; fi

# The kernel-facing tests on Debian's stock kernels (6.1; 6.12 from backports),
# booted under qemu (TCG here), where kprobes, fentry/fexit, BPF LSM and
# WireGuard exist: every fallback branch runs. ~15 minutes per kernel.
# KERNELS=6.1 (or all) and ARGS="-- tests/test_hooks.py" narrow it.
KERNELS ?= all
test-kernels: build
	-bash scripts/fetch-zfs-libs.sh
	python3 scripts/test-kernels.py --kernel $(KERNELS) $(ARGS)

# CI's part of that lane (.ci/run): on Debian's stock 6.1 only, every test that
# needs a hook this kernel lacks (needs(...)) and one run of each monitor (lane).
test-kernels-ci: build
	-bash scripts/fetch-zfs-libs.sh
	python3 scripts/test-kernels.py --kernel 6.1 -- -m "needs or lane" tests

deps: $(STAMPS)/system $(STAMPS)/venv

$(STAMPS)/system: scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/test-system: scripts/install-system-deps.sh $(STAMPS)/system
	bash scripts/install-system-deps.sh --test
	@touch $@

$(STAMPS)/venv: pyproject.toml $(STAMPS)/system
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

# Byte-compile the package: start-up time matters, and PYTHONDONTWRITEBYTECODE
# environments would otherwise recompile every module at every start.
build: deps $(BPF_OBJS)
	@$(BIN)/python -m compileall -q src/bpfkit

# bpfkit build keeps a clang depfile next to each object; make reads them so a
# changed header rebuilds exactly the objects that include it.
%.bpf.o: %.bpf.c $(STAMPS)/venv
	$(BIN)/bpfkit build $< -o $@
-include $(BPF_OBJS:=.d)

# Packages: .deb and .rpm in this directory (`make deb && apt install ./bpfkit_*.deb`),
# bpfkit.pyz (one file, runs with any Python 3.11+) in dist/. nfpm builds both
# packages from packaging/nfpm.yaml. BTF_KERNELS="RELEASE=/path/to/vmlinux-btf ..."
# also ships minimal BTF for those kernels (those without /sys/kernel/btf).
PACKAGE := $(BIN)/python scripts/package.py
deb: build
	bash scripts/install-system-deps.sh --package
	$(PACKAGE) deb --out . $(foreach k,$(BTF_KERNELS),--btf-kernel $(k))
rpm: build
	$(PACKAGE) rpm --out . $(foreach k,$(BTF_KERNELS),--btf-kernel $(k))
zipapp: build
	$(PACKAGE) zipapp --out dist

lint: deps
	$(BIN)/ruff check src tests bench examples scripts
	python3 scripts/check_imports.py

bench: build
	bash scripts/install-system-deps.sh --test --bench
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/ringbuf_throughput.py
	$(BIN)/python bench/fileopen.py
	$(BIN)/python bench/tcptrack.py
	$(BIN)/python bench/fileaudit.py
	$(BIN)/python bench/agent.py
	$(BIN)/python bench/snapaudit.py
	$(BIN)/python bench/hist.py
	$(BIN)/python bench/dnswatch.py
	$(BIN)/python bench/deploy.py

clean:
	find . -name '*.bpf.o' -o -name '*.bpf.o.d' | xargs rm -f
	rm -rf $(STAMPS) $(VENV) build dist *.egg-info src/*.egg-info bpfkit_*.deb bpfkit-*.rpm
