#!/usr/bin/env bash
# Makes the charts of docs/autoscaling.md: each example configuration in
# docs/examples/autoscaling/ run by `ballast scale simulate` against a load that shows its
# policy kind, written to docs/images/autoscaling-<kind>.svg (and the CSV beside the run in
# a temporary folder). Usage: scripts/autoscaling-charts.sh [path/to/ballast]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/ballast}
[[ -x $bin ]] || cargo build --release --locked -p ballast
examples=docs/examples/autoscaling
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { # kind load duration
  "$bin" scale simulate -c "$examples/$1.toml" --group app --load "$2" --duration "$3" \
    --out "$out/$1" >/dev/null
  cp "$out/$1.svg" "docs/images/autoscaling-$1.svg"
  echo "docs/images/autoscaling-$1.svg"
}
run target_tracking spike:1000:5000:30m:1h 3h
run step ramp:1000:6000:2h 3h
run simple step:500:6000:20m 2h
run scheduled step:300:300:1m 48h
run predictive sine:500:9500:24h 96h
