#!/bin/bash
# The side-by-side benchmark behind `make bench` (bench/README.md): remiss
# full path, remiss with the audit log off, Mosquitto and RabbitMQ, on this
# machine, in one go and interleaved so the disk is in the same mood for all.
#
#   bench/run.sh            full run, under 10 minutes
#   QUICK=1 bench/run.sh    small counts, under a minute (for development)
#
# Steps: install the peers' packages if missing (scripts/install-deps.sh
# bench), build (release), make a throwaway dev PKI with remissctl for the
# parties of bench/bench.policy and a TLS PKI for the peers, start Mosquitto
# and RabbitMQ once, then per round:
#   remiss saturation, mosquitto saturation, rabbitmq saturation,
#   remiss audit-off saturation, remiss 1,000/s, mosquitto 1,000/s,
#   rabbitmq 1,000/s
# with a fresh remissd and database for every remiss run (the store slows as
# it fills, so no run inherits another's rows). Every run is bounded by
# TIMEOUT (plus timeout(1) as the last resort); a peer that cannot be built
# or started gets a failed row, not a silent gap.
#
# Output: one table on stdout; every run's JSON line in
# bench/results/runs.jsonl; the summary in bench/results/latest.json.
# Exit 0 when every run completed, 1 otherwise (the table is printed anyway).
#
# Knobs (environment), full / QUICK defaults:
#   SENDERS=4 RECEIVERS=4 SIZE=1024 WINDOW=64 RATE=1000
#   COUNT=20000 / 2000       messages per saturation run
#   RATE_COUNT=10000 / 1000  messages per paced run (at RATE msgs/s)
#   TIMEOUT=90 / 20          seconds per run
#   ROUNDS=2 / 1             rounds; a later round is skipped if it would
#                            not fit in BUDGET (450 s) at the pace so far
#   REMISS_PORT=17400 MQTT_PORT=18883 AMQP_PORT=15671 NATS_PORT=14222
#   PEERS="mosquitto rabbitmq nats"   which peers to run (mosquitto: per-change
#                            and periodic autosave, the latter on MQTT_PORT+1;
#                            rabbitmq: classic and quorum queues)
#   GROWTH=1000000 / 100000  earlier messages in the growth rows' store
#                            (GROWTH=0 leaves the growth rows out)
#   GATEWAY=1 GATEWAY_PORT=18480  the HTTP row through two remiss-gateways
#                            (ports GATEWAY_PORT..+2); GATEWAY=0 leaves it out
#   PG=1 PG_PORT=15432       remiss on PostgreSQL too (a server of the run's
#                            own in the work directory, fsync on, a fresh
#                            database per run); PG=0 leaves those rows out
#   KEEP=1                   keep the work directory (logs, PKI, databases)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

case ${QUICK:-0} in '' | 0 | no | false) quick=0 ;; *) quick=1 ;; esac
if [ "$quick" -eq 1 ]; then
    d_count=2000 d_rate_count=1000 d_timeout=20 d_rounds=1 d_growth=100000
else
    d_count=20000 d_rate_count=10000 d_timeout=90 d_rounds=2 d_growth=1000000
fi
senders=${SENDERS:-4}
receivers=${RECEIVERS:-4}
size=${SIZE:-1024}
window=${WINDOW:-64}
rate=${RATE:-1000}
count=${COUNT:-$d_count}
rate_count=${RATE_COUNT:-$d_rate_count}
tmo=${TIMEOUT:-$d_timeout}
rounds=${ROUNDS:-$d_rounds}
budget=${BUDGET:-600}
growth=${GROWTH:-$d_growth}
gateway=${GATEWAY:-1}
gw_port=${GATEWAY_PORT:-18480}
gw_pids=""
nats_port=${NATS_PORT:-14222}
remiss_port=${REMISS_PORT:-17400}
mqtt_port=${MQTT_PORT:-18883}
amqp_port=${AMQP_PORT:-15671}
peers=${PEERS-mosquitto rabbitmq nats} # PEERS= (empty): remiss rows only
pg=${PG:-1}
pg_port=${PG_PORT:-15432}
pg_bin=/usr/lib/postgresql/15/bin
pg_broken=""
growth_broken=""
fixture_s=null
pg_started=0
make=${MAKE:-make}
bin="$root/build/bench"
policy="$root/bench/bench.policy"
results="$root/bench/results"

