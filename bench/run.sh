#!/usr/bin/env bash
# Ballast beside HAProxy and NGINX, scenario by scenario, on this machine's loopback.
#
#   bench/run.sh [SCENARIO...]        default: every scenario, in this order
#
#   c64        HTTP keep-alive, wrk -t1 -c64 (plus "direct": wrk straight at a backend)
#   post       HTTP keep-alive POSTs with 1 KiB bodies, wrk -t1 -c64 -s post.lua
#   c1000      HTTP keep-alive, wrk -t1 -c1000 (peak RSS of the proxy)
#   rate       HTTP at a fixed 19,200 req/s, h2load --h1 -c64 --rps 300
#   close      HTTP with Connection: close (a new TCP connection per request)
#   tls        HTTPS keep-alive, wrk -t1 -c64
#   tls-close  HTTPS with Connection: close (a new TLS handshake per request)
#   h2c        HTTP/2 cleartext, h2load -c4 -m100 (100 concurrent streams per connection)
#   h2tls      HTTP/2 over TLS (ALPN h2), h2load -c4 -m100
#   bulk       256 KiB answers, wrk -t1 -c256 (bodies that stream; peak RSS of the proxy)
#   bulk-rate  256 KiB answers at a fixed 3,072 req/s, h2load --h1 -c256 --rps 12
#   idle       $IDLE_CONNS idle keep-alive connections: RSS per connection, RSS after close
#   workers    each proxy with 2 workers vs 1, every worker held to $WORKER_CPU_PCT% of a
#              core of its own by a cgroup CPU quota (needs the cgroup v1 cpu controller)
#
# Method (see bench/README.md): every process in its own session, so its own scheduler
# autogroup, at nice $NICE; each proxy has ONE worker pinned to core $PROXY_CPU; wrk, h2load
# and the two NGINX backends are pinned to core $LOAD_CPU; a warm-up before every measured
# run; rounds interleave the systems; the report gives medians with [min–max].
# CPU µs/request = the proxy's utime+stime from /proc over the run / requests completed.
#
# Environment:
#   ROUNDS (3)  DURATION (10, seconds per measured run)  WARMUP (2)
#   BALLAST_BIN (target/release/ballast, built here unless SKIP_BUILD=1)
#   BASELINE_BIN (unset; another Ballast build, measured as system "baseline")
#   FLOOR=1: c64 also through ballast-floor's relays ("floor-epoll", "floor-uring": TCP
#   relays to one backend that do no work of their own, the floor of CPU per request);
#   FLOOR_BIN (target/release/ballast-floor, built here unless SKIP_BUILD=1)
#   BALLAST_EXTRA / BASELINE_EXTRA (TOML appended to that system's config)
#   IDLE_CONNS (10000)  PROXY_CPU (0)  LOAD_CPU (1)  PRIORITY (nice | none)  NICE (-20)
#   WORKER_CPU_PCT (30, the workers scenario's quota per worker, % of one core)
#   PUBLISH=1: copy the chart and table to docs/ (see bench/report.sh)
#
# Output: bench/out/<stamp>/ with runs.tsv (every run), env.txt (versions, settings, load
# average), summary.md, chart.svg and chart.png, the configs, logs and raw tool outputs.
# Every process started here is stopped on exit, by its recorded PID.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
# shellcheck source=bench/configs.sh
source "$BENCH_DIR/configs.sh"
# shellcheck source=bench/scenarios.sh
source "$BENCH_DIR/scenarios.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
DURATION=${DURATION%s}
WARMUP=${WARMUP:-2}
WARMUP=${WARMUP%s}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_SETTLE=${IDLE_SETTLE:-2}
IDLE_HOLD_MAX=${IDLE_HOLD_MAX:-60}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PRIORITY=${PRIORITY:-nice}
WORKER_CPU_PCT=${WORKER_CPU_PCT:-30}
NICE=${NICE:--20}
BALLAST_BIN=${BALLAST_BIN:-$REPO_ROOT/target/release/ballast}
BASELINE_BIN=${BASELINE_BIN:-}

