#!/bin/sh
# bpfkit postremove (deb postrm: remove, purge, upgrade, abort-*...; rpm %postun: 0 erase, 1 upgrade).
# Tells a running systemd the units are gone (or new, after an rpm upgrade, when the
# services that run restart on the new files). purge also removes the options
# `bpfkit service install` wrote (/etc/bpfkit/NAME.env); logs in /var/log/bpfkit are kept.
set -e
root="${DPKG_ROOT:-}"

if [ "$1" = purge ]; then
    rm -f "$root"/etc/bpfkit/*.env
    rmdir "$root/etc/bpfkit" 2>/dev/null || true
fi
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    case "$1" in
        remove|purge|0) systemctl daemon-reload >/dev/null 2>&1 || true ;;
        1)  systemctl daemon-reload >/dev/null 2>&1 || true
            systemctl try-restart 'bpfkit@*.service' bpfkit-agent.service >/dev/null 2>&1 || true ;;
    esac
fi
exit 0