for v in senders receivers size window count rate_count tmo rounds budget remiss_port growth; do
    case ${!v} in '' | *[!0-9]*)
        echo "error: $v must be a whole number (got '${!v}')" >&2
        exit 2
        ;;
    esac
done

t0=$(date +%s)
s_log() {
    printf '[%3ds] %s\n' $(($(date +%s) - t0)) "$*" >&2
}

mkdir -p "$results" "$results/latency"
rm -f "$results"/*-start.log "$results"/latency/*.txt
work=$(mktemp -d "${TMPDIR:-/tmp}/remiss-bench.XXXXXX")
# Mosquitto drops to its own user when run as root and must reach its files
# below here; every key inside stays 0600.
chmod 755 "$work"
runs="$results/runs.jsonl"
: >"$runs"

remissd_pid=""
broker_pids=""
child=""
started_peers=""
declare -A starting=() # peer -> pid of its start script, while it boots

# Stops the remissd of the current run: SIGTERM, SIGKILL after 10 s.
s_remissd_stop() {
    local i=0
    [ -n "$remissd_pid" ] || return 0
    kill -TERM "$remissd_pid" 2>/dev/null || true
    while kill -0 "$remissd_pid" 2>/dev/null && [ "$i" -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$remissd_pid" 2>/dev/null || true
    wait "$remissd_pid" 2>/dev/null || true
    remissd_pid=""
}

# shellcheck disable=SC2317 # called from the EXIT trap
s_cleanup() {
    local p
    # A benchmark still running gets SIGTERM: it reports and exits at once.
    [ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true
    [ -z "$child" ] || wait "$child" 2>/dev/null || true
    child=""
    ! declare -F s_gateway_stop >/dev/null || s_gateway_stop # defined further down
    # A start script still booting its broker stops it when signalled.
    for p in "${!starting[@]}"; do
        kill -TERM "${starting[$p]}" 2>/dev/null || true
        wait "${starting[$p]}" 2>/dev/null || true
    done
    starting=()
    s_node2_stop
    s_remissd_stop
    s_pg_stop
    for p in $started_peers; do
        "$here/peers/$(s_peer_script "$p").sh" stop "$(s_peer_dir "$p")" "$(s_peer_port "$p")" \
            >/dev/null 2>&1 || true
    done
    started_peers=""
    if [ "${KEEP:-0}" = 1 ]; then
        echo "bench: work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
# fd 9 is the script's own stderr, for traps that fire while a command's
# stderr is redirected to a log.
exec 9>&2
trap s_cleanup EXIT
trap 'echo "error: interrupted" >&9; exit 130' INT
trap 'echo "error: terminated" >&9; exit 143' TERM

# A peer server: mosquitto (per-change autosave), mosquitto_periodic
# (Debian's periodic autosave, its own instance), rabbitmq, nats.
s_peer_port() {
    case $1 in
    mosquitto) echo "$mqtt_port" ;;
    mosquitto_periodic) echo $((mqtt_port + 1)) ;;
    rabbitmq) echo "$amqp_port" ;;
    nats) echo "$nats_port" ;;
    esac
}
s_peer_script() {
    case $1 in mosquitto_periodic) echo mosquitto ;; *) echo "$1" ;; esac
}
s_peer_dir() {
    case $1 in mosquitto_periodic) echo "$work/periodic" ;; *) echo "$work" ;; esac
}
# The pids of a running peer's broker processes (for CPU per message).
s_peer_pids() {
    local d
    d=$(s_peer_dir "$1")
    case $1 in
    mosquitto | mosquitto_periodic) cat "$d/mosquitto/pid" 2>/dev/null || true ;;
    nats) cat "$d/nats/pid" 2>/dev/null || true ;;
    rabbitmq)
        # The Erlang VM (beam.smp) in the node's process group.
        pgrep -g "$(cat "$d/rabbitmq/pid" 2>/dev/null || echo 0)" beam.smp 2>/dev/null |
            tr '\n' ' ' || true
        ;;
    esac
}

# Runs "$@" in the background and waits, so a signal to this script is
# handled at once rather than after the child.
s_bg() {
    local rc=0
    "$@" &
    child=$!
    wait "$child" || rc=$?
    child=""
    return "$rc"
}

# Quotes $1 for a JSON string (the messages we quote are plain ASCII text).
s_json_str() {
    printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# Appends a failed row for a run that could not happen: $1 config, $2 mode,
# $3 round, $4 why.
s_fail_row() {
    local line
    line="{\"config\":\"$1\",\"mode\":\"$2\",\"round\":$3,\"complete\":false"
    line="$line,\"error\":$(s_json_str "$4")}"
    echo "$line" >>"$runs"
    s_log "$1 $2: $4"
}

# ------------------------------------------------------------------ build

s_log "dependencies: scripts/install-deps.sh ${peers:+bench}"
if ! scripts/install-deps.sh ${peers:+bench}; then
    s_log "warning: could not install the bench packages; peers may be missing"
fi

s_log "build (release)"
# SAN=0 on the command line beats a SAN=1 the caller's make passed down.
"$make" -C "$root" --no-print-directory -s SAN=0 all >/dev/null || {
    echo "error: the build failed; nothing to benchmark" >&2
    exit 1
}
"$make" -C "$root" --no-print-directory -s SAN=0 build/bench/remiss_bench >/dev/null || {
    echo "error: build/bench/remiss_bench failed to build" >&2
    exit 1
}
"$make" -C "$root" --no-print-directory -s SAN=0 build/bench/growth_fixture \
    build/bench/crypto_bench build/bench/gateway_bench >/dev/null || {
    echo "error: build/bench/growth_fixture, crypto_bench or gateway_bench failed to build" >&2
    exit 1
}
declare -A peer_broken=()
# mosquitto brings its periodic-autosave twin.
servers=""
for p in $peers; do
    case $p in
    mosquitto) prog=mqtt_bench servers="$servers mosquitto mosquitto_periodic" ;;
    rabbitmq) prog=amqp_bench servers="$servers rabbitmq" ;;
    nats) prog=nats_bench servers="$servers nats" ;;
    *)
        echo "error: unknown peer $p (mosquitto, rabbitmq, nats)" >&2
        exit 2
        ;;
    esac
    if ! "$make" -C "$root" --no-print-directory -s SAN=0 "build/bench/$prog" >"$work/build-$prog.log" 2>&1; then
        peer_broken[$p]="load generator did not build (see scripts/install-deps.sh bench)"
        [ "$p" != mosquitto ] || peer_broken[mosquitto_periodic]=${peer_broken[$p]}
    fi
done

# ------------------------------------------------------------------ PKI

# The remiss parties are the ones bench.policy lists, with their roles.
mapfile -t parties < <(awk '
    /^\[party / { p = $2; sub(/\]$/, "", p); next }
    /^\[/ { p = "" }
    p != "" && $1 == "role" { print p, $3; p = "" }' "$policy")
n_s=0 n_r=0
for pr in "${parties[@]}"; do
    case $pr in bench-s*) n_s=$((n_s + 1)) ;; bench-r*) n_r=$((n_r + 1)) ;; esac
done
if [ "$senders" -lt 1 ] || [ "$senders" -gt "$n_s" ] || [ "$receivers" -lt 1 ] ||
    [ "$receivers" -gt "$n_r" ]; then
    echo "error: SENDERS 1..$n_s and RECEIVERS 1..$n_r (the parties in $policy)" >&2
    exit 2
fi
"$here/peers/pki.sh" "$work/certs" $((senders + receivers)) >/dev/null 2>&1
export CERTS="$work/certs"

# The peers boot while the remiss PKI is made (RabbitMQ takes 7-25 s);
# nothing is measured before both are up.
for p in $servers; do
    [ -z "${peer_broken[$p]:-}" ] || continue
    s_log "starting $p on 127.0.0.1:$(s_peer_port "$p")"
    started_peers="$p $started_peers"
    mkdir -p "$(s_peer_dir "$p")"
    chmod 755 "$(s_peer_dir "$p")"
    # Debian's mosquitto.conf keeps the default autosave_interval (1800 s).
    [ "$p" = mosquitto_periodic ] && autosave=1800 || autosave=changes
    MOSQUITTO_AUTOSAVE=$autosave "$here/peers/$(s_peer_script "$p").sh" start \
        "$(s_peer_dir "$p")" "$(s_peer_port "$p")" >"$work/$p-start.log" 2>&1 &
    starting[$p]=$!
done

s_log "dev PKI for ${#parties[@]} parties in $work/pki"
pki="$work/pki"
bin/remissctl pki init "$pki" >/dev/null
for pr in "${parties[@]}"; do
    # shellcheck disable=SC2086 # "party role"
    bin/remissctl pki issue "$pki" $pr >/dev/null
done
crypto=$(build/bench/crypto_bench --pki "$pki" 2>/dev/null || echo '{}')
s_log "one broker-key signature and verification: $crypto"

# The growth rows: idle parties bench-i0.. (up to 256 connected in all) in a
# policy of their own, and a store that already holds GROWTH messages.
n_idle=0
if [ "$growth" -gt 0 ]; then
    n_idle=$((256 - senders - receivers))
    s_log "growth: $n_idle idle parties, a store with $growth earlier messages"
    cp "$policy" "$work/growth.policy"
    for i in $(seq 0 $((n_idle - 1))); do
        bin/remissctl pki issue "$pki" "bench-i$i" jobbtorg >/dev/null
        printf '\n[party bench-i%d]\nrole = jobbtorg\n' "$i" >>"$work/growth.policy"
    done
    fx_t0=$(date +%s)
    if ! build/bench/growth_fixture --pki "$pki" --db "$work/grown.db" --count "$growth" \
        2>"$work/fixture.log"; then
        growth_broken="fixture failed: $(tail -n 1 "$work/fixture.log")"
    fi
    fixture_s=$(($(date +%s) - fx_t0))
    s_log "growth fixture: ${fixture_s} s, $(du -m "$work/grown.db" | cut -f1) MB${growth_broken:+ ($growth_broken)}"
fi

# ------------------------------------------------------------------ disk

# fsync latency dominates every durable broker here and this VM's disk
# varies; 200 synchronous 4 KiB writes give the mood of the moment.
s_disk_probe() {
    local s e
    s=$(date +%s%N)
    dd if=/dev/zero of="$work/disk.probe" bs=4k count=200 oflag=dsync 2>/dev/null || true
    e=$(date +%s%N)
    rm -f "$work/disk.probe"
    awk -v ns=$((e - s)) 'BEGIN { printf "%.3f", ns / 200 / 1e6 }'
}
disk_before=$(s_disk_probe)
s_log "disk: ${disk_before} ms per synchronous 4 KiB write"

for p in "${!starting[@]}"; do
    rc=0
    wait "${starting[$p]}" || rc=$?
    unset "starting[$p]"
    [ "$rc" -ne 0 ] || continue
    # The first error and the log's last line usually say why; the whole log
    # outlives the work directory.
    cp "$work/$p-start.log" "$results/$p-start.log"
    why="$(grep -m 1 '^error' "$work/$p-start.log" || true)"
    last="$(grep -v '^ *$' "$work/$p-start.log" | tail -n 1)"
    [ "$last" = "$why" ] || why="${why:+$why: }$last"
    peer_broken[$p]="did not start (bench/results/$p-start.log): ${why#error: }"
    s_log "$p ${peer_broken[$p]}"
done
[ -z "$started_peers" ] || s_log "peers up"

# ------------------------------------------------------------------ remissd

s_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts remissd on a fresh database; $1 = name, then extra options. On
# failure returns 1 with the reason in $why (not a subshell: the pid must
# stay ours).
s_remissd_start() {
    local name=$1 i=0
    shift
    if s_port_open "$remiss_port"; then
        why="127.0.0.1:$remiss_port is already in use"
        return 1
    fi
    [ -n "${db_keep:-}" ] || rm -f "$work/$name.db" "$work/$name.db-wal" "$work/$name.db-shm"
    bin/remissd --pki "$pki" --db "${db_uri:-$work/$name.db}" --policy "${run_policy:-$policy}" \
        --listen "tcp://127.0.0.1:$remiss_port" "$@" >"$work/$name.log" 2>&1 &
    remissd_pid=$!
    # remissd logs "started" once it listens.
    while ! grep -q 'event=started' "$work/$name.log" 2>/dev/null; do
        if ! kill -0 "$remissd_pid" 2>/dev/null || [ "$i" -ge 100 ]; then
            s_remissd_stop
            why="remissd did not start: $(tail -n 1 "$work/$name.log")"
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
}


# ------------------------------------------------------------------ runs

# One measurement. $1 config, $2 mode, $3 round, $4 msgs, $5 rate, then the
# program and its own options.
s_measure() {
    local config=$1 mode=$2 round=$3 n=$4 r=$5 rc=0 line err tput lat=""
    shift 5
    local prog=$1
    shift
    [ "$mode" != paced ] || lat="$results/latency/$config-$round.txt"
    BENCH_BROKER_PIDS="$broker_pids" BENCH_LATENCY_FILE="$lat" \
        BENCH_LATENCY_SERIES="${lat:+$work/$config-$round.series}" \
        s_bg timeout -k 5 $((tmo + 15)) "$prog" --senders "$senders" --receivers "$receivers" \
        --count "$n" --size "$size" --rate "$r" --timeout "$tmo" --window "$window" "$@" \
        >"$work/last.json" 2>"$work/last.err" || rc=$?
    line=$(head -n 1 "$work/last.json")
    err=$(grep '^error: ' "$work/last.err" | head -n 1 | sed 's/^error: //' || true)
    [ -n "$line" ] || line="{\"complete\":false}"
    [ "$rc" -eq 0 ] || [ -n "$err" ] || err="exit status $rc"
    line="{\"config\":\"$config\",\"mode\":\"$mode\",\"round\":$round,\"rate\":$r,${line#\{}"
    [ -z "$err" ] || line="${line%\}},\"error\":$(s_json_str "$err")}"
    echo "$line" >>"$runs"
    tput=$(echo "$line" | sed -n 's/.*"msgs_per_s":\([^,]*\).*/\1 msgs\/s/p')
    tput="$tput$(echo "$line" | sed -n 's/.*"cpu_us_per_msg":\([^,]*\).*/, broker \1 us\/msg/p')"
    s_log "$config $mode: ${tput:-no figures}${err:+ ($err)}"
    grep '^warning: ' "$work/last.err" | sort -u | head -n 3 | while read -r w; do
        s_log "  $w"
    done
}

