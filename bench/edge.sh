#!/usr/bin/env bash
# What the edge controls cost per request: the same Ballast binary as three systems,
#
#   plain      a listener with nothing but its default action
#   edge       the same with `allow` (an IP set of 1,000 blocks holding the client),
#              `deny` (another 1,000), and `client_limits` (connections and a connection
#              rate, both far above the load)
#   ratelimit  the same as plain with a listener `rate_limit` keyed by client IP and a
#              header, per second and per minute, far above the load (every request is
#              counted, none refused)
#   waf        the same as plain with `waf = "ballast-core"`: the managed rule set
#              (libinjection's SQL injection and XSS detectors on every query argument,
#              cookie and the path, traversal and scanner checks) on every request
#
#   bench/edge.sh
#
# Load: wrk -t1 -c$CONNS GETs of /items?id=42&sort=price&q=hello+world (carrying the
# header the rate limit keys on), keep-alive or,
# with CLOSE=1, a new connection per request (what the accept-time checks cost); one NGINX
# backend. With BASELINE_BIN set, "baseline" is that binary with the plain config (a build
# from before a change), interleaved like the others. Same method as bench/run.sh: each Ballast has ONE worker pinned to core
# $PROXY_CPU; the backend and wrk on core $LOAD_CPU; every process in its own session at nice
# $NICE; a warm-up before each measured run; rounds interleave the systems; medians. CPU
# µs/request = the proxy's utime+stime from /proc over the run / requests completed.
#
# Environment: ROUNDS (5) DURATION (8) WARMUP (2) CONNS (64) CLOSE (0) BASELINE_BIN (none)
# PROXY_CPU (0) LOAD_CPU (1)
# PRIORITY (nice | none) NICE (-20) BALLAST_BIN (target/release/ballast, built unless
# SKIP_BUILD=1).
# Output: bench/out/<stamp>-edge/ with runs.tsv, summary.md, the configs and logs.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PRIORITY=${PRIORITY:-nice}
NICE=${NICE:--20}
BALLAST_BIN=${BALLAST_BIN:-$REPO_ROOT/target/release/ballast}
CLK_TCK=$(getconf CLK_TCK)
CLOSE=${CLOSE:-0}
SYSTEMS=(plain edge ratelimit waf)
declare -A PORT=([plain]=18380 [edge]=18381 [ratelimit]=18382 [baseline]=18383 [waf]=18384)
declare -A BIN_OF=([plain]=$BALLAST_BIN [edge]=$BALLAST_BIN [ratelimit]=$BALLAST_BIN [waf]=$BALLAST_BIN)
if [[ -n ${BASELINE_BIN:-} ]]; then
    [[ -x $BASELINE_BIN ]] || die "no binary at BASELINE_BIN=$BASELINE_BIN"
    SYSTEMS=(baseline "${SYSTEMS[@]}")
    BIN_OF[baseline]=$BASELINE_BIN
fi
BACKEND_PORT=18389
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
fi
for s in ROUNDS DURATION WARMUP CONNS; do
    [[ ${!s} =~ ^[1-9][0-9]*$ ]] || die "$s must be a positive whole number, got '${!s}'"
done
[[ $PRIORITY == none || $(id -u) == 0 ]] || die "nice $NICE needs root; run as root or with PRIORITY=none"
for tool in nginx wrk taskset setsid curl; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$REPO_ROOT" && cargo build --release --locked -p ballast --bin ballast)
fi
[[ -x $BALLAST_BIN ]] || die "no Ballast binary at $BALLAST_BIN"
for p in "${PORT[@]}" "$BACKEND_PORT"; do require_free_port "$p"; done

OUT="$BENCH_DIR/out/$(date -u +%Y%m%d-%H%M%S)-edge"
mkdir -p "$OUT/backend/tmp"
log "results in $OUT"
{
    echo "date: $(date -u)"
    echo "ballast: $BALLAST_BIN ($(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown))"
    echo "nginx: $(nginx -v 2>&1)"
    echo "cpus: $(nproc); proxy on $PROXY_CPU, load on $LOAD_CPU; priority $PRIORITY $NICE"
} >"$OUT/env.txt"

cat >"$OUT/backend/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $OUT/backend/nginx.pid;
error_log $OUT/backend/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $OUT/backend/tmp;
    proxy_temp_path $OUT/backend/tmp;
    fastcgi_temp_path $OUT/backend/tmp;
    uwsgi_temp_path $OUT/backend/tmp;
    scgi_temp_path $OUT/backend/tmp;
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        location / { return 200 "ok\n"; }
    }
}
CONF

