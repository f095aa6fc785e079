#!/bin/sh
# Throwaway PKI for the peer benchmark: one CA, one server certificate for
# 127.0.0.1/localhost and N client certificates, all ECDSA P-256 like remiss's
# dev PKI, so the TLS peers pay for the same key type remiss's parties use.
# Usage: pki.sh OUTDIR [N]      (N client certificates, default 16)
# Writes ca.crt, server.{crt,key}, client-<i>.{crt,key} for i = 0..N-1; client
# i has CN bench-client-<i>. Keys are 0600; the CA key is kept only so more
# clients can be added by running the script again with a larger N.
set -eu

usage() {
    echo "usage: pki.sh OUTDIR [N]" >&2
    exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    usage
fi
out=$1
n=${2:-16}
case $n in '' | *[!0-9]*) usage ;; esac
if [ "$n" -lt 1 ] || [ "$n" -gt 1000 ]; then
    echo "error: N must be 1..1000" >&2
    exit 2
fi
command -v openssl >/dev/null || {
    echo "error: openssl not found (apt-get install openssl)" >&2
    exit 1
}

umask 077
mkdir -p "$out"
cd "$out"
days=30
curve="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve"

# $1 = file stem, $2 = subject, $3 = extension section text.
s_issue() {
    # shellcheck disable=SC2086
    openssl req -new -nodes $curve -keyout "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -days "$days" -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
    chmod 600 "$1.key"
    chmod 644 "$1.crt"
}

if [ ! -f ca.crt ] || [ ! -f ca.key ]; then
    # shellcheck disable=SC2086
    openssl req -x509 -new -nodes $curve -keyout ca.key -subj "/CN=remiss bench throwaway CA" \
        -days "$days" -sha256 -out ca.crt \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    chmod 600 ca.key
    chmod 644 ca.crt
    rm -f server.crt client-*.crt
fi

if [ ! -f server.crt ]; then
    s_issue server "/CN=127.0.0.1" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
fi

i=0
while [ "$i" -lt "$n" ]; do
    if [ ! -f "client-$i.crt" ]; then
        s_issue "client-$i" "/CN=bench-client-$i" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
    fi
    i=$((i + 1))
done
rm -f ca.srl
echo "pki: CA, server and $n client certificates in $out" >&2