# ------------------------------------------------------------------ PostgreSQL

# As the postgres user when root (PostgreSQL refuses to run as root).
s_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A PostgreSQL 15 of the run's own: 127.0.0.1:$pg_port, sockets in its
# directory, the defaults otherwise (fsync and synchronous_commit on).
s_pg_start() {
    [ "$pg" = 1 ] || return 0
    if [ ! -x "$pg_bin/initdb" ]; then
        pg_broken="PostgreSQL 15 is not installed (scripts/install-deps.sh)"
        return 0
    fi
    mkdir -p "$work/pg"
    [ "$(id -u)" -ne 0 ] || chown postgres "$work/pg"
    if ! s_as_pg "$pg_bin/initdb" -D "$work/pg/data" -A trust -U postgres -E UTF8 \
        --locale=C >"$work/pg-initdb.log" 2>&1 ||
        ! s_as_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/postgres.log" -w -t 60 \
            -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1" start \
            >"$work/pg-start.log" 2>&1; then
        pg_broken="PostgreSQL did not start (see $work/pg/postgres.log)"
        return 0
    fi
    pg_started=1
}

# shellcheck disable=SC2317 # called from s_cleanup
s_pg_stop() {
    [ "$pg_started" = 1 ] || return 0
    s_as_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    pg_started=0
}

