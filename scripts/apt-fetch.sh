#!/usr/bin/env bash
# Downloads Debian/Ubuntu packages WITHOUT installing them and unpacks them (dpkg-deb -x) into
# a cache directory, for tests and tools that need a library the machine must not get:
#
#   scripts/apt-fetch.sh [--force] [--suite SUFFIX] [--components "main contrib"] [--expect GLOB]
#                        [--name NAME] DEST PACKAGE...
#
# Result: DEST/root/... (the unpacked files), DEST/debs/*.deb, DEST/MANIFEST ("package version"
# lines; written last: its presence means complete). A second run with a complete cache does
# nothing and needs no network.
#
# Where from: the archive URIs and suites come from this machine's own apt sources
# (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and *.sources), never from a host name
# written here. The script writes a private apt configuration in a temporary directory (the
# same URIs, the components asked for), runs "apt-get update" and "apt-get download" against
# it and leaves the machine's apt state untouched. Without --suite only entries whose suite is
# this release's codename or CODENAME-* are used; --suite backports asks for CODENAME-backports
# at the URIs of the release's own entries (a machine need not list backports to get it).
set -euo pipefail

suffix=
components=main
expect=
name=apt-fetch
force=0
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1; shift ;;
        --suite) suffix=$2; shift 2 ;;
        --components) components=$2; shift 2 ;;
        --expect) expect=$2; shift 2 ;;
        --name) name=$2; shift 2 ;;
        *) break ;;
    esac
