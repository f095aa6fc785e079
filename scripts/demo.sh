#!/bin/sh
# make demo: plays the seed scenarios end to end against a real remissd on
# 127.0.0.1, with a fresh dev PKI in a temporary directory, the example
# policy and the example messages of docs/examples (copied, with consent
# dates relative to today and ids taken from earlier replies). Each step is
# narrated in one line and its outcome checked; the first step that does not
# behave as narrated stops the demo with exit 1.
#
# Environment:
#   REMISS_BIN           directory of remissd, remiss, remissctl [bin]
#   REMISS_DEMO_KEEP=1   keep the temporary directory (PKI, store, log)
set -u

# REMISS_BIN is relative to the caller's directory; the default to the tree.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${REMISS_BIN:-$ROOT/bin}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
cd "$ROOT" || exit 1

for p in remissd remiss remissctl; do
    if [ ! -x "$BIN/$p" ]; then
        echo "demo: FAILED: $BIN/$p is missing; run make first" >&2
        exit 1
    fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/remiss-demo.XXXXXX") || exit 1
PKI=$TMP/pki
DB=$TMP/remiss.db
LOG=$TMP/remissd.log
MSG=$TMP/messages
OUT=$TMP/out
ERR=$TMP/err
BROKER_PID=""
EP=""
mkdir -p "$MSG"

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null
        i=0
        while kill -0 "$BROKER_PID" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -9 "$BROKER_PID" 2>/dev/null
        wait "$BROKER_PID" 2>/dev/null
    fi
    if [ "${REMISS_DEMO_KEEP:-0}" = 1 ]; then
        echo "demo: kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ------------------------------------------------------------------ helpers

say() { printf '%s\n' "$*"; }
detail() { printf '   %s\n' "$*"; }

# fail WHAT: the step did not behave as narrated; show what the programs said.
fail() {
    {
        echo "demo: FAILED: $*"
        for f in "$OUT" "$ERR"; do
            if [ -s "$f" ]; then
                echo "--- $(basename "$f") of the last command:"
                cat "$f"
            fi
        done
        if [ -s "$LOG" ]; then
            echo "--- remissd log (last 20 lines):"
            tail -n 20 "$LOG"
        fi
    } >&2
    exit 1
}

# as PARTY ARGS...: runs the agency client as PARTY; stdout in $OUT, stderr
# in $ERR, exit status in $RC.
as() {
    party=$1
    shift
    "$BIN/remiss" --pki "$PKI" --broker "$EP" --as "$party" --state "$TMP/state" --json "$@" \
        >"$OUT" 2>"$ERR"
    RC=$?
}

# json_str KEY FILE: the first string value of KEY in the JSON lines of FILE.
json_str() {
    sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p" "$2" | head -n 1
}

# expect_ok WHAT: the last command succeeded with an OK receipt or reply.
expect_ok() {
    [ "$RC" -eq 0 ] || fail "$1 exited with status $RC"
}

# send_ok PARTY FILE WHAT: PARTY sends FILE; it must be accepted. Sets ID.
send_ok() {
    as "$1" send "$2"
    expect_ok "$3"
    grep -q '"code" *: *"OK"' "$OUT" || fail "$3: the receipt is not OK"
    ID=$(json_str message_id "$OUT")
    [ -n "$ID" ] || fail "$3: the receipt has no message_id"
}

# recv_one PARTY WHAT: PARTY receives and acknowledges one message (waiting
# at most 15 s). Sets GOT (the JSON line) and GOT_ID.
recv_one() {
    as "$1" recv --ack --max 1 --wait 15
    expect_ok "$2"
    [ -s "$OUT" ] || fail "$2: nothing arrived within 15 s"
    GOT=$(head -n 1 "$OUT")
    GOT_ID=$(json_str message_id "$OUT")
}

# got_has KEY VALUE WHAT: the received message has "KEY":"VALUE".
got_has() {
    printf '%s\n' "$GOT" | grep -q "\"$1\" *: *\"$2\"" ||
        fail "$3: expected \"$1\":\"$2\" in the received message"
}

day() { date -u -d "$1" +%Y-%m-%d; }