s_pg_dropdb() {
    s_as_pg "$pg_bin/dropdb" -h 127.0.0.1 -p "$pg_port" -U postgres --if-exists "$1" \
        >/dev/null 2>&1 || true
}

# A fresh database for one run; its URI in $db_uri.
s_pg_db() {
    local name=$1
    s_pg_dropdb "$name"
    s_as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres "$name" \
        >"$work/pg-createdb.log" 2>&1 || return 1
    db_uri="postgresql://postgres@127.0.0.1:$pg_port/$name"
}

# A second node on the same store (remiss_pg2): 127.0.0.1:$remiss_port + 1.
s_node2_start() {
    local name=$1 i=0
    node2_pid=""
    bin/remissd --pki "$pki" --db "$db_uri" --policy "$policy" \
        --listen "tcp://127.0.0.1:$((remiss_port + 1))" >"$work/$name-node2.log" 2>&1 &
    node2_pid=$!
    while ! grep -q 'event=started' "$work/$name-node2.log" 2>/dev/null; do
        if ! kill -0 "$node2_pid" 2>/dev/null || [ "$i" -ge 100 ]; then
            why="the second node did not start: $(tail -n 1 "$work/$name-node2.log")"
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
}

s_node2_stop() {
    [ -n "${node2_pid:-}" ] || return 0
    kill "$node2_pid" 2>/dev/null || true
    wait "$node2_pid" 2>/dev/null || true
    node2_pid=""
}

