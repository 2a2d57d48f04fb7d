#!/usr/bin/env bash
# TCP (layer 4) through Ballast, HAProxy (mode tcp) and NGINX (stream), and "direct".
#
#   bench/l4.sh [SCENARIO...]        default: rr connect iperf, in this order
#
#   rr         $CONNS (64) connections, each sending $SIZE (64) bytes and reading them back,
#              then again: requests/s, p50/p99, proxy CPU µs per request
#   connect    $CONNECT_CONNS (64) loops of connect, send $SIZE bytes, read them back, close:
#              connections/s, proxy CPU µs per connection
#   iperf      iperf3, one stream, client -> proxy -> iperf3 -s: Gbit/s, proxy CPU s per GB
#
# The echo server and the rr/connect load are ballast-tcpbench (crates/testkit/src/bin/, one
# thread each); it compares every byte it reads back with what it sent. "direct" is the
# same load straight at the echo server (or iperf3 -s), with no proxy: its rate is the
# ceiling of this machine, it has no proxy CPU. Same method as bench/run.sh and bench/ws.sh:
# each proxy has ONE worker pinned to core $PROXY_CPU; the backends and the load on core
# $LOAD_CPU; every process in its own session at nice $NICE; a warm-up before each measured
# run; rounds interleave the systems; medians. CPU per unit = the proxy's utime+stime from
# /proc over the measured run / units completed (requests, connections, bytes).
#
# Environment: ROUNDS (3) DURATION (10, seconds; also iperf3 -t) WARMUP (2) CONNS (64)
# CONNECT_CONNS (64) SIZE (64) PROXY_CPU (0) LOAD_CPU (1) PRIORITY (nice | none) NICE (-20)
# DEFER (0; 1 sets deferred accept on the echo listener: Ballast's `defer_accept = true`,
# HAProxy's `defer-accept`; NGINX's stream module has no such option)
# NGINX_STREAM (/usr/lib/nginx/modules/ngx_stream_module.so)
# BASELINE_BIN (unset; another Ballast binary run beside, as "baseline")
# COPY_TOO (0; 1 adds Ballast's portable copy relay) FLOOR (0; 1 adds ballast-floor's epoll
# and io_uring relays, which do no work of their own: the floor of rr and connect)
# HALF_CLOSE (0; 1 adds "nginx-halfclose": the same NGINX with `proxy_half_close on` on an
# echo path of its own, so that it keeps half-close as Ballast and HAProxy do; NGINX's default
# closes both sides at the client's FIN. rr and connect only; not a peer in the ratios)
# BALLAST_BIN (target/release/ballast) TCPBENCH_BIN (target/release/ballast-tcpbench)
# FLOOR_BIN (target/release/ballast-floor; all built here unless SKIP_BUILD=1).
# Output: bench/out/<stamp>-l4/ with runs.tsv, summary.md, env.txt, the configs, logs and the
# raw outputs. Every process started here is stopped on exit, by its recorded PID.
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
CONNECT_CONNS=${CONNECT_CONNS:-64}
SIZE=${SIZE:-64}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PRIORITY=${PRIORITY:-nice}
NICE=${NICE:--20}
BALLAST_BIN=${BALLAST_BIN:-$REPO_ROOT/target/release/ballast}
TCPBENCH_BIN=${TCPBENCH_BIN:-$REPO_ROOT/target/release/ballast-tcpbench}
FLOOR_BIN=${FLOOR_BIN:-$REPO_ROOT/target/release/ballast-floor}
NGINX_STREAM=${NGINX_STREAM:-/usr/lib/nginx/modules/ngx_stream_module.so}
CLK_TCK=$(getconf CLK_TCK)
ALL_SCENARIOS=(rr connect iperf)
PROXIES=(ballast haproxy nginx)
SYSTEMS=(ballast haproxy nginx direct)
# COPY_TOO=1 adds "ballast-copy": the same binary with BALLAST_L4_COPY=1 (the portable copy
# relay instead of splice), interleaved like the others.
if [[ ${COPY_TOO:-0} == 1 ]]; then
    PROXIES=(ballast ballast-copy haproxy nginx)
    SYSTEMS=(ballast ballast-copy haproxy nginx direct)
