#!/usr/bin/env bash
# Property-based API fuzzing with schemathesis against the live OpenAPI
# document: no 5xx for anything a client can send, and every response
# matching what the document says (status code, content type, body schema).
#
# Called by `make fuzz` and by `make test` after the cargo tests.
#
# What it does, each run from scratch so CI is reproducible:
#   1. a Python venv in target/fuzz-venv with a pinned schemathesis (reused);
#   2. a dedicated database (`fkapi_fuzz`: dropped, migrated, seeded small);
#   3. `fkapi serve` on a free port with an admin key (so the write routes
#      are exercised), its own Redis namespace and no rate limit;
#   4. schemathesis with a fixed seed and a bounded number of examples per
#      operation, under a wall-clock timeout;
#   5. the server stopped, the database dropped, the namespace's keys removed.
#
# Settings (environment):
#   DATABASE_URL        any database on the server to use (its name is replaced)
#   REDIS_URL           redis://host:port[/n]
#   FUZZ_MAX_EXAMPLES   test cases per operation and phase (default 100)
#   FUZZ_SEED           hypothesis seed (default 20241122)
#   FUZZ_TIMEOUT        wall-clock limit of the schemathesis run in seconds (default 420)
#   FUZZ_REPORT_DIR     where the JUnit report and server log go (default target/fuzz-report)
#   FUZZ_DATABASE       name of the throwaway database (default fkapi_fuzz)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=target/fuzz-venv
DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/fkapi}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-100}"
SEED="${FUZZ_SEED:-20241122}"
RUN_TIMEOUT="${FUZZ_TIMEOUT:-420}"
REPORT_DIR="${FUZZ_REPORT_DIR:-target/fuzz-report}"
CARGO="${CARGO:-cargo}"

log() { printf 'fuzz.sh: %s\n' "$*" >&2; }
die() { printf 'fuzz.sh: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

as_root() {
    if [[ ${EUID} -eq 0 ]]; then
        "$@"
    elif have sudo; then
        sudo "$@"
    else
        die "need root to run '$*' (not root and sudo is not installed)"
    fi
}

# ------------------------------------------------------------------ venv --

ensure_venv() {
    if [[ -x ${VENV}/bin/schemathesis ]] \
        && [[ "$("${VENV}/bin/schemathesis" --version 2>/dev/null)" == *"${SCHEMATHESIS_VERSION}"* ]]; then
        return 0
    fi
    rm -rf "${VENV}"
    if ! have python3 || ! python3 -m venv "${VENV}" >/dev/null 2>&1; then
        rm -rf "${VENV}"
        have apt-get || die "python3 -m venv failed and apt-get is not available: install python3 and python3-venv"
        log "python3 -m venv failed; installing python3-venv"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2 || die "apt-get update failed"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv </dev/null >&2 \
            || die "apt-get install python3-venv failed"
        python3 -m venv "${VENV}" || die "python3 -m venv still fails"
    fi
    log "installing schemathesis ${SCHEMATHESIS_VERSION} into ${VENV}"
    "${VENV}/bin/python" -m pip install -q --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}" >&2 \
        || die "pip install schemathesis==${SCHEMATHESIS_VERSION} failed"
}

# -------------------------------------------------------------- database --

# postgres://u:p@h:port/db?opts → postgres://u:p@h:port
pg_base() {
    local url="${DATABASE_URL%%\?*}"
    local scheme="${url%%://*}" rest="${url#*://}"
    printf '%s://%s' "${scheme}" "${rest%%/*}"
}

PG_BASE="$(pg_base)"
FUZZ_DB="${FUZZ_DATABASE:-fkapi_fuzz}"
FUZZ_DATABASE_URL="${PG_BASE}/${FUZZ_DB}"

drop_db() {
    psql -X -q -w "${PG_BASE}/postgres" -c "DROP DATABASE IF EXISTS \"${FUZZ_DB}\" WITH (FORCE)" >/dev/null
}

# ----------------------------------------------------------------- redis --

NAMESPACE="fkapi_fuzz_$$_$(date +%s)"

