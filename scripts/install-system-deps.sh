#!/usr/bin/env bash
# Installs the system packages bpfkit needs to build and test (Debian 12+, Ubuntu 22.04+).
# Idempotent: installs only what is missing, and runs apt-get update only then.
# Usage: install-system-deps.sh [--bench]   (--bench adds libbpf-tools and bpftrace)
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have clang || need+=(clang)
have llvm-strip || need+=(llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
ldconfig -p | grep -q 'libbpf\.so\.1 ' || need+=(libbpf1)
have make || need+=(make)
have ip || need+=(iproute2)
have setpriv && have unshare || need+=(util-linux)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
have bpftool || need+=(BPFTOOL)
have logrotate || need+=(logrotate)       # tests/reliability: rotation under load
if [ "${1:-}" = "--bench" ]; then
    have bpftrace || need+=(bpftrace)
    [ -x /usr/sbin/opensnoop ] || need+=(libbpf-tools)
fi

[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages (${need[*]}): run this as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
pkgs=()
for p in "${need[@]}"; do
    if [ "$p" = BPFTOOL ]; then
        # Debian ships bpftool on its own; Ubuntu inside linux-tools.
        if apt-cache show bpftool >/dev/null 2>&1; then
            pkgs+=(bpftool)
        else
            pkgs+=(linux-tools-common "linux-tools-$(uname -r)")
        fi
    else
        pkgs+=("$p")
    fi
done
echo "installing: ${pkgs[*]}" >&2
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
