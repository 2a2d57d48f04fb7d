# shellcheck shell=bash
# The scenarios of bench/run.sh and how one measured run is taken. Sourced, never run;
# bench/report.sh sources it too, for the titles.
# shellcheck disable=SC2034 # ALL_SCENARIOS and RUNS_HEADER are used by the scripts sourcing this
# shellcheck disable=SC2153 # PORT and TLS_PORT are set by bench/run.sh

ALL_SCENARIOS=(c64 post c1000 rate close tls tls-close h2c h2tls bulk bulk-rate idle workers)

scenario_title() {
    case $1 in
        c64) echo "HTTP keep-alive, 64 connections (wrk -t1 -c64)" ;;
        post) echo "HTTP keep-alive POST with a 1 KiB body, 64 connections (wrk -t1 -c64)" ;;
        c1000) echo "HTTP keep-alive, 1,000 connections (wrk -t1 -c1000)" ;;
        rate) echo "HTTP at a fixed 19,200 req/s (h2load --h1 -c64 --rps 300)" ;;
        close) echo "HTTP, new connection per request (wrk -t1 -c64, Connection: close)" ;;
        tls) echo "HTTPS keep-alive, 64 connections (wrk -t1 -c64)" ;;
        tls-close) echo "HTTPS, new connection and TLS handshake per request (wrk -t1 -c64, Connection: close; wrk resumes the TLS session)" ;;
        h2c) echo "HTTP/2 cleartext, 4 connections x 100 concurrent streams (h2load -c4 -m100)" ;;
        h2tls) echo "HTTP/2 over TLS, 4 connections x 100 concurrent streams (h2load -c4 -m100)" ;;
        bulk) echo "HTTP keep-alive, 256 connections, 256 KiB answers (wrk -t1 -c256)" ;;
        bulk-rate) echo "256 KiB answers at a fixed 3,072 req/s (h2load --h1 -c256 --rps 12)" ;;
        idle) echo "$(thousands "${IDLE_CONNS:-10000}") idle keep-alive client connections (each after one request)" ;;
        workers) echo "2 workers vs 1, each worker held to ${WORKER_CPU_PCT:-30}% of a core of its own (wrk -t2 -c64)" ;;
        *) return 1 ;;
    esac
}

# 10000 -> 10,000
thousands() {
    local n=$1 out=""
    while ((${#n} > 3)); do
        out=",${n: -3}$out"
        n=${n:0:${#n}-3}
    done
    echo "$n$out"
}

# Short label for the chart's x axis.
scenario_label() {
    case $1 in
        c64) printf '%s\n' "keep-alive\\nc64" ;;
        post) printf '%s\n' "POST 1 KiB\\nc64" ;;
        c1000) printf '%s\n' "keep-alive\\nc1000" ;;
        rate) printf '%s\n' "19,200 req/s\\nfixed rate" ;;
        close) printf '%s\n' "new TCP conn\\nper request" ;;
        tls) printf '%s\n' "HTTPS\\nkeep-alive" ;;
        tls-close) printf '%s\n' "new TLS handshake\\nper request" ;;
        h2c) printf '%s\n' "HTTP/2 h2c\\n100 streams" ;;
        h2tls) printf '%s\n' "HTTP/2 TLS\\n100 streams" ;;
        bulk) printf '%s\n' "256 KiB answers\\nc256" ;;
        bulk-rate) printf '%s\n' "256 KiB answers\\n3,072 req/s" ;;
        *) echo "$1" ;;
    esac
}

# The systems a scenario measures, in the order they are interleaved.
scenario_systems() {
    case $1 in
        c64) echo "${SYSTEMS[*]} ${FLOOR_SYSTEMS[*]} direct" ;;
        workers) echo "ballast-w1 ballast-w2 haproxy-w1 haproxy-w2 nginx-w1 nginx-w2" ;;
        *) echo "${SYSTEMS[*]}" ;;
    esac
}

RUNS_HEADER='scenario	round	system	requests	seconds	rps	p50_ms	p99_ms	cpu_us_per_req	rss_before_kib	rss_peak_kib	rss_after_kib	kib_per_conn	errors	proxy_core_busy_pct	load_core_busy_pct	rss_open_peak_kib	user_us_per_req	system_us_per_req'

# --- load generators ------------------------------------------------------------------

