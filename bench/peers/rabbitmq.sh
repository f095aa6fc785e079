#!/bin/bash
# Runs Debian's RabbitMQ as the AMQP peer of the benchmark: a private node
# (its own name, cookie, ports, mnesia and log directories under WORKDIR) with
# one TLS listener on 127.0.0.1 that requires a client certificate, and
# certificate-only login (SASL EXTERNAL, user = certificate CN).
# Usage: rabbitmq.sh start|stop WORKDIR PORT
#   start: writes WORKDIR/rabbitmq/{rabbitmq.conf,definitions.json,...}, starts
#          the node in the background (pid in WORKDIR/rabbitmq/pid) and
#          returns when it has booted, or fails after RABBITMQ_START_TIMEOUT
#          seconds (default 60) and stops what it started.
#   stop:  SIGTERM (graceful: RabbitMQ closes its stores), waits up to 60 s,
#          then SIGKILL to the node's process group.
# Certificates come from $CERTS (default WORKDIR/certs; pki.sh makes them if
# absent). Every client-<i>.crt there becomes a user "bench-client-<i>".
# A system instance that Debian's postinst may have started is left alone: we
# use node name remissbench<PORT>@localhost and distribution port PORT+20000
# (or $RABBITMQ_DIST_PORT).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
usage() {
    echo "usage: rabbitmq.sh start|stop WORKDIR PORT" >&2
    exit 2
}
[ $# -eq 3 ] || usage
cmd=$1
work=$2
port=$3
case $port in '' | *[!0-9]*) usage ;; esac
mkdir -p "$work"
work=$(cd "$work" && pwd)
dir="$work/rabbitmq"
pidfile="$dir/pid"
node="remissbench$port@localhost"
dist_port=${RABBITMQ_DIST_PORT:-$((port + 20000))}
start_timeout=${RABBITMQ_START_TIMEOUT:-60}
sbin=/usr/lib/rabbitmq/bin

# Everything RabbitMQ and its CLI read comes from here, never from /etc or
# /var/lib/rabbitmq. HOME holds the Erlang cookie, so only this user's CLI
# (with the same environment) can talk to the node. The distribution port,
# the CLI's own distribution listeners and a fresh epmd bind loopback only.
s_env() {
    export HOME="$dir"
    export RABBITMQ_NODENAME="$node"
    export RABBITMQ_DIST_PORT="$dist_port"
    export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
    export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    export RABBITMQ_MNESIA_BASE="$dir/mnesia"
    export RABBITMQ_LOG_BASE="$dir/log"
    export RABBITMQ_PID_FILE="$dir/rabbit.pid"
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export ERL_EPMD_ADDRESS=127.0.0.1
}

# Waits until process $1 is gone, at most $2 tenths of a second.
s_wait_gone() {
    local t=0
    while kill -0 "$1" 2>/dev/null; do
        [ "$t" -ge "$2" ] && return 1
        sleep 0.1
        t=$((t + 1))
    done
    return 0
}

s_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

s_stop() {
    local pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        # The wrapper script forwards SIGTERM to the VM, which shuts down
        # RabbitMQ in order (queues and message stores flushed and closed).
        kill -TERM "$pid" 2>/dev/null || true
        if ! s_wait_gone "$pid" 600; then
            echo "rabbitmq: node did not stop in 60 s, killing its process group" >&2
        fi
    fi
    # The node ran in its own session (setsid), so its process group id is
    # the wrapper's pid: this reaches whatever is left of erl, erl_child_setup
    # and helpers, and nothing of anyone else's.
    if pgrep -g "$pid" >/dev/null 2>&1; then
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    # epmd outlives the VM. Stop it only if we started it and no node is
    # registered any more.
    if [ -f "$dir/epmd.ours" ]; then
        rm -f "$dir/epmd.ours"
        if ! epmd -names 2>/dev/null | grep -q '^name '; then
            epmd -kill >/dev/null 2>&1 || true
        fi
    fi
}