# pnr_for BIRTHDATE SERIAL: a personnummer YYYYMMDD-NNNC with its Luhn digit.
pnr_for() {
    digits=$(printf '%s%s' "$(printf '%s' "$1" | cut -c3-8)" "$2")
    sum=0 i=0
    while [ $i -lt 9 ]; do
        d=$(printf '%s' "$digits" | cut -c$((i + 1)))
        if [ $((i % 2)) -eq 0 ]; then
            d=$((d * 2))
            [ $d -gt 9 ] && d=$((d - 9))
        fi
        sum=$((sum + d))
        i=$((i + 1))
    done
    printf '%s-%s%s\n' "$1" "$2" $(((10 - sum % 10) % 10))
}

# ------------------------------------------------------------------ setup

say "remiss demo: a dev federation on 127.0.0.1 with the Stockholm example policy"

"$BIN/remissctl" pki init "$PKI" >"$OUT" 2>"$ERR" || { RC=$?; fail "remissctl pki init"; }
for p in sdf-rinkeby-kista:sdf jobbtorg:jobbtorg af-kommunhubb:kommunhubb; do
    "$BIN/remissctl" pki issue "$PKI" "${p%%:*}" "${p##*:}" >"$OUT" 2>"$ERR" ||
        fail "remissctl pki issue ${p%%:*}"
done
detail "PKI: a federation CA, the broker and three parties (sdf-rinkeby-kista, jobbtorg, af-kommunhubb)"

# A free port: pick one, and another if remissd cannot bind it.
attempt=0
while [ -z "$BROKER_PID" ] && [ $attempt -lt 10 ]; do
    attempt=$((attempt + 1))
    port=$((20000 + ($$ * 7919 + attempt * 104729 + $(date +%s)) % 40000))
    EP=tcp://127.0.0.1:$port
    sed -e "s|^pki = .*|pki = $PKI|" -e "s|^db = .*|db = $DB|" \
        -e "s|^policy = .*|policy = $ROOT/config/stockholm.policy|" \
        -e "s|^listen = .*|listen = $EP|" config/remissd.conf >"$TMP/remissd.conf"
    : >"$LOG"
    "$BIN/remissd" --config "$TMP/remissd.conf" </dev/null >/dev/null 2>"$LOG" &
    BROKER_PID=$!
    i=0
    while [ $i -lt 200 ]; do # up to 20 s (sanitizer builds start slowly)
        grep -q 'event=started' "$LOG" && break
        if ! kill -0 "$BROKER_PID" 2>/dev/null; then
            wait "$BROKER_PID" 2>/dev/null
            BROKER_PID=""
            break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    if [ -n "$BROKER_PID" ] && ! grep -q 'event=started' "$LOG"; then
        fail "remissd did not start within 20 s"
    fi
done
[ -n "$BROKER_PID" ] || fail "remissd did not start on any of 10 ports"
detail "remissd listens on $EP (store $DB)"

# The messages: the examples, with consents in force from yesterday.
KIM=$(json_str personnummer docs/examples/referral.json)
FROM=$(day yesterday)
UNTIL=$(day "today + 180 days")
sed -e "s/\"valid_from\": *\"[0-9-]*\"/\"valid_from\": \"$FROM\"/" \
    -e "s/\"valid_until\": *\"[0-9-]*\"/\"valid_until\": \"$UNTIL\"/" \
    docs/examples/consent_grant.json >"$MSG/consent_grant.json"

# ------------------------------------------------------------------ 1

say "1. Rinkeby-Kista's social services register the young person's consent and refer them (income support) to Jobbtorg; Jobbtorg receives the referral."
send_ok sdf-rinkeby-kista "$MSG/consent_grant.json" "the consent grant"
detail "consent c-2026-0001 registered for $KIM, in force $FROM to $UNTIL"
send_ok sdf-rinkeby-kista docs/examples/referral.json "the referral"
REFERRAL_ID=$ID
detail "referral accepted by the broker: message $REFERRAL_ID"
recv_one jobbtorg "Jobbtorg's recv"
[ "$GOT_ID" = "$REFERRAL_ID" ] || fail "Jobbtorg received $GOT_ID, not the referral $REFERRAL_ID"
got_has type referral "Jobbtorg's recv"
got_has from sdf-rinkeby-kista "Jobbtorg's recv"
detail "Jobbtorg received and acknowledged referral $GOT_ID from sdf-rinkeby-kista"