done
[ $# -ge 2 ] || { echo "usage: $0 [options] DEST PACKAGE..." >&2; exit 2; }
dest=$1
shift
PACKAGES=("$@")

dbg() { [ -n "${FZL_DEBUG:-}" ] && echo "$name: debug: $*" >&2; return 0; }
die() { echo "$name: $*" >&2; exit 1; }

if [ "$force" = 0 ] && [ -s "$dest/MANIFEST" ]; then
    complete=1
    for p in "${PACKAGES[@]}"; do grep -q "^$p " "$dest/MANIFEST" || complete=0; done
    if [ "$complete" = 1 ] && { [ -z "$expect" ] || [ -n "$(find "$dest/root" -name "$expect" -print -quit 2>/dev/null)" ]; }; then
        echo "$name: already in $dest" >&2
        exit 0
    fi
fi

for tool in apt-get dpkg-deb dpkg awk; do
    command -v "$tool" >/dev/null 2>&1 || die "needs $tool (a Debian/Ubuntu machine)"
done

codename=
if [ -r /etc/os-release ]; then
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
fi
[ -n "$codename" ] || die "cannot tell this release's codename from /etc/os-release"
arch=$(dpkg --print-architecture)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/apt-fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/etc/sources.list.d" "$tmp/etc/preferences.d" "$tmp/lists/partial" \
    "$tmp/cache/archives/partial" "$tmp/debs"

# Emit one "URI<TAB>SUITE<TAB>OPTIONS" line per Debian entry of the machine's sources.
# OPTIONS is the deb822 Signed-By value if any (kept so the private config trusts the same keys).
parse_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        # one-line format: deb [opt=val ...] URI SUITE COMPONENT...
        awk '
            { sub(/#.*/, "") }
            $1 != "deb" { next }
            {
                i = 2; signed = ""
                if ($i ~ /^\[/) {
                    while (i <= NF) {
                        o = $i; gsub(/[\[\]]/, "", o)
                        if (o ~ /^signed-by=/) { sub(/^signed-by=/, "", o); signed = o }
                        if ($i ~ /\]$/) { i++; break }
                        i++
                    }
                }
                if (i + 1 <= NF) printf "%s\t%s\t%s\n", $i, $(i + 1), signed
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # deb822: stanzas separated by blank lines; fields may be folded onto continuation lines.
        awk '
            function flush(   n, m, u, s, i, j, us, ss) {
                if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
                    n = split(uris, us, /[ \t]+/); m = split(suites, ss, /[ \t]+/)
                    for (i = 1; i <= n; i++) for (j = 1; j <= m; j++)
                        if (us[i] != "" && ss[j] != "") printf "%s\t%s\t%s\n", us[i], ss[j], signed
                }
                types = uris = suites = signed = enabled = ""; last = ""
            }
            /^#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { if (last == "signed-by") next; v = $0; sub(/^[ \t]+/, "", v)
                       if (last == "uris") uris = uris " " v; else if (last == "suites") suites = suites " " v
                       else if (last == "types") types = types " " v; next }
            {
                k = tolower($0); sub(/:.*/, "", k); v = $0; sub(/^[^:]*:[ \t]*/, "", v); last = k
                if (k == "types") types = v; else if (k == "uris") uris = v
                else if (k == "suites") suites = v; else if (k == "signed-by") signed = v
                else if (k == "enabled") enabled = v
            }
            END { flush() }' "$f"
    done
}

n=0
while IFS=$'\t' read -r uri suite signed; do
    if [ -n "$suffix" ]; then
        # another suite of the same archive: the entry of the release itself names the URI
        [ "$suite" = "$codename" ] || continue
        suite="$codename-$suffix"
    else
        case "$suite" in "$codename" | "$codename"-*) ;; *) continue ;; esac
    fi
    {
        echo "Types: deb"
        echo "URIs: $uri"
        echo "Suites: $suite"
        echo "Components: $components"
        echo "Architectures: $arch"
        # A multi-line inline key cannot be copied here; the default keyrings apply then.
        case "$signed" in /*) echo "Signed-By: $signed" ;; esac
        echo
    } >>"$tmp/etc/sources.list.d/fetch.sources"
    n=$((n + 1))
done < <(parse_sources | sort -u)
[ "$n" -gt 0 ] || die "no '$codename' Debian archive found in this machine's apt sources"

apt_opts=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$tmp/etc/sources.list.d"
    -o "Dir::Etc::Preferences=/dev/null"
    -o "Dir::Etc::PreferencesParts=$tmp/etc/preferences.d"
    -o "Dir::State::Lists=$tmp/lists"
    -o "Dir::Cache=$tmp/cache"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=$(id -un)"
    -o "Acquire::Languages=none"
    -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
    -o "Debug::NoLocking=1"
)
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

if ! apt-get "${apt_opts[@]}" -q update >"$tmp/update.log" 2>&1 ||
    grep -q '^E:' "$tmp/update.log"; then
    die "apt-get update of $n archive entr$([ "$n" = 1 ] && echo y || echo ies) failed: $(grep -m1 -E '^(E|W):' "$tmp/update.log" || tail -n1 "$tmp/update.log")"
fi

# The packages may depend on libraries not installed here: those are fetched and unpacked
# too (one level: their own dependencies are part of any Debian base system).
extra=()
deps=$(apt-cache "${apt_opts[@]}" depends --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${PACKAGES[@]}" 2>/dev/null |
    awk '$1 == "Depends:" || $1 == "PreDepends:" { print $2 }' | sed 's/:any$//' | sort -u) ||
    die "${PACKAGES[*]} not found in $n archive entr$([ "$n" = 1 ] && echo y || echo ies) ($components)$(
        w=$(grep -m1 '^W: Failed to fetch' "$tmp/update.log") && echo " (apt-get update: ${w#W: })")"
for d in $deps; do
    case "$d" in \<*) continue ;; esac
    case " ${PACKAGES[*]} " in *" $d "*) continue ;; esac
    dpkg-query -W -f='${db:Status-Status}\n' "$d" 2>/dev/null | grep -qx installed || extra+=("$d")
done
all=("${PACKAGES[@]}" "${extra[@]}")
dbg "dependencies: $(echo $deps); not installed here: ${extra[*]:-none}"

if ! (cd "$tmp/debs" && apt-get "${apt_opts[@]}" -q download "${all[@]}") >"$tmp/download.log" 2>&1; then
    die "apt-get download ${all[*]} failed: $(grep -m1 -E '^(E|W):' "$tmp/download.log" || tail -n1 "$tmp/download.log")"
fi

# Unpack into a fresh directory and swap it in, so an interrupted run never leaves a half cache.
mkdir -p "$dest"
rm -rf "$dest/.new"
mkdir -p "$dest/.new/root" "$dest/.new/debs"
: >"$dest/.new/MANIFEST.tmp"
for p in "${all[@]}"; do
    deb=$(find "$tmp/debs" -maxdepth 1 -name "${p}_*.deb" -print -quit)
    [ -n "$deb" ] || die "apt-get download gave no .deb for $p"
    dpkg-deb -x "$deb" "$dest/.new/root" || die "dpkg-deb -x $(basename "$deb") failed"
    cp "$deb" "$dest/.new/debs/"
    echo "$p $(dpkg-deb -f "$deb" Version)" >>"$dest/.new/MANIFEST.tmp"
done
[ -z "$expect" ] || [ -n "$(find "$dest/.new/root" -name "$expect" -print -quit)" ] ||
    die "the packages hold no $expect: ${PACKAGES[*]}"
rm -rf "$dest/root" "$dest/debs" "$dest/MANIFEST"
mv "$dest/.new/root" "$dest/.new/debs" "$dest/"
mv "$dest/.new/MANIFEST.tmp" "$dest/MANIFEST"
rmdir "$dest/.new"
echo "$name: $(tr '\n' ' ' <"$dest/MANIFEST")-> $dest" >&2