fi
# FLOOR=1 adds "floor-epoll" and "floor-uring": ballast-floor's relays, which do nothing but
# move bytes (one edge-triggered epoll loop; one io_uring with multishot receives), as the
# floor a proxy's CPU per request or connection is compared with (rr and connect only).
if [[ ${FLOOR:-0} == 1 ]]; then
    PROXIES+=(floor-epoll floor-uring)
    SYSTEMS=("${SYSTEMS[@]:0:${#SYSTEMS[@]}-1}" floor-epoll floor-uring direct)
fi
# HALF_CLOSE=1 adds "nginx-halfclose": a second server of the same NGINX (its worker is the
# measured process; the systems run one at a time) with proxy_half_close on.
if [[ ${HALF_CLOSE:-0} == 1 ]]; then
    PROXIES+=(nginx-halfclose)
    SYSTEMS=("${SYSTEMS[@]:0:${#SYSTEMS[@]}-1}" nginx-halfclose direct)
fi
# BASELINE_BIN=PATH adds "baseline": another Ballast binary (the build before a change) with
# the same config, interleaved like the others, for a before/after in one run.
BASELINE_BIN=${BASELINE_BIN:-}
if [[ -n $BASELINE_BIN ]]; then
    PROXIES=(ballast baseline "${PROXIES[@]:1}")
    SYSTEMS=(ballast baseline "${SYSTEMS[@]:1}")
fi
# Ports on 127.0.0.1: the echo path and the iperf3 path of each proxy, the two backends.
ECHO_PORT=18289
IPERF_PORT=18288
ADMIN_PORT=18287
declare -A PORT=([ballast]=18280 [haproxy]=18281 [nginx]=18282 [direct]=$ECHO_PORT [ballast-copy]=18286 [baseline]=18278
    [floor-epoll]=18276 [floor-uring]=18275 [nginx-halfclose]=18274)
