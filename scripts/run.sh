#!/bin/sh
# make run: a dev federation under run/ (PKI, config, store) and remissd in
# the foreground on 127.0.0.1. Re-running keeps the PKI and the store; the
# example consent and referral of the walkthrough (run/examples) are made
# anew, with a new consent id and dates around today.
#   RUN_DIR      where [run]
#   REMISS_PORT  the broker's port on 127.0.0.1 [7400] (when the config is made)
#   REMISS_BIN   directory of the programs [bin]
set -eu
cd "$(dirname "$0")/.."
RUN=${RUN_DIR:-run}
BIN=${REMISS_BIN:-bin}
PKI=$RUN/pki
mkdir -p "$RUN"
if [ ! -f "$PKI/ca.crt" ]; then
    "$BIN/remissctl" pki init "$PKI" >/dev/null
    # Every party of the example policy gets a certificate, with its role.
    awk '/^\[party /{p=$2; sub(/\]$/,"",p)} /^role *=/{if(p){print p, $3; p=""}}' \
        config/stockholm.policy | while read -r party role; do
        "$BIN/remissctl" pki issue "$PKI" "$party" "$role" >/dev/null
    done
    echo "run: created a dev PKI in $PKI (CA, broker and $(ls "$PKI/parties" | grep -c '\.crt$') parties)"
fi
if [ ! -f "$RUN/remissd.conf" ]; then
    sed -e "s|^pki = .*|pki = $PKI|" -e "s|^db = .*|db = $RUN/remiss.db|" \
        -e "s|^policy = .*|policy = config/stockholm.policy|" \
        -e "s|^listen = .*|listen = tcp://127.0.0.1:${REMISS_PORT:-7400}|" \
        config/remissd.conf >"$RUN/remissd.conf"
fi
scripts/examples.sh "$RUN/examples" >/dev/null
EP=$(sed -n 's/^listen = //p' "$RUN/remissd.conf")
cat <<MSG
run: remissd on $EP, store $RUN/remiss.db. In another terminal:
  R="$BIN/remiss --pki $PKI --broker $EP --state $RUN/state"
  scripts/examples.sh $RUN/examples     # a consent with a new id, valid from yesterday
  \$R --as sdf-rinkeby-kista send $RUN/examples/consent_grant.json
  \$R --as sdf-rinkeby-kista send $RUN/examples/referral.json
  \$R --as jobbtorg recv --ack
Stop with Ctrl-C.
MSG
exec "$BIN/remissd" --config "$RUN/remissd.conf"
