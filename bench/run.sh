#!/usr/bin/env bash
# `make bench` / `make bench-quick`: make sure the services and wrk are
# there, migrate and seed the benchmark database when it does not hold the
# expected catalogue (seeded once, reused afterwards), then run the driver.
#
# Usage: bench/run.sh full|quick|feed   (from the workspace root, after the build)
# feed: only the change-feed workloads (rolling restart, feed lag), full
# length, on the small catalogue.
set -euo pipefail

MODE="${1:-full}"
case "${MODE}" in
    full) DB=fkapi_bench SCALE=large KITS=500000 CLUBS=10000 ;;
    quick | feed) DB=fkapi_bench_quick SCALE=small KITS=5000 CLUBS=200 ;;
    *) echo "usage: $0 full|quick|feed" >&2; exit 2 ;;
esac

SERVER=target/release/fkapi-bench-server
DRIVER=target/release/fkapi-bench
BASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/fkapi}"
BASE_URL="${BASE_URL%%\?*}"
export BENCH_DATABASE_URL="${BENCH_DATABASE_URL:-${BASE_URL%/*}/${DB}}"

have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [[ ${EUID} -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

bash scripts/services.sh
# nginx (the proxy_cache reference server) lives in /usr/sbin, often not on a user's PATH.
nginx_bin() { command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; }; }
if ! have wrk || ! have redis-benchmark || [[ -z "$(nginx_bin)" ]]; then
    echo "bench: installing wrk, redis-tools and nginx" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk redis-tools nginx >&2
fi

DATABASE_URL="${BENCH_DATABASE_URL}" "${SERVER}" migrate >/dev/null
count="$(psql "${BENCH_DATABASE_URL}" -Atc 'SELECT count(*) FROM kits' 2>/dev/null || echo 0)"
if [[ ${count} != "${KITS}" ]]; then
    echo "bench: seeding ${SCALE} into ${DB} (has ${count} kits, want ${KITS})" >&2
    DATABASE_URL="${BENCH_DATABASE_URL}" "${SERVER}" seed --scale "${SCALE}"
    psql "${BENCH_DATABASE_URL}" -qc 'VACUUM ANALYZE' >/dev/null
else
    echo "bench: reusing ${DB} (${count} kits)" >&2
fi

TARGET="make bench"
[[ ${MODE} == full ]] || TARGET="make bench-${MODE}"
DRIVER_MODE="${MODE}"
[[ ${MODE} == feed ]] && DRIVER_MODE=full
ARGS=(--mode "${DRIVER_MODE}" --server-bin "${SERVER}" --bare-bin target/release/fkapi-bench-bare --nginx-bin "$(nginx_bin)"
    --kits "${KITS}" --clubs "${CLUBS}" --command "${TARGET}")
if [[ ${MODE} == feed ]]; then
    ARGS+=(--only feed --json-out bench/results/feed.json --markdown-out bench/results/BENCHMARKS-feed.md)
fi
if [[ ${MODE} == quick ]]; then
    # A quick run must not overwrite the committed full report.
    ARGS+=(--json-out bench/results/quick.json --markdown-out bench/results/BENCHMARKS-quick.md)
fi
"${DRIVER}" "${ARGS[@]}" "${@:2}"
if [[ ${MODE} == full ]]; then
    # BENCHMARKS.md says bench/baseline.json is the results it was written
    # from (a test checks that the two agree).
    cp bench/results/latest.json bench/baseline.json
fi
