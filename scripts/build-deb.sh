#!/bin/sh
# make deb: builds the Debian packages remiss, libremiss1 and libremiss-dev
# with dpkg-buildpackage (debian/) in a temporary copy of the source tree,
# so its build and clean steps never touch this tree's build/, bin/ and
# lib/, and puts the .deb, .buildinfo and .changes files into OUTDIR.
#
# Usage: scripts/build-deb.sh [OUTDIR]        (default build/deb)
# DEB_BUILD_OPTIONS is passed on; default "nocheck parallel=2".
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build/deb}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d /tmp/remiss-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/remiss"

# The source tree without build outputs, run state or the VCS.
(cd "$ROOT" && tar --exclude=./build --exclude=./bin --exclude=./lib --exclude=./run \
    --exclude=./.git --exclude=./bench/results -cf - .) | tar -C "$work/remiss" -xf -

export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-nocheck parallel=2}"
if ! (cd "$work/remiss" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log" >&2
    echo "error: E_IO: dpkg-buildpackage failed (the last lines of its output are above)" >&2
    exit 1
fi
rm -f "$OUT"/*.deb "$OUT"/*.buildinfo "$OUT"/*.changes
cp "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$OUT"/
for f in "$OUT"/*.deb; do echo "  DEB     $f"; done