# ------------------------------------------------------------------ 2

say "2. Jobbtorg presents the case to Arbetsförmedlingen's kommunhubb (ärendedragning); the kommunhubb accepts the transfer to a local unit and Jobbtorg sees the decision."
send_ok jobbtorg docs/examples/case_submission.json "the case submission"
CASE_ID=$ID
detail "case submission accepted: message $CASE_ID"
recv_one af-kommunhubb "the kommunhubb's recv"
[ "$GOT_ID" = "$CASE_ID" ] || fail "the kommunhubb received $GOT_ID, not the case $CASE_ID"
got_has type case_submission "the kommunhubb's recv"
detail "the kommunhubb received case $GOT_ID from jobbtorg"
UNIT=$(json_str receiving_unit docs/examples/transfer_ack.json)
sed -e "s/\"original_message_id\": *\"[0-9a-f]*\"/\"original_message_id\": \"$GOT_ID\"/" \
    docs/examples/transfer_ack.json >"$MSG/transfer_ack.json"
send_ok af-kommunhubb "$MSG/transfer_ack.json" "the transfer acknowledgement"
ACK_ID=$ID
detail "the kommunhubb accepts the transfer to \"$UNIT\": message $ACK_ID"
recv_one jobbtorg "Jobbtorg's recv of the decision"
[ "$GOT_ID" = "$ACK_ID" ] || fail "Jobbtorg received $GOT_ID, not the decision $ACK_ID"
got_has type transfer_ack "Jobbtorg's recv of the decision"
got_has original_message_id "$CASE_ID" "Jobbtorg's recv of the decision"
detail "Jobbtorg received the decision $GOT_ID about its case"
as jobbtorg status "$CASE_ID"
expect_ok "remiss status of the case submission"
grep -q '"transfer_decision" *: *"accepted"' "$OUT" ||
    fail "the case submission's status does not show the accepted transfer"
grep -qF "\"receiving_unit\":\"$UNIT\"" "$OUT" ||
    fail "the case submission's status does not name the unit \"$UNIT\""
detail "Jobbtorg's status of case $CASE_ID: transfer accepted by \"$UNIT\""

# ------------------------------------------------------------------ 3

say "3. A referral carrying health data that the young person's consent does not cover is refused, with its reason."
sed '/^  "free_text":/i\
  "health": { "notes": "Har kontakt med socialpsykiatrin.", "social_psychiatry": true },' \
    docs/examples/referral.json >"$MSG/referral_health.json"
grep -q '"health"' "$MSG/referral_health.json" || fail "could not add health data to the referral"
as sdf-rinkeby-kista send "$MSG/referral_health.json"
[ "$RC" -eq 1 ] || fail "the referral with health data exited with status $RC, not 1"
grep -q 'E_CATEGORY_NOT_COVERED' "$ERR" ||
    fail "the refusal does not give E_CATEGORY_NOT_COVERED"
REFUSED_ID=$(json_str message_id "$OUT")
detail "refused: $(head -n 1 "$ERR" | sed 's/^error: //')"

# ------------------------------------------------------------------ 4

say "4. A consent is withdrawn while a referral waits for Jobbtorg, who is offline; the referral is never delivered."
sed -e 's/"c-2026-0001"/"c-2026-0002"/' "$MSG/consent_grant.json" >"$MSG/consent_grant2.json"
sed -e 's/"c-2026-0001"/"c-2026-0002"/' docs/examples/referral.json >"$MSG/referral2.json"
sed -e 's/"c-2026-0001"/"c-2026-0002"/' docs/examples/consent_revoke.json >"$MSG/consent_revoke2.json"
send_ok sdf-rinkeby-kista "$MSG/consent_grant2.json" "the second consent grant"
send_ok sdf-rinkeby-kista "$MSG/referral2.json" "the second referral"
WAITING_ID=$ID
detail "consent c-2026-0002 registered; referral $WAITING_ID queued for Jobbtorg (not connected)"
send_ok sdf-rinkeby-kista "$MSG/consent_revoke2.json" "the withdrawal"
REVOKE_ID=$ID
detail "the young person withdraws consent c-2026-0002: registered by Rinkeby-Kista ($REVOKE_ID)"
as jobbtorg recv --ack --wait 2
expect_ok "Jobbtorg's recv after the withdrawal"
[ ! -s "$OUT" ] || fail "Jobbtorg received a message after the withdrawal"
detail "Jobbtorg connects and waits 2 s: nothing arrives"
as sdf-rinkeby-kista status "$WAITING_ID"
expect_ok "remiss status of the withheld referral"
grep -q '"state" *: *"withheld"' "$OUT" || fail "the referral's status is not withheld"
grep -q 'E_CONSENT_REVOKED' "$OUT" || fail "the referral's status does not give E_CONSENT_REVOKED"
detail "Rinkeby-Kista's status of $WAITING_ID: withheld (E_CONSENT_REVOKED)"

