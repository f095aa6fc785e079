#!/bin/sh
# make install: copies what `make` built, the headers, the pkg-config file,
# man pages, the example configuration and the systemd unit into
# $DESTDIR$PREFIX (configuration into
# $DESTDIR/etc/remiss, without overwriting). Builds nothing.
#
# Environment (defaults in brackets):
#   PREFIX      [/usr/local]
#   DESTDIR     staging root for packages []
#   BIN_DIR     where the built programs are [bin]
#   LIB_DIR     where the built libraries are [lib]
#   GEN_DIR     where the generated remiss.pb-c.h is [build/gen]
#   VERSION     version in the pkg-config file [0.1.0]
#   LIBDIR      where the libraries go [PREFIX/lib/MULTIARCH, the triplet
#               from dpkg-architecture -qDEB_HOST_MULTIARCH; PREFIX/lib
#               where dpkg-architecture is missing]
# BIN_DIR, LIB_DIR and GEN_DIR are relative to the current directory when
# given, to the source tree by default.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
abs() {
    case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$(pwd)" "$1" ;; esac
}
BIN_DIR=$(abs "${BIN_DIR:-$ROOT/bin}")
LIB_DIR=$(abs "${LIB_DIR:-$ROOT/lib}")
GEN_DIR=$(abs "${GEN_DIR:-$ROOT/build/gen}")
cd "$ROOT"

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
VERSION=${VERSION:-0.1.0}
case $PREFIX in /*) ;; *) echo "error: E_USAGE: PREFIX must be absolute: $PREFIX" >&2; exit 2 ;; esac

bindir=$PREFIX/bin
sbindir=$PREFIX/sbin
if [ -z "${LIBDIR:-}" ]; then
    multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
    LIBDIR=$PREFIX/lib${multiarch:+/$multiarch}
fi
libdir=$LIBDIR
case $libdir in /*) ;; *) echo "error: E_USAGE: LIBDIR must be absolute: $libdir" >&2; exit 2 ;; esac
includedir=$PREFIX/include
mandir=$PREFIX/share/man
datadir=$PREFIX/share/remiss
unitdir=$PREFIX/lib/systemd/system
sysusersdir=$PREFIX/lib/sysusers.d
# Fixed, not under PREFIX: the unit's ConfigurationDirectory= is /etc/remiss.
confdir=/etc/remiss
D=$DESTDIR

for f in "$BIN_DIR/remissd" "$BIN_DIR/remiss" "$BIN_DIR/remissctl" \
    "$BIN_DIR/remiss-gateway" "$BIN_DIR/remiss-witness" \
    "$LIB_DIR/libremiss.a" "$LIB_DIR/libremiss.so" "$GEN_DIR/remiss.pb-c.h"; do
    if [ ! -f "$f" ]; then
        echo "error: E_USAGE: $f is missing; run make first" >&2
        exit 1
    fi
done

# put MODE SRC DEST: installs one file (DEST is the full target path).
put() {
    install -D -m "$1" "$2" "$D$3"
    echo "  INSTALL $D$3"
}

# Programs: the daemon in sbin, the clients in bin.
put 0755 "$BIN_DIR/remissd" "$sbindir/remissd"
put 0755 "$BIN_DIR/remiss" "$bindir/remiss"
put 0755 "$BIN_DIR/remissctl" "$bindir/remissctl"
put 0755 "$BIN_DIR/remiss-gateway" "$sbindir/remiss-gateway"
put 0755 "$BIN_DIR/remiss-witness" "$bindir/remiss-witness"

# The client library: the real file carries the soname, the .so link is for
# linking with -lremiss.
put 0644 "$LIB_DIR/libremiss.a" "$libdir/libremiss.a"
put 0755 "$LIB_DIR/libremiss.so" "$libdir/libremiss.so.1"
ln -sf libremiss.so.1 "$D$libdir/libremiss.so"
echo "  LINK    $D$libdir/libremiss.so -> libremiss.so.1"

# Public headers in their own directory: remiss.h includes the other two
# with quotes, so they must sit side by side.
put 0644 include/remiss.h "$includedir/remiss/remiss.h"
put 0644 include/remiss_code.h "$includedir/remiss/remiss_code.h"
put 0644 "$GEN_DIR/remiss.pb-c.h" "$includedir/remiss/remiss.pb-c.h"

# pkg-config: libdir and includedir are written relative to ${exec_prefix}
# and ${prefix} where they lie under PREFIX, so that --define-variable=prefix
# and a staged tree (PKG_CONFIG_SYSROOT_DIR) move them along.
case $libdir in
"$PREFIX"/*) pc_libdir="\${exec_prefix}${libdir#"$PREFIX"}" ;;
*) pc_libdir=$libdir ;;
esac
pc=$(mktemp)
trap 'rm -f "$pc"' EXIT
sed -e "s|@PREFIX@|$PREFIX|" -e "s|@LIBDIR@|$pc_libdir|" -e "s|@VERSION@|$VERSION|" \
    config/remiss.pc.in >"$pc"
put 0644 "$pc" "$libdir/pkgconfig/remiss.pc"

# Man pages, those that exist: docs/NAME.SECTION.
for m in docs/*.1 docs/*.5 docs/*.8; do
    [ -f "$m" ] || continue
    put 0644 "$m" "$mandir/man${m##*.}/$(basename "$m")"
done

# The wire contract for clients in other languages.
put 0644 proto/remiss.proto "$datadir/remiss.proto"

# Example configuration: never overwrites what the operator has.
for c in remissd.conf stockholm.policy remiss-gateway.conf; do
    if [ -e "$D$confdir/$c" ]; then
        echo "  KEEP    $D$confdir/$c (exists; the example is $datadir/$c)"
    else
        put 0644 "config/$c" "$confdir/$c"
    fi
    put 0644 "config/$c" "$datadir/$c"
done

# systemd: the unit, with ExecStart= pointing into this prefix, and its user.
unit=$(mktemp)
trap 'rm -f "$pc" "$unit"' EXIT
sed -e "s|^\(Exec[A-Za-z]*\)=/usr/local/sbin/remissd |\1=$sbindir/remissd |" config/remissd.service >"$unit"
put 0644 "$unit" "$unitdir/remissd.service"
sed -e "s|^ExecStart=/usr/local/bin/remiss-witness |ExecStart=$bindir/remiss-witness |" config/remiss-witness.service >"$unit"
put 0644 "$unit" "$unitdir/remiss-witness.service"
sed -e "s|^ExecStart=/usr/local/sbin/remiss-gateway |ExecStart=$sbindir/remiss-gateway |" config/remiss-gateway.service >"$unit"
put 0644 "$unit" "$unitdir/remiss-gateway.service"
put 0644 config/remiss-witness.conf "$datadir/remiss-witness.conf"
put 0644 config/remiss.sysusers "$sysusersdir/remiss.conf"

if [ -z "$D" ]; then
    cat <<MSG
install: done. To run remissd as a service:
  systemd-sysusers && systemctl daemon-reload
  edit $confdir/remissd.conf, put the PKI in $confdir/pki, then
  systemctl enable --now remissd
MSG
fi