# Ports on 127.0.0.1, clear of the reference rig's (8081-8445, 9000-9002).
BACKEND_PORTS=(18081 18082)
declare -A PORT=([ballast]=18090 [haproxy]=18091 [nginx]=18092 [baseline]=18093
    [ballast-w1]=18094 [ballast-w2]=18095 [haproxy-w1]=18096 [haproxy-w2]=18097
    [nginx-w1]=18098 [nginx-w2]=18099 [direct]=${BACKEND_PORTS[0]}
    [floor-epoll]=18088 [floor-uring]=18089)
declare -A TLS_PORT=([ballast]=18190 [haproxy]=18191 [nginx]=18192 [baseline]=18193
    [ballast-w1]=18194 [ballast-w2]=18195)
# HTTP/2 cleartext (prior knowledge): Ballast serves it on its HTTP port (it recognises the
# preface); HAProxy and NGINX need a port of its own.
declare -A H2C_PORT=([haproxy]=18291 [nginx]=18292)

SYSTEMS=(ballast haproxy nginx)
[[ -n $BASELINE_BIN ]] && SYSTEMS=(ballast baseline haproxy nginx)
FLOOR_SYSTEMS=()
[[ ${FLOOR:-0} == 1 ]] && FLOOR_SYSTEMS=(floor-epoll floor-uring)
FLOOR_BIN=${FLOOR_BIN:-$REPO_ROOT/target/release/ballast-floor}

STAMP=$(date +%Y%m%d-%H%M%S)
RUN_DIR="$BENCH_DIR/out/$STAMP"
RUNS_TSV="$RUN_DIR/runs.tsv"

trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check_settings() {
    local s
    for s in ROUNDS DURATION WARMUP IDLE_CONNS IDLE_SETTLE IDLE_HOLD_MAX WORKER_CPU_PCT; do
        [[ ${!s} =~ ^[1-9][0-9]*$ ]] || die "$s must be a positive whole number, got '${!s}'"
    done
    ((WORKER_CPU_PCT <= 100)) || die "WORKER_CPU_PCT is a share of one core: at most 100, got $WORKER_CPU_PCT"
    [[ $PRIORITY == nice || $PRIORITY == none ]] || die "PRIORITY must be nice or none"
    (($(nproc) >= 2)) || die "need at least 2 CPUs (proxy on one, load and backends on another)"
    if [[ $PRIORITY == nice && $(id -u) != 0 ]]; then
        die "nice $NICE and autogroup priorities need root; run as root or with PRIORITY=none"
    fi
    if [[ -n $BASELINE_BIN ]]; then
        [[ -x $BASELINE_BIN ]] || die "BASELINE_BIN=$BASELINE_BIN is not an executable"
        BASELINE_BIN=$(realpath "$BASELINE_BIN")
    fi
}

