#!/usr/bin/env bash
# Turns a results folder of bench/run.sh into summary.md, chart.svg and chart.png.
#
#   bench/report.sh [bench/out/STAMP]        default: the newest folder in bench/out
#   PUBLISH=1 bench/report.sh [DIR]          also copy them into docs/:
#       docs/bench-latest.md, docs/images/bench.svg, and the table between the
#       "bench-latest" markers of docs/performance.md
#
# Reads DIR/runs.tsv (one line per measured run) and DIR/env.txt. Every cell of the table is
# the median over the rounds with [min–max]; the ratio column divides Ballast's median by the
# best peer's (HAProxy or NGINX, whichever is better on that measure).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=bench/scenarios.sh
source "$BENCH_DIR/scenarios.sh"

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

DIR=${1:-}
if [[ -z $DIR ]]; then
    DIR=$(find "$BENCH_DIR/out" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort | tail -n1)
    [[ -n $DIR ]] || die "no results folder in bench/out; run bench/run.sh first"
fi
DIR=$(cd "$DIR" && pwd)
RUNS="$DIR/runs.tsv"
[[ -s $RUNS ]] || die "no $RUNS"
command -v gnuplot >/dev/null || die "gnuplot is missing (apt-get install gnuplot-nox)"

env_value() { sed -n "s/^$1: //p" "$DIR/env.txt" 2>/dev/null | head -n1; }
setting() { env_value settings | tr ' ' '\n' | sed -n "s/^$1=//p"; }
IDLE_CONNS=$(setting IDLE_CONNS)
IDLE_CONNS=${IDLE_CONNS:-10000}
WORKER_CPU_PCT=$(setting WORKER_CPU_PCT)
WORKER_CPU_PCT=${WORKER_CPU_PCT:-30}

# --- statistics -----------------------------------------------------------------------

# One line per (scenario, system, column): "scenario system column median min max n".
STATS=$(awk -F'\t' '
    NR == 1 { for (i = 1; i <= NF; i++) name[i] = $i; next }
    {
        for (i = 4; i <= NF; i++) {
            if ($i == "-" || $i == "") continue
            k = $1 SUBSEP $3 SUBSEP name[i]
            if (!(k in n)) order[++keys] = k
            v[k, ++n[k]] = $i + 0
        }
    }
    END {
        for (j = 1; j <= keys; j++) {
            k = order[j]; m = n[k]
            for (a = 1; a <= m; a++) s[a] = v[k, a]
            for (a = 2; a <= m; a++) {              # insertion sort: a handful of rounds
                x = s[a]; b = a - 1
                while (b >= 1 && s[b] > x) { s[b + 1] = s[b]; b-- }
                s[b + 1] = x
            }
            med = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
            split(k, p, SUBSEP)
            print p[1], p[2], p[3], med, s[1], s[m], m
        }
    }' "$RUNS")

declare -A MED=() MIN=() MAX=() COUNT=()
while read -r scenario system column med min max n; do
    [[ -n $scenario ]] || continue
    MED[$scenario/$system/$column]=$med
    MIN[$scenario/$system/$column]=$min
    MAX[$scenario/$system/$column]=$max
    COUNT[$scenario/$system/$column]=$n
done <<<"$STATS"

# fmt VALUE DECIMALS [DIVISOR]: the number with thousands separators.
fmt() {
    awk -v v="$1" -v d="$2" -v div="${3:-1}" 'BEGIN {
        s = sprintf("%." d "f", v / div); sign = ""
        if (substr(s, 1, 1) == "-") { sign = "-"; s = substr(s, 2) }
        i = index(s, "."); whole = i ? substr(s, 1, i - 1) : s; frac = i ? substr(s, i) : ""
        while (length(whole) > 3) { frac = "," substr(whole, length(whole) - 2) frac; whole = substr(whole, 1, length(whole) - 3) }
        print sign whole frac
    }'
}

# cell SCENARIO SYSTEM COLUMN DECIMALS [DIVISOR]: "median [min–max]", or "–".
cell() {
    local k=$1/$2/$3
    [[ -n ${MED[$k]:-} ]] || {
        echo "–"
        return
    }
    if ((COUNT[$k] > 1)); then
        echo "$(fmt "${MED[$k]}" "$4" "${5:-1}") [$(fmt "${MIN[$k]}" "$4" "${5:-1}")–$(fmt "${MAX[$k]}" "$4" "${5:-1}")]"
    else
        fmt "${MED[$k]}" "$4" "${5:-1}"
    fi
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b + 0 == 0) print "–"; else printf "%.2f×", a / b}'
}