# ------------------------------------------------------------------ 5

# A person who is 17 today, whatever the day: born 17 years and 60 days ago.
MINOR=$(pnr_for "$(date -u -d 'today - 17 years - 60 days' +%Y%m%d)" 238)
say "5. Jobbtorg reports concern about a 17-year-old to Rinkeby-Kista's social services; no consent is needed (SoL 14 kap. 1 §)."
sed -e "s/\"personnummer\": *\"[0-9-]*\"/\"personnummer\": \"$MINOR\"/" \
    docs/examples/concern_report.json >"$MSG/concern_report.json"
grep -q '"consent_id"' "$MSG/concern_report.json" && fail "the concern report names a consent"
send_ok jobbtorg "$MSG/concern_report.json" "the concern report"
CONCERN_ID=$ID
detail "concern report accepted without consent: message $CONCERN_ID"
recv_one sdf-rinkeby-kista "Rinkeby-Kista's recv"
[ "$GOT_ID" = "$CONCERN_ID" ] || fail "Rinkeby-Kista received $GOT_ID, not the concern report"
got_has type concern_report "Rinkeby-Kista's recv"
got_has purpose oro "Rinkeby-Kista's recv"
detail "Rinkeby-Kista's social services received and acknowledged it"

# ------------------------------------------------------------------ 6

# The audit log is read offline: stop the broker first, which must exit
# cleanly (under the sanitizer build a leak or error makes it non-zero).
kill "$BROKER_PID"
i=0
while kill -0 "$BROKER_PID" 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -9 "$BROKER_PID" 2>/dev/null && echo "demo: remissd did not stop within 10 s" >&2
wait "$BROKER_PID"
status=$?
BROKER_PID=""
[ $status -eq 0 ] || { : >"$OUT"; : >"$ERR"; fail "remissd exited with status $status"; }

say "6. The audit log verifies as untampered, and the young person's access report lists every exchange above."
# audit_cmd WHAT ARGS...: runs remissctl audit; 2 if this build has no audit.
audit_cmd() {
    "$BIN/remissctl" audit "$@" >"$OUT" 2>"$ERR"
    RC=$?
    if [ $RC -ne 0 ] && grep -q 'E_USAGE: unknown command' "$ERR"; then
        return 2
    fi
    return 0
}
audit_missing() {
    fail "remissctl has no audit command: this build cannot show the audit log"
}
audit_cmd verify --db "$DB" --pki "$PKI" || audit_missing
expect_ok "remissctl audit verify"
detail "remissctl audit verify: $(head -n 1 "$OUT")"
audit_cmd subject "$KIM" --db "$DB" --pki "$PKI" --json || audit_missing
expect_ok "remissctl audit subject"
for pair in "referral:$REFERRAL_ID" "case submission:$CASE_ID" \
    "transfer acknowledgement:$ACK_ID" "refused referral:$REFUSED_ID" \
    "withheld referral:$WAITING_ID"; do
    what=${pair%%:*} id=${pair#*:}
    if [ -z "$id" ]; then
        continue # the refusal's receipt named no message id
    fi
    grep -q "$id" "$OUT" || fail "the access report for $KIM does not list the $what $id"
done
grep -q "$CONCERN_ID" "$OUT" && fail "the access report for $KIM lists the concern report about someone else"
detail "access report for $KIM lists the referral, the case, the transfer decision, the refusal and the withheld referral, and nothing about the 17-year-old"

say "remiss demo: every step behaved as narrated"
exit 0