# Scenario names from the command line (default: all), checked.
pick_scenarios() {
    if [[ ${1:-} == -h || ${1:-} == --help ]]; then
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 0
    fi
    SCENARIOS=("$@")
    ((${#SCENARIOS[@]})) || SCENARIOS=("${ALL_SCENARIOS[@]}")
    local s
    for s in "${SCENARIOS[@]}"; do
        scenario_title "$s" >/dev/null || die "unknown scenario '$s' (known: ${ALL_SCENARIOS[*]})"
    done
}

install_tools() {
    local missing=() tool
    for tool in haproxy nginx wrk h2load openssl curl python3 gnuplot taskset setsid; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || die "missing ${missing[*]}; run as root so apt-get can install them"
    log "installing ${missing[*]} from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy nginx wrk nghttp2-client openssl \
        curl python3 gnuplot-nox util-linux >/dev/null
}

build_ballast() {
    if [[ ${SKIP_BUILD:-} == 1 || $BALLAST_BIN != "$REPO_ROOT/target/release/ballast" ]]; then
        log "using $BALLAST_BIN as it is"
    else
        log "building ballast (release)"
        (cd "$REPO_ROOT" && cargo build --release -p ballast)
    fi
    [[ -x $BALLAST_BIN ]] || die "no Ballast binary at $BALLAST_BIN"
    if ((${#FLOOR_SYSTEMS[@]})); then
        if [[ ${SKIP_BUILD:-} != 1 && $FLOOR_BIN == "$REPO_ROOT/target/release/ballast-floor" ]]; then
            (cd "$REPO_ROOT" && cargo build --release -p ballast-floor)
        fi
        [[ -x $FLOOR_BIN ]] || die "no ballast-floor binary at $FLOOR_BIN (cargo build --release -p ballast-floor)"
    fi
}

write_env() {
    local f="$RUN_DIR/env.txt" dirty=""
    git -C "$REPO_ROOT" diff --quiet HEAD 2>/dev/null || dirty=" (uncommitted changes)"
    {
        echo "date: $(date -u +%FT%TZ)"
        echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
        echo "git: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$dirty"
        echo "ballast: $BALLAST_BIN ($("$BALLAST_BIN" --version 2>&1 | head -n1))"
        [[ -z $BASELINE_BIN ]] || echo "baseline: $BASELINE_BIN ($("$BASELINE_BIN" --version 2>&1 | head -n1))"
        echo "haproxy: $(haproxy -v 2>&1 | head -n1)"
        echo "nginx: $(nginx -v 2>&1)"
        echo "wrk: $(wrk -v 2>&1 | head -n1)"
        echo "h2load: $(h2load --version 2>&1 | head -n1)"
        echo "openssl: $(openssl version)"
        echo "python3: $(python3 --version 2>&1)"
        echo "scenarios: ${SCENARIOS[*]}"
        echo "systems: ${SYSTEMS[*]}${FLOOR_SYSTEMS[*]:+ ${FLOOR_SYSTEMS[*]}}"
        echo "settings: ROUNDS=$ROUNDS DURATION=${DURATION}s WARMUP=${WARMUP}s IDLE_CONNS=$IDLE_CONNS" \
            "PROXY_CPU=$PROXY_CPU LOAD_CPU=$LOAD_CPU PRIORITY=$PRIORITY NICE=$NICE CLK_TCK=$CLK_TCK" \
            "WORKER_CPU_PCT=$WORKER_CPU_PCT" \
            "fd_limit=$FD_LIMIT sched_autogroup_enabled=$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo '?')"
        [[ -z ${BALLAST_EXTRA:-} ]] || echo "BALLAST_EXTRA: ${BALLAST_EXTRA//$'\n'/ | }"
        [[ -z ${BASELINE_EXTRA:-} ]] || echo "BASELINE_EXTRA: ${BASELINE_EXTRA//$'\n'/ | }"
        echo "loadavg at start: $(cat /proc/loadavg)"
    } >"$f"
}

main() {
    pick_scenarios "$@"
    check_settings
    install_tools
    local port
    for port in "${BACKEND_PORTS[@]}" "${PORT[@]}" "${TLS_PORT[@]}" "${H2C_PORT[@]}"; do require_free_port "$port"; done
    build_ballast

    ulimit -n "$(ulimit -Hn)" # inherited by every process started here
    FD_LIMIT=$(ulimit -n)
    CLK_TCK=$(getconf CLK_TCK)
    mkdir -p "$RUN_DIR/raw"
    echo "$RUNS_HEADER" >"$RUNS_TSV"
    write_env
    write_configs
    log "results in ${RUN_DIR#"$REPO_ROOT"/}"

    start_system backends "$LOAD_CPU"
    local system
    for system in "${SYSTEMS[@]}" "${FLOOR_SYSTEMS[@]}"; do start_system "$system"; done

    local scenario
    for scenario in "${SCENARIOS[@]}"; do run_scenario "$scenario"; done

    echo "loadavg at end: $(cat /proc/loadavg)" >>"$RUN_DIR/env.txt"
    "$BENCH_DIR/report.sh" "$RUN_DIR"
    echo
    cat "$RUN_DIR/summary.md"
}

main "$@"
