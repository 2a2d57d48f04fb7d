#!/usr/bin/env bash
# Side-by-side HTTP/1.1 keep-alive benchmark: Ballast vs HAProxy vs NGINX vs no proxy.
#
# Method
#   * Two backends, shared by every system: one NGINX instance (1 worker) with two
#     `server` blocks on 127.0.0.1:18081 and :18082, each answering `200 "ok\n"` with
#     keep-alive on and no access log. Pinned to core 1.
#   * Three proxies, each with ONE worker thread, keep-alive to clients and to the
#     backends, round robin over both backends, no access logs, pinned to core 0:
#       ballast  127.0.0.1:18090   (target/release/ballast, built here)
#       haproxy  127.0.0.1:18091   (Debian's haproxy, nbthread 1, http-reuse always)
#       nginx    127.0.0.1:18092   (Debian's nginx, worker_processes 1, upstream keepalive)
#     plus "direct": the load generator straight at one backend, as a ceiling.
#   * Load: `wrk -t1 -c50 -d$DURATION --latency`, pinned to core 1 (with the backends),
#     after a 2 s warm-up against the same system.
#   * Proxy CPU cost: utime+stime (fields 14 and 15 of /proc/PID/stat, in clock ticks)
#     summed over the proxy's whole process tree (NGINX: master + worker), read before
#     and after the measured run; the difference divided by the number of requests wrk
#     completed gives CPU microseconds per request. RSS is VmRSS summed over the same
#     processes, read after the run.
#   * Systems are interleaved: ROUNDS rounds of ballast, haproxy, nginx, direct, so slow
#     drift on the machine hits all of them alike. The report gives the median per system.
#
# Usage
#   bench/run.sh                         # 3 rounds of 10 s
#   DURATION=3s ROUNDS=1 bench/run.sh    # quick smoke run
#
# Environment: DURATION (10s), WARMUP (2s), ROUNDS (3), CONNECTIONS (50),
#   PROXY_CPU (0), LOAD_CPU (1), SKIP_BUILD (unset; 1 = use the existing release binary).
#
# Output: a Markdown table on stdout; the raw per-run numbers, the summary and every
# wrk output in bench/out/results-<timestamp>.txt; configs and logs in
# bench/out/<timestamp>/. Every process started here is stopped on exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-50}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

BACKEND1_PORT=18081
BACKEND2_PORT=18082
declare -A PORT=([ballast]=18090 [haproxy]=18091 [nginx]=18092 [baseline]=18093 [direct]=$BACKEND1_PORT)
SYSTEMS=(ballast haproxy nginx direct)
# BASELINE_BIN=path/to/an/older/ballast adds it as system "baseline", interleaved with the
# others, so a change to the hot path is measured before/after in one run.
BASELINE_BIN=${BASELINE_BIN:-}
# BALLAST_EXTRA / BASELINE_EXTRA: TOML appended to that system's config (after the listener),
# e.g. BALLAST_EXTRA=$'[metrics]\nenabled = false' to measure the cost of metrics.
declare -A EXTRA_TOML=([ballast]="${BALLAST_EXTRA:-}" [baseline]="${BASELINE_EXTRA:-}")
[[ -n $BASELINE_BIN ]] && SYSTEMS=(ballast baseline haproxy nginx direct)
# TLS=1 terminates TLS in Ballast and HAProxy with the same ECDSA P-256 certificate (to
# plain backends); NEW_CONNECTIONS=1 closes every connection, so requests/s is new TLS
# handshakes per second.
TLS=${TLS:-0}
NEW_CONNECTIONS=${NEW_CONNECTIONS:-0}
SCHEME=http
if [[ $TLS == 1 ]]; then
    SCHEME=https
    SYSTEMS=(ballast haproxy)
    [[ -n $BASELINE_BIN ]] && SYSTEMS=(ballast baseline haproxy)