# $1 config (remiss, remiss_noaudit, remiss_pg, remiss_pg2: two nodes on one
# PostgreSQL, senders on the first, receivers on the second; or a growth row:
# remiss_grown with 8 parties connected, remiss_grown_p64, remiss_grown_p256),
# $2 mode, $3 round.
s_remiss() {
    local config=$1 mode=$2 round=$3 n r=0 extra=() idle=0 name recv=() pg_name
    [ "$config" = remiss_noaudit ] && extra=(--audit no)
    if [ "$mode" = paced ]; then n=$rate_count r=$rate; else n=$count; fi
    why=""
    db_uri=""
    db_keep=""
    run_policy=""
    name="$config-$mode-$round"
    pg_name="r_${config#remiss_}_${mode}_$round"
    case $config in
    remiss_grown*)
        [ "$growth" -gt 0 ] || return 0
        if [ -n "$growth_broken" ]; then
            s_fail_row "$config" "$mode" "$round" "$growth_broken"
            return
        fi
        # Every growth row runs on the one fixture store (each adds its own
        # messages to it); the idle parties make up 64 or 256 connected.
        db_keep=1 run_policy="$work/growth.policy" name=grown
        case $config in
        *_p64) idle=$((64 - senders - receivers)) ;;
        *_p256) idle=$((256 - senders - receivers)) ;;
        esac
        ;;
    esac
    if [ "$config" = remiss_pg ] || [ "$config" = remiss_pg2 ]; then
        [ "$pg" = 1 ] || return 0
        if [ -n "$pg_broken" ] || ! s_pg_db "$pg_name"; then
            s_fail_row "$config" "$mode" "$round" "${pg_broken:-createdb failed}"
            return
        fi
    fi
    if ! s_remissd_start "$name" "${extra[@]}"; then
        s_fail_row "$config" "$mode" "$round" "$why"
        return
    fi
    broker_pids=$remissd_pid
    if [ "$config" = remiss_pg2 ]; then
        if ! s_node2_start "$config-$mode-$round"; then
            s_node2_stop
            s_remissd_stop
            s_fail_row "$config" "$mode" "$round" "$why"
            return
        fi
        recv=(--recv-endpoint "tcp://127.0.0.1:$((remiss_port + 1))")
    fi
    s_measure "$config" "$mode" "$round" "$n" "$r" "$bin/remiss_bench" --pki "$pki" \
        --endpoint "tcp://127.0.0.1:$remiss_port" --idle "$idle" "${recv[@]}"
    s_node2_stop
    s_remissd_stop
    [ -n "$db_keep" ] || rm -f "$work/$name.db"*
    # As with the SQLite files: a run's database does not outlive it (left
    # behind, its dead rows had autovacuum at work during the next runs).
    [ -z "$db_uri" ] || s_pg_dropdb "$pg_name"
}

