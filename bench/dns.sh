#!/usr/bin/env bash
# Authoritative DNS over UDP: Ballast's [dns] server beside NSD and Knot, with dnsperf.
#
#   bench/dns.sh [SCENARIO...]        default: max rate, in this order
#
#   max    dnsperf unthrottled, $CLIENTS sockets, at most $OUTSTANDING queries in flight:
#          queries/s, server CPU µs per query
#   rate   dnsperf at a fixed $RATE queries/s with -v (the latency of every answer):
#          p50/p99/p99.9 ms, server CPU µs per query
#
# Systems, all serving the same zone bench.test. (SOA, NS, A at the apex, www A and AAAA,
# api, mail, ns1, MX, TXT), from a zone file for NSD and Knot and as [dns] records for Ballast:
#   ballast         the plain mix (queries-plain.txt: mostly A, some AAAA, MX, TXT, NS, one
#                   NXDOMAIN, one NODATA) against Ballast
#   nsd, knot       the same mix against NSD and Knot
#   ballast-simple  only A queries of the simple sets www and api, against a second Ballast
#                   whose zone also has a failover and a weighted set (TCP health checks)
#   ballast-routed  only A queries of that failover and that weighted set, against the same
#                   second Ballast: its cost minus ballast-simple's is what routing costs
# NSD and Knot serve plain records only, so they are compared on the plain mix.
#
# Method, as bench/run.sh: each server pinned to core $SERVER_CPU (Ballast with one worker;
# its DNS server is one thread; NSD server-count 1; Knot one UDP, one TCP, one background
# worker; every thread re-pinned after start, as Knot pins its UDP workers itself), dnsperf
# to core $LOAD_CPU, every process in its own session at nice $NICE; rate limiting off
# everywhere (Ballast responses_per_second = 0, NSD rrl-ratelimit 0, Knot has no RRL module
# loaded); a warm-up before every measured run; rounds interleave the systems; medians.
# CPU µs/query = the server's utime+stime (whole process tree, all threads) from /proc over
# the run / queries answered; "sched µs/query" the same from the scheduler's exact runtime
# (/proc/PID/task/*/schedstat), a cross-check. Before the runs, every
# query of the plain mix is asked of the three plain servers with dig, and their answers
# (status and answer section) must be the same. Loopback only, ports 18353-18356 (UDP and
# TCP) and 18359 (nothing may listen there: the failing health check's endpoint).
#
# Environment: ROUNDS (3) DURATION (10) WARMUP (2) CLIENTS (8) OUTSTANDING (100) RATE (20000)
# EDNS (1: dnsperf -e, queries carry an OPT record as resolvers' do; 0: plain queries)
# SERVER_CPU (1) LOAD_CPU (0) PRIORITY (nice | none) NICE (-20)
# BALLAST_BIN (${CARGO_TARGET_DIR:-target}/release/ballast, built here unless SKIP_BUILD=1).
# Needs: apt-get install dnsperf nsd knot dnsutils.
# Output: bench/out/<stamp>-dns/ with runs.tsv, summary.md, env.txt, the zone, the configs,
# the query files, logs and dnsperf's outputs (the -v lines are reduced to percentiles).
# Every process started here is stopped on exit, by its recorded PID.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-100}
RATE=${RATE:-20000}
EDNS=${EDNS:-1}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=$SERVER_CPU # lib.sh's cpu_busy reads PROXY_CPU
PRIORITY=${PRIORITY:-nice}
NICE=${NICE:--20}
BALLAST_BIN=${BALLAST_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/ballast}
CLK_TCK=$(getconf CLK_TCK)
ALL_SCENARIOS=(max rate)
SYSTEMS=(ballast nsd knot ballast-simple ballast-routed)
# The server each system queries (ballast-simple and ballast-routed share one) and its port.
declare -A SERVER_OF=([ballast]=ballast [nsd]=nsd [knot]=knot [ballast-simple]=ballast-policy [ballast-routed]=ballast-policy)
declare -A PORT=([ballast]=18353 [nsd]=18354 [knot]=18355 [ballast-policy]=18356)
declare -A QUERIES_OF=([ballast]=plain [nsd]=plain [knot]=plain [ballast-simple]=simple [ballast-routed]=routed)
DOWN_PORT=18359
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
for s in ROUNDS DURATION WARMUP CLIENTS OUTSTANDING RATE; do
    [[ ${!s} =~ ^[1-9][0-9]*$ ]] || die "$s must be a positive whole number, got '${!s}'"
