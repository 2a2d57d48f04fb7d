#!/usr/bin/env bash
# UDP flows at scale through a Ballast `udp` listener: memory per flow, CPU per new flow and
# CPU per datagram pair, at each flow count of $FLOWS.
#
#   bench/udp-flows.sh
#   BASELINE_BIN=/tmp/ballast-before bench/udp-flows.sh     # before/after, interleaved
#
# Method: Ballast with one worker pinned to core $PROXY_CPU, one target (udp_echo.py) and the
# clients (udp_flows.py: one socket per flow, at most 64 datagrams in flight) on core
# $LOAD_CPU, every process in its own session at nice $NICE. For every round, flow count and
# system a fresh Ballast: the clients open the flows (one datagram and its echo each), then
# send $PAIRS_PER_RUN more datagram pairs spread over all flows. Figures from Ballast's
# /proc: RSS after the flows were opened minus before, over the flows; user + system CPU
# while they were opened, over the flows; the same over the later pairs. Medians of the
# rounds. Loopback only: the listener on 127.0.0.1:18391, the target on 18392, the admin API
# on 18393; the clients bind 127.0.0.2-201 on ports 10000 and up.
#
# Environment: FLOWS ("1000 15000") ROUNDS (2) PAIRS_PER_RUN (75000) PROXY_CPU (0)
# LOAD_CPU (1) PRIORITY (nice | none) NICE (-20) BASELINE_BIN (unset)
# BALLAST_BIN (${CARGO_TARGET_DIR:-target}/release/ballast, built here unless SKIP_BUILD=1).
# Each flow is a socket at both ends: the largest count must stay under `ulimit -Hn` minus
# Ballast's reserve (a tenth, at most 1,024), and under the ephemeral port range.
# Output: bench/out/<stamp>-udp-flows/ with runs.tsv, summary.md and the logs.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

read -r -a FLOW_COUNTS <<<"${FLOWS:-1000 15000}"
ROUNDS=${ROUNDS:-2}
PAIRS_PER_RUN=${PAIRS_PER_RUN:-75000}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PRIORITY=${PRIORITY:-nice}
NICE=${NICE:--20}
DEFAULT_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/ballast
BALLAST_BIN=${BALLAST_BIN:-$DEFAULT_BIN}
LISTEN=18391 ECHO=18392 ADMIN=18393
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
fi
for s in ROUNDS PAIRS_PER_RUN; do
    [[ ${!s} =~ ^[1-9][0-9]*$ ]] || die "$s must be a positive whole number, got '${!s}'"
done
max_flows=0
for n in "${FLOW_COUNTS[@]}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "FLOWS must be positive whole numbers, got '$n'"
    ((n > max_flows)) && max_flows=$n
done
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] || ((max_flows + 1100 < hard)) ||
    die "FLOWS up to $max_flows needs a descriptor limit above $((max_flows + 1100)); ulimit -Hn is $hard"
ulimit -n "$hard"
[[ $PRIORITY == none || $(id -u) == 0 ]] || die "nice $NICE needs root; run as root or with PRIORITY=none"

if [[ ${SKIP_BUILD:-0} != 1 && $BALLAST_BIN == "$DEFAULT_BIN" ]]; then
    log "building ballast (release)"
    (cd "$REPO_ROOT" && cargo build --release --locked -p ballast --bin ballast) || die "build failed"
fi
SYSTEMS=(ballast)
declare -A BIN_OF=([ballast]=$BALLAST_BIN)
if [[ -n ${BASELINE_BIN:-} ]]; then
    SYSTEMS=(baseline ballast)
    BIN_OF[baseline]=$BASELINE_BIN
fi
for system in "${SYSTEMS[@]}"; do
    [[ -x ${BIN_OF[$system]} ]] || die "no executable ${BIN_OF[$system]}"
done
for port in $LISTEN $ECHO; do
    ! grep -q "$(printf ':%04X ' "$port")" /proc/net/udp 2>/dev/null || die "UDP port $port is taken"
done
require_free_port $ADMIN

RUN_DIR="$BENCH_DIR/out/$(date -u +%Y%m%d-%H%M%S)-udp-flows"
mkdir -p "$RUN_DIR"
cat >"$RUN_DIR/ballast.toml" <<EOF
[server]
workers = 1

[admin]
bind = "127.0.0.1:$ADMIN"

[listeners.udp]
bind = "127.0.0.1:$LISTEN"
protocol = "udp"
default_action = { forward = "echo" }
udp_idle_timeout = "600s"

[target_groups.echo]
protocol = "udp"
targets = [{ address = "127.0.0.1:$ECHO" }]
EOF
"$BALLAST_BIN" check -c "$RUN_DIR/ballast.toml" >/dev/null || die "ballast check refused the config"

spawn echo "$LOAD_CPU" "$RUN_DIR/echo.log" python3 "$BENCH_DIR/udp_echo.py" $ECHO
printf 'round\tsystem\tflows\topened\trss_kib_per_flow\tcpu_us_per_new_flow\tpairs\tcpu_us_per_pair\n' >"$RUN_DIR/runs.tsv"
for ((round = 1; round <= ROUNDS; round++)); do
    for n in "${FLOW_COUNTS[@]}"; do
        for system in "${SYSTEMS[@]}"; do
            log "round $round: $system, $n flows"
            spawn proxy "$PROXY_CPU" "$RUN_DIR/$system-$n-$round.log" \
                "${BIN_OF[$system]}" run -c "$RUN_DIR/ballast.toml"
            ready=0
            for ((i = 0; i < 100; i++)); do
                curl -fs -o /dev/null "http://127.0.0.1:$ADMIN/readyz" && { ready=1; break; }
                sleep 0.1
            done
            ((ready)) || die "$system did not become ready ($RUN_DIR/$system-$n-$round.log)"
            rounds_after=$(((PAIRS_PER_RUN + n - 1) / n))
            out="$RUN_DIR/$system-$n-$round.out"
            bounded_run 600 "$LOAD_CPU" "$out" \
                python3 "$BENCH_DIR/udp_flows.py" "${PID_OF[proxy]}" $LISTEN "$n" "$rounds_after" ||
                die "udp_flows.py failed against $system ($out)"
            read -r flows opened rss cpu_new pairs cpu_pair <"$out"
            ((opened == flows)) || warn "$system: $opened of $flows flows answered"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$system" "$flows" "$opened" \
                "$rss" "$cpu_new" "$pairs" "$cpu_pair" >>"$RUN_DIR/runs.tsv"
            stop proxy
        done
    done
done

# Medians per system and flow count.
{
    echo "| system | flows | RSS KiB per flow | CPU µs per new flow | CPU µs per datagram pair |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for system in "${SYSTEMS[@]}"; do
        for n in "${FLOW_COUNTS[@]}"; do
            awk -F'\t' -v s="$system" -v n="$n" '
                function median(a, k,   i, j, t) {
                    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
                }
                $2 == s && $3 == n { k++; r[k] = $5; c[k] = $6; p[k] = $8 }
                END { if (k) printf "| %s | %d | %.2f | %.1f | %.2f |\n", s, n, median(r, k), median(c, k), median(p, k) }
            ' "$RUN_DIR/runs.tsv"
        done
    done
} >"$RUN_DIR/summary.md"
cat "$RUN_DIR/summary.md"
log "results in $RUN_DIR"
