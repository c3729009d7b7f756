#!/usr/bin/env bash
# Fetches the Debian source of protobuf-c, exactly the version whose headers
# and protoc-c are installed (libprotobuf-c-dev), into DEST, with Debian's
# patches applied. fuzz/CMakeLists.txt then compiles DEST/protobuf-c/protobuf-c.c
# into a static library with the fuzz build's own flags (ASan, UBSan,
# -fsanitize=fuzzer-no-link), so libFuzzer sees inside the parser: against
# Debian's uninstrumented shared library it sees 29 coverage points there
# instead of ~850 (ARCHITECTURE.md, research/deps-and-fuzzing.md).
#
# Usage: fuzz/build-protobuf-c.sh DEST
# Idempotent: does nothing when DEST already holds the right version.
# Needs root (or sudo) the first time on a machine: it adds a deb-src entry
# for the configured Debian mirror and runs apt-get update.
set -euo pipefail

dest=${1:?usage: $0 DEST}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

version=$(dpkg-query -W -f='${source:Version}' libprotobuf-c-dev 2>/dev/null || true)
if [ -z "$version" ]; then
    as_root apt-get install -y --no-install-recommends libprotobuf-c-dev protobuf-c-compiler
    version=$(dpkg-query -W -f='${source:Version}' libprotobuf-c-dev)
fi
if [ -f "$dest/protobuf-c/protobuf-c.c" ] && [ "$(cat "$dest/.cairn-version" 2>/dev/null)" = "$version" ]; then
    exit 0
fi

command -v dpkg-source >/dev/null || as_root apt-get install -y --no-install-recommends dpkg-dev

# A deb-src entry mirroring the first "Types: deb" stanza (deb822) or deb line.
if ! apt-get source --print-uris "protobuf-c=$version" >/dev/null 2>&1; then
    src=/etc/apt/sources.list.d/cairn-deb-src.sources
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uris=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
        suites=$(awk '/^Suites:/{sub(/^Suites: */, ""); print; exit}' /etc/apt/sources.list.d/debian.sources)
    else
        uris=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
        suites=$(awk '$1 == "deb" {print $3; exit}' /etc/apt/sources.list)
    fi
    uris=${uris:-http://deb.debian.org/debian}
    suites=${suites:-bookworm}
    printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uris" "$suites" | as_root tee "$src" >/dev/null
    as_root apt-get update -qq
fi

work=$(mktemp -d)
chmod 755 "$work" # apt fetches as _apt
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get source -qq "protobuf-c=$version" >/dev/null)
dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'protobuf-c-*' | head -n 1)
[ -f "$dir/protobuf-c/protobuf-c.c" ] || { echo "protobuf-c source not found in $work" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
cp -a "$dir" "$dest"
echo "$version" >"$dest/.cairn-version"
echo "protobuf-c $version source in $dest"
