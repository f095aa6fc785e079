#!/bin/sh
# make run: a dev federation under run/ (PKI, config, store) and remissd in
# the foreground on 127.0.0.1. Re-running keeps the PKI and the store.
set -eu
cd "$(dirname "$0")/.."
RUN=${RUN_DIR:-run}
PKI=$RUN/pki
mkdir -p "$RUN"
if [ ! -f "$PKI/ca.crt" ]; then
    bin/remissctl pki init "$PKI" >/dev/null
    # Every party of the example policy gets a certificate, with its role.
    awk '/^\[party /{p=$2; sub(/\]$/,"",p)} /^role *=/{if(p){print p, $3; p=""}}' \
        config/stockholm.policy | while read -r party role; do
        bin/remissctl pki issue "$PKI" "$party" "$role" >/dev/null
    done
    echo "run: created a dev PKI in $PKI (CA, broker and $(ls "$PKI/parties" | grep -c '\.crt$') parties)"
fi
if [ ! -f "$RUN/remissd.conf" ]; then
    sed -e "s|^pki = .*|pki = $PKI|" -e "s|^db = .*|db = $RUN/remiss.db|" \
        -e "s|^policy = .*|policy = config/stockholm.policy|" \
        -e "s|^listen = .*|listen = tcp://127.0.0.1:${REMISS_PORT:-7400}|" \
        config/remissd.conf >"$RUN/remissd.conf"
fi
cat <<MSG
run: remissd on $(sed -n 's/^listen = //p' "$RUN/remissd.conf"), store $RUN/remiss.db. In another terminal:
  R="bin/remiss --pki $PKI --broker $(sed -n 's/^listen = //p' "$RUN/remissd.conf")"
  \$R --as sdf-rinkeby-kista send docs/examples/consent_grant.json
  \$R --as sdf-rinkeby-kista send docs/examples/referral.json
  \$R --as jobbtorg recv --ack
Stop with Ctrl-C.
MSG
exec bin/remissd --config "$RUN/remissd.conf"