# The gateway row: a fresh remissd, a remiss-gateway for bench-s0 (HTTP in)
# and one for bench-r0 pushing to gateway_bench (HTTP out); $1 mode, $2 round.
# Its CPU figure is remissd's and both gateways' together.
s_gateway_start() {
    local side=$1 party=$2 port=$3 more=$4 i=0
    mkdir -p "$work/gw/$side"
    printf '[remiss-gateway]\npki = %s\nparty = %s\nbroker = tcp://127.0.0.1:%s\n' \
        "$pki" "$party" "$remiss_port" >"$work/gw/$side.conf"
    printf 'state = %s\nlisten = 127.0.0.1:%s\ntoken_file = %s\n%b' "$work/gw/$side" \
        "$port" "$work/gw/token" "$more" >>"$work/gw/$side.conf"
    bin/remiss-gateway --config "$work/gw/$side.conf" >"$work/gw/$side.log" 2>&1 &
    gw_pids="$gw_pids $!"
    while ! grep -q 'event=gateway.start' "$work/gw/$side.log" 2>/dev/null; do
        kill -0 "$!" 2>/dev/null && [ "$i" -lt 100 ] || return 1
        sleep 0.1
        i=$((i + 1))
    done
}

s_gateway_stop() {
    local p
    for p in $gw_pids; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    gw_pids=""
}