# best_peer SCENARIO COLUMN lower|higher: prints "SYSTEM MEDIAN" of the better peer.
best_peer() {
    local best="" value="" peer v
    for peer in haproxy nginx; do
        v=${MED[$1/$peer/$2]:-}
        [[ -n $v ]] || continue
        if [[ -z $best ]] || awk -v v="$v" -v b="$value" -v d="$3" 'BEGIN {exit !(d == "lower" ? v < b : v > b)}'; then
            best=$peer value=$v
        fi
    done
    [[ -n $best ]] && echo "$best $value"
    return 0
}

# --- summary.md -----------------------------------------------------------------------

SYSTEMS=()
for s in ballast baseline haproxy nginx; do
    grep -q "	$s	" "$RUNS" && SYSTEMS+=("$s")
done
has_baseline=0
[[ " ${SYSTEMS[*]} " == *" baseline "* ]] && has_baseline=1
# ballast-floor's relays (FLOOR=1): columns of the table, not bars of the chart.
FLOORS=()
for s in floor-epoll floor-uring; do
    grep -q "	$s	" "$RUNS" && FLOORS+=("$s")
done

# The measures of each scenario: "column|label|decimals|divisor|lower-or-higher-is-better".
measures() {
    case $1 in
        # The user/system split shows what is the proxy's own work and what the kernel's.
        c64) printf '%s\n' "cpu_us_per_req|CPU µs/request|2|1|lower" "user_us_per_req|user-space CPU µs/request|2|1|lower" \
            "system_us_per_req|kernel CPU µs/request|2|1|lower" "rps|requests/s|0|1|higher" "p99_ms|p99 latency, ms|2|1|lower" ;;
        c1000) printf '%s\n' "cpu_us_per_req|CPU µs/request|2|1|lower" "p99_ms|p99 latency, ms|2|1|lower" "rss_peak_kib|peak RSS, MiB|1|1024|lower" ;;
        rate) printf '%s\n' "cpu_us_per_req|CPU µs/request|2|1|lower" "p99_ms|p99 latency, ms|2|1|lower" ;;
        post | close | tls | h2c | h2tls) printf '%s\n' "cpu_us_per_req|CPU µs/request|2|1|lower" "rps|requests/s|0|1|higher" ;;
        tls-close) printf '%s\n' "cpu_us_per_req|CPU µs/request|2|1|lower" "rps|handshakes/s|0|1|higher" ;;
        bulk) printf '%s\n' "cpu_us_per_req|CPU µs/request|2|1|lower" "rps|requests/s|0|1|higher" "rss_peak_kib|peak RSS, MiB|1|1024|lower" ;;
        bulk-rate) printf '%s\n' "cpu_us_per_req|CPU µs/request|2|1|lower" "p99_ms|p99 latency, ms|2|1|lower" ;;
        idle) printf '%s\n' "kib_per_conn|RSS KiB per connection|2|1|lower" "rss_before_kib|RSS before, MiB|1|1024|lower" \
            "rss_open_peak_kib|peak RSS while connecting, MiB|1|1024|lower" "rss_after_kib|RSS after they close, MiB|1|1024|lower" ;;
    esac
}

scenarios_present() {
    local s
    for s in "${ALL_SCENARIOS[@]}"; do
        grep -q "^$s	" "$RUNS" && echo "$s"
    done
    return 0
}