done
[[ $EDNS == 0 || $EDNS == 1 ]] || die "EDNS must be 0 or 1"
[[ $PRIORITY == nice || $PRIORITY == none ]] || die "PRIORITY must be nice or none"
(($(nproc) >= 2)) || die "need at least 2 CPUs (servers on one, dnsperf on another)"
[[ $PRIORITY == none || $(id -u) == 0 ]] || die "nice $NICE needs root; run as root or with PRIORITY=none"

RUN_DIR="$BENCH_DIR/out/$(date -u +%Y%m%d-%H%M%S)-dns"
mkdir -p "$RUN_DIR/nsd" "$RUN_DIR/knot/db" "$RUN_DIR/raw"

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building ballast (release)"
    (cd "$REPO_ROOT" && cargo build --release --locked -p ballast --bin ballast) || die "build failed"
fi
for tool in dnsperf nsd nsd-checkconf knotd knotc dig taskset setsid "$BALLAST_BIN"; do
    command -v "$tool" >/dev/null || die "missing $tool (apt-get install dnsperf nsd knot dnsutils; see bench/README.md)"
done

# require_free_udp_port PORT: nothing is bound to UDP PORT (IPv4 or IPv6, any address).
require_free_udp_port() {
    local hex
    hex=$(printf ':%04X' "$1")
    if awk -v p="$hex" 'FNR > 1 && substr($2, length($2) - 4) == p {found = 1} END {exit !found}' \
        /proc/net/udp /proc/net/udp6 2>/dev/null; then
        die "UDP port $1 is already in use on this machine; stop whatever is bound there and retry"
    fi
}
for port in "${PORT[@]}" "$DOWN_PORT"; do
    require_free_port "$port"
    require_free_udp_port "$port"
done

# --- the zone, once for each server ---------------------------------------------------------

# name type value, relative to bench.test. ("@" is the apex). Ballast's SOA is made from
# its defaults (mname the first ns, hostmaster.ORIGIN, serial 1, 2h 15m 14d 60s); the zone
# file's SOA says the same.
RECORDS=(
    "@ NS ns1.bench.test."
    "@ A 192.0.2.1"
    "@ MX 10 mail.bench.test."
    "@ TXT v=spf1 mx -all"
    "ns1 A 127.0.0.1"
    "www A 192.0.2.10"
    "www A 192.0.2.11"
    "www AAAA 2001:db8::10"
    "api A 192.0.2.20"
    "mail A 192.0.2.25"
)
{
    # shellcheck disable=SC2016 # zone file directives, not shell variables
    echo '$ORIGIN bench.test.'
    echo "\$TTL 60"
    echo '@ IN SOA ns1.bench.test. hostmaster.bench.test. 1 7200 900 1209600 60'
    for r in "${RECORDS[@]}"; do
        read -r name type value <<<"$r"
        [[ $type == TXT ]] && value="\"$value\""
        printf '%s IN %s %s\n' "$name" "$type" "$value"
    done
} >"$RUN_DIR/bench.test.zone"
cp "$RUN_DIR/bench.test.zone" "$RUN_DIR/nsd/"
cp "$RUN_DIR/bench.test.zone" "$RUN_DIR/knot/"