# 1,000 /24 blocks in 10.0.0.0/8 and the loopback client, then 1,000 others denied.
blocks() {
    local first=$1 i
    for ((i = 0; i < 1000; i++)); do printf '"%d.%d.%d.0/24", ' "$first" $((i / 256)) $((i % 256)); done
}
common() {
    printf '[server]\nworkers = 1\n\n[target_groups.app]\ntargets = ["127.0.0.1:%s"]\n\n' "$BACKEND_PORT"
}
{
    common
    printf '[listeners.web]\nbind = "127.0.0.1:%s"\ndefault_action = { forward = "app" }\n' "${PORT[plain]}"
} >"$OUT/plain.toml"
sed "s/${PORT[plain]}/${PORT[baseline]}/" "$OUT/plain.toml" >"$OUT/baseline.toml"
{
    common
    printf '[ip_sets.clients]\ncidrs = [%s"127.0.0.0/8"]\n\n' "$(blocks 10)"
    printf '[ip_sets.blocked]\ncidrs = [%s"192.0.2.1"]\n\n' "$(blocks 11)"
    printf '[listeners.web]\nbind = "127.0.0.1:%s"\ndefault_action = { forward = "app" }\n' "${PORT[edge]}"
    printf 'allow = ["clients"]\ndeny = ["blocked"]\n'
    printf 'client_limits = { max_connections = 100000, connections_per_second = 100000 }\n'
} >"$OUT/edge.toml"
{
    common
    printf '[rate_limits.api]\nkey = ["client_ip", "header:x-api-key"]\nper_second = 1000000\nburst = 1000000\nper_minute = 10000000\n\n'
    printf '[listeners.web]\nbind = "127.0.0.1:%s"\ndefault_action = { forward = "app" }\nrate_limit = "api"\n' "${PORT[ratelimit]}"
} >"$OUT/ratelimit.toml"
{
    common
    printf '[listeners.web]\nbind = "127.0.0.1:%s"\ndefault_action = { forward = "app" }\nwaf = "ballast-core"\n' "${PORT[waf]}"
} >"$OUT/waf.toml"

for s in "${SYSTEMS[@]}"; do
    "${BIN_OF[$s]}" check -c "$OUT/$s.toml" >/dev/null || die "ballast check refused $OUT/$s.toml"
done
spawn backend "$LOAD_CPU" "$OUT/backend/stdout.log" nginx -c "$OUT/backend/nginx.conf" -e "$OUT/backend/error.log"
wait_ok backend "http://127.0.0.1:$BACKEND_PORT/" "$OUT/backend/stdout.log"
for s in "${SYSTEMS[@]}"; do
    spawn "$s" "$PROXY_CPU" "$OUT/$s.log" "${BIN_OF[$s]}" run -c "$OUT/$s.toml" --log-level warn
    wait_ok "$s" "http://127.0.0.1:${PORT[$s]}/" "$OUT/$s.log"
done

printf 'round\tsystem\trequests_per_s\tcpu_us_per_request\n' >"$OUT/runs.tsv"
for ((r = 1; r <= ROUNDS; r++)); do
    for s in "${SYSTEMS[@]}"; do
        url="http://127.0.0.1:${PORT[$s]}/items?id=42&sort=price&q=hello+world"
        header=(-H "x-api-key: k$r")
        [[ $CLOSE != 1 ]] || header+=(-H "Connection: close")
        bounded_run $((WARMUP + 20)) "$LOAD_CPU" "$OUT/warmup.txt" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${header[@]}" "$url" || true
        before=$(cpu_ticks "${PID_OF[$s]}")
        bounded_run $((DURATION + 20)) "$LOAD_CPU" "$OUT/r$r-$s.txt" wrk -t1 -c"$CONNS" -d"${DURATION}s" "${header[@]}" "$url" ||
            die "wrk failed against $s (see $OUT/r$r-$s.txt)"
        after=$(cpu_ticks "${PID_OF[$s]}")
        requests=$(awk '/requests in/ {print $1}' "$OUT/r$r-$s.txt")
        non2xx=$(awk '/Non-2xx/ {print $NF}' "$OUT/r$r-$s.txt")
        [[ -z $non2xx ]] || die "$s answered $non2xx non-2xx responses: a limit fired (see $OUT/r$r-$s.txt)"
        rate=$(awk -v n="$requests" -v d="$DURATION" 'BEGIN {printf "%.0f", n / d}')
        us=$(awk -v t=$((after - before)) -v c="$CLK_TCK" -v n="$requests" 'BEGIN {printf "%.2f", t / c * 1e6 / n}')
        printf '%s\t%s\t%s\t%s\n' "$r" "$s" "$rate" "$us" >>"$OUT/runs.tsv"
        log "r$r $s: $rate req/s, CPU $us us/request"
    done
done

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
{
    echo "# Edge controls: CPU per request ($(date -u +%Y-%m-%d))"
    echo
    mode="keep-alive"
    [[ $CLOSE != 1 ]] || mode="a new connection per request"
    echo "Medians [min–max] of $ROUNDS interleaved rounds of ${DURATION}s, wrk -t1 -c$CONNS, $mode; one Ballast worker on core $PROXY_CPU, wrk and the NGINX backend on core $LOAD_CPU. Every request answered 200 (no limit fired)."
    echo
    echo "| system | requests/s | CPU µs/request | ÷ plain |"
    echo "| --- | --- | --- | --- |"
    base=$(awk -F'\t' '$2 == "plain" {print $4}' "$OUT/runs.tsv" | median)
    for s in "${SYSTEMS[@]}"; do
        rps=$(awk -F'\t' -v s="$s" '$2 == s {print $3}' "$OUT/runs.tsv" | median)
        us=$(awk -F'\t' -v s="$s" '$2 == s {print $4}' "$OUT/runs.tsv" | median)
        lo=$(awk -F'\t' -v s="$s" '$2 == s {print $4}' "$OUT/runs.tsv" | sort -g | head -1)
        hi=$(awk -F'\t' -v s="$s" '$2 == s {print $4}' "$OUT/runs.tsv" | sort -g | tail -1)
        ratio=$(awk -v a="$us" -v b="$base" 'BEGIN {printf "%.3f", a / b}')
        echo "| $s | $rps | $us [$lo–$hi] | ${ratio}x |"
    done
} >"$OUT/summary.md"
cat "$OUT/summary.md"
