#!/usr/bin/env bash
# Interleave several Ballast builds (say, one per change of a series) with HAProxy and NGINX in
# the reference rig, so each change's before/after comes from ONE run (docs/performance.md,
# issue 12). The peers keep running afterwards: stop them with the rig's stop-peers.sh.
#   bench/rig-stages.sh ROUNDS LABEL=BINARY...      (BLOCKS="mem c64 c1000" by default)
# RIG: the reference rig's folder (default ../shared/bench-rig next to the project).
# Each build gets one worker, plain HTTP on 127.0.0.1:8091, 8092, ... (same config as
# ballast.sh's l7 listener), pinned to the proxy CPU at the rig's priority. Blocks: mem (5,000
# idle connections, builds freshly started), c64, c1000. Results: $RES_DIR/stages-<stamp>/.
set -euo pipefail
start_dir=$PWD
RIG=$(realpath "${RIG:-$(dirname "$0")/../../shared/bench-rig}")
cd "$RIG"
source ./env.sh
rounds=$1; shift
out=$RES_DIR/stages-$(date -u +%Y%m%dT%H%M%SZ); mkdir -p "$out"
echo "results -> $out"
./start-peers.sh all origin0 >/dev/null
port=8091; L7=(); MEM=(); pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for spec in "$@"; do
    label=${spec%%=*}; bin=$(cd "$start_dir" && realpath "${spec#*=}")
    cfg=$RUN_DIR/stage-$label.toml
    cat >"$cfg" <<TOML
[server]
workers = 1

[listeners.l7]
bind = "127.0.0.1:$port"
protocol = "http"
default_action = { forward = "b" }

[target_groups.b]
protocol = "http"
algorithm = "round_robin"
targets = ["127.0.0.1:9001", "127.0.0.1:9002"]
TOML
    "${PRIO[@]}" taskset -c "$PROXY_CPU" "$bin" run -c "$cfg" >"$RUN_DIR/stage-$label.log" 2>&1 &
    pids+=($!)
    wait_port "$port" || { echo "$label did not open $port" >&2; exit 1; }
    L7+=("$label|$port|$!"); MEM+=("$label|$port|-|$!")
    echo "$label: $bin on $port (pid $!)" | tee -a "$out/env.txt"
    port=$((port + 1))
done
echo "loadavg at start: $(cat /proc/loadavg)" >>"$out/env.txt"
PEERS=('haproxy-l7|8081|haproxy' 'nginx-l7|8082|nginx-proxy')
blocks=${BLOCKS:-mem c64 c1000}
if [[ " $blocks " == *" mem "* ]]; then
    echo "== mem ($(date -u +%T))"
    MEM_EXTRA="${MEM[*]}" ./mem-test.sh "$out/mem.csv" 5000
fi
if [[ " $blocks " == *" c64 "* ]]; then
    echo "== c64 ($(date -u +%T))"
    ./matrix.sh "$rounds" "$out/c64.csv" "${PEERS[@]}" "${L7[@]}"
fi
if [[ " $blocks " == *" c1000 "* ]]; then
    echo "== c1000 ($(date -u +%T))"
    mapfile -t s < <(for x in "${PEERS[@]}" "${L7[@]}"; do echo "$x|-c_1000"; done)
    ./matrix.sh "$rounds" "$out/c1000.csv" "${s[@]}"
fi
echo "loadavg at end: $(cat /proc/loadavg)" >>"$out/env.txt"
for f in "$out"/{c64,c1000}.csv; do
    [[ -f $f ]] && { echo "### $(basename "$f" .csv)"; python3 summarize.py "$f"; echo; }
done >"$out/summary.md"
[[ -f $out/mem.csv ]] && { echo "### mem (idle keep-alive connections)"; column -s, -t "$out/mem.csv"; } >>"$out/summary.md"
echo "summary: $out/summary.md"