# Ballast's records: one set per name and type, values gathered (NS is the zone's `ns`).
ballast_records() {
    local r name type value key keys=() i
    declare -A values=()
    for r in "${RECORDS[@]}"; do
        read -r name type value <<<"$r"
        [[ $type == NS ]] && continue
        key="$name $type"
        [[ -v "values[$key]" ]] || keys+=("$key")
        values[$key]+="${values[$key]:+, }\"$value\""
    done
    for key in "${keys[@]}"; do
        read -r name type <<<"$key"
        printf '  { name = "%s", type = "%s", values = [%s] },\n' "$name" "$type" "${values[$key]}"
    done
}

# ballast_config PORT [routed]: Ballast's configuration; with "routed" also a failover set
# and a weighted set, whose members follow two TCP checks: "up" connects to this server's
# own DNS port over TCP (always passes), "down" to $DOWN_PORT, where nothing listens.
ballast_config() {
    local port=$1 routed=${2:-}
    cat <<EOF
[server]
workers = 1

[dns]
bind = "127.0.0.1:$port"
responses_per_second = 0

[dns.zones."bench.test."]
ns = ["ns1"]
ttl = "60s"
records = [
$(ballast_records)
EOF
    if [[ $routed == routed ]]; then
        cat <<EOF
  { name = "failover", type = "A", routing = "failover", members = [
    { values = ["192.0.2.30"], role = "primary", health_check = "up" },
    { values = ["192.0.2.31"], role = "secondary", health_check = "down" },
  ] },
  { name = "weighted", type = "A", routing = "weighted", members = [
    { values = ["192.0.2.40"], weight = 3, health_check = "up" },
    { values = ["192.0.2.41"], weight = 1, health_check = "up" },
    { values = ["192.0.2.42"], weight = 1, health_check = "down" },
  ] },
]

[dns.health_checks.up]
type = "tcp"
endpoint = "127.0.0.1:$port"
interval = "2s"
failure_threshold = 1

[dns.health_checks.down]
type = "tcp"
endpoint = "127.0.0.1:$DOWN_PORT"
interval = "2s"
failure_threshold = 1
EOF
    else
        echo "]"
    fi
}
ballast_config "${PORT[ballast]}" >"$RUN_DIR/ballast.toml"
ballast_config "${PORT[ballast-policy]}" routed >"$RUN_DIR/ballast-policy.toml"

cat >"$RUN_DIR/nsd/nsd.conf" <<EOF
server:
    server-count: 1
    ip-address: 127.0.0.1@${PORT[nsd]}
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$RUN_DIR/nsd"
    database: ""
    zonelistfile: "$RUN_DIR/nsd/zone.list"
    xfrdfile: "$RUN_DIR/nsd/xfrd.state"
    xfrdir: "$RUN_DIR/nsd"
    pidfile: "$RUN_DIR/nsd/nsd.pid"
    logfile: "$RUN_DIR/nsd/nsd.log"
    verbosity: 0
    hide-version: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: bench.test
    zonefile: bench.test.zone
EOF
cat >"$RUN_DIR/knot/knot.conf" <<EOF
server:
    rundir: "$RUN_DIR/knot"
    listen: 127.0.0.1@${PORT[knot]}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$RUN_DIR/knot/db"
template:
  - id: default
    storage: "$RUN_DIR/knot"
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: bench.test
    file: bench.test.zone
EOF

# The query files (dnsperf's "name type" lines, sent in order, round and round).
{
    for _ in 1 2 3 4 5 6; do echo "www.bench.test A"; done
    for _ in 1 2; do echo "bench.test A"; done
    for _ in 1 2; do echo "api.bench.test A"; done
    echo "mail.bench.test A"
    echo "ns1.bench.test A"
    echo "www.bench.test A"
    for _ in 1 2; do echo "www.bench.test AAAA"; done
    echo "bench.test MX"
    echo "bench.test TXT"
    echo "bench.test NS"
    echo "nx.bench.test A"      # NXDOMAIN, with the SOA
    echo "mail.bench.test AAAA" # NODATA, with the SOA
} >"$RUN_DIR/queries-plain.txt"
printf 'www.bench.test A\napi.bench.test A\n' >"$RUN_DIR/queries-simple.txt"
printf 'failover.bench.test A\nweighted.bench.test A\n' >"$RUN_DIR/queries-routed.txt"

