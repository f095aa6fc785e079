#!/bin/sh
# Installs the Debian 12 packages remiss needs to build, test and run, if any
# are missing. Uses apt-get directly as root, through sudo otherwise.
# Usage: scripts/install-deps.sh [build|bench]
set -eu

PKGS="build-essential pkg-config libzmq3-dev libssl-dev libprotobuf-c-dev
protobuf-c-compiler libcriterion-dev libsqlite3-dev libcjson-dev libinih-dev
libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev sqlite3 libpq-dev postgresql openssl clang libclang-rt-14-dev curl groff-base
debhelper dpkg-dev fakeroot lintian prometheus chromium poppler-utils
golang-go golang-golang-x-mod-dev jq xxd
python3 python3-jsonschema python3-yaml"
if [ "${1:-build}" = bench ]; then
    PKGS="$PKGS mosquitto libmosquitto-dev rabbitmq-server librabbitmq-dev nats-server
libnats-dev gnuplot-nox"
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# The OpenAPI linter (docs/openapi.yaml) from npm, pinned by tools/package-lock.json,
# into tools/node_modules (not committed).
if [ "${1:-build}" = build ] && [ ! -x tools/node_modules/.bin/redocly ] && command -v npm >/dev/null 2>&1; then
    echo "install-deps: installing the OpenAPI linter into tools/node_modules" >&2
    (cd tools && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
        echo "install-deps: npm ci failed; make openapi-lint will fail" >&2
fi
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "error: E_CONFIG: missing packages ($missing) and neither root nor sudo" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