s_gateway() {
    local mode=$1 round=$2 n r=0
    [ "$gateway" = 1 ] || return 0
    if [ "$mode" = paced ]; then n=$rate_count r=$rate; else n=$count; fi
    why=""
    db_uri="" db_keep="" run_policy=""
    if ! s_remissd_start "gateway-$mode-$round"; then
        s_fail_row gateway "$mode" "$round" "$why"
        return
    fi
    rm -rf "$work/gw"
    mkdir -p "$work/gw"
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/gw/token" &&
        head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/gw/push.secret")
    if ! s_gateway_start a bench-s0 "$gw_port" "" ||
        ! s_gateway_start b bench-r0 $((gw_port + 1)) \
            "deliver_to = http://127.0.0.1:$((gw_port + 2))/push\npush_secret_file = $work/gw/push.secret\n"; then
        s_fail_row gateway "$mode" "$round" "remiss-gateway did not start"
    else
        broker_pids="$remissd_pid $gw_pids"
        s_measure gateway "$mode" "$round" "$n" "$r" "$bin/gateway_bench" --send "$gw_port" \
            --push-port $((gw_port + 2)) --token-file "$work/gw/token"
    fi
    ! declare -F s_gateway_stop >/dev/null || s_gateway_stop # defined further down
    s_remissd_stop
    rm -f "$work/gateway-$mode-$round.db"*
}

# $1 configuration: mosquitto, mosquitto_periodic, rabbitmq,
# rabbitmq_quorum or nats; $2 mode, $3 round.
s_peer() {
    local config=$1 mode=$2 round=$3 n r=0 prog srv=$1 qtype=""
    case $config in rabbitmq_quorum) srv=rabbitmq qtype=quorum ;; esac
    case " $servers " in *" $srv "*) ;; *) return ;; esac
    if [ -n "${peer_broken[$srv]:-}" ]; then
        s_fail_row "$config" "$mode" "$round" "${peer_broken[$srv]}"
        return
    fi
    if [ "$mode" = paced ]; then n=$rate_count r=$rate; else n=$count; fi
    case $srv in
    mosquitto*) prog=mqtt_bench ;;
    rabbitmq) prog=amqp_bench ;;
    nats) prog=nats_bench ;;
    esac
    broker_pids=$(s_peer_pids "$srv")
    BENCH_AMQP_QUEUE_TYPE=$qtype s_measure "$config" "$mode" "$round" "$n" "$r" "$bin/$prog" \
        --certs "$CERTS" --port "$(s_peer_port "$srv")"
}


if [ "$pg" = 1 ]; then
    s_log "PostgreSQL on 127.0.0.1:$pg_port"
    s_pg_start
fi
round=1
while [ "$round" -le "$rounds" ]; do
    elapsed=$(($(date +%s) - t0))
    # A round takes about as long as the ones before.
    if [ "$round" -gt 1 ] &&
        [ $((elapsed + (elapsed - setup_s) / (round - 1))) -gt "$budget" ]; then
        s_log "round $round skipped: it would not fit in BUDGET=$budget s"
        break
    fi
    [ "$round" -gt 1 ] || setup_s=$elapsed
    s_log "round $round of $rounds"
    for mode in saturation paced; do
        s_remiss remiss "$mode" "$round"
        s_remiss remiss_pg "$mode" "$round"
        s_remiss remiss_pg2 "$mode" "$round"
        for p in mosquitto mosquitto_periodic rabbitmq rabbitmq_quorum nats; do
            s_peer "$p" "$mode" "$round"
        done
        [ "$mode" = paced ] || s_remiss remiss_noaudit saturation "$round"
        s_gateway "$mode" "$round"
    done
    for p in remiss_grown remiss_grown_p64 remiss_grown_p256; do
        s_remiss "$p" saturation "$round"
        s_remiss "$p" paced "$round"
    done
    round=$((round + 1))
