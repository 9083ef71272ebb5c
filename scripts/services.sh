#!/usr/bin/env bash
# Make sure PostgreSQL and Redis are installed, running and reachable.
#
# Called by `make run` / `make test` before anything else. Idempotent: when
# both services already answer it only runs two quick probes.
#
# Settings (environment):
#   DATABASE_URL  postgres://user:pass@host:port/db  (default below)
#   REDIS_URL     redis://host:port[/n]              (default below)
#
# For a non-local host (anything but 127.0.0.1 / localhost / ::1) the script
# only checks reachability; it never installs or starts anything remotely.
# Works as root (CI, fresh Debian 12 without systemd) or as a user with sudo.
# Does NOT create the application database: `fkapi migrate` does that.
set -euo pipefail

DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/fkapi}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

PG_WAIT_SECS=20
REDIS_WAIT_SECS=10

# ---------------------------------------------------------------- helpers --

log() { printf '%s\n' "$*" >&2; }
die() { printf 'services.sh: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# Run a command as root: directly if we are root, else through sudo.
as_root() {
    if [[ ${EUID} -eq 0 ]]; then
        "$@"
    elif have sudo; then
        sudo "$@"
    else
        die "need root to run '$*' (not root and sudo is not installed)"
    fi
}

# Run a command as the postgres OS user (peer auth over the unix socket).
as_postgres() {
    if [[ ${EUID} -eq 0 ]] && have runuser; then
        (cd / && runuser -u postgres -- "$@")
    elif [[ ${EUID} -eq 0 ]]; then
        local cmd
        printf -v cmd '%q ' "$@"
        (cd / && su postgres -s /bin/bash -c "${cmd}")
    elif have sudo; then
        (cd / && sudo -u postgres -- "$@")
    else
        die "need root or sudo to act as the postgres user"
    fi
}

APT_UPDATED=0
apt_install() {
    have apt-get || die "cannot install $* automatically: apt-get not found (install it manually)"
    if [[ ${APT_UPDATED} -eq 0 ]]; then
        log "apt: updating package lists"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2 \
            || die "apt-get update failed"
        APT_UPDATED=1
    fi
    log "apt: installing $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null >&2 \
        || die "apt-get install $* failed"
}

# Decode %XX escapes (user names / passwords in URLs).
url_decode() {
    local s="${1//\\/\\\\}"
    printf '%b' "${s//%/\\x}"
}

is_local_host() {
    case "$1" in
        127.0.0.1 | localhost | ::1) return 0 ;;
        *) return 1 ;;
    esac
}

