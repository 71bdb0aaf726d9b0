#!/usr/bin/env bash
# A highly available PostgreSQL for Leasehold on one machine: three Patroni
# nodes (pg1..pg3) over a one-member etcd, all on 127.0.0.1, for trying
# failover and for fault-injection tests. Not a production layout: see
# deploy/ha/production/ and docs/ha.md.
#
#   cluster.sh up      DIR [--base-port N] [--leasehold BIN --replicas K]
#   cluster.sh down    DIR
#   cluster.sh url     DIR    # Leasehold's DATABASE_URL (multi-host, read-write)
#   cluster.sh primary DIR    # "NAME PORT" of the leader; exit 1 while there is none
#   cluster.sh status  DIR    # patronictl list
#   cluster.sh start-node DIR pgI  # start a stopped or killed node's Patroni again
#
# Ports from the base B (default 25430): PostgreSQL of pgI on B+I, Patroni's
# REST API of pgI on B+100+I, etcd client B+200 and peer B+201, Leasehold
# replica J on B+300+J.
#
# `up` on a DIR that holds a cluster made by this script stops it and wipes
# it; it refuses any other non-empty DIR.
set -euo pipefail

PY=/usr/bin/python3 # Patroni's own interpreter: never a pyenv or venv one
UP_TIMEOUT=${HA_UP_TIMEOUT:-90}