# The floor relays have no iperf3 path: their echo port stands in for it in wait_ready (and
# NGINX's for nginx-halfclose, which is the same process).
declare -A IPORT=([ballast]=18283 [haproxy]=18284 [nginx]=18285 [direct]=$IPERF_PORT [ballast-copy]=18279 [baseline]=18277
    [floor-epoll]=18276 [floor-uring]=18275 [nginx-halfclose]=18285)
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
fi
SCENARIOS=("$@")
((${#SCENARIOS[@]})) || SCENARIOS=("${ALL_SCENARIOS[@]}")
for s in "${SCENARIOS[@]}"; do
    [[ " ${ALL_SCENARIOS[*]} " == *" $s "* ]] || die "unknown scenario '$s' (known: ${ALL_SCENARIOS[*]})"
done
for s in ROUNDS DURATION WARMUP CONNS CONNECT_CONNS SIZE; do
    [[ ${!s} =~ ^[1-9][0-9]*$ ]] || die "$s must be a positive whole number, got '${!s}'"
done
[[ $PRIORITY == nice || $PRIORITY == none ]] || die "PRIORITY must be nice or none"
(($(nproc) >= 2)) || die "need at least 2 CPUs (proxy on one, load and backends on another)"
[[ $PRIORITY == none || $(id -u) == 0 ]] || die "nice $NICE needs root; run as root or with PRIORITY=none"

RUN_DIR="$BENCH_DIR/out/$(date -u +%Y%m%d-%H%M%S)-l4"
mkdir -p "$RUN_DIR/nginx" "$RUN_DIR/raw"

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building ballast and ballast-tcpbench (release)"
    (cd "$REPO_ROOT" && cargo build --release --locked -p ballast -p ballast-testkit --bin ballast --bin ballast-tcpbench) ||
        die "build failed"
    if [[ ${FLOOR:-0} == 1 ]]; then
        (cd "$REPO_ROOT" && cargo build --release --locked -p ballast-floor) || die "build failed"
    fi
fi
[[ ${FLOOR:-0} != 1 ]] || command -v "$FLOOR_BIN" >/dev/null || die "missing $FLOOR_BIN (cargo build --release -p ballast-floor)"
for tool in haproxy nginx iperf3 python3 taskset setsid "$BALLAST_BIN" "$TCPBENCH_BIN"; do
    command -v "$tool" >/dev/null ||
        die "missing $tool (apt-get install haproxy nginx libnginx-mod-stream iperf3; see bench/README.md)"
done
[[ -f $NGINX_STREAM ]] || die "no NGINX stream module at $NGINX_STREAM (apt-get install libnginx-mod-stream)"
for port in "${PORT[@]}" "${IPORT[@]}" "$ADMIN_PORT"; do require_free_port "$port"; done
ulimit -n "$(ulimit -Hn)" # inherited by every process started here

cat >"$RUN_DIR/ballast.toml" <<EOF
[server]
workers = 1

# Read once, after the last round, for the L4 counters (how connections ended).
[admin]
bind = "127.0.0.1:$ADMIN_PORT"

[listeners.echo]
bind = "127.0.0.1:${PORT[ballast]}"
protocol = "tcp"
default_action = { forward = "echo" }
defer_accept = $([[ ${DEFER:-0} == 1 ]] && echo true || echo false)

[listeners.iperf]
bind = "127.0.0.1:${IPORT[ballast]}"
protocol = "tcp"
default_action = { forward = "iperf" }

[target_groups.echo]
protocol = "tcp"
targets = ["127.0.0.1:$ECHO_PORT"]

[target_groups.iperf]
protocol = "tcp"
targets = ["127.0.0.1:$IPERF_PORT"]
EOF
cat >"$RUN_DIR/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000

defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s

listen echo
    bind 127.0.0.1:${PORT[haproxy]}$([[ ${DEFER:-0} == 1 ]] && echo " defer-accept")
    server e1 127.0.0.1:$ECHO_PORT

listen iperf
    bind 127.0.0.1:${IPORT[haproxy]}
    server i1 127.0.0.1:$IPERF_PORT
EOF
cat >"$RUN_DIR/nginx/nginx.conf" <<EOF
load_module $NGINX_STREAM;
worker_processes 1;
daemon off;
master_process on;
pid $RUN_DIR/nginx/nginx.pid;
error_log $RUN_DIR/nginx/error.log warn;
events { worker_connections 20000; }
stream {
    server {
        listen 127.0.0.1:${PORT[nginx]};
        proxy_pass 127.0.0.1:$ECHO_PORT;
    }
    server {
        listen 127.0.0.1:${IPORT[nginx]};
        proxy_pass 127.0.0.1:$IPERF_PORT;
    }
$(if [[ ${HALF_CLOSE:-0} == 1 ]]; then
    printf '    server {\n        listen 127.0.0.1:%s;\n        proxy_pass 127.0.0.1:%s;\n        proxy_half_close on;\n    }\n' \
        "${PORT[nginx-halfclose]}" "$ECHO_PORT"
fi)
}
EOF

{
    dirty=""
    git -C "$REPO_ROOT" diff --quiet HEAD 2>/dev/null || dirty=" (uncommitted changes)"
    echo "date: $(date -u +%FT%TZ)"
    echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "git (work tree): $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$dirty"
    echo "ballast: $BALLAST_BIN ($("$BALLAST_BIN" --version 2>&1 | head -n1);" \
        "modified $(date -u -r "$BALLAST_BIN" +%FT%TZ); sha256 $(sha256sum "$BALLAST_BIN" | cut -c1-16))"
    if [[ -n $BASELINE_BIN ]]; then
        echo "baseline: $BASELINE_BIN (modified $(date -u -r "$BASELINE_BIN" +%FT%TZ); sha256 $(sha256sum "$BASELINE_BIN" | cut -c1-16))"
    fi
    echo "tcpbench: $TCPBENCH_BIN"
    echo "haproxy: $(haproxy -v 2>&1 | head -n1)"
    echo "nginx: $(nginx -v 2>&1)"
    echo "iperf3: $(iperf3 --version 2>&1 | head -n1)"
    echo "scenarios: ${SCENARIOS[*]}"
    echo "settings: ROUNDS=$ROUNDS DURATION=${DURATION}s WARMUP=${WARMUP}s CONNS=$CONNS" \
        "CONNECT_CONNS=$CONNECT_CONNS SIZE=$SIZE PROXY_CPU=$PROXY_CPU LOAD_CPU=$LOAD_CPU" \
        "PRIORITY=$PRIORITY NICE=$NICE CLK_TCK=$CLK_TCK fd_limit=$(ulimit -n)"
    echo "sysctl: tcp_tw_reuse=$(cat /proc/sys/net/ipv4/tcp_tw_reuse)" \
        "ip_local_port_range=$(tr '\t' - </proc/sys/net/ipv4/ip_local_port_range)" \
        "sched_autogroup_enabled=$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo '?')"
    echo "loadavg at start: $(cat /proc/loadavg)"
} >"$RUN_DIR/env.txt"
log "results in ${RUN_DIR#"$REPO_ROOT"/}"

# is_listening PORT: something listens on TCP PORT.
is_listening() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v p="$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p {found = 1}
                     END {exit !found}' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# wait_ready NAME ECHO_PORT IPERF_PORT: one echo passes through ECHO_PORT, and something
# listens on IPERF_PORT (at most 15 s).
wait_ready() {
    local name=$1 i
    for ((i = 0; i < 150; i++)); do
        is_alive "${PID_OF[$name]}" || die "$name exited during start-up (see $RUN_DIR)"
        if "$TCPBENCH_BIN" load --target "127.0.0.1:$2" --conns 1 --size "$SIZE" --duration 0.05 \
            >/dev/null 2>&1 && is_listening "$3"; then return 0; fi
        sleep 0.1
    done
    die "$name does not pass TCP echoes on port $2 or listen on $3 (see $RUN_DIR)"
}

spawn echo "$LOAD_CPU" "$RUN_DIR/echo.log" "$TCPBENCH_BIN" echo --listen "127.0.0.1:$ECHO_PORT"
spawn iperf3 "$LOAD_CPU" "$RUN_DIR/iperf3-server.log" iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT"
wait_ready echo "$ECHO_PORT" "$IPERF_PORT"
wait_ready iperf3 "$ECHO_PORT" "$IPERF_PORT"
"$BALLAST_BIN" check -c "$RUN_DIR/ballast.toml" >/dev/null || die "invalid $RUN_DIR/ballast.toml"
spawn ballast "$PROXY_CPU" "$RUN_DIR/ballast.log" "$BALLAST_BIN" run -c "$RUN_DIR/ballast.toml" --log-level warn
if [[ ${COPY_TOO:-0} == 1 ]]; then
    # The same listeners on the copy ports, without the admin listener.
    sed -e "/^\[admin\]/,/^$/d" -e "s/:${PORT[ballast]}\"/:${PORT[ballast-copy]}\"/" \
        -e "s/:${IPORT[ballast]}\"/:${IPORT[ballast-copy]}\"/" "$RUN_DIR/ballast.toml" >"$RUN_DIR/ballast-copy.toml"
    spawn ballast-copy "$PROXY_CPU" "$RUN_DIR/ballast-copy.log" env BALLAST_L4_COPY=1 \
        "$BALLAST_BIN" run -c "$RUN_DIR/ballast-copy.toml" --log-level warn
fi
if [[ -n $BASELINE_BIN ]]; then
    sed -e "/^\[admin\]/,/^$/d" -e "s/:${PORT[ballast]}\"/:${PORT[baseline]}\"/" \
        -e "s/:${IPORT[ballast]}\"/:${IPORT[baseline]}\"/" "$RUN_DIR/ballast.toml" >"$RUN_DIR/baseline.toml"
    spawn baseline "$PROXY_CPU" "$RUN_DIR/baseline.log" \
        "$BASELINE_BIN" run -c "$RUN_DIR/baseline.toml" --log-level warn
fi
haproxy -c -q -f "$RUN_DIR/haproxy.cfg" || die "invalid $RUN_DIR/haproxy.cfg"
spawn haproxy "$PROXY_CPU" "$RUN_DIR/haproxy.log" haproxy -db -f "$RUN_DIR/haproxy.cfg"
nginx -t -q -c "$RUN_DIR/nginx/nginx.conf" -e "$RUN_DIR/nginx/error.log" || die "invalid nginx config"
spawn nginx "$PROXY_CPU" "$RUN_DIR/nginx/stdout.log" nginx -c "$RUN_DIR/nginx/nginx.conf" -e "$RUN_DIR/nginx/error.log"
# Not started again: the same NGINX, so the liveness checks look at its PID.
[[ ${HALF_CLOSE:-0} != 1 ]] || PID_OF[nginx-halfclose]=${PID_OF[nginx]}
if [[ ${FLOOR:-0} == 1 ]]; then
    for mode in epoll uring; do
        spawn "floor-$mode" "$PROXY_CPU" "$RUN_DIR/floor-$mode.log" "$FLOOR_BIN" "$mode" \
            --listen "127.0.0.1:${PORT[floor-$mode]}" --target "127.0.0.1:$ECHO_PORT"
    done
fi
for system in "${PROXIES[@]}"; do wait_ready "$system" "${PORT[$system]}" "${IPORT[$system]}"; done

measured_pids() {
    case $1 in
        nginx | nginx-halfclose) children_of "${PID_OF[nginx]}" | tr '\n' ' ' ;; # the worker, not the master
        *) echo "${PID_OF[$1]}" ;;
    esac
}

# load SCENARIO SYSTEM SECONDS OUTFILE: one bounded run of the scenario's load.
load() {
    local scenario=$1 system=$2 seconds=$3 out=$4
    case $scenario in
        rr)
            bounded_run $((seconds + 30)) "$LOAD_CPU" "$out" "$TCPBENCH_BIN" load \
                --target "127.0.0.1:${PORT[$system]}" --conns "$CONNS" --size "$SIZE" --duration "$seconds"
            ;;
        connect)
            bounded_run $((seconds + 30)) "$LOAD_CPU" "$out" "$TCPBENCH_BIN" connect \
                --target "127.0.0.1:${PORT[$system]}" --conns "$CONNECT_CONNS" --size "$SIZE" --duration "$seconds"
            ;;
        iperf)
            bounded_run $((seconds + 30)) "$LOAD_CPU" "$out" \
                iperf3 -c 127.0.0.1 -p "${IPORT[$system]}" -t "$seconds" -J --connect-timeout 5000
            ;;
    esac
}