fi

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR="$BENCH_DIR/out"
RUN_DIR="$OUT_DIR/$STAMP"
RESULTS="$OUT_DIR/results-$STAMP.txt"
RUNS_TSV="$RUN_DIR/runs.tsv"
BALLAST_BIN="$REPO_ROOT/target/release/ballast"

declare -A PID_OF=()   # system -> pid of the process we started (root of its tree)
STARTED=()             # every pid we started, in start order
WRK_PID=               # the wrk running now, if any

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- processes ---------------------------------------------------------------------

# True while PID exists and is not a zombie.
is_alive() {
    local line
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    line=${line##*) }
    [[ ${line%% *} != Z ]]
}

# Prints PID and all of its descendants, found through the ppid field of /proc/*/stat.
proc_tree() {
    local root=$1 stat line pid p c
    local -A kids=()
    local fields
    for stat in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$stat" || continue
        pid=${line%% *}
        line=${line##*) }          # drop "pid (comm) ": comm may hold spaces
        read -r -a fields <<<"$line"
        kids[${fields[1]}]+=" $pid"
    done
    local queue=("$root") out=()
    while ((${#queue[@]})); do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        out+=("$p")
        for c in ${kids[$p]-}; do queue+=("$c"); done
    done
    echo "${out[@]}"
}

# Sum of utime+stime (clock ticks) over the given pids.
cpu_ticks() {
    local total=0 pid line fields
    for pid in "$@"; do
        read -r line 2>/dev/null <"/proc/$pid/stat" || continue
        line=${line##*) }
        read -r -a fields <<<"$line"
        # fields[0] is field 3 (state), so field 14 (utime) is [11] and 15 (stime) is [12].
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# Sum of VmRSS (KiB) over the given pids.
rss_kib() {
    local total=0 pid kib
    for pid in "$@"; do
        kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

stop_all() {
    local rc=$? pid i
    trap - EXIT
    if [[ -n $WRK_PID ]]; then kill -TERM "$WRK_PID" 2>/dev/null || true; fi
    local all=()
    for pid in "${STARTED[@]}"; do
        is_alive "$pid" && all+=($(proc_tree "$pid"))
    done
    if ((${#all[@]})); then
        log "stopping ${#STARTED[@]} started processes"
        for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
        for ((i = 0; i < 100; i++)); do
            local alive=0
            for pid in "${all[@]}"; do is_alive "$pid" && alive=1; done
            ((alive)) || break
            sleep 0.1
        done
        for pid in "${all[@]}"; do
            if is_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
        done
    fi
    wait 2>/dev/null || true
    exit "$rc"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Fails unless nothing listens on PORT (TCP, IPv4 or IPv6).
require_free_port() {
    local port=$1 hex
    hex=$(printf ':%04X' "$port")
    # Column 2 is local_address (ADDR:PORT in hex), column 4 the state (0A = LISTEN).
    if awk -v p="$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p {found = 1}
                        END {exit !found}' /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
        die "port $port is already in use on this machine; stop whatever listens there and retry"
    fi
}

# Waits until http://127.0.0.1:PORT/ answers "ok" through the started process.
wait_ready() {
    local name=$1 pid=$2 port=$3 logfile=$4 i
    for ((i = 0; i < 150; i++)); do
        if ! is_alive "$pid"; then
            sed 's/^/    /' "$logfile" >&2 || true
            die "$name exited during start-up (log: $logfile)"
        fi
        local scheme=http
        [[ $TLS == 1 && $name != backends && $name != nginx ]] && scheme=https
        if [[ $(curl -fsk --max-time 1 "$scheme://127.0.0.1:$port/" 2>/dev/null || true) == ok ]]; then
            return 0
        fi
        sleep 0.1
    done
    die "$name did not answer on 127.0.0.1:$port within 15 s (log: $logfile)"
}

# start NAME CPU LOGFILE CMD...: starts CMD pinned to CPU in the background.
start() {
    local name=$1 cpu=$2 logfile=$3
    shift 3
    taskset -c "$cpu" "$@" >"$logfile" 2>&1 &
    PID_OF[$name]=$!
    STARTED+=("$!")
}

# --- setup -------------------------------------------------------------------------

install_tools() {
    local missing=() tool
    for tool in haproxy nginx wrk curl taskset; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || die "missing ${missing[*]}; run as root so apt-get can install them"
    log "installing haproxy nginx wrk curl from Debian's packages"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy nginx wrk curl util-linux
}

check_machine() {
    local cpus
    cpus=$(nproc)
    ((cpus >= 2)) || die "need at least 2 CPUs (proxy on one, load and backends on another); have $cpus"
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
    [[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer"
}

build_ballast() {
    if [[ ${SKIP_BUILD:-} == 1 ]]; then
        log "SKIP_BUILD=1: using $BALLAST_BIN as it is"
    else
        log "building ballast (release)"
        (cd "$REPO_ROOT" && cargo build --release -p ballast)
    fi
    [[ -x $BALLAST_BIN ]] || die "no binary at $BALLAST_BIN"
}

# Settings shared by both NGINX instances. $1 = its directory.
nginx_common() {
    local dir=$1
    cat <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections 1024;
}
EOF
}

nginx_http_common() {
    local dir=$1
    cat <<EOF
    access_log off;
    default_type text/plain;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
EOF
}

write_configs() {
    local d
    for d in backends nginx; do mkdir -p "$RUN_DIR/$d"; done

    {
        nginx_common "$RUN_DIR/backends"
        echo "http {"
        nginx_http_common "$RUN_DIR/backends"
        cat <<EOF
    server {
        listen 127.0.0.1:$BACKEND1_PORT;
        location / { return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:$BACKEND2_PORT;
        location / { return 200 "ok\n"; }
    }
}
EOF
    } >"$RUN_DIR/backends/nginx.conf"

    {
        nginx_common "$RUN_DIR/nginx"
        echo "http {"
        nginx_http_common "$RUN_DIR/nginx"
        cat <<EOF
    upstream backends {
        server 127.0.0.1:$BACKEND1_PORT;
        server 127.0.0.1:$BACKEND2_PORT;
        keepalive 64;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:${PORT[nginx]};
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    } >"$RUN_DIR/nginx/nginx.conf"

    local haproxy_tls="" ballast_tls=""
    if [[ $TLS == 1 ]]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj /CN=bench.local -addext subjectAltName=DNS:bench.local,IP:127.0.0.1 \
            -keyout "$RUN_DIR/bench.key" -out "$RUN_DIR/bench.pem" 2>/dev/null || die "openssl failed"
        cat "$RUN_DIR/bench.pem" "$RUN_DIR/bench.key" >"$RUN_DIR/haproxy.pem"
        haproxy_tls=" ssl crt $RUN_DIR/haproxy.pem alpn http/1.1"
        ballast_tls=$'protocol = "https"\ntls = { certificates = [{ cert = "'"$RUN_DIR/bench.pem"'", key = "'"$RUN_DIR/bench.key"'" }] }'
    fi
    cat >"$RUN_DIR/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 1000

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend bench
    bind 127.0.0.1:${PORT[haproxy]}$haproxy_tls
    default_backend backends

backend backends
    balance roundrobin
    server b1 127.0.0.1:$BACKEND1_PORT
    server b2 127.0.0.1:$BACKEND2_PORT
EOF

    local system
    for system in ballast baseline; do
        cat >"$RUN_DIR/$system.toml" <<EOF
[server]
workers = 1

[listeners.bench]
bind = "127.0.0.1:${PORT[$system]}"
default_action = { forward = "backends" }
$ballast_tls
${EXTRA_TOML[$system]:-}

[target_groups.backends]
algorithm = "round_robin"
targets = ["127.0.0.1:$BACKEND1_PORT", "127.0.0.1:$BACKEND2_PORT"]
EOF
    done
}

start_nginx() {  # name cpu dir port
    local name=$1 cpu=$2 dir=$3 port=$4
    nginx -t -q -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" ||
        die "invalid $name config: $dir/nginx.conf"
    start "$name" "$cpu" "$dir/stdout.log" nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log"
    wait_ready "$name" "${PID_OF[$name]}" "$port" "$dir/error.log"
}

start_everything() {
    log "starting backends on 127.0.0.1:$BACKEND1_PORT and :$BACKEND2_PORT (core $LOAD_CPU)"
    start_nginx backends "$LOAD_CPU" "$RUN_DIR/backends" "$BACKEND1_PORT"
    wait_ready backends "${PID_OF[backends]}" "$BACKEND2_PORT" "$RUN_DIR/backends/error.log"

    log "starting ballast on 127.0.0.1:${PORT[ballast]} (core $PROXY_CPU)"
    "$BALLAST_BIN" check -c "$RUN_DIR/ballast.toml" >/dev/null || die "invalid ballast config"
    start ballast "$PROXY_CPU" "$RUN_DIR/ballast.log" \
        "$BALLAST_BIN" run -c "$RUN_DIR/ballast.toml" --log-level warn
    wait_ready ballast "${PID_OF[ballast]}" "${PORT[ballast]}" "$RUN_DIR/ballast.log"

    if [[ -n $BASELINE_BIN ]]; then
        log "starting baseline ($BASELINE_BIN) on 127.0.0.1:${PORT[baseline]} (core $PROXY_CPU)"
        start baseline "$PROXY_CPU" "$RUN_DIR/baseline.log" \
            "$BASELINE_BIN" run -c "$RUN_DIR/baseline.toml" --log-level warn
        wait_ready baseline "${PID_OF[baseline]}" "${PORT[baseline]}" "$RUN_DIR/baseline.log"
    fi

    log "starting haproxy on 127.0.0.1:${PORT[haproxy]} (core $PROXY_CPU)"
    haproxy -c -q -f "$RUN_DIR/haproxy.cfg" || die "invalid haproxy config: $RUN_DIR/haproxy.cfg"
    start haproxy "$PROXY_CPU" "$RUN_DIR/haproxy.log" haproxy -f "$RUN_DIR/haproxy.cfg" -db
    wait_ready haproxy "${PID_OF[haproxy]}" "${PORT[haproxy]}" "$RUN_DIR/haproxy.log"

    log "starting nginx on 127.0.0.1:${PORT[nginx]} (core $PROXY_CPU)"
    start_nginx nginx "$PROXY_CPU" "$RUN_DIR/nginx" "${PORT[nginx]}"
}

# --- measuring ---------------------------------------------------------------------

# Converts a wrk duration ("812.00us", "1.23ms", "2.01s", "1.5m") to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v; u = v
        sub(/[a-z]+$/, "", n); sub(/^[0-9.]+/, "", u)
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 \
          : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
        if (n == "" || f < 0) exit 1
        printf "%.3f", n * f
    }'
}

# Prints "rps p50_ms p99_ms requests errors" parsed from a wrk --latency output file.
parse_wrk() {
    local file=$1 rps p50 p99 requests errors
    rps=$(awk '$1 == "Requests/sec:" {print $2}' "$file")
    p50=$(awk '$1 == "50%" {print $2; exit}' "$file")
    p99=$(awk '$1 == "99%" {print $2; exit}' "$file")
    requests=$(awk '$2 == "requests" && $3 == "in" {print $1}' "$file")
    # "Socket errors: connect 0, read 0, write 0, timeout 0" and "Non-2xx or 3xx responses: N"
    errors=$(awk '/^ *Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
                  /^ *Non-2xx or 3xx responses:/ {n += $NF}
                  END {print n + 0}' "$file")
    if [[ ! $rps =~ ^[0-9.]+$ || ! $requests =~ ^[0-9]+$ || -z $p50 || -z $p99 ]]; then
        sed 's/^/    /' "$file" >&2
        die "cannot parse wrk output $file"
    fi
    p50=$(to_ms "$p50") || die "bad p50 latency in $file"
    p99=$(to_ms "$p99") || die "bad p99 latency in $file"
    echo "$rps $p50 $p99 $requests $errors"
}

# Runs wrk in the background and waits for it, so that a signal to this script is handled
# at once (the EXIT trap then stops wrk too) instead of after the run.
wrk_run() {  # duration url [extra wrk args...]
    local duration=$1 url=$2 rc=0
    shift 2
    local close=()
    [[ $NEW_CONNECTIONS == 1 ]] && close=(-H "Connection: close")
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$duration" "${close[@]}" "$@" "$url" &
    WRK_PID=$!
    wait "$WRK_PID" || rc=$?
    WRK_PID=
    ((rc == 0)) || die "wrk failed (exit $rc) against $url"
}

# Runs warm-up + measured run against one system; appends a line to $RUNS_TSV.
bench_one() {
    local system=$1 round=$2 url pids t0 t1 out cpu_us rss_mib
    url="$SCHEME://127.0.0.1:${PORT[$system]}/"
    out="$RUN_DIR/wrk-$system-$round.txt"
    if [[ $system != direct ]]; then
        is_alive "${PID_OF[$system]}" || die "$system is no longer running (see its log in $RUN_DIR)"
    fi
    is_alive "${PID_OF[backends]}" || die "the backends are no longer running"

    wrk_run "$WARMUP" "$url" >/dev/null

    if [[ $system != direct ]]; then
        read -r -a pids <<<"$(proc_tree "${PID_OF[$system]}")"
        t0=$(cpu_ticks "${pids[@]}")
    fi
    wrk_run "$DURATION" "$url" --latency >"$out"
    if [[ $system != direct ]]; then
        t1=$(cpu_ticks "${pids[@]}")
        rss_mib=$(awk -v k="$(rss_kib "${pids[@]}")" 'BEGIN {printf "%.1f", k / 1024}')
    fi

    local parsed rps p50 p99 requests errors
    parsed=$(parse_wrk "$out")
    read -r rps p50 p99 requests errors <<<"$parsed"
    ((requests > 0)) || die "wrk completed no request against $system ($out)"
    if [[ $system != direct ]]; then
        cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$requests" \
            'BEGIN {printf "%.2f", d * 1e6 / hz / n}')
    else
        cpu_us=- rss_mib=-
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$system" "$rps" "$p50" "$p99" \
        "$cpu_us" "$rss_mib" "$requests" "$errors" >>"$RUNS_TSV"
    log "round $round $system: $rps req/s, p50 ${p50} ms, p99 ${p99} ms, CPU ${cpu_us} us/req, RSS ${rss_mib} MiB, errors $errors"
}

# Median of column COL of $RUNS_TSV for SYSTEM, printed with FORMAT; "-" if not numeric.
median() {
    local system=$1 col=$2 format=$3
    awk -F'\t' -v s="$system" -v c="$col" '$2 == s {print $c}' "$RUNS_TSV" | sort -g |
        awk -v f="$format" '{v[NR] = $1} END {
            if (NR == 0 || v[1] == "-") {print "-"; exit}
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf f "\n", m
        }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b}'
}

report() {
    local system rps p50 p99 cpu rss errors total_errors=0
    local -A cpu_of=()
    echo
    local kind="HTTP/1.1 keep-alive"
    [[ $TLS == 1 ]] && kind="HTTPS (TLS 1.3, ECDSA P-256) keep-alive"
    [[ $NEW_CONNECTIONS == 1 ]] && kind="${kind% keep-alive}, a new connection per request"
    echo "$kind, wrk -t1 -c$CONNECTIONS -d$DURATION, median of $ROUNDS round(s);" \
        "proxies on core $PROXY_CPU with one worker, wrk and backends on core $LOAD_CPU."
    echo
    echo "| system | requests/s | p50 latency (ms) | p99 latency (ms) | CPU µs/request | RSS MiB |"
    echo "|---|---:|---:|---:|---:|---:|"
    for system in "${SYSTEMS[@]}"; do
        rps=$(median "$system" 3 '%.0f')
        p50=$(median "$system" 4 '%.3f')
        p99=$(median "$system" 5 '%.3f')
        cpu=$(median "$system" 6 '%.2f')
        rss=$(median "$system" 7 '%.1f')
        cpu_of[$system]=$cpu
        errors=$(awk -F'\t' -v s="$system" '$2 == s {n += $9} END {print n + 0}' "$RUNS_TSV")
        total_errors=$((total_errors + errors))
        echo "| $system | $rps | $p50 | $p99 | $cpu | $rss |"
    done
    echo
    echo "Ballast CPU per request / HAProxy: $(ratio "${cpu_of[ballast]}" "${cpu_of[haproxy]}")x"
    [[ -n ${cpu_of[nginx]:-} ]] &&
        echo "Ballast CPU per request / NGINX:   $(ratio "${cpu_of[ballast]}" "${cpu_of[nginx]}")x"
    if [[ -n $BASELINE_BIN ]]; then
        echo "Ballast CPU per request / baseline: $(ratio "${cpu_of[ballast]}" "${cpu_of[baseline]}")x"
    fi
    if ((total_errors > 0)); then
        echo
        echo "WARNING: wrk reported $total_errors socket errors or non-2xx responses; see $RESULTS"
    fi
}

write_results() {
    local summary=$1 f
    {
        echo "# Ballast benchmark, $STAMP"
        echo "# host: $(uname -srm), $(nproc) CPUs; git: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO_ROOT" diff --quiet 2>/dev/null || echo ' (dirty)')"
        echo "# haproxy: $(haproxy -v 2>&1 | head -n1)"
        echo "# nginx: $(nginx -v 2>&1)"
        echo "# wrk: $(wrk -v 2>&1 | head -n1)"
        echo "# DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS CONNECTIONS=$CONNECTIONS PROXY_CPU=$PROXY_CPU LOAD_CPU=$LOAD_CPU CLK_TCK=$CLK_TCK"
        echo
        echo "## Runs"
        printf 'round\tsystem\trequests_per_s\tp50_ms\tp99_ms\tcpu_us_per_request\trss_mib\trequests\terrors\n'
        cat "$RUNS_TSV"
        echo
        echo "## Summary"
        echo "$summary"
        echo
        echo "## wrk output"
        for f in "$RUN_DIR"/wrk-*.txt; do
            echo "### $(basename "$f" .txt)"
            cat "$f"
        done
    } >"$RESULTS"
}

# --- main --------------------------------------------------------------------------

main() {
    check_machine
    install_tools
    local port
    for port in "$BACKEND1_PORT" "$BACKEND2_PORT" "${PORT[ballast]}" "${PORT[baseline]}" "${PORT[haproxy]}" "${PORT[nginx]}"; do
        require_free_port "$port"
    done
    build_ballast
    CLK_TCK=$(getconf CLK_TCK)

    mkdir -p "$RUN_DIR"
    : >"$RUNS_TSV"
    write_configs
    start_everything

    local round system
    for ((round = 1; round <= ROUNDS; round++)); do
        for system in "${SYSTEMS[@]}"; do
            bench_one "$system" "$round"
        done
    done

    local summary
    summary=$(report)
    write_results "$summary"
    echo "$summary"
    echo
    echo "Raw results: ${RESULTS#"$REPO_ROOT"/}"
}

main "$@"
