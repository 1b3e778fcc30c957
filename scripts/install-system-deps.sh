#!/usr/bin/env bash
# Installs the system packages bpfkit needs (Debian 12+, Ubuntu 22.04+), from the distribution's
# own archives as the machine's apt sources list them (no repository is added: a user's apt
# set-up is left as it is). Idempotent: installs only what is missing, apt-get update only then.
#
# Usage: install-system-deps.sh [--test] [--package] [--bench]
#   (nothing)  build and run: clang (the newest the release's own suites offer: clang-19 on
#              Debian 12), llvm, libbpf, bpftool, python3-venv
#   --test     and what the test suite drives: DNS clients and stubs, a USDT test binary's
#              header, WireGuard in user space, logrotate, rpm (to check the .rpm), strace
#   --package  and what the .deb depends on (so dpkg -i of a package built here installs)
#   --bench    and the yardsticks the benchmarks measure against: libbpf-tools, bpftrace
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
deb() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed; }

have clang-19 || need+=(CLANG)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
ldconfig -p | grep -q 'libbpf\.so\.1 ' || need+=(libbpf1)
have make || need+=(make)
have gcc || need+=(gcc)
[ -f /usr/include/stdio.h ] || need+=(libc6-dev)   # gcc's Recommends, absent with --no-install-recommends
have ip || need+=(iproute2)
have setpriv && have unshare && have nsenter || need+=(util-linux)
[ -x /usr/bin/python3 ] || need+=(python3)   # the packages' interpreter (and tests run as uid 65534)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
have bpftool || need+=(BPFTOOL)
deb linux-libc-dev || need+=(linux-libc-dev)   # hist/count: syscall numbers (asm/unistd_64.h)
# What the .deb depends on beyond the base set, for the /usr/bin/python3 its launcher runs.
package_deps() {
    /usr/bin/python3 -c 'import dns.message, prometheus_client, elftools' >/dev/null 2>&1 \
        || need+=(python3-dnspython python3-prometheus-client python3-pyelftools)
}
for arg in "$@"; do
    case "$arg" in
        --test)
            have logrotate || need+=(logrotate)          # reliability: rotation under load
            have strace || need+=(strace)
            have dig || need+=(bind9-dnsutils)           # dnswatch: dig's UDP and TCP clients
            have musl-gcc || need+=(musl-tools)          # dnswatch: a static musl resolver
            have go || [ -x /usr/lib/go/bin/go ] || need+=(golang-go)   # dnswatch: Go's own resolver
            [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)   # a stub resolver (not the service)
            deb systemtap-sdt-dev || need+=(systemtap-sdt-dev)   # sys/sdt.h: a USDT test binary
            have rpm || need+=(rpm)                      # checks the .rpm's files and scripts
            package_deps                                 # the package tests run the installed files
            have wireguard-go || need+=(wireguard-go)    # the WireGuard preset, in user space
            have wg || need+=(wireguard-tools)
            have systemd-analyze || need+=(systemd)      # the units are verified and scored
            have bpftrace || need+=(bpftrace)            # hist: our text is compared with bpftrace's
            ;;
        --package)
            package_deps                                 # `make deb && dpkg -i bpfkit_*.deb` then works
            ;;
        --bench)
            have bpftrace || need+=(bpftrace)
            [ -x /usr/sbin/opensnoop ] || need+=(libbpf-tools)
            ;;
        *) echo "install-system-deps.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages (${need[*]}): run this as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
pkgs=()
for p in "${need[@]}"; do
    case "$p" in
        BPFTOOL)
            # Debian ships bpftool on its own; Ubuntu inside linux-tools.
            if apt-cache show bpftool >/dev/null 2>&1; then
                pkgs+=(bpftool)
            else
                pkgs+=(linux-tools-common "linux-tools-$(uname -r)")
            fi ;;
        CLANG)
            # clang-19 where the release offers it (Debian 12: bookworm main): newer clangs
            # emit code older verifiers accept more readily and the BTF recent libbpf-tools
            # sources expect; else the release's default clang.
            if apt-cache show clang-19 >/dev/null 2>&1; then
                pkgs+=(clang-19 llvm-19)
            elif ! have clang; then
                pkgs+=(clang llvm)
            fi ;;
        *) pkgs+=("$p") ;;
    esac
done
[ ${#pkgs[@]} -eq 0 ] && exit 0
echo "installing: ${pkgs[*]}" >&2
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