# load SCENARIO URL SECONDS OUTFILE: one bounded run of the scenario's load generator.
load() {
    local scenario=$1 url=$2 seconds=$3 out=$4 limit=$(($3 + 30))
    case $scenario in
        rate)
            bounded_run "$limit" "$LOAD_CPU" "$out" \
                h2load --h1 -t1 -c64 --rps 300 -D "$seconds" --log-file "$out.log" "$url"
            ;;
        bulk-rate)
            bounded_run "$limit" "$LOAD_CPU" "$out" \
                h2load --h1 -t1 -c256 --rps 12 -D "$seconds" --log-file "$out.log" "$url"
            ;;
        h2c | h2tls)
            bounded_run "$limit" "$LOAD_CPU" "$out" \
                h2load -t1 -c4 -m100 -D "$seconds" --log-file "$out.log" "$url"
            ;;
        workers)
            bounded_run "$limit" "$PROXY_CPU,$LOAD_CPU" "$out" wrk -t2 -c64 -d"${seconds}s" --latency "$url"
            ;;
        c1000)
            bounded_run "$limit" "$LOAD_CPU" "$out" wrk -t1 -c1000 -d"${seconds}s" --latency "$url"
            ;;
        post)
            bounded_run "$limit" "$LOAD_CPU" "$out" \
                wrk -t1 -c64 -d"${seconds}s" --latency -s "$RUN_DIR/post.lua" "$url"
            ;;
        bulk)
            bounded_run "$limit" "$LOAD_CPU" "$out" wrk -t1 -c256 -d"${seconds}s" --latency "$url"
            ;;
        close | tls-close)
            bounded_run "$limit" "$LOAD_CPU" "$out" \
                wrk -t1 -c64 -d"${seconds}s" --latency -H "Connection: close" "$url"
            ;;
        *)
            bounded_run "$limit" "$LOAD_CPU" "$out" wrk -t1 -c64 -d"${seconds}s" --latency "$url"
            ;;
    esac
}

# Converts a wrk duration ("812.00us", "1.23ms", "2.01s", "1.50m") to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v; u = v
        sub(/[a-z]+$/, "", n); sub(/^[0-9.]+/, "", u)
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
        if (n == "" || f < 0) exit 1
        printf "%.3f", n * f
    }'
}

# Prints "requests seconds p50_ms p99_ms errors" from a wrk --latency output.
parse_wrk() {
    local file=$1 requests seconds p50 p99 errors
    read -r requests seconds < <(awk '$2 == "requests" && $3 == "in" {sub(/,$/, "", $4); print $1, $4}' "$file")
    p50=$(awk '$1 == "50%" {print $2; exit}' "$file")
    p99=$(awk '$1 == "99%" {print $2; exit}' "$file")
    # "Socket errors: connect 0, read 0, write 0, timeout 0" and "Non-2xx or 3xx responses: N"
    errors=$(awk '/^ *Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
                  /^ *Non-2xx or 3xx responses:/ {n += $NF}
                  END {print n + 0}' "$file")
    [[ ${requests:-} =~ ^[0-9]+$ && -n $p50 && -n $p99 ]] || return 1
    seconds=$(to_ms "$seconds") || return 1
    echo "$requests $(awk -v ms="$seconds" 'BEGIN {printf "%.3f", ms / 1000}') $(to_ms "$p50") $(to_ms "$p99") $errors"
}

# Same fields from h2load's summary and its per-request log (third column: microseconds
# until the end of the response; -1 status for a failed request).
parse_h2load() {
    local file=$1 requests seconds errors percentiles
    seconds=$(awk '$1 == "finished" && $2 == "in" {sub(/s,$/, "", $3); print $3}' "$file")
    # requests: 192000 total, 192000 started, 192000 done, 192000 succeeded, 0 failed, 0 errored, 0 timeout
    read -r requests errors < <(awk '$1 == "requests:" {gsub(/,/, ""); print $8, $10 + $12 + $14}' "$file")
    [[ ${requests:-} =~ ^[0-9]+$ && -n $seconds && -s $file.log ]] || return 1
    percentiles=$(awk '$2 >= 200 && $2 < 400 {print $3}' "$file.log" | sort -n |
        awk '{v[NR] = $1} END {
            if (NR == 0) exit 1
            i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
            printf "%.3f %.3f", v[i50] / 1000, v[i99] / 1000
        }') || return 1
    rm -f "$file.log" # ~20 bytes a request; the percentiles are what we keep
    echo "$requests $seconds $percentiles $errors"
}

# --- one measured run -----------------------------------------------------------------

# url_of SCENARIO SYSTEM
url_of() {
    local system=$1 scheme=http port
    case $2 in
        tls | tls-close | h2tls) scheme=https port=${TLS_PORT[$system]} ;;
        h2c) port=${H2C_PORT[$system]:-${PORT[$system]}} ;;
        *) port=${PORT[$system]} ;;
    esac
    # bulk: the backends serve a 256 KiB file there (bench/configs.sh)
    local path=""
    [[ $2 == bulk* ]] && path=bulk
    echo "$scheme://127.0.0.1:$port/$path"
}