die() { printf 'cluster.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }

usage() {
    sed -n '7,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# --- state kept in DIR ------------------------------------------------------

load() {
    DIR=$(realpath -m "$1")
    [ -f "$DIR/cluster.env" ] || die "$DIR holds no cluster (no cluster.env): run 'up' first"
    BASE=$(sed -n 's/^base_port=//p' "$DIR/cluster.env")
    REPLICAS=$(sed -n 's/^leasehold_replicas=//p' "$DIR/cluster.env")
    [[ "$BASE" =~ ^[0-9]+$ ]] || die "$DIR/cluster.env has no base_port"
}

database_url() {
    printf 'postgres://postgres@127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/leasehold?target_session_attrs=read-write\n' \
        $((BASE + 1)) $((BASE + 2)) $((BASE + 3))
}

# --- processes --------------------------------------------------------------

# The prefix that runs a command as the user PostgreSQL runs as: postgres
# when we are root (initdb and postgres refuse root), ourselves otherwise.
# setpriv execs in place, so a pid taken before it is the command's own.
AS_PG=()
if [ "$(id -u)" -eq 0 ]; then
    AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --reset-env --)
fi

# daemon PIDFILE LOG CMD...: starts CMD in its own session (so a Ctrl-C or a
# killed caller does not reach it), its pid in PIDFILE, output in LOG.
daemon() {
    local pidfile=$1 log=$2
    shift 2
    # shellcheck disable=SC2016 # $$ and $@ belong to the inner bash
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$log" 2>&1 </dev/null &
}

# alive PID PATTERN: PID runs and its command line contains PATTERN (a
# guard against a recycled pid).
alive() {
    [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

pid_of() { if [ -f "$1" ]; then head -1 "$1"; fi; }

# stop NAME PIDFILE PATTERN SECONDS: SIGTERM, wait, then SIGKILL.
stop() {
    local name=$1 pid
    pid=$(pid_of "$2")
    alive "$pid" "$3" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((4 * $4))); do alive "$pid" "$3" || return 0; sleep 0.25; done
    echo "$name (pid $pid) did not stop in $4 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# Kills a node's postmaster and its children if Patroni left them behind.
kill_postgres_leftovers() {
    local data=$1 pid
    [ -f "$data/postmaster.pid" ] || return 0
    pid=$(head -1 "$data/postmaster.pid")
    alive "$pid" "$data" || return 0
    echo "postmaster of $data (pid $pid) still runs: SIGKILL to it and its children"
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() { # PORT SECONDS
    for _ in $(seq $((4 * $2))); do port_free "$1" || return 0; sleep 0.25; done
    return 1
}

# --- Patroni's view ---------------------------------------------------------

# cluster_json: GET /cluster from the first Patroni that answers.
cluster_json() {
    local i
    for i in 1 2 3; do
        curl -sf --max-time 2 "http://127.0.0.1:$((BASE + 100 + i))/cluster" && return 0
    done
    return 1
}

# Reads /cluster on stdin; prints "NAME PORT" of the running leader.
leader_of() {
    "$PY" -c '
import json, sys
c = json.load(sys.stdin)
for m in c.get("members", []):
    if m.get("role") == "leader" and m.get("state") == "running":
        print(m["name"], m["port"]); sys.exit(0)
sys.exit(1)'
}

# Exit 0 when a leader runs, both replicas stream from it and one of them is
# the synchronous standby; prints what is missing otherwise.
cluster_formed() {
    local json leader port status
    json=$(cluster_json) || { echo "no Patroni REST API answers yet"; return 1; }
    read -r leader port < <(leader_of <<<"$json") || { echo "no leader yet"; return 1; }
    status=$(curl -sf --max-time 2 "http://127.0.0.1:$((port + 100))/patroni") ||
        { echo "leader $leader does not answer"; return 1; }
    "$PY" -c '
import json, sys
cluster, leader = json.loads(sys.argv[1]), json.loads(sys.argv[2])
streaming = [r["application_name"] for r in leader.get("replication", []) if r.get("state") == "streaming"]
sync = [m["name"] for m in cluster["members"] if m.get("role") == "sync_standby"]
if len(streaming) < 2:
    print("leader %s; streaming: %s" % (sys.argv[3], ", ".join(streaming) or "none")); sys.exit(1)
if not sync:
    print("leader %s; no synchronous standby yet" % sys.argv[3]); sys.exit(1)
' "$json" "$status" "$leader"
}

# --- up ---------------------------------------------------------------------

newest_pg_bindir() {
    local dir
    dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -1)
    if [ -z "$dir" ] || [ ! -x "$dir/postgres" ]; then die "no PostgreSQL under /usr/lib/postgresql/*/bin"; fi
    echo "$dir"
}

install_packages() {
    command -v patroni >/dev/null && command -v etcd >/dev/null && return 0
    say "installing patroni and etcd-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patroni etcd-server
    # The packages enable services that would start at boot (never here, where
    # policy-rc.d and the missing systemd stop them); we use our own ports
    # and never talk to them.
}

# Makes DIR empty and ours: stops and wipes a cluster left by an earlier
# `up`; refuses to wipe anything else.
prepare_dir() {
    if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
        [ -f "$DIR/cluster.env" ] ||
            die "$DIR is not empty and holds no cluster made by this script: choose another DIR"
        say "stopping and wiping the cluster in $DIR"
        "$0" down "$DIR"
        find "$DIR" -mindepth 1 -delete
    fi
    mkdir -p "$DIR"
    chmod 0755 "$DIR"
    # postgres must be able to walk down to DIR: open the parents that stop it.
    if [ "$(id -u)" -eq 0 ]; then
        local p=$DIR
        while [ "$p" != / ]; do
            p=$(dirname "$p")
            if ! "${AS_PG[@]}" test -x "$p"; then
                echo "chmod o+x $p (so that the postgres user can reach $DIR)"
                chmod o+x "$p"
            fi
        done
    fi
}

check_ports() {
    local port busy=()
    for port in $((BASE + 1)) $((BASE + 2)) $((BASE + 3)) $((BASE + 101)) $((BASE + 102)) \
        $((BASE + 103)) $((BASE + 200)) $((BASE + 201)); do
        port_free "$port" || busy+=("$port")
    done
    [ ${#busy[@]} -eq 0 ] || die "ports in use on 127.0.0.1: ${busy[*]} (another cluster? try --base-port)"
}

start_etcd() {
    mkdir -p "$DIR/etcd"
    chmod 0700 "$DIR/etcd"
    local client="http://127.0.0.1:$((BASE + 200))" peer="http://127.0.0.1:$((BASE + 201))"
    daemon "$DIR/etcd.pid" "$DIR/etcd.log" etcd --name etcd1 --data-dir "$DIR/etcd" \
        --listen-client-urls "$client" --advertise-client-urls "$client" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "etcd1=$peer" --initial-cluster-state new \
        --initial-cluster-token "leasehold-$BASE"
    for _ in $(seq 60); do
        curl -sf --max-time 1 "$client/health" | grep -q '"health":"true"' && return 0
        sleep 0.25
    done
    tail -20 "$DIR/etcd.log" >&2
    die "etcd did not become healthy on $client"
}

# Patroni's settings for node I. The DCS part (bootstrap.dcs) is written to
# etcd by whichever node bootstraps and is the same for all.
write_node_config() {
    local i=$1 node="$DIR/pg$1"
    cat >"$node/patroni.yml" <<EOF
# Patroni for node pg$i of a local test cluster made by deploy/ha/cluster.sh.
scope: leasehold
name: pg$i

restapi:
  listen: 127.0.0.1:$((BASE + 100 + i))
  connect_address: 127.0.0.1:$((BASE + 100 + i))

etcd3:
  hosts: 127.0.0.1:$((BASE + 200))

bootstrap:
  dcs:
    # Failover in seconds: the leader key lives ttl s without renewal; Patroni
    # checks every loop_wait s; a DCS or PostgreSQL call is retried for
    # retry_timeout s. Patroni needs ttl >= loop_wait + 2 * retry_timeout
    # (here 10 >= 1 + 8), so a leader cut off from etcd demotes itself before
    # its key expires and another node can take it.
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    # A crashed primary is failed over at once, not restarted in place (the
    # synchronous standby has every acknowledged commit); it rejoins as a
    # replica, rewound with pg_rewind.
    primary_start_timeout: 0
    # Only the synchronous standby, which holds every acknowledged commit, may
    # be promoted; if it is lost, the primary picks another.
    synchronous_mode: true
    synchronous_node_count: 1
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      remove_data_directory_on_rewind_failure: true
      remove_data_directory_on_diverged_timelines: true
      parameters:
        fsync: 'on'
        synchronous_commit: 'on'
        wal_level: replica
        hot_standby: 'on'
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        max_connections: 200
  initdb:
    - data-checksums
    - encoding: UTF8
    - locale: C.UTF-8
  post_bootstrap: $DIR/post_bootstrap.sh

postgresql:
  listen: 127.0.0.1:$((BASE + i))
  connect_address: 127.0.0.1:$((BASE + i))
  data_dir: $node/data
  bin_dir: $PG_BIN
  pgpass: $node/pgpass
  # A new replica copies the leader at once, not after a spread checkpoint.
  basebackup:
    checkpoint: fast
  # A local test cluster: every connection from 127.0.0.1 is trusted, no
  # passwords. Never like this on a network (see production/patroni.yml).
  authentication:
    superuser:
      username: postgres
    replication:
      username: replicator
    rewind:
      username: postgres
  pg_hba:
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
  parameters:
    unix_socket_directories: ''
    logging_collector: 'on'
    log_directory: $node
    log_filename: postgresql.log
    log_truncate_on_rotation: 'off'
    log_rotation_age: 0
    log_line_prefix: '%m [%p] %q%u@%d '
EOF
}

write_post_bootstrap() {
    # Patroni runs it once on the node that bootstraps, with a connection URL.
    cat >"$DIR/post_bootstrap.sh" <<EOF
#!/bin/sh
set -e
exec "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "\$1" -c 'CREATE DATABASE leasehold'
EOF
    chmod 0755 "$DIR/post_bootstrap.sh"
}

start_patroni() {
    local i node
    for i in 1 2 3; do
        node="$DIR/pg$i"
        mkdir -p "$node"
        write_node_config "$i"
        : >"$node/patroni.log"
        if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$node"; fi
        chmod 0755 "$node"
        start_node "$i"
    done
}

# Starts Patroni of node I (which starts its PostgreSQL); its log is appended to.
start_node() {
    local node="$DIR/pg$1"
    daemon "$node/patroni.pid" "$node/patroni.log" "${AS_PG[@]}" patroni "$node/patroni.yml"
}

# start-node DIR pgI: starts again a node whose Patroni was stopped or killed.
cmd_start_node() {
    local i=${1#pg}
    [[ "$i" =~ ^[123]$ ]] || die "no node $1: pg1, pg2 or pg3"
    ! alive "$(pid_of "$DIR/pg$i/patroni.pid")" patroni || die "Patroni of pg$i already runs"
    # A PostgreSQL that outlived its Patroni is left running: the new Patroni
    # adopts it, and demotes it if another node holds the leader key.
    start_node "$i"
    echo "started Patroni of pg$i (pid $(sleep 0.2; pid_of "$DIR/pg$i/patroni.pid"))"
}

show_logs() {
    local f
    for f in "$DIR/etcd.log" "$DIR"/pg?/patroni.log "$DIR"/pg?/postgresql.log; do
        [ -f "$f" ] || continue
        printf '\n--- tail of %s\n' "$f" >&2
        tail -15 "$f" >&2
    done
}

wait_formed() {
    local start=$SECONDS why="" i
    while [ $((SECONDS - start)) -lt "$UP_TIMEOUT" ]; do
        for i in 1 2 3; do
            [ $((SECONDS - start)) -lt 3 ] || alive "$(pid_of "$DIR/pg$i/patroni.pid")" patroni || {
                show_logs
                die "Patroni of pg$i exited"
            }
        done
        if why=$(cluster_formed); then
            say "cluster formed in $((SECONDS - start)) s"
            return 0
        fi
        sleep 0.5
    done
    show_logs
    die "the cluster did not form in $UP_TIMEOUT s: $why"
}

start_leasehold() {
    local bin=$1 k=$2 url j port
    url=$(database_url)
    say "leasehold migrate"
    DATABASE_URL=$url "$bin" migrate
    for j in $(seq "$k"); do
        port=$((BASE + 300 + j))
        port_free "$port" || die "port $port is in use: cannot start Leasehold replica $j"
        daemon "$DIR/leasehold-$j.pid" "$DIR/leasehold-$j.log" \
            env DATABASE_URL="$url" "$bin" serve --listen "127.0.0.1:$port"
    done
    for j in $(seq "$k"); do
        port=$((BASE + 300 + j))
        if ! wait_for_port "$port" 30; then
            tail -20 "$DIR/leasehold-$j.log" >&2
            die "Leasehold replica $j did not listen on 127.0.0.1:$port"
        fi
    done
}

cmd_up() {
    local base=25430 bin="" k=""
    [ $# -ge 1 ] || usage
    DIR=$(realpath -m "$1")
    shift
    [[ "$DIR" =~ ^[A-Za-z0-9/._+-]+$ ]] || die "DIR may hold only letters, digits and / . _ + - (it goes into YAML and commands)"
    while [ $# -gt 0 ]; do
        case $1 in
            --base-port) base=${2:?--base-port needs a number}; shift 2 ;;
            --leasehold) bin=${2:?--leasehold needs a binary}; shift 2 ;;
            --replicas) k=${2:?--replicas needs a number}; shift 2 ;;
            *) usage ;;
        esac
    done
    if ! [[ "$base" =~ ^[0-9]+$ ]] || [ "$base" -lt 1024 ] || [ "$base" -gt 65000 ]; then
        die "--base-port must be a number from 1024 to 65000"
    fi
    if [ -n "$bin" ] || [ -n "$k" ]; then
        if [ -z "$bin" ] || ! [[ "$k" =~ ^[1-9][0-9]*$ ]]; then
            die "--leasehold BIN and --replicas K (K >= 1) go together"
        fi
        [ -x "$bin" ] || die "$bin is not an executable"
        bin=$(realpath "$bin")
    fi
    install_packages
    PG_BIN=$(newest_pg_bindir)
    trap 'echo "cluster.sh: up failed; what it started is left for inspection: cluster.sh down $DIR stops it" >&2' EXIT
    prepare_dir
    BASE=$base
    check_ports
    printf 'base_port=%s\nleasehold_replicas=%s\npg_bin=%s\n' "$BASE" "${k:-0}" "$PG_BIN" >"$DIR/cluster.env"

    say "etcd on 127.0.0.1:$((BASE + 200))"
    start_etcd
    say "Patroni pg1..pg3 (PostgreSQL $(basename "$(dirname "$PG_BIN")") from $PG_BIN)"
    write_post_bootstrap
    start_patroni
    wait_formed
    [ -z "$bin" ] || start_leasehold "$bin" "$k"
    trap - EXIT
    summary "${k:-0}"
}

summary() {
    echo
    echo "DATABASE_URL=$(database_url)"
    local i j
    for i in 1 2 3; do
        echo "pg$i: PostgreSQL 127.0.0.1:$((BASE + i)), Patroni http://127.0.0.1:$((BASE + 100 + i))"
    done
    echo "etcd: http://127.0.0.1:$((BASE + 200))"
    for j in $(seq "$1"); do echo "leasehold $j: http://127.0.0.1:$((BASE + 300 + j))"; done
    echo "leader: $(cmd_primary 2>/dev/null || echo none)"
}

# --- the other commands -----------------------------------------------------

cmd_down() {
    local i j n
    [ -d "$DIR" ] || return 0
    n=${REPLICAS:-0}
    for j in $(seq "$n"); do
        stop "leasehold $j" "$DIR/leasehold-$j.pid" "--listen 127.0.0.1:$((BASE + 300 + j))" 15 &
    done
    wait
    # All nodes at once: each Patroni stops its PostgreSQL (fast shutdown),
    # and none of them promotes while it is shutting down.
    for i in 1 2 3; do
        stop "patroni pg$i" "$DIR/pg$i/patroni.pid" "$DIR/pg$i/patroni.yml" 40 &
    done
    wait
    for i in 1 2 3; do kill_postgres_leftovers "$DIR/pg$i/data"; done
    stop etcd "$DIR/etcd.pid" "$DIR/etcd" 15
    rm -f "$DIR"/*.pid "$DIR"/pg?/patroni.pid
}

cmd_primary() {
    local json
    json=$(cluster_json) || die "no Patroni REST API answers on 127.0.0.1:$((BASE + 101))..$((BASE + 103))"
    leader_of <<<"$json" || die "no running leader"
}

main() {
    [ $# -ge 2 ] || usage
    local cmd=$1
    shift
    case $cmd in
        up) cmd_up "$@" ;;
        down) [ $# -eq 1 ] || usage; load "$1"; cmd_down ;;
        url) [ $# -eq 1 ] || usage; load "$1"; database_url ;;
        primary) [ $# -eq 1 ] || usage; load "$1"; cmd_primary ;;
        status) [ $# -eq 1 ] || usage; load "$1"; patronictl -c "$DIR/pg1/patroni.yml" list ;;
        start-node) [ $# -eq 2 ] || usage; load "$1"; cmd_start_node "$2" ;;
        *) usage ;;
    esac
}

main "$@"
