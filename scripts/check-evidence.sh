#!/bin/sh
# check-evidence: checks a `remiss evidence` file by hand, with openssl, jq,
# sha256sum, base64 and xxd only, without any remiss code: what README.md
# ("Checking evidence by hand") walks through, as one script.
#
# Usage: scripts/check-evidence.sh EVIDENCE.json CA.crt [WITNESS_VKEY ...]
# Prints each check as it passes; exits 1 at the first that fails.
set -eu
ev=$1
ca=$2
shift 2
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT INT TERM
fail() {
    echo "check-evidence: FAILED: $*" >&2
    exit 1
}
field() { jq -r ".$1" "$ev"; }

# 1. The broker certificate was issued by the CA.
field broker_certificate >"$t/broker.crt"
openssl verify -CAfile "$ca" "$t/broker.crt" >/dev/null || fail "broker certificate"
openssl x509 -in "$t/broker.crt" -pubkey -noout >"$t/broker.pub"
echo "ok: broker certificate issued by the CA"

# 2. The broker signed the tree head: "remiss-treehead-v1", a NUL byte, the
#    serialized TreeHead (ECDSA P-256 with SHA-256; see proto/remiss.proto).
{ printf 'remiss-treehead-v1\000'; field tree_head | base64 -d; } >"$t/signed"
field tree_head_signature | base64 -d >"$t/sig"
openssl dgst -sha256 -verify "$t/broker.pub" -signature "$t/sig" "$t/signed" >/dev/null ||
    fail "tree head signature"
root=$(field root_hash)
size=$(field tree_size)
field tree_head | base64 -d | xxd -p | tr -d '\n' | grep -q "1220$root" ||
    fail "root_hash is not the signed tree head's"
echo "ok: tree head of size $size signed by the broker"

# 3. The leaf hash is SHA-256(0x00 || entry) (RFC 9162 2.1.1).
leaf=$({ printf '\000'; field leaf_entry | base64 -d; } | sha256sum | cut -c1-64)
[ "$leaf" = "$(field leaf_hash)" ] || fail "leaf hash"

# 4. The inclusion path leads from the leaf to the signed root (RFC 9162
#    2.1.3.2); a node is SHA-256(0x01 || left || right).
node() { { printf '\001'; printf '%s%s' "$1" "$2" | xxd -r -p; } | sha256sum | cut -c1-64; }
fn=$(field leaf_index)
sn=$((size - 1))
r=$leaf
for p in $(jq -r '.inclusion_path[]' "$ev"); do
    [ "$sn" -gt 0 ] || fail "inclusion path too long"
    if [ $((fn % 2)) -eq 1 ] || [ "$fn" -eq "$sn" ]; then
        r=$(node "$p" "$r")
        while [ $((fn % 2)) -eq 0 ] && [ "$fn" -ne 0 ]; do
            fn=$((fn / 2))
            sn=$((sn / 2))
        done
    else
        r=$(node "$r" "$p")
    fi
    fn=$((fn / 2))
    sn=$((sn / 2))
done
[ "$sn" -eq 0 ] && [ "$r" = "$root" ] || fail "inclusion path"
echo "ok: entry $(field leaf_index) is in the tree (envelope SHA-256 $(field envelope_sha256))"

# 5. The C2SP checkpoint names the same size and root.
field checkpoint >"$t/cp"
[ "$(sed -n 2p "$t/cp")" = "$size" ] || fail "checkpoint size"
[ "$(sed -n 3p "$t/cp" | base64 -d | xxd -p -c 64)" = "$root" ] || fail "checkpoint root"
echo "ok: checkpoint $(sed -n 1p "$t/cp") is the signed tree head"

# 6. Each witness given as a vkey (NAME+ID+BASE64(0x04 || key)) cosigned:
#    Ed25519 over "cosignature/v1\ntime T\n" || the checkpoint's text.
sed -n '1,/^$/p' "$t/cp" | sed '$d' >"$t/text"
for vk in "$@"; do
    name=${vk%%+*}
    # NAME+ID+KEY: the key's base64 may itself hold '+', so strip two fields.
    key=${vk#*+}
    key=${key#*+}
    printf '302a300506032b6570032100%s' \
        "$(printf '%s' "$key" | base64 -d | xxd -p -c 64 | cut -c3-)" | xxd -r -p >"$t/w.der"
    openssl pkey -pubin -inform DER -in "$t/w.der" -out "$t/w.pem" 2>/dev/null || fail "vkey $name"
    sig=$(grep "^— $name " "$t/cp" | head -n 1 | cut -d' ' -f3)
    [ -n "$sig" ] || fail "no cosignature by $name"
    printf '%s' "$sig" | base64 -d | xxd -p | tr -d '\n' >"$t/raw"
    ts=$(printf '%d' "0x$(cut -c9-24 "$t/raw")")
    cut -c25-152 "$t/raw" | xxd -r -p >"$t/wsig"
    { printf 'cosignature/v1\ntime %s\n' "$ts"; cat "$t/text"; } >"$t/msg"
    openssl pkeyutl -verify -pubin -inkey "$t/w.pem" -rawin -in "$t/msg" -sigfile "$t/wsig" \
        >/dev/null || fail "cosignature by $name"
    echo "ok: cosigned by $name at $ts"
done