# emit FIELD...: one line of runs.tsv.
emit() {
    local IFS=$'\t'
    echo "$*" >>"$RUNS_TSV"
}

# measure_load SCENARIO ROUND SYSTEM: warm-up, then one measured run; appends to runs.tsv.
measure_load() {
    local scenario=$1 round=$2 system=$3 url out pids=()
    url=$(url_of "$system" "$scenario")
    out="$RUN_DIR/raw/$scenario-$system-r$round.txt"
    if [[ $system != direct ]]; then
        is_alive "${PID_OF[$system]}" || die "$system is no longer running (see its log in $RUN_DIR)"
        read -r -a pids <<<"$(measured_pids "$system")"
    fi
    is_alive "${PID_OF[backends]}" || die "the backends are no longer running"

    load "$scenario" "$url" "$WARMUP" "$out.warmup" || die "warm-up failed against $system ($out.warmup)"
    rm -f "$out.warmup" "$out.warmup.log"

    local u0 s0 u1 s1 rss0 rss1 hwm b0 b1
    if ((${#pids[@]})); then
        reset_hwm "${pids[@]}"
        rss0=$(rss_kib "${pids[@]}")
        read -r u0 s0 <<<"$(cpu_split_ticks "${pids[@]}")"
    fi
    b0=$(cpu_busy)
    load "$scenario" "$url" "$DURATION" "$out" || die "load generator failed against $system ($out)"
    b1=$(cpu_busy)
    if ((${#pids[@]})); then
        read -r u1 s1 <<<"$(cpu_split_ticks "${pids[@]}")"
        hwm=$(hwm_kib "${pids[@]}")
        rss1=$(rss_kib "${pids[@]}")
    fi

    local parsed requests seconds p50 p99 errors
    case $scenario in
        rate | h2c | h2tls | bulk-rate) parsed=$(parse_h2load "$out") ;;
        *) parsed=$(parse_wrk "$out") ;;
    esac ||
        die "cannot read the load generator's output $out"
    read -r requests seconds p50 p99 errors <<<"$parsed"
    ((requests > 0)) || die "no request completed against $system ($out)"

    local rps cpu_us=- user_us=- system_us=- split busy
    rps=$(awk -v n="$requests" -v s="$seconds" 'BEGIN {printf "%.0f", n / s}')
    if ((${#pids[@]})); then
        # A plain assignment, so that a failing awk stops the script (set -e).
        split=$(awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$CLK_TCK" -v n="$requests" \
            'BEGIN {f = 1e6 / hz / n; printf "%.2f %.2f %.2f", (u + s) * f, u * f, s * f}')
        read -r cpu_us user_us system_us <<<"$split"
    else
        rss0=- hwm=- rss1=-
    fi
    busy=$(awk -v a="$b0" -v b="$b1" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        printf "%.0f %.0f", 100 * (y[1] - x[1]) / (y[2] - x[2] + 1e-9), 100 * (y[3] - x[3]) / (y[4] - x[4] + 1e-9)
    }')
    local busy0 busy1
    read -r busy0 busy1 <<<"$busy"
    emit "$scenario" "$round" "$system" "$requests" "$seconds" "$rps" "$p50" "$p99" "$cpu_us" \
        "$rss0" "$hwm" "$rss1" - "$errors" "$busy0" "$busy1" - "$user_us" "$system_us"
    log "$scenario r$round $system: $rps req/s, p99 $p99 ms, CPU $cpu_us us/req, peak RSS ${hwm} KiB, errors $errors, core busy $busy0% / $busy1%"
}

# measure_idle ROUND SYSTEM: memory per idle keep-alive connection, on a fresh process.
measure_idle() {
    local round=$1 system=$2
    local out="$RUN_DIR/raw/idle-$system-r$round.txt" release="$RUN_DIR/raw/idle-$system-r$round.release"
    # A fresh process, warmed up: earlier scenarios (1,000 connections) would otherwise
    # leave freed memory for the connections to reuse, and hide their cost.
    stop "$system"
    start_system "$system"
    load c64 "$(url_of "$system" c64)" "$WARMUP" "$out.warmup" || die "warm-up failed against $system"
    rm -f "$out.warmup"
    sleep 1

    local pids rss0 open_peak hwm rss_idle rss_after
    read -r -a pids <<<"$(measured_pids "$system")"
    rss0=$(rss_kib "${pids[@]}")
    reset_hwm "${pids[@]}"
    local limit=$((IDLE_HOLD_MAX + 120))
    (prioritized "$LOAD_CPU" timeout --kill-after=5 "$limit" \
        python3 "$BENCH_DIR/hold_idle.py" "${PORT[$system]}" "$IDLE_CONNS" "$release" "$IDLE_HOLD_MAX") \
        >"$out" 2>"$out.err" </dev/null &
    local holder=$!
    STARTED+=("$holder")
    set_autogroup_nice "$holder"

    local i
    for ((i = 0; i < limit * 10; i++)); do
        grep -q '^held ' "$out" 2>/dev/null && break
        is_alive "$holder" || break
        sleep 0.1
    done
    local ok failed
    read -r _ ok failed < <(grep '^held ' "$out" || echo "held 0 0")
    if ((ok == 0)); then
        cat "$out.err" >&2 || true
        die "no idle connection could be opened to $system ($out.err)"
    fi
    # The peak while connecting includes the buffers of up to 256 requests in flight at once;
    # the figure per connection is the peak while they are all held idle, read after the
    # proxy has settled (finished its side of the last requests).
    open_peak=$(hwm_kib "${pids[@]}")
    reset_hwm "${pids[@]}"
    sleep "$IDLE_SETTLE"
    hwm=$(hwm_kib "${pids[@]}")
    rss_idle=$(rss_kib "${pids[@]}")
    touch "$release"
    wait "$holder" || warn "hold_idle.py exited with an error against $system ($out.err)"
    forget_pid "$holder"
    grep -q '^closed' "$out" || warn "hold_idle.py did not report closing its connections ($out)"
    rm -f "$release"
    sleep 2
    rss_after=$(rss_kib "${pids[@]}")
    ((hwm >= rss_idle)) || hwm=$rss_idle

    local per_conn
    per_conn=$(awk -v p="$hwm" -v b="$rss0" -v n="$ok" 'BEGIN {printf "%.2f", (p - b) / n}')
    emit idle "$round" "$system" "$ok" - - - - - "$rss0" "$hwm" "$rss_after" "$per_conn" "$failed" - - "$open_peak" - -
    log "idle r$round $system: $ok held ($failed failed), RSS $rss0 -> $open_peak (peak while connecting)" \
        "-> $hwm (peak while held) -> $rss_after KiB after close: $per_conn KiB/conn"
}

# run_scenario NAME: every round, every system of the scenario once (interleaved).
run_scenario() {
    local scenario=$1 round system
    log "scenario $scenario: $(scenario_title "$scenario")"
    if [[ $scenario == workers ]]; then
        if ! can_limit_cpu; then
            warn "skipping workers: it needs the cgroup v1 cpu controller at $CPU_CGROUP_ROOT, writable (root)"
            return 0
        fi
        # Each worker gets a core of its own and a CPU quota on it, so that the proxy's CPU,
        # not the load's, bounds the throughput; wrk and the backends use both cores.
        for system in $(scenario_systems workers); do
            start_system "$system" "$PROXY_CPU,$LOAD_CPU"
            limit_workers "$system"
        done
        repin backends "$PROXY_CPU,$LOAD_CPU"
    fi
    for ((round = 1; round <= ROUNDS; round++)); do
        for system in $(scenario_systems "$scenario"); do
            if [[ $scenario == idle ]]; then
                measure_idle "$round" "$system"
            else
                measure_load "$scenario" "$round" "$system"
            fi
        done
    done
    if [[ $scenario == workers ]]; then
        repin backends "$LOAD_CPU"
        for system in $(scenario_systems workers); do stop "$system"; done
        remove_cpu_groups
    fi
}