# parse_iperf FILE: "received_bytes seconds gbit_per_s sent_bytes retransmits".
parse_iperf() {
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if d.get("error"):
    sys.exit("iperf3: " + d["error"])
r, s = d["end"]["sum_received"], d["end"]["sum_sent"]
print(r["bytes"], "%.3f" % r["seconds"], "%.3f" % (r["bits_per_second"] / 1e9), s["bytes"], s.get("retransmits", 0))
EOF
}

RUNS="$RUN_DIR/runs.tsv"
printf 'scenario\tround\tsystem\tunits\tseconds\tper_s\tp50_ms\tp99_ms\tcpu_us_per_unit\tgbit_s\tcpu_s_per_gb\terrors\tsent_bytes\tretransmits\tproxy_core_busy_pct\tload_core_busy_pct\tuser_us_per_unit\tsystem_us_per_unit\n' >"$RUNS"

# measure SCENARIO ROUND SYSTEM: a warm-up, then one measured run; appends to runs.tsv.
measure() {
    local scenario=$1 round=$2 system=$3 pids=() u0=0 s0=0 u1=0 s1=0 b0 b1
    local out="$RUN_DIR/raw/$scenario-$system-r$round.txt"
    for name in echo iperf3 "${PROXIES[@]}"; do
        is_alive "${PID_OF[$name]}" || die "$name is no longer running (see its log in $RUN_DIR)"
    done
    [[ $system == direct ]] || read -r -a pids <<<"$(measured_pids "$system")"
    load "$scenario" "$system" "$WARMUP" "$out.warmup" || die "warm-up failed against $system ($out.warmup)"
    read -r u0 s0 <<<"$(cpu_split_ticks "${pids[@]}")"
    b0=$(cpu_busy)
    load "$scenario" "$system" "$DURATION" "$out" || die "load failed against $system ($out)"
    b1=$(cpu_busy)
    read -r u1 s1 <<<"$(cpu_split_ticks "${pids[@]}")"
    local t0=$((u0 + s0)) t1=$((u1 + s1))
    local units seconds rate p50=- p99=- errors=0 cpu=- user=- kernel=- split gbit=- cpu_gb=- sent=- retr=- busy0 busy1
    local parsed
    if [[ $scenario == iperf ]]; then
        parsed=$(parse_iperf "$out") || die "cannot read iperf3's output $out"
        read -r units seconds gbit sent retr <<<"$parsed"
        rate=$(awk -v n="$units" -v s="$seconds" 'BEGIN {printf "%.0f", n / s}')
        if ((${#pids[@]})); then
            cpu_gb=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$units" 'BEGIN {printf "%.4f", d / hz / (n / 1e9)}')
        fi
    else
        # The result line; errors described on stderr come before it in the same file.
        parsed=$(grep -E '^(requests|connections) [0-9]+ ' "$out" | tail -n 1) || die "cannot read $out"
        read -r _ units _ seconds _ rate _ p50 _ p99 _ errors <<<"$parsed"
        if ((${#pids[@]})); then
            # A plain assignment, so that a failing awk stops the script (set -e).
            split=$(awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$CLK_TCK" -v n="$units" \
                'BEGIN {f = 1e6 / hz / n; printf "%.2f %.2f %.2f", (u + s) * f, u * f, s * f}')
            read -r cpu user kernel <<<"$split"
        fi
    fi
    read -r busy0 busy1 <<<"$(awk -v a="$b0" -v b="$b1" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        printf "%.0f %.0f", 100 * (y[1] - x[1]) / (y[2] - x[2] + 1e-9), 100 * (y[3] - x[3]) / (y[4] - x[4] + 1e-9)
    }')"
    printf '%s\t' "$scenario" "$round" "$system" "$units" "$seconds" "$rate" "$p50" "$p99" "$cpu" "$gbit" \
        "$cpu_gb" "$errors" "$sent" "$retr" "$busy0" "$busy1" "$user" >>"$RUNS"
    printf '%s\n' "$kernel" >>"$RUNS"
    if [[ $scenario == iperf ]]; then
        log "$scenario r$round $system: $gbit Gbit/s, CPU $cpu_gb s/GB, sent $sent received $units bytes, core busy $busy0% / $busy1%"
    else
        log "$scenario r$round $system: $rate/s, p99 $p99 ms, CPU $cpu us each, errors $errors, core busy $busy0% / $busy1%"
    fi
}

for scenario in "${SCENARIOS[@]}"; do
    for ((round = 1; round <= ROUNDS; round++)); do
        for system in "${SYSTEMS[@]}"; do
            [[ $scenario == iperf && ($system == floor-* || $system == nginx-halfclose) ]] ||
                measure "$scenario" "$round" "$system"
        done
    done
done
echo "loadavg at end: $(cat /proc/loadavg)" >>"$RUN_DIR/env.txt"
curl -fsS --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" >"$RUN_DIR/ballast-metrics.txt" 2>&1 ||
    warn "cannot read Ballast's metrics"

# summary.md: per scenario, each system's median [min–max] over the rounds, and Ballast's
# median divided by the best peer's (lowest CPU, highest rate of HAProxy and NGINX).
{
    smoke=""
    ((ROUNDS >= 3)) || smoke=" Smoke run (fewer than 3 rounds): it proves the scenarios work, do not compare its numbers."
    echo "# L4 (TCP): Ballast, HAProxy (mode tcp), NGINX (stream) and direct ($(date -u +%Y-%m-%d))"
    echo
    echo "Medians [min–max] of $ROUNDS interleaved rounds of ${DURATION}s; one proxy worker on core" \
        "$PROXY_CPU, the load and the backends on core $LOAD_CPU. \"÷ best peer\" is the system's median" \
        "divided by the better of HAProxy and NGINX.$smoke"
    awk -F'\t' -v conns="$CONNS" -v cconns="$CONNECT_CONNS" -v size="$SIZE" 'NR > 1 {
        k = $1 SUBSEP $3; seen[$1] = 1
        rate[k] = rate[k] " " $6; p50[k] = p50[k] " " $7; p99[k] = p99[k] " " $8
        cpu[k] = cpu[k] " " $9; gbit[k] = gbit[k] " " $10; cgb[k] = cgb[k] " " $11
        usr[k] = usr[k] " " (NF >= 17 ? $17 : "-"); sys[k] = sys[k] " " (NF >= 18 ? $18 : "-")
        err[$1] += $12
    }
    function sorted(list, a,   n, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n
    }
    function median(list,   a, n) {
        n = sorted(list, a)
        if (n == 0 || a[1] == "-") return "-"
        return (n % 2) ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function cell(list, f,   a, n, m) {
        n = sorted(list, a); m = median(list)
        if (m == "-") return "–"
        return (n > 1) ? sprintf(f " [" f "–" f "]", m, a[1], a[n]) : sprintf(f, m)
    }
    # ratio(medians of the table, system, lower_is_better)
    function ratio(lists, s, low,   m, best, p, v) {
        m = median(lists[sc, s]); best = "-"
        if (s == "direct" || m == "-") return "–"
        for (p in peers) { v = median(lists[sc, peers[p]]); if (v != "-" && (best == "-" || (low ? v < best : v > best))) best = v }
        return (best == "-" || best == 0) ? "–" : sprintf("%.2fx", m / best)
    }
    BEGIN { split("ballast baseline ballast-copy haproxy nginx nginx-halfclose floor-epoll floor-uring direct", order, " "); peers[1] = "haproxy"; peers[2] = "nginx" }
    END {
        for (o = 1; o <= 3; o++) {
            sc = (o == 1) ? "rr" : (o == 2) ? "connect" : "iperf"
            if (!(sc in seen)) continue
            if (sc == "rr") {
                printf "\n## TCP request/response: %d connections, %d-byte message echoed, then the next\n\n", conns, size
                print "| system | requests/s | p50 ms | p99 ms | CPU µs/request | user-space µs | kernel µs | CPU ÷ best peer | requests/s ÷ best peer |"
            } else if (sc == "connect") {
                printf "\n## New connection per request: %d loops of connect, %d bytes echoed, close\n\n", cconns, size
                print "| system | connections/s | p50 ms | p99 ms | CPU µs/connection | user-space µs | kernel µs | CPU ÷ best peer | connections/s ÷ best peer |"
            } else {
                print "\n## Bulk: iperf3, one TCP stream, client -> proxy -> iperf3 -s\n"
                print "| system | Gbit/s | CPU s/GB | CPU ÷ best peer | Gbit/s ÷ best peer |"
            }
            if (sc == "iperf") print "| --- | --- | --- | --- | --- |"
            else print "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
            for (i = 1; i <= 9; i++) {
                s = order[i]; k = sc SUBSEP s
                if (!(k in rate)) continue
                if (sc == "iperf")
                    printf "| %s | %s | %s | %s | %s |\n", s, cell(gbit[k], "%.2f"), cell(cgb[k], "%.3f"), ratio(cgb, s, 1), ratio(gbit, s, 0)
                else
                    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s, cell(rate[k], "%.0f"), cell(p50[k], "%.3f"),
                        cell(p99[k], "%.3f"), cell(cpu[k], "%.2f"), cell(usr[k], "%.2f"), cell(sys[k], "%.2f"),
                        ratio(cpu, s, 1), ratio(rate, s, 0)
            }
            if (err[sc] > 0) printf "\n**Warning:** %d errors or failed connections in this scenario (see runs.tsv and raw/).\n", err[sc]
        }
    }' "$RUNS"
    if [[ -s $RUN_DIR/ballast-metrics.txt ]]; then
        echo
        echo "Ballast's L4 counters after the last round (every run, warm-ups included):"
        echo
        grep -E '^ballast_l4_connections_(ended|refused)_total' "$RUN_DIR/ballast-metrics.txt" | sed 's/^/    /' || true
    fi
} >"$RUN_DIR/summary.md"
cat "$RUN_DIR/summary.md"
