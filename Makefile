# bpfkit: `make run` (set up, build, run the main job) and `make test` (set up, build, run the suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := .stamps

# Every BPF program the package ships, plus the example. Test programs are
# built by the suite itself (tests/conftest.py), through the same builder.
BPF_SRCS := $(shell find src/bpfkit examples -name '*.bpf.c')
BPF_OBJS := $(BPF_SRCS:.bpf.c=.bpf.o)

.PHONY: run test deps build lint bench clean
.DEFAULT_GOAL := run

# The main job: what this kernel offers, then every monitor it can run, in one
# agent in the foreground (text; metrics at http://127.0.0.1:9464/metrics).
# Ctrl+C stops it cleanly.
run: build
	$(BIN)/bpfkit doctor
	$(BIN)/bpfkit agent --metrics 127.0.0.1:9464

test: build
	$(BIN)/python -m pytest -q tests

deps: $(STAMPS)/system $(STAMPS)/venv

$(STAMPS)/system: scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	@mkdir -p $(STAMPS) && touch $@

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

lint: deps
	$(BIN)/ruff check src tests bench examples

bench: build
	bash scripts/install-system-deps.sh --bench
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/ringbuf_throughput.py
	$(BIN)/python bench/fileopen.py
	$(BIN)/python bench/tcptrack.py
	$(BIN)/python bench/fileaudit.py

clean:
	find . -name '*.bpf.o' -o -name '*.bpf.o.d' | xargs rm -f
	rm -rf $(STAMPS) $(VENV) build *.egg-info src/*.egg-info
