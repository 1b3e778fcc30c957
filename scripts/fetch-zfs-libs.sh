#!/usr/bin/env bash
# Downloads Debian's ZFS user-space libraries (libnvpair, libuutil, libzfs + libzfs_core) WITHOUT
# installing them, and unpacks them into a cache directory, for the snapaudit tests (the real
# libzfs_core issues the genuine ioctls against a fake /dev/zfs):
#
#   scripts/fetch-zfs-libs.sh [--force] [CACHE_DIR]      (default: ~/.cache/bpfkit/zfs-libs)
#
# Result: CACHE_DIR/root/{lib,usr/lib}/<multiarch>/lib*.so.*, CACHE_DIR/MANIFEST. ZFS lives in
# Debian's "contrib" component, which many machines do not list: apt-fetch.sh asks the machine's
# own archives for it in a private apt configuration (see there). libzfs4linux ships libzfs.so.4
# and libzfs_core.so.3 (Debian has no separate libzfs-core package).
set -euo pipefail
force=()
if [ "${1:-}" = "--force" ]; then force=(--force); shift; fi
dest=${1:-${HOME:-/root}/.cache/bpfkit/zfs-libs}
exec bash "$(dirname "$0")/apt-fetch.sh" "${force[@]}" --components "main contrib" \
    --expect 'libzfs_core.so.*' --name fetch-zfs-libs "$dest" libnvpair3linux libuutil3linux libzfs4linux