# Split "host:port", "[v6]:port", "host" into HP_HOST / HP_PORT.
split_hostport() {
    local hp="$1" default_port="$2"
    if [[ ${hp} == \[* ]]; then
        HP_HOST="${hp#\[}"
        HP_HOST="${HP_HOST%%\]*}"
        local after="${hp#*\]}"
        HP_PORT="${after#:}"
    elif [[ ${hp} == *:*:* ]]; then
        # bare IPv6 address without a port
        HP_HOST="${hp}"
        HP_PORT=""
    elif [[ ${hp} == *:* ]]; then
        HP_HOST="${hp%:*}"
        HP_PORT="${hp##*:}"
    else
        HP_HOST="${hp}"
        HP_PORT=""
    fi
    [[ -n ${HP_HOST} ]] || HP_HOST=127.0.0.1
    [[ -n ${HP_PORT} ]] || HP_PORT="${default_port}"
    [[ ${HP_PORT} =~ ^[0-9]+$ ]] || die "invalid port '${HP_PORT}'"
}

# TCP reachability check without any client installed.
# shellcheck disable=SC2016
tcp_open() {
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# --------------------------------------------------------------- parse URLs --

parse_database_url() {
    local url="${DATABASE_URL}" rest authority userinfo=""
    case "${url}" in
        postgres://* | postgresql://*) ;;
        *) die "DATABASE_URL must look like postgres://user:pass@host:port/db (got '${url}')" ;;
    esac
    rest="${url#*://}"
    rest="${rest%%\?*}"
    authority="${rest%%/*}"
    if [[ ${authority} == *@* ]]; then
        userinfo="${authority%@*}"
        authority="${authority##*@}"
    fi
    PG_USER=""
    PG_PASS=""
    if [[ -n ${userinfo} ]]; then
        PG_USER="$(url_decode "${userinfo%%:*}")"
        if [[ ${userinfo} == *:* ]]; then
            PG_PASS="$(url_decode "${userinfo#*:}")"
        fi
    fi
    [[ -n ${PG_USER} ]] || PG_USER=postgres
    split_hostport "${authority}" 5432
    PG_HOST="${HP_HOST}"
    PG_PORT="${HP_PORT}"
}

parse_redis_url() {
    local url="${REDIS_URL}" rest authority userinfo=""
    case "${url}" in
        redis://*) ;;
        *) die "REDIS_URL must look like redis://host:port[/n] (got '${url}')" ;;
    esac
    rest="${url#*://}"
    rest="${rest%%\?*}"
    authority="${rest%%/*}"
    REDIS_PASS=""
    if [[ ${authority} == *@* ]]; then
        userinfo="${authority%@*}"
        authority="${authority##*@}"
        if [[ ${userinfo} == *:* ]]; then
            REDIS_PASS="$(url_decode "${userinfo#*:}")"
        fi
    fi
    split_hostport "${authority}" 6379
    REDIS_HOST="${HP_HOST}"
    REDIS_PORT="${HP_PORT}"
}

# ----------------------------------------------------------------- postgres --

# Log in over TCP as the configured user and report whether pg_trgm is
# available. Prints "1" or "0" on success; psql's error on stderr otherwise.
pg_login_probe() {
    PGPASSWORD="${PG_PASS}" PGCONNECT_TIMEOUT=3 psql -X -q -w -t -A \
        -h "${PG_HOST}" -p "${PG_PORT}" -U "${PG_USER}" -d postgres \
        -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'" \
        </dev/null
}

pg_ready() {
    pg_isready -q -t 2 -h "${PG_HOST}" -p "${PG_PORT}" >/dev/null 2>&1
}

pg_server_installed() {
    have psql && have pg_isready && have pg_ctlcluster && have pg_lsclusters \
        && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

pg_start_local() {
    local line ver name port status found="" newest
    # pg_lsclusters -h: ver cluster port status owner datadir logfile, sorted
    # by version. Use the cluster on our port; if several, an online one,
    # else the newest version.
    while read -r ver name port status _; do
        [[ -n ${ver:-} && ${port:-} == "${PG_PORT}" ]] || continue
        [[ ${found} == *" online"* ]] && continue
        found="${ver} ${name} ${status}"
    done < <(pg_lsclusters -h 2>/dev/null || true)

    if [[ -z ${found} ]]; then
        if [[ -n "$(pg_lsclusters -h 2>/dev/null || true)" ]]; then
            die "postgres: no local cluster is configured for port ${PG_PORT}; existing clusters:
$(pg_lsclusters 2>&1)
fix DATABASE_URL or the cluster port (/etc/postgresql/*/*/postgresql.conf)"
        fi
        newest="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null \
            | awk -F/ '{print $5}' | sort -V | tail -n 1)"
        [[ -n ${newest} ]] || die "postgres: server binaries not found under /usr/lib/postgresql"
        log "postgres: creating cluster ${newest}/main on port ${PG_PORT}"
        as_root pg_createcluster -p "${PG_PORT}" "${newest}" main >&2 \
            || die "postgres: pg_createcluster ${newest} main failed"
        found="${newest} main down"
    fi

    read -r ver name status <<<"${found}"
    line="${ver}/${name}"
    if [[ ${status} == online* ]]; then
        log "postgres: cluster ${line} is running but not answering yet, waiting"
    else
        log "postgres: starting cluster ${line}"
        as_root pg_ctlcluster --skip-systemctl-redirect "${ver}" "${name}" start >&2 \
            || die "postgres: 'pg_ctlcluster --skip-systemctl-redirect ${ver} ${name} start' failed (see /var/log/postgresql/postgresql-${ver}-${name}.log)"
    fi

    local i
    for ((i = 0; i < PG_WAIT_SECS * 2; i++)); do
        if pg_ready; then
            log "postgres: started (${line}, port ${PG_PORT})"
            return 0
        fi
        sleep 0.5
    done
    die "postgres: cluster ${line} does not accept connections on ${PG_HOST}:${PG_PORT} after ${PG_WAIT_SECS}s (check listen_addresses/port in /etc/postgresql/${ver}/${name}/postgresql.conf and /var/log/postgresql/postgresql-${ver}-${name}.log)"
}

# Give the configured role LOGIN + the configured password (creating it with
# CREATEDB if it does not exist), through peer auth as the postgres OS user.
pg_set_password() {
    [[ -n ${PG_PASS} ]] || return 1
    log "postgres: setting password for role '${PG_USER}'"
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "${PG_PORT}" -d postgres \
        -v "u=${PG_USER}" -v "p=${PG_PASS}" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'u')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u') \gexec
ALTER ROLE :"u" WITH LOGIN PASSWORD :'p';
SQL
}

ensure_postgres() {
    local out err
    parse_database_url
    local where="${PG_HOST}:${PG_PORT}"

    # Fast path: login works and pg_trgm is available.
    if have psql && out="$(pg_login_probe 2>/dev/null)" && [[ ${out} == 1 ]]; then
        log "postgres: ok (${where})"
        return 0
    fi

    if ! is_local_host "${PG_HOST}"; then
        if have pg_isready; then
            pg_ready || die "postgres: remote server ${where} is not reachable (pg_isready failed); not installing anything for a remote host"
        else
            tcp_open "${PG_HOST}" "${PG_PORT}" || die "postgres: remote server ${where} is not reachable; not installing anything for a remote host"
        fi
        log "postgres: ok (remote ${where} is reachable; login/pg_trgm not verified)"
        return 0
    fi

    if ! pg_server_installed; then
        log "postgres: not installed, installing"
        apt_install postgresql postgresql-contrib
        pg_server_installed || die "postgres: still not installed after apt-get install"
    fi

    if ! pg_ready; then
        pg_start_local
    fi

    if ! out="$(pg_login_probe 2>/dev/null)"; then
        if ! { pg_set_password && out="$(pg_login_probe 2>/dev/null)"; }; then
            err="$(pg_login_probe 2>&1 | tr '\n' ' ')" || true
            die "postgres: cannot log in as '${PG_USER}' over TCP at ${where}: ${err:-unknown error}"
        fi
    fi

    if [[ ${out} != 1 ]]; then
        log "postgres: pg_trgm extension not available, installing postgresql-contrib"
        apt_install postgresql-contrib
        out="$(pg_login_probe 2>/dev/null)" || true
        [[ ${out} == 1 ]] || die "postgres: pg_trgm is still not available after installing postgresql-contrib"
    fi
    log "postgres: ok (${where})"
}

# -------------------------------------------------------------------- redis --

redis_ping() {
    local reply
    if have redis-cli; then
        if [[ -n ${REDIS_PASS} ]]; then
            reply="$(REDISCLI_AUTH="${REDIS_PASS}" timeout 3 redis-cli -h "${REDIS_HOST}" -p "${REDIS_PORT}" ping </dev/null 2>/dev/null)" || return 1
        else
            reply="$(timeout 3 redis-cli -h "${REDIS_HOST}" -p "${REDIS_PORT}" ping </dev/null 2>/dev/null)" || return 1
        fi
    else
        # Plain RESP over /dev/tcp when redis-cli is not installed.
        # shellcheck disable=SC2016
        reply="$(timeout 3 bash -c '
            exec 3<>"/dev/tcp/$1/$2" || exit 1
            if [[ -n $3 ]]; then printf "AUTH %s\r\n" "$3" >&3; read -r -t 2 junk <&3; fi
            printf "PING\r\n" >&3
            read -r -t 2 line <&3 && printf "%s" "${line}"
        ' _ "${REDIS_HOST}" "${REDIS_PORT}" "${REDIS_PASS}" 2>/dev/null)" || return 1
        reply="${reply%$'\r'}"
        reply="${reply#+}"
    fi
    [[ ${reply} == PONG ]]
}

# Start redis-server with the given bind addresses; returns 0 once it answers.
redis_try_start() {
    local logfile="$1" datadir="$2" i size
    shift 2
    size=0
    [[ -f ${logfile} ]] && size="$(wc -c <"${logfile}")"
    if ! redis-server --daemonize yes --bind "$@" --port "${REDIS_PORT}" \
        --save "" --appendonly no --dir "${datadir}" --logfile "${logfile}" \
        --maxmemory 1gb --maxmemory-policy allkeys-lru </dev/null >&2; then
        return 1
    fi
    for ((i = 0; i < REDIS_WAIT_SECS * 4; i++)); do
        redis_ping && return 0
        # Fail early when the daemon logged a fatal error (e.g. bind failure).
        if [[ -f ${logfile} ]] && tail -c +"$((size + 1))" "${logfile}" 2>/dev/null \
            | grep -qE 'Failed listening|Could not create server TCP listening socket|FATAL|Fatal error'; then
            return 1
        fi
        sleep 0.25
    done
    return 1
}

ensure_redis() {
    parse_redis_url
    local where="${REDIS_HOST}:${REDIS_PORT}"

    if redis_ping; then
        log "redis: ok (${where})"
        return 0
    fi

    if ! is_local_host "${REDIS_HOST}"; then
        die "redis: remote server ${where} does not answer PING; not installing anything for a remote host"
    fi

    if ! have redis-server || ! have redis-cli; then
        log "redis: not installed, installing"
        apt_install redis-server redis-tools
        have redis-server || die "redis: redis-server still missing after apt-get install"
        # The package may have started its own instance.
        if redis_ping; then
            log "redis: ok (${where})"
            return 0
        fi
    fi

    local datadir=/var/lib/redis logdir=/var/log/redis
    if [[ ${EUID} -ne 0 ]]; then
        # Not root: use the system dirs only if we can write them.
        if ! { [[ -w ${datadir} ]] && [[ -w ${logdir} ]]; }; then
            datadir="${XDG_STATE_HOME:-${HOME}/.local/state}/fkapi/redis"
            logdir="${datadir}"
        fi
    fi
    mkdir -p "${datadir}" "${logdir}" || die "redis: cannot create ${datadir} / ${logdir}"
    local logfile="${logdir}/fkapi.log"

    log "redis: starting on ${where}"
    if redis_try_start "${logfile}" "${datadir}" 127.0.0.1 -::1 \
        || redis_try_start "${logfile}" "${datadir}" 127.0.0.1; then
        log "redis: started (${where})"
        return 0
    fi
    die "redis: could not start redis-server on ${where} (see ${logfile})"
}

# --------------------------------------------------------------------- main --

ensure_postgres
ensure_redis
