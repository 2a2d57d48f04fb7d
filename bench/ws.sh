#!/usr/bin/env bash
# WebSocket through Ballast, HAProxy and NGINX: echoes per second and proxy CPU per echo.
#
#   bench/ws.sh
#
# One WebSocket echo server (ballast-wsbench, one thread) behind each proxy; the load side
# (ballast-wsbench load, one thread) keeps $CONNS WebSockets busy with echoes of a $SIZE-byte
# binary message (send, wait for it back, again). An echo is two messages through the proxy,
# one each way. Same method as bench/run.sh: each proxy has ONE worker pinned to core
# $PROXY_CPU; the echo server and the load on core $LOAD_CPU; every process in its own session
# at nice $NICE; a warm-up before each measured run; rounds interleave the systems; medians.
# CPU µs/echo = the proxy's utime+stime from /proc over the run / echoes completed.
#
# Environment: ROUNDS (3) DURATION (10) WARMUP (2) CONNS (64) SIZE (128) PROXY_CPU (0)
# LOAD_CPU (1) PRIORITY (nice | none) NICE (-20) BALLAST_BIN (target/release/ballast)
# WSBENCH_BIN (target/release/ballast-wsbench; both built here unless SKIP_BUILD=1).
# Output: bench/out/<stamp>-ws/ with runs.tsv, summary.md, the configs and logs.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
SIZE=${SIZE:-128}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PRIORITY=${PRIORITY:-nice}
NICE=${NICE:--20}
BALLAST_BIN=${BALLAST_BIN:-$REPO_ROOT/target/release/ballast}
WSBENCH_BIN=${WSBENCH_BIN:-$REPO_ROOT/target/release/ballast-wsbench}
CLK_TCK=$(getconf CLK_TCK)
SYSTEMS=(ballast haproxy nginx)
declare -A PID_OF PORT=([ballast]=18180 [haproxy]=18181 [nginx]=18182)
ECHO_PORT=18189
STARTED=()
trap stop_all EXIT

RUN_DIR="$BENCH_DIR/out/$(date -u +%Y%m%d-%H%M%S)-ws"
mkdir -p "$RUN_DIR/nginx/tmp"

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building ballast and ballast-wsbench (release)"
    (cd "$REPO_ROOT" && cargo build --release --locked -p ballast -p ballast-testkit --bin ballast --bin ballast-wsbench) ||
        die "build failed"
fi
for tool in haproxy nginx taskset setsid "$BALLAST_BIN" "$WSBENCH_BIN"; do
    command -v "$tool" >/dev/null || die "missing $tool (see bench/README.md)"
done
for port in "${PORT[@]}" "$ECHO_PORT"; do require_free_port "$port"; done

cat >"$RUN_DIR/ballast.toml" <<EOF
[server]
workers = 1

[listeners.ws]
bind = "127.0.0.1:${PORT[ballast]}"
default_action = { forward = "echo" }
upgrade_idle_timeout = "300s"

[target_groups.echo]
targets = ["127.0.0.1:$ECHO_PORT"]
EOF
cat >"$RUN_DIR/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4000

defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout tunnel 300s

frontend ws
    bind 127.0.0.1:${PORT[haproxy]}
    default_backend echo

backend echo
    server e1 127.0.0.1:$ECHO_PORT
EOF
cat >"$RUN_DIR/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $RUN_DIR/nginx/nginx.pid;
error_log $RUN_DIR/nginx/error.log warn;
events { worker_connections 4000; }
http {
    access_log off;
    client_body_temp_path $RUN_DIR/nginx/tmp/client_body;
    proxy_temp_path $RUN_DIR/nginx/tmp/proxy;
    fastcgi_temp_path $RUN_DIR/nginx/tmp/fastcgi;
    uwsgi_temp_path $RUN_DIR/nginx/tmp/uwsgi;
    scgi_temp_path $RUN_DIR/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:${PORT[nginx]};
        location / {
            proxy_pass http://127.0.0.1:$ECHO_PORT;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 300s;
        }
    }
}
EOF

# wait_ws NAME PORT: until one echo passes through NAME (at most 15 s).
wait_ws() {
    local name=$1 port=$2 i
    for ((i = 0; i < 150; i++)); do
        is_alive "${PID_OF[$name]}" || die "$name exited during start-up (see $RUN_DIR)"
        if "$WSBENCH_BIN" load "ws://127.0.0.1:$port/" 1 0.05 "$SIZE" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    die "$name does not pass WebSocket echoes (see $RUN_DIR)"
}

