#!/bin/bash
# One full peer measurement: for Mosquitto and then RabbitMQ, start the broker,
# run a saturation run and a paced run, stop the broker. Prints one JSON line
# per run on stdout (the benchmark's line with "mode" added) and keeps them in
# OUTDIR/peers.jsonl; broker files and logs stay in OUTDIR/work.
# Usage: run.sh [OUTDIR]        (default build/bench/peers)
# Knobs (environment): PEERS="mosquitto rabbitmq", SENDERS=4, RECEIVERS=4,
# SIZE=1024, COUNT=20000 (saturation), RATE=1000, RATE_COUNT=20000,
# TIMEOUT=60 (per run), WINDOW=64, MQTT_PORT=18883, AMQP_PORT=15671,
# BIN=build/bench. Build first: make bench-peers.
# Exit status: 0 when every run completed, 1 otherwise. Brokers are stopped on
# every exit path, Ctrl-C included.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build/bench/peers}
peers=${PEERS:-mosquitto rabbitmq}
senders=${SENDERS:-4}
receivers=${RECEIVERS:-4}
size=${SIZE:-1024}
count=${COUNT:-20000}
rate=${RATE:-1000}
rate_count=${RATE_COUNT:-20000}
tmo=${TIMEOUT:-60}
window=${WINDOW:-64}
mqtt_port=${MQTT_PORT:-18883}
amqp_port=${AMQP_PORT:-15671}
bin=${BIN:-$root/build/bench}

for b in mqtt_bench amqp_bench; do
    [ -x "$bin/$b" ] || {
        echo "error: $bin/$b missing; run: make bench-peers" >&2
        exit 1
    }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
work="$out/work"
rm -rf "$work"
mkdir -p "$work"
results="$out/peers.jsonl"
: >"$results"

running=""
child=""
# shellcheck disable=SC2317 # called from the EXIT trap
s_cleanup() {
    local p
    # A benchmark still running gets SIGTERM: it prints what it measured
    # (complete:false) and exits at once.
    [ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true
    [ -z "$child" ] || wait "$child" 2>/dev/null || true
    for p in $running; do
        case $p in
        mosquitto) "$here/mosquitto.sh" stop "$work" "$mqtt_port" || true ;;
        rabbitmq) "$here/rabbitmq.sh" stop "$work" "$amqp_port" || true ;;
        esac
    done
    running=""
}
trap s_cleanup EXIT
trap 'echo "error: interrupted" >&2; exit 130' INT
trap 'echo "error: terminated" >&2; exit 143' TERM

"$here/pki.sh" "$work/certs" $((senders + receivers)) 2>/dev/null
export CERTS="$work/certs"
status=0

# $1 = program, $2 = port, $3 = mode, $4 = count, $5 = rate
s_measure() {
    local line rc=0
    # The program stops itself at --timeout (+5 s grace); timeout(1) is the
    # last resort should it not. In the background so that a signal to this
    # script is handled at once, not after the run.
    timeout -k 5 $((tmo + 15)) "$bin/$1" --senders "$senders" --receivers "$receivers" \
        --count "$4" --size "$size" --rate "$5" --timeout "$tmo" --window "$window" \
        --certs "$CERTS" --port "$2" >"$work/last.json" &
    child=$!
    wait "$child" || rc=$?
    child=""
    line=$(head -n 1 "$work/last.json")
    [ "$rc" -eq 0 ] || status=1
    [ -n "$line" ] || line="{\"peer\":\"$1\",\"complete\":false,\"exit\":$rc}"
    local head="\"mode\":\"$3\",\"senders\":$senders,\"receivers\":$receivers"
    line="{$head,\"size\":$size,\"rate\":$5,${line#\{}"
    echo "$line" | tee -a "$results"
}

for p in $peers; do
    case $p in
    mosquitto) prog=mqtt_bench port=$mqtt_port ;;
    rabbitmq) prog=amqp_bench port=$amqp_port ;;
    *)
        echo "error: unknown peer $p" >&2
        exit 2
        ;;
    esac
    running="$p $running"
    # In the background for the same reason as the runs; the start script
    # stops its own broker when signalled, and s_cleanup stops it again.
    "$here/$p.sh" start "$work" "$port" &
    child=$!
    wait "$child" || {
        child=""
        echo "error: $p did not start" >&2
        exit 1
    }
    child=""
    s_measure "$prog" "$port" saturation "$count" 0
    s_measure "$prog" "$port" paced "$rate_count" "$rate"
    "$here/$p.sh" stop "$work" "$port"
    running=${running#"$p "}
done
exit "$status"
