#!/usr/bin/env bash
# Installs the build into a DESTDIR and uses only what was installed: the
# files are where a C project puts them, every man page renders, a program
# builds against `pkg-config libcairn` (shared and static) and runs, the
# systemd unit passes `systemd-analyze verify` (when available), and the
# installed cairn-conform, reading the installed cases, passes a selection of
# cases against the installed cairnd.
#   test_install.sh BUILD_DIR PACKAGING_SRC_DIR [EXTRA_CFLAGS]
set -uo pipefail
build=$1 src=$2 extra=${3:-}
prefix=/opt/cairn
work=$(mktemp -d /tmp/cairn-install-XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

DESTDIR=$work/root cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; bad "cmake --install"; exit 1; }
root=$work/root$prefix
lib=$root/lib
[ -d "$lib" ] || lib=$(dirname "$(find "$root" -name libcairn.pc | head -1)")/..

for f in sbin/cairnd bin/cairn bin/cairn-conform include/cairn/msg.h include/cairn/session.h \
         include/cairn/cairn.pb-c.h share/man/man8/cairnd.8 share/man/man1/cairn.1 \
         share/man/man1/cairn-conform.1 share/cairn/spec/cairn-v1.md share/cairn/proto/cairn.proto \
         share/cairn/vectors/frames.json share/cairn/conformance/cases share/cairn/conformance/fixtures \
         share/cairn/wireshark/cairn.lua lib/systemd/system/cairnd.service; do
  [ -e "$root/$f" ] && ok "installed $f" || bad "missing $f"
done
for f in libcairn.a libcairn.so libcairn.pc; do
  [ -n "$(find "$root" -name "$f")" ] && ok "installed $f" || bad "missing $f"
done
for f in json.h store.h fault.h frame.h arena.h; do
  [ ! -e "$root/include/cairn/$f" ] && ok "$f is not a public header" || bad "$f installed"
done

# man -l renders each page
for m in man8/cairnd.8 man1/cairn.1 man1/cairn-conform.1; do
  name=$(basename "$m" | sed 's/\.[0-9]$//')
  out=$(MANWIDTH=80 man -l "$root/share/man/$m" 2>&1)
  if grep -q "^NAME" <<<"$out" && grep -q "$name - " <<<"$out" && grep -q "^SYNOPSIS" <<<"$out"; then ok "man -l $m renders"; else bad "man -l $m"; echo "$out" | head; fi
done

# a program against pkg-config libcairn
pc_dir=$(dirname "$(find "$root" -name libcairn.pc | head -1)")
pc() { PKG_CONFIG_PATH=$pc_dir pkg-config --define-variable=prefix="$root" "$@" libcairn; }
libdir=$(pc --variable=libdir)
grep -q "^prefix=$prefix\$" "$pc_dir/libcairn.pc" && ok "libcairn.pc names the prefix $prefix" ||
  bad "libcairn.pc prefix: $(grep ^prefix "$pc_dir/libcairn.pc")"
if cc $extra "$src/install_check.c" -o "$work/check_shared" $(pc --cflags --libs) 2>"$work/cc.log" &&
   out=$(LD_LIBRARY_PATH=$libdir "$work/check_shared") && [ "${out%% *}" = ok ] &&
   deps=$(LD_LIBRARY_PATH=$libdir ldd "$work/check_shared") &&
   grep -q "libcairn.so.0 => $libdir" <<<"$deps"; then
  ok "shared: $out (libcairn.so.0 from the DESTDIR)"
else
  cat "$work/cc.log"; bad "program against the shared libcairn: ${out:-}"
fi
if cc $extra "$src/install_check.c" -o "$work/check_static" $(pc --cflags) "$libdir/libcairn.a" \
      $(PKG_CONFIG_PATH=$pc_dir pkg-config --define-variable=prefix="$root" --static --libs libcairn |
        sed 's/-lcairn//; s/-L[^ ]*//') 2>"$work/cc.log" &&
   out=$("$work/check_static") && [ "${out%% *}" = ok ] && deps=$(ldd "$work/check_static") &&
   ! grep -q libcairn <<<"$deps"; then
  ok "static: $out"
else
  cat "$work/cc.log"; bad "program against the static libcairn: ${out:-}"
fi

# the systemd unit
unit=$root/lib/systemd/system/cairnd.service
grep -q "^ExecStart=$prefix/sbin/cairnd " "$unit" && ok "unit starts $prefix/sbin/cairnd" || bad "unit ExecStart"
for k in DynamicUser=yes StateDirectory=cairnd ProtectSystem=strict NoNewPrivileges=yes; do
  grep -q "^$k" "$unit" && ok "unit has $k" || bad "unit lacks $k"
done
if command -v systemd-analyze >/dev/null; then
  # verify the unit as installed, with ExecStart pointing into the DESTDIR
  # and its man page (Documentation=) found there
  mkdir -p "$work/unit"
  sed "s|$prefix/sbin/cairnd|$root/sbin/cairnd|" "$unit" >"$work/unit/cairnd.service"
  if v=$(MANPATH=$root/share/man systemd-analyze verify "$work/unit/cairnd.service" 2>&1) &&
     [ -z "$v" ]; then
    ok "systemd-analyze verify cairnd.service"
  else
    bad "systemd-analyze verify: $v"
  fi
  s=$(systemd-analyze security --offline=true "$work/unit/cairnd.service" 2>/dev/null | tail -1)
  [ -n "$s" ] && echo "     $s"
else
  echo "skip systemd-analyze: not installed"
fi

# the installed cairn-conform reads the installed cases: one case removed from
# the installed tree is one case fewer in its list
n_src=$(cd "$work" && "$root/bin/cairn-conform" list | grep -c '^[A-Z]')
victim=$(ls "$root/share/cairn/conformance/cases/server" | head -1)
mv "$root/share/cairn/conformance/cases/server/$victim" "$work/"
n_inst=$(cd "$work" && "$root/bin/cairn-conform" list | grep -c '^[A-Z]')
mv "$work/$victim" "$root/share/cairn/conformance/cases/server/"
[ "$n_inst" -eq $((n_src - 1)) ] && ok "cairn-conform reads the installed cases ($n_src)" ||
  bad "cairn-conform list: $n_src, then $n_inst without $victim"

# the installed cairn-conform against the installed cairnd
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$root/sbin/cairnd" --datadir "$work/node" --listen "127.0.0.1:$port" >"$work/cairnd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
if (cd "$work" && "$root/bin/cairn-conform" server "127.0.0.1:$port" SRV-HS-00 SRV-FRM-00 SRV-KA \
      >"$work/conform.log" 2>&1); then
  ok "installed cairn-conform vs installed cairnd: $(tail -1 "$work/conform.log")"
else
  tail -30 "$work/conform.log"; bad "installed cairn-conform vs installed cairnd"
fi
[ $fail = 0 ] && echo "all passed" || echo "failures above"
exit $fail