{
    dirty=""
    git -C "$REPO_ROOT" diff --quiet HEAD 2>/dev/null || dirty=" (uncommitted changes)"
    echo "date: $(date -u +%FT%TZ)"
    echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "git (work tree): $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$dirty"
    echo "ballast: $BALLAST_BIN ($("$BALLAST_BIN" --version 2>&1 | head -n1);" \
        "modified $(date -u -r "$BALLAST_BIN" +%FT%TZ); sha256 $(sha256sum "$BALLAST_BIN" | cut -c1-16))"
    echo "nsd: $(nsd -v 2>&1 | head -n1)"
    echo "knot: $(knotd --version 2>&1 | head -n1)"
    echo "dnsperf: $(dnsperf -h 2>&1 | grep -m1 '^Version')"
    echo "scenarios: ${SCENARIOS[*]}"
    echo "settings: ROUNDS=$ROUNDS DURATION=${DURATION}s WARMUP=${WARMUP}s CLIENTS=$CLIENTS" \
        "OUTSTANDING=$OUTSTANDING RATE=$RATE EDNS=$EDNS SERVER_CPU=$SERVER_CPU LOAD_CPU=$LOAD_CPU" \
        "PRIORITY=$PRIORITY NICE=$NICE CLK_TCK=$CLK_TCK"
    echo "sysctl: rmem_default=$(cat /proc/sys/net/core/rmem_default) rmem_max=$(cat /proc/sys/net/core/rmem_max)" \
        "sched_autogroup_enabled=$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo '?')"
    echo "loadavg at start: $(cat /proc/loadavg)"
} >"$RUN_DIR/env.txt"
log "results in ${RUN_DIR#"$REPO_ROOT"/}"

# --- start the servers ----------------------------------------------------------------------

