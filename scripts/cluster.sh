#!/bin/sh
# make cluster: a local PostgreSQL and two remissd nodes sharing it, for
# trying several nodes by hand (issue 15). Everything lives under
# $RUN_DIR/cluster (the dev PKI of `make run` is shared, made if missing);
# Ctrl-C stops the nodes and the database, by pid.
#   RUN_DIR      where [run]
#   REMISS_BIN   directory of the programs [bin]
#   PG_PORT      PostgreSQL's port on 127.0.0.1 [15433]
#   NODE_PORTS   the nodes' ports on 127.0.0.1 ["7401 7402"]
set -eu
cd "$(dirname "$0")/.."
RUN=${RUN_DIR:-run}
BIN=${REMISS_BIN:-bin}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${PG_PORT:-15433}
NODE_PORTS=${NODE_PORTS:-"7401 7402"}
DIR=$RUN/cluster
PKI=$RUN/pki
mkdir -p "$DIR"

if [ ! -f "$PKI/ca.crt" ]; then
    "$BIN/remissctl" pki init "$PKI" >/dev/null
    awk '/^\[party /{p=$2; sub(/\]$/,"",p)} /^role *=/{if(p){print p, $3; p=""}}' \
        config/stockholm.policy | while read -r party role; do
        "$BIN/remissctl" pki issue "$PKI" "$party" "$role" >/dev/null
    done
fi

# PostgreSQL runs as the postgres user when we are root (it refuses root).
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ ! -f "$DIR/pg/PG_VERSION" ]; then
    mkdir -p "$DIR/pg"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR/pg"
    as_pg "$PGBIN/initdb" -D "$DIR/pg" -A trust -U postgres -E UTF8 --locale=C >"$DIR/initdb.log"
fi
[ "$(id -u)" = 0 ] && chown postgres: "$DIR"
as_pg "$PGBIN/postgres" -D "$DIR/pg" -p "$PG_PORT" -k "$(cd "$DIR" && pwd)" \
    -c listen_addresses=127.0.0.1 >>"$DIR/postgres.log" 2>&1 &
PG_PID=$!
PIDS=""
stop() {
    trap - INT TERM EXIT
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    # Fast shutdown, to the postmaster itself (runuser, when root, does
    # not pass SIGINT on).
    PM=$(head -n 1 "$DIR/pg/postmaster.pid" 2>/dev/null || echo "$PG_PID")
    kill -INT "$PM" 2>/dev/null || true
    wait "$PG_PID" 2>/dev/null || true
    echo "cluster: stopped (data kept in $DIR)"
}
trap stop INT TERM EXIT
for _ in $(seq 100); do
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 0.2
done
URI="postgresql://postgres@127.0.0.1:$PG_PORT/remiss"
"$PGBIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'remiss'" | grep -q 1 ||
    "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres remiss

EPS=""
n=0
for port in $NODE_PORTS; do
    n=$((n + 1))
    "$BIN/remissd" --pki "$PKI" --db "$URI" --policy config/stockholm.policy \
        --listen "tcp://127.0.0.1:$port" --metrics "127.0.0.1:$((port + 1000))" \
        2>>"$DIR/node$n.log" &
    PIDS="$PIDS $!"
    EPS="${EPS:+$EPS,}tcp://127.0.0.1:$port"
done
scripts/examples.sh "$RUN/examples" >/dev/null
cat <<MSG
cluster: PostgreSQL on 127.0.0.1:$PG_PORT ($DIR/pg), nodes on $EPS
(logs $DIR/node*.log, metrics on 127.0.0.1:$(echo "$NODE_PORTS" | awk '{print $1 + 1000}') ...).
In another terminal:
  R="$BIN/remiss --pki $PKI --broker $EPS --state $RUN/state"
  \$R --as sdf-rinkeby-kista send $RUN/examples/consent_grant.json
  \$R --as sdf-rinkeby-kista send $RUN/examples/referral.json
  \$R --as jobbtorg recv --ack
Kill a node (kill PID; pids:$PIDS) and send again: the client moves to the
other node. Stop everything with Ctrl-C.
MSG
wait $PIDS