# Writes rabbitmq.conf, plugins, definitions and the server's TLS files.
s_configure() {
    local certs=$1 users="" perms="" cn f sep=""
    mkdir -p "$dir/tls" "$dir/mnesia" "$dir/log"
    cp "$certs/ca.crt" "$certs/server.crt" "$certs/server.key" "$dir/tls/"
    chmod 600 "$dir/tls/server.key"
    : >"$dir/rabbitmq-env.conf"
    # Certificate login only; nothing else is loaded.
    echo '[rabbitmq_auth_mechanism_ssl].' >"$dir/enabled_plugins"

    # Users without a password (no PLAIN mechanism is offered either): they
    # log in only with EXTERNAL. Least privilege: configure and read bench queues,
    # write to them and the default exchange, nothing else.
    local q='^remiss-bench\\.' w='^(amq\\.default|remiss-bench\\..*)$'
    local h='"password_hash":"","hashing_algorithm":"rabbit_password_hashing_sha256","tags":[]'
    for f in "$certs"/client-*.crt; do
        [ -f "$f" ] || continue
        cn=$(openssl x509 -in "$f" -noout -subject -nameopt multiline |
            sed -n 's/^ *commonName *= *//p')
        users="$users$sep{\"name\":\"$cn\",$h}"
        perms="$perms$sep{\"user\":\"$cn\",\"vhost\":\"/\","
        perms="$perms\"configure\":\"$q\",\"write\":\"$w\",\"read\":\"$q\"}"
        sep=","
    done
    [ -n "$users" ] || {
        echo "error: no client-*.crt in $certs" >&2
        return 1
    }
    cat >"$dir/definitions.json" <<JSON
{"users":[$users],"vhosts":[{"name":"/"}],"permissions":[$perms]}
JSON

    cat >"$dir/rabbitmq.conf" <<CONF
# Generated by bench/peers/rabbitmq.sh; see bench/peers/README.md.
# No plain AMQP listener at all; one TLS listener on loopback.
listeners.tcp = none
listeners.ssl.default = 127.0.0.1:$port
ssl_options.cacertfile = $dir/tls/ca.crt
ssl_options.certfile = $dir/tls/server.crt
ssl_options.keyfile = $dir/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
# SASL EXTERNAL: the user is the client certificate's CN; no passwords.
auth_mechanisms.1 = EXTERNAL
ssl_cert_login_from = common_name
load_definitions = $dir/definitions.json
# Quiet and private.
log.file.level = warning
log.console = false
CONF
}

s_start() {
    local certs t pid
    [ -x "$sbin/rabbitmq-server" ] || {
        echo "error: rabbitmq-server not installed (scripts/install-deps.sh bench)" >&2
        exit 1
    }
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "error: rabbitmq already running from $dir (pid $(cat "$pidfile"))" >&2
        exit 1
    fi
    [ "$dist_port" -le 65535 ] || {
        echo "error: distribution port $dist_port out of range; set RABBITMQ_DIST_PORT" >&2
        exit 2
    }
    for t in "$port" "$dist_port"; do
        if s_port_open "$t"; then
            echo "error: 127.0.0.1:$t is already in use" >&2
            exit 1
        fi
    done
    certs=${CERTS:-$work/certs}
    [ -f "$certs/ca.crt" ] || "$here/pki.sh" "$certs" >/dev/null 2>&1
    mkdir -p "$dir"
    s_configure "$certs"
    s_env
    epmd -names >/dev/null 2>&1 || : >"$dir/epmd.ours"

    # Foreground mode of the wrapper (it traps SIGTERM and stops the VM), in
    # a session of its own so stop can reach the whole tree by group.
    setsid "$sbin/rabbitmq-server" >"$dir/log/startup.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$pidfile"
    # Interrupted while waiting: do not leave a half-started broker behind.
    trap 's_stop; exit 130' INT
    trap 's_stop; exit 143' TERM

    # The TLS listener opens only after boot (definitions loaded); then
    # await_startup confirms the node itself says it is running.
    t=0
    while ! s_port_open "$port"; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$t" -ge $((start_timeout * 10)) ]; then
            echo "error: rabbitmq did not start on 127.0.0.1:$port in ${start_timeout} s" >&2
            tail -n 30 "$dir/log/startup.log" "$dir/log/$node.log" >&2 2>/dev/null || true
            s_stop
            exit 1
        fi
        sleep 0.2
        t=$((t + 2))
    done
    if ! timeout 30 "$sbin/rabbitmqctl" -q await_startup --timeout 20 >/dev/null 2>&1; then
        echo "error: rabbitmq node $node did not report startup" >&2
        tail -n 30 "$dir/log/$node.log" >&2 2>/dev/null || true
        s_stop
        exit 1
    fi
    echo "rabbitmq: node $node pid $pid on 127.0.0.1:$port (TLS, EXTERNAL auth)" >&2
}

case $cmd in
start) s_start ;;
stop) s_stop ;;
*) usage ;;
esac