# ask PORT NAME TYPE...: dig's short answers for one or more "NAME TYPE" pairs, one try each.
ask() {
    local port=$1 args=()
    shift
    while (($#)); do
        args+=("$1" "$2" +short +norec +tries=1 +time=1)
        shift 2
    done
    dig -p "$port" @127.0.0.1 "${args[@]}" 2>/dev/null
}

# wait_dns NAME PORT: until NAME answers www.bench.test A (at most 15 s).
wait_dns() {
    local name=$1 port=$2 i
    for ((i = 0; i < 150; i++)); do
        is_alive "${PID_OF[$name]}" || die "$name exited during start-up (see its log in $RUN_DIR)"
        if [[ $(ask "$port" www.bench.test A | sort | tr '\n' ' ') == "192.0.2.10 192.0.2.11 " ]]; then return 0; fi
        sleep 0.1
    done
    die "$name does not answer www.bench.test A on port $port (see its log in $RUN_DIR)"
}

"$BALLAST_BIN" check -c "$RUN_DIR/ballast.toml" >/dev/null || die "invalid $RUN_DIR/ballast.toml"
"$BALLAST_BIN" check -c "$RUN_DIR/ballast-policy.toml" >/dev/null || die "invalid $RUN_DIR/ballast-policy.toml"
nsd-checkconf "$RUN_DIR/nsd/nsd.conf" || die "invalid $RUN_DIR/nsd/nsd.conf"
knotc -c "$RUN_DIR/knot/knot.conf" conf-check >/dev/null || die "invalid $RUN_DIR/knot/knot.conf"
spawn ballast "$SERVER_CPU" "$RUN_DIR/ballast.log" "$BALLAST_BIN" run -c "$RUN_DIR/ballast.toml" --log-level warn
spawn ballast-policy "$SERVER_CPU" "$RUN_DIR/ballast-policy.log" \
    "$BALLAST_BIN" run -c "$RUN_DIR/ballast-policy.toml" --log-level warn
spawn nsd "$SERVER_CPU" "$RUN_DIR/nsd/stdout.log" nsd -d -c "$RUN_DIR/nsd/nsd.conf"
spawn knot "$SERVER_CPU" "$RUN_DIR/knot/stdout.log" knotd -c "$RUN_DIR/knot/knot.conf"
for server in ballast ballast-policy nsd knot; do wait_dns "$server" "${PORT[$server]}"; done

# pin_server NAME: every thread of NAME's process tree on core $SERVER_CPU. Knot sets the
# affinity of its UDP workers itself, ignoring the mask taskset gave it: its one UDP worker
# landed on CPU 0, dnsperf's core. The other threads (and NSD's and Ballast's) inherit
# taskset's mask. Threads keep the mask set here (checked before every run).
pin_server() {
    local pid
    for pid in $(proc_tree "${PID_OF[$1]}"); do
        taskset -a -p -c "$SERVER_CPU" "$pid" >/dev/null || die "cannot pin $1 (PID $pid) to core $SERVER_CPU"
    done
}

# check_pinned NAME: fails unless every thread of NAME may run on core $SERVER_CPU only.
check_pinned() {
    local pid f cpus
    for pid in $(proc_tree "${PID_OF[$1]}"); do
        for f in /proc/"$pid"/task/*/status; do
            cpus=$(awk '$1 == "Cpus_allowed_list:" {print $2}' "$f" 2>/dev/null) || continue
            [[ -z $cpus || $cpus == "$SERVER_CPU" ]] || die "$1 has a thread allowed on CPUs $cpus (${f%/status}), not only $SERVER_CPU"
        done
    done
}
for server in ballast ballast-policy nsd knot; do
    pin_server "$server"
    check_pinned "$server"
done

# The same answers (status and answer section) from every plain server, for every query.
for server in ballast nsd knot; do
    while read -r name type; do
        dig -p "${PORT[$server]}" @127.0.0.1 "$name" "$type" +norec +tries=1 +time=2 +noall +comments +answer |
            awk -v q="$name $type" '/status:/ {sub(/,.*/, "", $6); print q ": " $6} /^[^;]/ && NF {$1 = $1; print q ": " $0}' | sort
    done < <(sort -u "$RUN_DIR/queries-plain.txt") >"$RUN_DIR/answers-$server.txt"
done
queries=$(sort -u "$RUN_DIR/queries-plain.txt" | wc -l)
answered=$(grep -cE ': (NOERROR|NXDOMAIN)$' "$RUN_DIR/answers-ballast.txt" || true)
((answered == queries)) || die "Ballast answered $answered of the $queries distinct queries (see $RUN_DIR/answers-ballast.txt)"
for server in nsd knot; do
    diff -u "$RUN_DIR/answers-ballast.txt" "$RUN_DIR/answers-$server.txt" >"$RUN_DIR/answers-ballast-vs-$server.diff" ||
        die "Ballast and $server answer differently (see $RUN_DIR/answers-ballast-vs-$server.diff)"
done

# The routed sets once the "down" check has failed (it runs every 2 s): failover answers
# its primary, weighted never its member on the failing check.
weighted40=()
for _ in $(seq 40); do weighted40+=(weighted.bench.test A); done
for ((i = 0; ; i++)); do
    answers=$(ask "${PORT[ballast-policy]}" "${weighted40[@]}" | sort | uniq -c)
    if [[ $answers != *192.0.2.42* && $(ask "${PORT[ballast-policy]}" failover.bench.test A) == 192.0.2.30 ]]; then break; fi
    ((i < 100)) || die "the routed sets do not follow their health checks after 10 s (weighted: $answers)"
    sleep 0.1
done
echo "weighted.bench.test A, 40 answers after the checks settled:" >>"$RUN_DIR/env.txt"
echo "$answers" >>"$RUN_DIR/env.txt"

# --- the runs -------------------------------------------------------------------------------

# sched_ns PID...: CPU time in ns of every thread of the given PIDs, from the scheduler's
# exact runtime (the first field of /proc/PID/task/TID/schedstat). A cross-check of
# utime+stime: the tick samples how the time splits between user and system, and the kernel
# scales the two so that their sum follows this runtime, so they should agree. The per-core
# busy % from /proc/stat is tick-sampled only; at a low, fixed rate (a server waking briefly
# between idle periods) it can be far off, so summary.md gives it for the unthrottled runs
# only. Threads that exit between two reads are missed (the servers here keep theirs).
sched_ns() {
    local pid f ns total=0
    for pid in "$@"; do
        for f in /proc/"$pid"/task/*/schedstat; do
            read -r ns _ 2>/dev/null <"$f" || continue
            total=$((total + ns))
        done
    done
    echo "$total"
}

# dnsperf_run SCENARIO SYSTEM SECONDS OUTFILE [verbose]: one bounded dnsperf run.
dnsperf_run() {
    local scenario=$1 system=$2 seconds=$3 outfile=$4 verbose=${5:-}
    local -a args=(-s 127.0.0.1 -p "${PORT[${SERVER_OF[$system]}]}" -d "$RUN_DIR/queries-${QUERIES_OF[$system]}.txt"
        -c "$CLIENTS" -T 1 -q "$OUTSTANDING" -t 2 -l "$seconds")
    [[ $EDNS == 1 ]] && args+=(-e)
    [[ $scenario == rate ]] && args+=(-Q "$RATE")
    [[ $verbose == verbose ]] && args+=(-v)
    bounded_run $((seconds + 30)) "$LOAD_CPU" "$outfile" dnsperf "${args[@]}"
}

# perf_stat FILE LABEL: the first number after "LABEL:" in dnsperf's statistics.
perf_stat() { awk -v l="$2:" 'index($0, l) {sub(/.*:[ \t]*/, ""); print $1 + 0; exit}' "$1"; }

