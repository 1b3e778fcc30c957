#!/bin/sh
# bpfkit preremove (deb prerm: remove, upgrade, deconfigure, failed-upgrade; rpm %preun: 0 erase, 1 upgrade).
# Removes the byte-compiled modules postinstall made (no package owns them); on removal
# stops and disables the services first (their units go with the package).
set -e
root="${DPKG_ROOT:-}"

case "$1" in
    remove|0)
        if [ -z "$root" ] && [ -d /run/systemd/system ]; then
            units=bpfkit-agent.service
            for env in /etc/bpfkit/*.env; do     # instances `bpfkit service install` made
                if [ -e "$env" ]; then units="$units bpfkit@$(basename "$env" .env).service"; fi
            done
            systemctl --no-reload disable --now $units >/dev/null 2>&1 || true
            systemctl stop 'bpfkit@*.service' >/dev/null 2>&1 || true
        fi
        ;;
    1)  # rpm upgrade: the new version's postinstall already compiled its modules
        exit 0 ;;
esac
# deb upgrade too: the new version's postinst compiles again
find "$root/usr/lib/bpfkit" -depth -type d -name __pycache__ -exec rm -rf {} + 2>/dev/null || true
exit 0
