#!/bin/sh
# check-evidence: checks a `remiss evidence` file by hand, with openssl, jq,
# sha256sum, base64 and xxd only, without any remiss code: what README.md
# ("Checking evidence by hand") walks through, as one script.
#
# Usage: scripts/check-evidence.sh EVIDENCE.json CA.crt [WITNESS_VKEY ...]
# With a signed receipt in the file (remiss evidence --receipt), it is checked too.
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

# The entry (protobuf) names the message (field 7: 3a 10 ID) and the
# envelope's SHA-256 (field 11: 5a 20 HASH).
entry=$(field leaf_entry | base64 -d | xxd -p | tr -d '\n')
case $entry in *"3a10$(field message_id)"*) ;; *) fail "the entry is not the message's" ;; esac
case $entry in *"5a20$(field envelope_sha256)"*) ;; *) fail "the entry's envelope hash" ;; esac

# 4. The inclusion path leads from the leaf to the signed root (RFC 9162
#    2.1.3.2); a node is SHA-256(0x01 || left || right).
node() { { printf '\001'; printf '%s%s' "$1" "$2" | xxd -r -p; } | sha256sum | cut -c1-64; }
# walk INDEX SIZE LEAF HASH...: prints the root the path leads to ("" if too long).
walk() {
    fn=$1
    sn=$(($2 - 1))
    r=$3
    shift 3
    for p in "$@"; do
        [ "$sn" -gt 0 ] || return 0
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
    [ "$sn" -eq 0 ] && echo "$r"
    return 0
}
# shellcheck disable=SC2046
[ "$(walk "$(field leaf_index)" "$size" "$leaf" $(jq -r '.inclusion_path[]' "$ev"))" = "$root" ] ||
    fail "inclusion path"
echo "ok: entry $(field leaf_index) is in the tree (envelope SHA-256 $(field envelope_sha256))"

# 5. The C2SP checkpoint names the same size and root.
field checkpoint >"$t/cp"
[ "$(sed -n 2p "$t/cp")" = "$size" ] || fail "checkpoint size"
[ "$(sed -n 3p "$t/cp" | base64 -d | xxd -p -c 64)" = "$root" ] || fail "checkpoint root"
echo "ok: checkpoint $(sed -n 1p "$t/cp") is the signed tree head"

# 6. The sender's signed receipt, if the file has one: it names the message
#    (field 1: 0a 10 ID) and the envelope hash (field 5: 2a 20 HASH), its leaf
#    SHA-256(0x00 || receipt) leads along receipt_batch_path to the batch's
#    root (field 1 of the batch: 0a 20 ROOT), and the broker signed
#    "remiss-receipts-v1", a NUL byte, the batch (an unbatched receipt:
#    "remiss-receipt-v1", NUL, the receipt).
if [ "$(jq -r 'has("signed_receipt")' "$ev")" = true ]; then
    rhex=$(field receipt | base64 -d | xxd -p | tr -d '\n')
    case $rhex in "0a10$(field message_id)"*) ;; *) fail "the receipt is for another message" ;; esac
    case $rhex in *"2a20$(field envelope_sha256)"*) ;; *) fail "the receipt's envelope hash" ;; esac
    rleaf=$({ printf '\000'; field receipt | base64 -d; } | sha256sum | cut -c1-64)
    [ "$rleaf" = "$(field receipt_leaf_hash)" ] || fail "receipt leaf hash"
    if [ -n "$(field receipt_batch)" ]; then
        rroot=$(field receipt_batch_root)
        # shellcheck disable=SC2046
        [ "$(walk "$(field receipt_batch_index)" "$(field receipt_batch_size)" "$rleaf" \
            $(jq -r '.receipt_batch_path[]' "$ev"))" = "$rroot" ] || fail "receipt batch path"
        field receipt_batch | base64 -d | xxd -p | tr -d '\n' | grep -q "^0a20$rroot" ||
            fail "receipt_batch_root is not the signed batch's"
        { printf 'remiss-receipts-v1\000'; field receipt_batch | base64 -d; } >"$t/rsigned"
    else
        { printf 'remiss-receipt-v1\000'; field receipt | base64 -d; } >"$t/rsigned"
    fi
    field receipt_signature | base64 -d >"$t/rsig"
    openssl dgst -sha256 -verify "$t/broker.pub" -signature "$t/rsig" "$t/rsigned" >/dev/null ||
        fail "receipt signature"
    echo "ok: the broker's signed receipt names the message and its envelope hash"
fi

# 7. Each witness given as a vkey (NAME+ID+BASE64(0x04 || key)) cosigned:
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