RUNS="$RUN_DIR/runs.tsv"
printf 'scenario\tround\tsystem\tsent\tcompleted\tlost\tseconds\tqps\tavg_ms\tp50_ms\tp99_ms\tp999_ms\tcpu_us_per_query\tserver_core_busy_pct\tload_core_busy_pct\tsched_us_per_query\n' >"$RUNS"

# measure SCENARIO ROUND SYSTEM: a warm-up, then one measured run; appends to runs.tsv.
measure() {
    local scenario=$1 round=$2 system=$3 server=${SERVER_OF[$3]} pids=() t0 t1 b0 b1 s0 s1 name
    local outfile="$RUN_DIR/raw/$scenario-$system-r$round.txt"
    for name in ballast ballast-policy nsd knot; do
        is_alive "${PID_OF[$name]}" || die "$name is no longer running (see its log in $RUN_DIR)"
    done
    check_pinned "$server"
    read -r -a pids <<<"$(proc_tree "${PID_OF[$server]}")"
    dnsperf_run "$scenario" "$system" "$WARMUP" "$outfile.warmup" || die "warm-up failed against $system ($outfile.warmup)"
    t0=$(cpu_ticks "${pids[@]}")
    s0=$(sched_ns "${pids[@]}")
    b0=$(cpu_busy)
    local verbose=""
    [[ $scenario == rate ]] && verbose=verbose
    dnsperf_run "$scenario" "$system" "$DURATION" "$outfile" $verbose || die "dnsperf failed against $system ($outfile)"
    b1=$(cpu_busy)
    s1=$(sched_ns "${pids[@]}")
    t1=$(cpu_ticks "${pids[@]}")
    grep -q 'Queries per second' "$outfile" || die "no statistics in $outfile"
    local sent completed lost seconds qps avg p50=- p99=- p999=- cpu sched busy0 busy1
    sent=$(perf_stat "$outfile" 'Queries sent')
    completed=$(perf_stat "$outfile" 'Queries completed')
    lost=$(perf_stat "$outfile" 'Queries lost')
    seconds=$(perf_stat "$outfile" 'Run time (s)')
    qps=$(perf_stat "$outfile" 'Queries per second')
    avg=$(awk -v s="$(perf_stat "$outfile" 'Average Latency (s)')" 'BEGIN {printf "%.3f", s * 1000}')
    if [[ -n $verbose ]]; then
        # "> NOERROR www.bench.test A 0.000081": the latency in seconds is the last field.
        read -r p50 p99 p999 < <(awk '/^> / && $NF ~ /^[0-9.]+$/ {print $NF}' "$outfile" | sort -g |
            awk 'function at(p,   i) { i = int(NR * p + 0.5); return v[i < 1 ? 1 : i] * 1000 }
                {v[NR] = $1}
                END { if (NR == 0) print "- - -"; else printf "%.3f %.3f %.3f\n", at(0.5), at(0.99), at(0.999) }')
        # Keep the statistics and a count of the answers by code, not 200,000 lines.
        awk '/^> / {n[$2]++; next} {print} END {for (c in n) print "answers " c ": " n[c]}' "$outfile" >"$outfile.tmp"
        mv "$outfile.tmp" "$outfile"
    fi
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$completed" 'BEGIN {printf "%.3f", n ? d * 1e6 / hz / n : 0}')
    sched=$(awk -v d=$((s1 - s0)) -v n="$completed" 'BEGIN {printf "%.3f", n ? d / 1e3 / n : 0}')
    read -r busy0 busy1 <<<"$(awk -v a="$b0" -v b="$b1" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        printf "%.0f %.0f", 100 * (y[1] - x[1]) / (y[2] - x[2] + 1e-9), 100 * (y[3] - x[3]) / (y[4] - x[4] + 1e-9)
    }')"
    printf '%s\t' "$scenario" "$round" "$system" "$sent" "$completed" "$lost" "$seconds" "$qps" "$avg" \
        "$p50" "$p99" "$p999" "$cpu" "$busy0" "$busy1" >>"$RUNS"
    printf '%s\n' "$sched" >>"$RUNS"
    log "$scenario r$round $system: $(printf '%.0f' "$qps") q/s, avg $avg ms, p99 $p99 ms, CPU $cpu us/query" \
        "(scheduler: $sched), lost $lost, core busy $busy0% (server) / $busy1% (dnsperf)"
}

