#!/usr/bin/env bash
# cpack -G DEB builds the Debian package, and the package holds the programs,
# the library, the unit (starting /usr/sbin/cairnd), the man pages and
# share/cairn under /usr.   test_deb.sh BUILD_DIR
set -uo pipefail
build=$1
out=$(mktemp -d /tmp/cairn-deb-XXXXXX)
trap 'rm -rf "$out"' EXIT
command -v dpkg-deb >/dev/null || { echo "dpkg-deb not installed"; exit 77; }
if ! cpack -G DEB -B "$out" --config "$build/CPackConfig.cmake" >"$out/cpack.log" 2>&1; then
  cat "$out/cpack.log"; echo "FAIL cpack -G DEB"; exit 1
fi
deb=$(ls "$out"/*.deb)
echo "ok   cpack -G DEB: $(basename "$deb")"
files=$(dpkg-deb -c "$deb" | awk '{print $6}')
fail=0
for f in ./usr/sbin/cairnd ./usr/bin/cairn ./usr/bin/cairn-conform ./usr/lib/libcairn.a \
         ./usr/lib/libcairn.so.0 ./usr/lib/pkgconfig/libcairn.pc ./usr/include/cairn/session.h \
         ./usr/lib/systemd/system/cairnd.service ./usr/share/man/man8/cairnd.8 \
         ./usr/share/cairn/spec/cairn-v1.md ./usr/share/cairn/wireshark/cairn.lua; do
  grep -qx "$f" <<<"$files" && echo "ok   package has $f" || { echo "FAIL package lacks $f"; fail=1; }
done
unit=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/cairnd.service)
grep -q "^ExecStart=/usr/sbin/cairnd " <<<"$unit" && echo "ok   unit starts /usr/sbin/cairnd" ||
  { echo "FAIL unit: $(grep ExecStart <<<"$unit")"; fail=1; }
pc=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/pkgconfig/libcairn.pc)
grep -q "^prefix=/usr$" <<<"$pc" && echo "ok   libcairn.pc has prefix=/usr" || { echo "FAIL pc"; fail=1; }
dep=$(dpkg-deb -f "$deb" Depends)
grep -q "libssl3" <<<"$dep" && grep -q "libprotobuf-c1" <<<"$dep" &&
  echo "ok   Depends: $dep" || { echo "FAIL Depends: $dep"; fail=1; }
exit $fail