clean_redis() {
    have redis-cli || return 0
    local host port rest
    rest="${REDIS_URL#redis://}"
    rest="${rest%%/*}"
    rest="${rest##*@}"
    host="${rest%:*}"
    port="${rest##*:}"
    [[ ${port} == "${rest}" ]] && port=6379
    # One key per line; keys hold fuzzed text (quotes, spaces), so no xargs quoting.
    redis-cli -h "${host}" -p "${port}" --scan --pattern "{${NAMESPACE}:*" 2>/dev/null \
        | xargs -r -d '\n' -n 500 redis-cli -h "${host}" -p "${port}" DEL >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- server --

SERVER_PID=""
LOG_FILE=""

cleanup() {
    local status=$?
    if [[ -n ${SERVER_PID} ]] && kill -0 "${SERVER_PID}" 2>/dev/null; then
        kill "${SERVER_PID}" 2>/dev/null || true
        wait "${SERVER_PID}" 2>/dev/null || true
    fi
    drop_db 2>/dev/null || true
    clean_redis
    if [[ ${status} -ne 0 && -n ${LOG_FILE} && -s ${LOG_FILE} ]]; then
        log "server log (last 40 lines of ${LOG_FILE}):"
        tail -n 40 "${LOG_FILE}" >&2 || true
    fi
    exit "${status}"
}
trap cleanup EXIT

free_port() {
    "${VENV}/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ------------------------------------------------------------------ main --

started=$(date +%s)
ensure_venv
have psql || die "psql is required (run scripts/services.sh)"

log "building fkapi (debug)"
"${CARGO}" build -q -p fkapi-api --bin fkapi
BIN=target/debug/fkapi

log "recreating database ${FUZZ_DB}"
drop_db
DATABASE_URL="${FUZZ_DATABASE_URL}" "${BIN}" migrate >/dev/null
DATABASE_URL="${FUZZ_DATABASE_URL}" "${BIN}" seed --scale small >/dev/null

PORT="$(free_port)"
ADMIN_KEY="fuzz-admin-$$-${RANDOM}"
mkdir -p "${REPORT_DIR}"
LOG_FILE="${REPORT_DIR}/server.log"
log "starting fkapi on 127.0.0.1:${PORT} (namespace ${NAMESPACE})"
env DATABASE_URL="${FUZZ_DATABASE_URL}" REDIS_URL="${REDIS_URL}" \
    FKAPI_BIND="127.0.0.1:${PORT}" FKAPI_ADMIN_KEY="${ADMIN_KEY}" \
    FKAPI_CACHE_NAMESPACE="${NAMESPACE}" FKAPI_RATE_LIMIT=0 FKAPI_WARM_SCHEDULE= \
    FKAPI_WORKERS=2 RUST_LOG="${RUST_LOG:-warn}" \
    "${BIN}" serve >"${LOG_FILE}" 2>&1 &
SERVER_PID=$!

BASE="http://127.0.0.1:${PORT}"
healthy() {
    "${VENV}/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
        "${BASE}/api/health" >/dev/null 2>&1
}
for _ in $(seq 1 150); do
    healthy && break
    kill -0 "${SERVER_PID}" 2>/dev/null || die "fkapi serve exited"
    sleep 0.2
done
healthy || die "fkapi did not become healthy on ${BASE}"

log "running schemathesis (seed ${SEED}, ${MAX_EXAMPLES} examples per operation, timeout ${RUN_TIMEOUT}s)"
fuzz_status=0
timeout --kill-after=10 "${RUN_TIMEOUT}" \
    "${VENV}/bin/schemathesis" run "${BASE}/api-docs/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance \
    --header "X-API-Key: ${ADMIN_KEY}" \
    --max-examples "${MAX_EXAMPLES}" \
    --seed "${SEED}" \
    --generation-database none \
    --generation-allow-x00 true \
    --phases examples,coverage,fuzzing,stateful \
    --workers 1 \
    --request-timeout 20 \
    --no-color \
    --report junit --report-junit-path "${REPORT_DIR}/junit.xml" \
    || fuzz_status=$?

if [[ ${fuzz_status} -eq 124 || ${fuzz_status} -eq 137 ]]; then
    die "schemathesis did not finish within ${RUN_TIMEOUT}s"
fi
[[ ${fuzz_status} -eq 0 ]] || die "schemathesis found problems (exit ${fuzz_status}); see above and ${REPORT_DIR}"
log "passed in $(($(date +%s) - started))s"