summary() {
    local rounds duration warmup
    rounds=$(setting ROUNDS)
    duration=$(setting DURATION)
    warmup=$(setting WARMUP)
    echo "# Ballast benchmark, $(env_value date)"
    echo
    if [[ ${rounds:-0} -lt 3 ]]; then
        echo "> **Smoke run** ($rounds round(s) of $duration): these numbers only show that every scenario"
        echo "> works. For numbers to compare, use ROUNDS=3 or more and the default durations on a quiet machine."
        echo
    fi
    echo "Commit $(env_value git); $(env_value host). $(env_value haproxy); $(env_value nginx);" \
        "$(env_value wrk); $(env_value h2load)."
    echo "Each proxy runs one worker pinned to core $(setting PROXY_CPU); wrk, h2load and the two NGINX backends" \
        "are pinned to core $(setting LOAD_CPU); every process in its own scheduler autogroup at" \
        "$( [[ $(setting PRIORITY) == nice ]] && echo "nice $(setting NICE)" || echo "normal priority")." \
        "Each cell: median of $rounds round(s) [min–max]; runs of $duration after a $warmup warm-up," \
        "systems interleaved. Load average $(env_value 'loadavg at start' | cut -d' ' -f1-3) at the start," \
        "$(env_value 'loadavg at end' | cut -d' ' -f1-3) at the end."
    echo
    # A run of the workers scenario alone has no system of the main table.
    if ((${#SYSTEMS[@]})); then main_table; fi
    workers_table
    errors_note
}

# The main table: every scenario but workers, each system's cells and the ratios.
main_table() {
    local header="| scenario | measure |" rule="| --- | --- |" s
    for s in "${SYSTEMS[@]}" "${FLOORS[@]}"; do
        header+=" $s |"
        rule+=" ---: |"
    done
    header+=" Ballast ÷ best peer |"
    rule+=" ---: |"
    if ((has_baseline)); then
        header+=" Ballast ÷ baseline |"
        rule+=" ---: |"
    fi
    echo "$header"
    echo "$rule"
    local scenario line column label decimals divisor better first
    for scenario in $(scenarios_present); do
        [[ $scenario == workers ]] && continue
        first=1
        while IFS='|' read -r column label decimals divisor better; do
            local row title=""
            ((first)) && title=$(scenario_title "$scenario")
            first=0
            row="| $title | $label |"
            for s in "${SYSTEMS[@]}" "${FLOORS[@]}"; do row+=" $(cell "$scenario" "$s" "$column" "$decimals" "$divisor") |"; done
            local best peer value
            best=$(best_peer "$scenario" "$column" "$better")
            if [[ -n $best ]]; then
                read -r peer value <<<"$best"
                row+=" **$(ratio "${MED[$scenario/ballast/$column]:-}" "$value")** ($peer) |"
            else
                row+=" – |"
            fi
            if ((has_baseline)); then
                row+=" $(ratio "${MED[$scenario/ballast/$column]:-}" "${MED[$scenario/baseline/$column]:-}") |"
            fi
            echo "$row"
        done < <(measures "$scenario")
    done
    echo
    echo "Ratios divide Ballast's median by the better peer's (HAProxy or NGINX, named in brackets):"
    echo "for CPU, latency and memory below 1.00× means Ballast does better, for requests/s above 1.00×."
    if [[ -n ${MED[c64/direct/rps]:-} ]]; then
        echo "No proxy (wrk straight at one backend, the most wrk and the backends do on their core):" \
            "$(cell c64 direct rps 0) requests/s, p99 $(cell c64 direct p99_ms 2) ms."
    fi
    if [[ -n ${MED[idle/ballast/kib_per_conn]:-} ]]; then
        echo "Idle connections: each system is restarted fresh, warmed up (wrk -c64), then $(thousands "$IDLE_CONNS")" \
            "connections (at most 256 connecting at a time) make one request each and stay open; RSS per" \
            "connection = (peak RSS while they are all held idle − RSS before) / connections held. Peaks are" \
            "the kernel's VmHWM, reset before the phase measured, so they are exact, not sampled."
    fi
}

workers_table() {
    [[ -n ${MED[workers/ballast-w1/rps]:-} ]] || return 0
    local pct=$WORKER_CPU_PCT proxy
    echo
    echo "### $(scenario_title workers)"
    echo
    echo "| proxy | 1 worker: requests/s | 2 workers: requests/s | 2 workers ÷ 1 |" \
        "1 worker: CPU µs/request | 2 workers: CPU µs/request | cores used, 1 / 2 workers |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for proxy in ballast haproxy nginx; do
        [[ -n ${MED[workers/$proxy-w1/rps]:-} ]] || continue
        echo "| $proxy | $(cell workers "$proxy-w1" rps 0) | $(cell workers "$proxy-w2" rps 0) |" \
            "**$(ratio "${MED[workers/$proxy-w2/rps]:-}" "${MED[workers/$proxy-w1/rps]:-}")** |" \
            "$(cell workers "$proxy-w1" cpu_us_per_req 2) | $(cell workers "$proxy-w2" cpu_us_per_req 2) |" \
            "$(cores_used "$proxy-w1") / $(cores_used "$proxy-w2") |"
    done
    echo
    echo "How it is measured on this $(env_value host | sed 's/.*, \([0-9]*\) CPUs.*/\1/')-CPU machine, which has no core" \
        "to spare for the load: each worker (a thread of Ballast or HAProxy, a process of NGINX) runs" \
        "only on a CPU of its own (worker 1 on CPU $(setting PROXY_CPU), worker 2 on CPU $(setting LOAD_CPU))" \
        "and may use at most $pct% of it: a cgroup CPU quota per worker (CFS bandwidth, per 10 ms)." \
        "wrk -t2 -c64 and the backends may run on both CPUs and use the rest. The proxy's CPU is then" \
        "what bounds the throughput, as on a machine with cores to spare for the load (\"cores used\"," \
        "the medians of CPU µs/request × requests/s, is about $pct% of a core per worker when the" \
        "quota binds). 2 workers ÷ 1 near 2× means a second worker adds a whole worker's work: shared" \
        "state between workers (locks, shared counters) or connections spread unevenly would show" \
        "as less. Busy time of both CPUs in these runs: $(busy_note)."
}

# cores_used SYSTEM: median CPU cores the workers scenario's SYSTEM used (CPU µs/request ×
# requests/s).
cores_used() {
    local cpu=${MED[workers/$1/cpu_us_per_req]:-} rps=${MED[workers/$1/rps]:-}
    [[ -n $cpu && -n $rps ]] || { echo "–"; return 0; }
    awk -v c="$cpu" -v r="$rps" 'BEGIN {printf "%.2f", c * r / 1e6}'
}

# Per system of the workers scenario, the lowest and highest busy % of each CPU over its runs.
busy_note() {
    awk -F'\t' '$1 == "workers" {
            if (!($3 in lo0)) { order[++n] = $3; lo0[$3] = hi0[$3] = $15; lo1[$3] = hi1[$3] = $16 }
            if ($15 < lo0[$3]) lo0[$3] = $15; if ($15 > hi0[$3]) hi0[$3] = $15
            if ($16 < lo1[$3]) lo1[$3] = $16; if ($16 > hi1[$3]) hi1[$3] = $16
        }
        END {
            for (i = 1; i <= n; i++) {
                s = order[i]
                printf "%s%s %s–%s%% / %s–%s%%", (i > 1 ? ", " : ""), s, lo0[s], hi0[s], lo1[s], hi1[s]
            }
        }' "$RUNS"
}

errors_note() {
    local bad
    bad=$(awk -F'\t' 'NR > 1 && $14 != "-" && $14 + 0 > 0 {n[$1 " " $3] += $14} END {for (k in n) print k ": " n[k]}' "$RUNS")
    [[ -n $bad ]] || return 0
    echo
    echo "**Warning**: socket errors, non-2xx answers or failed connections in these runs (see raw/):"
    while IFS= read -r line; do echo "- $line"; done <<<"$bad"
}

# --- chart ----------------------------------------------------------------------------

declare -A COLOR=([ballast]='#d95f02' [baseline]='#fdb863' [haproxy]='#1b9e77' [nginx]='#7570b3')

# chart_data FILE SCENARIO...: one line per scenario: label, then median min max per system.
chart_data() {
    local file=$1 scenario s
    shift
    for scenario in "$@"; do
        local line
        line="\"$(scenario_label "$scenario")\""
        for s in "${SYSTEMS[@]}"; do
            local k=$scenario/$s/cpu_us_per_req
            line+=" ${MED[$k]:--} ${MIN[$k]:--} ${MAX[$k]:--}"
        done
        echo "$line"
    done >"$file"
}

# panel FILE TITLE: the gnuplot commands of one bar chart panel.
panel() {
    local file=$1 title=$2 i=0 s plots=() n=${#SYSTEMS[@]}
    for s in "${SYSTEMS[@]}"; do
        local c=$((2 + 3 * i))
        plots+=("'$file' using $c:$((c + 1)):$((c + 2)):xtic(1) title '$s' lc rgb '${COLOR[$s]}'")
        # The value above each bar: clustered bars of a histogram sit at x = row + offset.
        plots+=("'' using (\$0 + ($i - ($n - 1) / 2.0) / ($n + 1.5)):$((c + 2)):(sprintf(\$$c < 100 ? '%.1f' : '%.0f', \$$c)) with labels offset 0,0.7 font ',8' notitle")
        i=$((i + 1))
    done
    echo "set title '$title'"
    local joined
    joined=$(printf '%s, ' "${plots[@]}")
    echo "plot ${joined%, }"
}

chart() {
    local s main=() handshake=()
    for s in $(scenarios_present); do
        case $s in
            c64 | post | c1000 | rate | close | tls | h2c | h2tls) main+=("$s") ;;
            tls-close) handshake+=("$s") ;;
        esac
    done
    ((${#main[@]} + ${#handshake[@]})) || return 0
    chart_data "$DIR/chart-main.dat" "${main[@]}"
    chart_data "$DIR/chart-handshake.dat" "${handshake[@]}"
    local title rounds
    rounds=$(setting ROUNDS)
    title="Proxy CPU per request, µs (median of $rounds round(s); bars: min–max; lower is better)"
    local gp="$DIR/chart.gp"
    {
        echo "set encoding utf8"
        echo "set datafile missing '-'"
        echo "set style data histograms"
        echo "set style histogram errorbars gap 1.5 lw 1"
        echo "set style fill solid 0.85 border -1"
        echo "set boxwidth 0.9"
        echo "set yrange [0:*]"
        echo "set offsets 0, 0, graph 0.1, 0"
        echo "set grid ytics lc rgb '#dddddd'"
        echo "set key outside top center horizontal"
        echo "set ylabel 'CPU µs / request'"
        echo "set xtics nomirror"
        echo "set tics font ',10'"
        echo "set bmargin 4"
        local term
        for term in "svg size 1250,500 dynamic font 'sans,11' background rgb 'white'|chart.svg" \
            "pngcairo size 1250,500 font 'sans,10'|chart.png"; do
            echo "set terminal ${term%|*}"
            echo "set output '$DIR/${term#*|}'"
            if ((${#main[@]} && ${#handshake[@]})); then
                echo "set multiplot title '$title' font ',12'"
                echo "set tmargin 5"
                echo "set size 0.74,0.92; set origin 0,0"
                panel "$DIR/chart-main.dat" "per request"
                echo "set size 0.26,0.92; set origin 0.74,0"
                echo "set ylabel ''"
                echo "set key off"
                panel "$DIR/chart-handshake.dat" "per new TLS handshake"
                echo "unset multiplot"
                echo "set ylabel 'CPU µs / request'"
                echo "set key outside top center horizontal"
            elif ((${#main[@]})); then
                panel "$DIR/chart-main.dat" "$title"
            else
                panel "$DIR/chart-handshake.dat" "$title"
            fi
            echo "unset output"
        done
    } >"$gp"
    gnuplot "$gp" || die "gnuplot failed on $gp"
}

# --- publishing -----------------------------------------------------------------------

publish() {
    mkdir -p "$REPO_ROOT/docs/images"
    cp "$DIR/chart.svg" "$REPO_ROOT/docs/images/bench.svg"
    {
        echo "<!-- Written by PUBLISH=1 bench/report.sh from bench/out/$(basename "$DIR"); do not edit by hand. -->"
        echo
        cat "$DIR/summary.md"
        echo
        echo "![Proxy CPU per request, by scenario](images/bench.svg)"
    } >"$REPO_ROOT/docs/bench-latest.md"
    local perf="$REPO_ROOT/docs/performance.md"
    if grep -q '<!-- bench-latest:start -->' "$perf" 2>/dev/null; then
        local body="$DIR/performance-results.md"
        {
            echo "<!-- bench-latest:start -->"
            echo "<!-- Filled by PUBLISH=1 bench/report.sh from bench/out/$(basename "$DIR"). -->"
            echo
            # The summary's title becomes a line; its own headings move one level down.
            sed -e '1s/^# \(.*\)/**\1**/' -e 's/^### /#### /' "$DIR/summary.md"
            echo
            echo "![Proxy CPU per request, by scenario](images/bench.svg)"
            echo "<!-- bench-latest:end -->"
        } >"$body"
        awk -v body="$body" '
            /<!-- bench-latest:start -->/ {while ((getline l < body) > 0) print l; skip = 1; next}
            /<!-- bench-latest:end -->/ {skip = 0; next}
            !skip' "$perf" >"$perf.new" && mv "$perf.new" "$perf"
    fi
    echo "published: docs/bench-latest.md, docs/images/bench.svg, docs/performance.md (Latest results)" >&2
}

summary >"$DIR/summary.md"
chart
echo "report: ${DIR#"$REPO_ROOT"/}/summary.md, chart.svg, chart.png" >&2
if [[ ${PUBLISH:-} == 1 ]]; then publish; fi