for scenario in "${SCENARIOS[@]}"; do
    for ((round = 1; round <= ROUNDS; round++)); do
        for system in "${SYSTEMS[@]}"; do measure "$scenario" "$round" "$system"; done
    done
done
echo "loadavg at end: $(cat /proc/loadavg)" >>"$RUN_DIR/env.txt"

# --- summary.md -----------------------------------------------------------------------------

{
    smoke=""
    ((ROUNDS >= 3)) || smoke=" Smoke run (fewer than 3 rounds): it proves the scenarios work, do not compare its numbers."
    edns="with EDNS(0)"
    [[ $EDNS == 1 ]] || edns="without EDNS"
    echo "# Authoritative DNS over UDP: Ballast, NSD and Knot with dnsperf ($(date -u +%Y-%m-%d))"
    echo
    echo "Medians [min–max] of $ROUNDS interleaved rounds of ${DURATION}s; each server on core $SERVER_CPU" \
        "(one worker / one UDP thread), dnsperf (-T 1, -c $CLIENTS, queries $edns) on core $LOAD_CPU;" \
        "rate limiting off. \"÷ best peer\" is the median divided by the better of NSD and Knot, on the" \
        "same plain mix. ballast-simple and ballast-routed are Ballast alone: A queries of simple sets" \
        "against A queries of a failover and a weighted set with health checks.$smoke"
    awk -F'\t' -v outstanding="$OUTSTANDING" -v rate="$RATE" 'NR > 1 {
        k = $1 SUBSEP $3; seen[$1] = 1
        qps[k] = qps[k] " " $8; avg[k] = avg[k] " " $9; p50[k] = p50[k] " " $10; p99[k] = p99[k] " " $11
        p999[k] = p999[k] " " $12; cpu[k] = cpu[k] " " $13; lost[k] += $6; busy[k] = busy[k] " " $14; lbusy[k] = lbusy[k] " " $15
        sched[k] = sched[k] " " $16
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
    # ratio(lists, system, lower_is_better): its median ÷ the better peer median.
    function ratio(lists, s, low,   m, best, p, v) {
        if (s == "nsd" || s == "knot" || s == "ballast-simple" || s == "ballast-routed") return "–"
        m = median(lists[sc, s]); best = "-"
        if (m == "-") return "–"
        for (p in peers) { v = median(lists[sc, peers[p]]); if (v != "-" && (best == "-" || (low ? v < best : v > best))) best = v }
        return (best == "-" || best == 0) ? "–" : sprintf("%.2fx", m / best)
    }
    BEGIN { split("ballast nsd knot ballast-simple ballast-routed", order, " "); peers[1] = "nsd"; peers[2] = "knot" }
    END {
        for (o = 1; o <= 2; o++) {
            sc = (o == 1) ? "max" : "rate"
            if (!(sc in seen)) continue
            if (sc == "max") {
                printf "\n## Unthrottled: at most %d queries in flight\n\n", outstanding
                print "| system | queries/s | avg ms | CPU µs/query | CPU ÷ best peer | sched µs/query | sched ÷ best peer | queries/s ÷ best peer | lost | server core busy % | dnsperf core busy % |"
                print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
            } else {
                printf "\n## Fixed rate: %d queries/s\n\n", rate
                print "| system | p50 ms | p99 ms | p99.9 ms | CPU µs/query | CPU ÷ best peer | sched µs/query | sched ÷ best peer | p99 ÷ best peer | lost |"
                print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
            }
            for (i = 1; i <= 5; i++) {
                s = order[i]; k = sc SUBSEP s
                if (!(k in qps)) continue
                if (sc == "max")
                    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", s, cell(qps[k], "%.0f"), cell(avg[k], "%.3f"),
                        cell(cpu[k], "%.2f"), ratio(cpu, s, 1), cell(sched[k], "%.2f"), ratio(sched, s, 1), ratio(qps, s, 0),
                        lost[k], cell(busy[k], "%.0f"), cell(lbusy[k], "%.0f")
                else
                    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", s, cell(p50[k], "%.3f"), cell(p99[k], "%.3f"),
                        cell(p999[k], "%.3f"), cell(cpu[k], "%.2f"), ratio(cpu, s, 1), cell(sched[k], "%.2f"), ratio(sched, s, 1),
                        ratio(p99, s, 1), lost[k]
            }
            ks = sc SUBSEP "ballast-simple"; kr = sc SUBSEP "ballast-routed"
            if ((ks in cpu) && (kr in cpu) && median(cpu[ks]) > 0 && median(sched[ks]) > 0)
                printf "\nRouted sets (failover, weighted) against simple sets, Ballast: %+.2f µs/query of CPU (%.2fx); by the scheduler %+.2f µs/query (%.2fx).\n",
                    median(cpu[kr]) - median(cpu[ks]), median(cpu[kr]) / median(cpu[ks]),
                    median(sched[kr]) - median(sched[ks]), median(sched[kr]) / median(sched[ks])
        }
    }' "$RUNS"
} >"$RUN_DIR/summary.md"
cat "$RUN_DIR/summary.md"
