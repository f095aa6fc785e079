#!/bin/sh
# examples DIR: writes DIR/consent_grant.json and DIR/referral.json from
# docs/examples, with a consent id of its own (new on every call) and a
# consent valid from yesterday for 180 days, so the README walkthrough can be
# run again and again, on any date. Prints the consent id.
set -eu
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/examples.sh DIR}
mkdir -p "$dir"
id="c-$(date -u +%Y%m%d-%H%M%S)-$$"
from=$(date -u -d yesterday +%F)
until=$(date -u -d '+180 days' +%F)
sed -e "s/\"consent_id\": \"[^\"]*\"/\"consent_id\": \"$id\"/" \
    -e "s/\"valid_from\": \"[^\"]*\"/\"valid_from\": \"$from\"/" \
    -e "s/\"valid_until\": \"[^\"]*\"/\"valid_until\": \"$until\"/" \
    docs/examples/consent_grant.json >"$dir/consent_grant.json"
sed -e "s/\"consent_id\": \"[^\"]*\"/\"consent_id\": \"$id\"/" \
    docs/examples/referral.json >"$dir/referral.json"
echo "$id"
