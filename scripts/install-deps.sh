#!/bin/sh
# Installs the Debian 12 packages remiss needs to build, test and run, if any
# are missing. Uses apt-get directly as root, through sudo otherwise.
# Usage: scripts/install-deps.sh [build|bench]
set -eu

PKGS="build-essential pkg-config libzmq3-dev libssl-dev libprotobuf-c-dev
protobuf-c-compiler libcriterion-dev libsqlite3-dev libcjson-dev libinih-dev
libmicrohttpd-dev sqlite3 libpq-dev postgresql openssl clang libclang-rt-14-dev curl
groff-base"
if [ "${1:-build}" = bench ]; then
    PKGS="$PKGS mosquitto libmosquitto-dev rabbitmq-server librabbitmq-dev"
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
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