done
rounds_done=$((round - 1))
disk_after=$(s_disk_probe)
s_log "disk: ${disk_after} ms per synchronous 4 KiB write"
s_cleanup
trap - EXIT

# ------------------------------------------------------------------ plot

# The paced runs' latency distributions (first round), one CDF per broker,
# and the same as 1 - CDF on a log scale, where the tails show.
s_plot() {
    local out="$results/latency-cdf.png" f name plots="" tails="" title style
    command -v gnuplot >/dev/null 2>&1 || return 0
    for f in "$results"/latency/*-1.txt; do
        [ -s "$f" ] || continue
        name=$(basename "$f" -1.txt)
        title=$(echo "$name" | sed 's/_p\([0-9]*\)$/ \1 parties/; s/_/ /g')
        # A colour per broker; remiss thick, its growth rows dashed.
        case $name in
        remiss) style="lw 3 lc rgb '#000000'" ;;
        remiss_pg) style="lw 3 lc rgb '#777777'" ;;
        remiss_grown) style="lw 2 dt 2 lc rgb '#000000'" ;;
        remiss_grown_p64) style="lw 2 dt 2 lc rgb '#1f77b4'" ;;
        remiss_grown_p256) style="lw 2 dt 2 lc rgb '#d62728'" ;;
        mosquitto) style="lw 2 lc rgb '#2ca02c'" ;;
        mosquitto_periodic) style="lw 2 dt 3 lc rgb '#2ca02c'" ;;
        rabbitmq) style="lw 2 lc rgb '#ff7f0e'" ;;
        rabbitmq_quorum) style="lw 2 dt 3 lc rgb '#ff7f0e'" ;;
        nats) style="lw 2 lc rgb '#9467bd'" ;;
        *) style="lw 2 lc rgb '#8c564b'" ;;
        esac
        plots="$plots${plots:+, }'$f' using 1:2 with lines $style title '$title'"
        tails="$tails${tails:+, }'$f' using 1:(1-\$2+1e-9) with lines $style title '$title'"
    done
    [ -n "$plots" ] || return 0
    gnuplot >"$results/gnuplot.log" 2>&1 <<GP || return 0
set terminal pngcairo size 1600,700 font ",11"
set output "$out"
set multiplot layout 1,2 title "remiss and peers at $rate msgs/s: latency, sender to receiver ($size B, S=$senders R=$receivers, window $window)"
set logscale x
set xlabel "latency (ms, log)"
set grid
set key bottom right
set ylabel "fraction of messages"
set yrange [0:1]
plot $plots
set logscale y
set yrange [1e-4:1]
set ylabel "fraction slower (1 - CDF, log)"
set key top right
plot $tails
unset multiplot
GP
    plot_png="bench/results/latency-cdf.png"
}
plot_png=""
s_plot

# ------------------------------------------------------------------ report

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
awk -v quick="$quick" -v senders="$senders" -v receivers="$receivers" -v size="$size" \
    -v window="$window" -v rate="$rate" -v count="$count" -v rate_count="$rate_count" \
    -v tmo="$tmo" -v rounds="$rounds_done" -v cores="$(nproc)" -v cpu="$cpu" -v mem="$mem" \
    -v kernel="$(uname -r)" -v commit="$commit" -v date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -v disk_before="$disk_before" -v disk_after="$disk_after" -v crypto="$crypto" \
    -v growth="$growth" -v fixture_s="$fixture_s" -v plot="$plot_png" \
    -v json_out="$results/latest.json" -f "$here/report.awk" "$runs" || exit 1
if grep -q '"complete":false' "$runs"; then
    echo "bench: some runs did not complete (see the table and $runs)" >&2
    exit 1
fi
exit 0
