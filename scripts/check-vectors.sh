#!/bin/bash
# Checks docs/test-vectors with the openssl command-line tool and coreutils
# only: an implementation independent of remiss's C code. For each key type:
# the certificate chains to ca.crt and binds the CURVE key, the bytes signed
# are the context label, one 0x00 byte and the envelope, and the signature
# verifies. For the receipt batch: the broker's signature over the batch
# head, and every receipt's RFC 9162 inclusion path up to the signed root.
# Usage: scripts/check-vectors.sh [DIR]  (default docs/test-vectors)
# Prints one line per failure and "vectors: N checks passed"; exit 0 only if
# every check held.
set -u
dir=${1:-docs/test-vectors}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 checks=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { checks=$((checks + 1)); }
tohex() { od -An -v -tx1 | tr -d ' \n'; }
hex2bin() { printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }
sha256hex() { openssl dgst -sha256 -binary | tohex; }

# The .hex file holds the same bytes as the .bin file.
check_hex() {
    local base=$1
    if [ "$(tohex <"$base.bin")" = "$(tr -d ' \n' <"$base.hex")" ]; then ok; else
        fail "$base.hex is not $base.bin"; fi
}

# signed-data = LABEL || 0x00 || DATA
check_signed_data() {
    local label=$1 data=$2 signed=$3
    { printf '%s\0' "$label"; cat "$data"; } >"$tmp/expect"
    if cmp -s "$tmp/expect" "$signed"; then ok; else
        fail "$signed is not \"$label\", 0x00 and $data"; fi
}

# verify KEYTYPE PUBKEY.pem SIGNATURE DATA
verify() {
    local type=$1 pub=$2 sig=$3 data=$4
    case $type in
    ecdsa-p256)
        openssl dgst -sha256 -verify "$pub" -signature "$sig" "$data" ;;
    rsa)
        openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest \
            -verify "$pub" -signature "$sig" "$data" ;;
    ed25519)
        openssl pkeyutl -verify -pubin -inkey "$pub" -rawin -in "$data" -sigfile "$sig" ;;
    esac >"$tmp/verify.out" 2>&1
}

check_party() {
    local type=$1 d=$dir/$1
    local pub=$tmp/$type.pub.pem
    openssl x509 -in "$d/party.crt" -pubkey -noout >"$pub" || { fail "$type: no public key"; return; }
    if openssl verify -no_check_time -CAfile "$dir/ca.crt" "$d/party.crt" >/dev/null 2>&1; then ok; else
        fail "$type: party.crt does not chain to ca.crt"; fi
    if openssl x509 -in "$d/party.crt" -noout -ext subjectAltName 2>/dev/null |
        grep -Eq 'URI:urn:remiss:curve25519:[0-9a-f]{64}$'; then ok; else
        fail "$type: party.crt binds no CURVE key"; fi
    local want
    want=$(openssl pkey -in "$d/party.key" -pubout 2>/dev/null)
    if [ -n "$want" ] && [ "$want" = "$(cat "$pub")" ]; then ok; else
        fail "$type: party.key is not the key of party.crt"; fi
    for f in envelope signed-data signature signed-envelope; do check_hex "$d/$f"; done
    check_signed_data remiss-envelope-v1 "$d/envelope.bin" "$d/signed-data.bin"
    if verify "$type" "$pub" "$d/signature.bin" "$d/signed-data.bin"; then ok; else
        fail "$type: the signature does not verify: $(cat "$tmp/verify.out")"; fi
    # The label is part of what is signed: without it nothing verifies.
    if verify "$type" "$pub" "$d/signature.bin" "$d/envelope.bin"; then
        fail "$type: the signature verifies without the context label"; else ok; fi
}

# RFC 9162 section 2.1.3.2: verify the inclusion of leaf INDEX of SIZE.
check_path() {
    local i=$1 size=$2 root=$3 d=$dir/receipts
    local fn=$i sn=$((size - 1)) r p
    r=$({ printf '\0'; cat "$d/receipt-$i.bin"; } | sha256hex)
    while read -r p; do
        [ -z "$p" ] && continue
        if [ $sn -eq 0 ]; then fail "receipt $i: path too long"; return; fi
        if [ $((fn & 1)) -eq 1 ] || [ $fn -eq $sn ]; then
            r=$({ printf '\1'; hex2bin "$p"; hex2bin "$r"; } | sha256hex)
            while [ $((fn & 1)) -eq 0 ] && [ $fn -ne 0 ]; do
                fn=$((fn >> 1)); sn=$((sn >> 1))
            done
        else
            r=$({ printf '\1'; hex2bin "$r"; hex2bin "$p"; } | sha256hex)
        fi
        fn=$((fn >> 1)); sn=$((sn >> 1))
    done <"$d/path-$i.hex"
    if [ $sn -eq 0 ] && [ "$r" = "$root" ]; then ok; else
        fail "receipt $i: the inclusion path does not lead to the signed root"; fi
}

check_receipts() {
    local d=$dir/receipts pub=$tmp/broker.pub.pem head
    openssl x509 -in "$dir/broker.crt" -pubkey -noout >"$pub" || { fail "broker.crt"; return; }
    if openssl verify -no_check_time -CAfile "$dir/ca.crt" "$dir/broker.crt" >/dev/null 2>&1; then
        ok; else fail "broker.crt does not chain to ca.crt"; fi
    for f in batch batch-signed-data batch-signature; do check_hex "$d/$f"; done
    check_signed_data remiss-receipts-v1 "$d/batch.bin" "$d/batch-signed-data.bin"
    if verify ecdsa-p256 "$pub" "$d/batch-signature.bin" "$d/batch-signed-data.bin"; then ok; else
        fail "the batch signature does not verify: $(cat "$tmp/verify.out")"; fi
    # ReceiptBatch: 0a 20 <root_hash, 32 bytes> 10 <size, one varint byte> 18 <broker_time>
    head=$(tohex <"$d/batch.bin")
    if [ "${head:0:4}" != 0a20 ] || [ "${head:68:2}" != 10 ]; then
        fail "batch.bin does not start with root_hash and size"; return; fi
    local root=${head:4:64} size=$((16#${head:70:2}))
    if [ $size -ge 128 ] || [ $size -lt 1 ]; then fail "batch size $size"; return; fi
    local i n=0
    for ((i = 0; i < size; i++)); do
        check_hex "$d/receipt-$i"
        check_hex "$d/signed-receipt-$i"
        check_path "$i" "$size" "$root"
        n=$((n + 1))
    done
    [ "$n" -ge 2 ] && ok || fail "a batch of one receipt proves nothing about paths"
}

command -v openssl >/dev/null || { echo "FAIL: openssl not found"; exit 1; }
for t in ecdsa-p256 rsa ed25519; do
    if [ -d "$dir/$t" ]; then check_party "$t"; else fail "$dir/$t is missing"; fi
done
check_receipts
if [ $fails -ne 0 ]; then
    echo "vectors: $fails checks failed, $checks passed"
    exit 1
fi
echo "vectors: $checks checks passed"
