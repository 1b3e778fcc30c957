#!/bin/sh
# bpfkit postinstall (deb postinst: configure [OLD-VERSION], abort-*; rpm %post: 1 install, 2 upgrade).
# Byte-compiles the modules (start-up is a feature: a systemd unit's ProtectSystem=strict
# would otherwise compile them at every start), tells a running systemd about the units,
# and restarts services that already run after an upgrade. Never enables or starts one.
set -e
root="${DPKG_ROOT:-}"   # dpkg --root with --force-script-chrootless: the tree installed into

if [ -x /usr/bin/python3 ]; then
    # the interpreter /usr/bin/bpfkit runs: its cache tag is the one imports look for
    /usr/bin/python3 -m compileall -q -j 0 "$root/usr/lib/bpfkit" >/dev/null \
        || echo "bpfkit: byte-compiling /usr/lib/bpfkit failed: it runs, slower to start" >&2
fi

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    # deb: configure with the version replaced (rpm restarts in postremove, once the old files are gone)
    if [ "$1" = configure ] && [ -n "${2:-}" ]; then
        systemctl try-restart 'bpfkit@*.service' bpfkit-agent.service >/dev/null 2>&1 || true
    fi
fi
exit 0
