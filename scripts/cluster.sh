#!/usr/bin/env bash
# Try scale-out on one machine: a local Redis Cluster (3 masters, 3
# replicas, Debian's redis-server) and two fkapi instances on it.
#
#   scripts/cluster.sh start    # (default) cluster + migrations + demo data + 2 instances
#   scripts/cluster.sh status   # cluster state, masters, instances
#   scripts/cluster.sh stop     # stops what `start` started (by pid file)
#
# Settings (environment):
#   CLUSTER_PORT   first Redis port (default 17001; six ports from it, the
#                  cluster bus uses port + 10000, so keep it below 55530)
#   CLUSTER_DIR    data, logs and pid files (default ~/.local/state/fkapi/cluster)
#   FKAPI_PORTS    the instances' HTTP ports (default "8081 8082")
#   DATABASE_URL   as for `make run` (PostgreSQL is set up by services.sh)
#   SCALE          demo data scale (default medium)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_PORT="${CLUSTER_PORT:-17001}"
CLUSTER_DIR="${CLUSTER_DIR:-${XDG_STATE_HOME:-${HOME}/.local/state}/fkapi/cluster}"
FKAPI_PORTS="${FKAPI_PORTS:-8081 8082}"
SCALE="${SCALE:-medium}"
NODE_TIMEOUT_MS=2000

log() { printf '%s\n' "$*" >&2; }
die() { printf 'cluster.sh: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

ports() { for i in 0 1 2 3 4 5; do echo $((CLUSTER_PORT + i)); done; }
seeds() { local out="" p; for p in $(ports); do out="${out:+${out},}redis://127.0.0.1:${p}"; done; echo "${out}"; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

ensure_redis_binaries() {
    if have redis-server && have redis-cli; then return; fi
    log "redis: not installed, installing redis-server and redis-tools"
    local sudo=""
    [[ ${EUID} -eq 0 ]] || sudo="sudo"
    ${sudo} env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2
    ${sudo} env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server redis-tools </dev/null >&2
    have redis-server && have redis-cli || die "redis-server / redis-cli still missing after apt-get install"
}

start_nodes() {
    (( CLUSTER_PORT + 5 + 10000 < 65536 )) || die "CLUSTER_PORT ${CLUSTER_PORT} too high (bus ports are port + 10000)"
    local port dir
    for port in $(ports); do
        dir="${CLUSTER_DIR}/redis-${port}"
        mkdir -p "${dir}"
        if alive "${dir}/redis.pid"; then continue; fi
        if port_busy "${port}" || port_busy $((port + 10000)); then
            die "port ${port} or its bus port $((port + 10000)) is taken; set CLUSTER_PORT"
        fi
        redis-server --daemonize yes --port "${port}" --bind 127.0.0.1 --dir "${dir}" \
            --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout "${NODE_TIMEOUT_MS}" \
            --repl-diskless-sync-delay 0 --appendonly yes --save "" \
            --maxmemory 256mb --maxmemory-policy allkeys-lru \
            --pidfile "${dir}/redis.pid" --logfile "${dir}/redis.log"
    done
    for port in $(ports); do
        for _ in $(seq 50); do redis-cli -p "${port}" ping >/dev/null 2>&1 && break; sleep 0.1; done
        redis-cli -p "${port}" ping >/dev/null 2>&1 || die "redis on ${port} did not start (see ${CLUSTER_DIR}/redis-${port}/redis.log)"
    done
    if ! redis-cli -p "${CLUSTER_PORT}" cluster info | grep -q 'cluster_known_nodes:6'; then
        log "redis: creating the cluster (3 masters, 3 replicas)"
        local addrs=() p
        for p in $(ports); do addrs+=("127.0.0.1:${p}"); done
        redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"${CLUSTER_DIR}/create.log" \
            || die "cluster create failed (see ${CLUSTER_DIR}/create.log)"
    fi
    for _ in $(seq 100); do
        redis-cli -p "${CLUSTER_PORT}" cluster info | grep -q 'cluster_state:ok' && { log "redis: cluster ok ($(seeds))"; return; }
        sleep 0.2
    done
    die "cluster_state is not ok after 20 s"
}

start_instances() {
    (cd "${ROOT}" && REDIS_URL=redis://127.0.0.1:6379 bash scripts/services.sh) || die "PostgreSQL setup failed"
    (cd "${ROOT}" && cargo build --release -p fkapi-api) >&2
    local bin="${ROOT}/target/release/fkapi" seed_list
    seed_list="$(seeds)"
    REDIS_URL="${seed_list}" "${bin}" migrate
    REDIS_URL="${seed_list}" "${bin}" seed --scale "${SCALE}" --if-empty
    local port
    for port in ${FKAPI_PORTS}; do
        if alive "${CLUSTER_DIR}/fkapi-${port}.pid"; then continue; fi
        REDIS_URL="${seed_list}" FKAPI_BIND="127.0.0.1:${port}" FKAPI_URL="http://127.0.0.1:${port}" \
            nohup "${bin}" serve >"${CLUSTER_DIR}/fkapi-${port}.log" 2>&1 &
        echo $! >"${CLUSTER_DIR}/fkapi-${port}.pid"
    done
    for port in ${FKAPI_PORTS}; do
        for _ in $(seq 100); do
            curl -fsS "http://127.0.0.1:${port}/api/health" >/dev/null 2>&1 && break
            sleep 0.2
        done
        curl -fsS "http://127.0.0.1:${port}/api/health" >/dev/null 2>&1 \
            || die "instance on ${port} is not healthy (see ${CLUSTER_DIR}/fkapi-${port}.log)"
        log "fkapi: http://127.0.0.1:${port}  (log ${CLUSTER_DIR}/fkapi-${port}.log)"
    done
}

status() {
    redis-cli -p "${CLUSTER_PORT}" cluster info 2>/dev/null | grep -E 'cluster_state|cluster_known_nodes' || log "cluster: not running"
    redis-cli -p "${CLUSTER_PORT}" cluster nodes 2>/dev/null | awk '{print $2, $3, $9}' || true
    local port
    for port in ${FKAPI_PORTS}; do
        if alive "${CLUSTER_DIR}/fkapi-${port}.pid"; then echo "fkapi on ${port}: running"; else echo "fkapi on ${port}: stopped"; fi
    done
}

stop() {
    local pidfile
    for pidfile in "${CLUSTER_DIR}"/fkapi-*.pid "${CLUSTER_DIR}"/redis-*/redis.pid; do
        [[ -f "${pidfile}" ]] || continue
        if alive "${pidfile}"; then kill "$(cat "${pidfile}")" || true; fi
        rm -f "${pidfile}"
    done
    log "stopped (data kept in ${CLUSTER_DIR}; remove it for a fresh cluster)"
}

mkdir -p "${CLUSTER_DIR}"
case "${1:-start}" in
    start)
        ensure_redis_binaries
        start_nodes
        start_instances
        log ""
        log "Two instances share the cluster; put a load balancer in front of them, or try:"
        log "  curl -si http://127.0.0.1:${FKAPI_PORTS%% *}/api/clubs/1 | grep -i x-cache"
        log "  redis-cli -p ${CLUSTER_PORT} cluster nodes        # kill a master's pid to watch a failover"
        log "  scripts/cluster.sh stop"
        ;;
    status) status ;;
    stop) stop ;;
    *) die "usage: scripts/cluster.sh [start|status|stop]" ;;
esac