spawn echo "$LOAD_CPU" "$RUN_DIR/echo.log" "$WSBENCH_BIN" serve "127.0.0.1:$ECHO_PORT"
wait_ws echo "$ECHO_PORT"
"$BALLAST_BIN" check -c "$RUN_DIR/ballast.toml" >/dev/null || die "invalid $RUN_DIR/ballast.toml"
spawn ballast "$PROXY_CPU" "$RUN_DIR/ballast.log" "$BALLAST_BIN" run -c "$RUN_DIR/ballast.toml" --log-level warn
haproxy -c -q -f "$RUN_DIR/haproxy.cfg" || die "invalid $RUN_DIR/haproxy.cfg"
spawn haproxy "$PROXY_CPU" "$RUN_DIR/haproxy.log" haproxy -db -f "$RUN_DIR/haproxy.cfg"
nginx -t -q -c "$RUN_DIR/nginx/nginx.conf" -e "$RUN_DIR/nginx/error.log" || die "invalid nginx config"
spawn nginx "$PROXY_CPU" "$RUN_DIR/nginx/stdout.log" nginx -c "$RUN_DIR/nginx/nginx.conf" -e "$RUN_DIR/nginx/error.log"
for system in "${SYSTEMS[@]}"; do wait_ws "$system" "${PORT[$system]}"; done

measured_pids() {
    case $1 in
        nginx) children_of "${PID_OF[nginx]}" | tr '\n' ' ' ;;
        *) echo "${PID_OF[$1]}" ;;
    esac
}

RUNS="$RUN_DIR/runs.tsv"
printf 'round\tsystem\techoes\tseconds\techoes_per_s\tp50_ms\tp99_ms\tcpu_us_per_echo\terrors\n' >"$RUNS"
for ((round = 1; round <= ROUNDS; round++)); do
    for system in "${SYSTEMS[@]}"; do
        url="ws://127.0.0.1:${PORT[$system]}/"
        read -r -a pids <<<"$(measured_pids "$system")"
        bounded_run $((WARMUP + 30)) "$LOAD_CPU" "$RUN_DIR/warmup.txt" \
            "$WSBENCH_BIN" load "$url" "$CONNS" "$WARMUP" "$SIZE" || die "warm-up failed against $system"
        t0=$(cpu_ticks "${pids[@]}")
        out="$RUN_DIR/$system-r$round.txt"
        bounded_run $((DURATION + 30)) "$LOAD_CPU" "$out" \
            "$WSBENCH_BIN" load "$url" "$CONNS" "$DURATION" "$SIZE" || die "load failed against $system ($out)"
        t1=$(cpu_ticks "${pids[@]}")
        read -r _ echoes _ seconds _ p50 _ p99 _ errors <"$out"
        cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$echoes" 'BEGIN {printf "%.2f", d * 1e6 / hz / n}')
        rate=$(awk -v n="$echoes" -v s="$seconds" 'BEGIN {printf "%.0f", n / s}')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$system" "$echoes" "$seconds" "$rate" \
            "$p50" "$p99" "$cpu" "$errors" >>"$RUNS"
        log "r$round $system: $rate echoes/s, p99 $p99 ms, CPU $cpu us/echo, errors $errors"
    done
done

# Medians per system, and the ratio to the best peer's CPU.
{
    echo "# WebSocket echoes, $CONNS connections, $SIZE-byte binary messages ($(date -u +%Y-%m-%d))"
    echo
    echo "Medians of $ROUNDS interleaved rounds of ${DURATION}s; one worker each on core $PROXY_CPU."
    echo
    echo "| system | echoes/s | p50 ms | p99 ms | CPU µs/echo | CPU / best peer |"
    echo "| --- | --- | --- | --- | --- | --- |"
    awk -F'\t' 'NR > 1 {
        rate[$2] = rate[$2] " " $5; p50[$2] = p50[$2] " " $6; p99[$2] = p99[$2] " " $7; cpu[$2] = cpu[$2] " " $8
    }
    function median(list,   a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        best = -1
        for (s in cpu) if (s != "ballast") { m = median(cpu[s]); if (best < 0 || m < best) best = m }
        split("ballast haproxy nginx", order, " ")
        for (i = 1; i <= 3; i++) {
            s = order[i]
            printf "| %s | %.0f | %.3f | %.3f | %.2f | %.2fx |\n", s, median(rate[s]), median(p50[s]), median(p99[s]), median(cpu[s]), median(cpu[s]) / best
        }
    }' "$RUNS"
} >"$RUN_DIR/summary.md"
cat "$RUN_DIR/summary.md"
