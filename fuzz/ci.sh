#!/usr/bin/env bash
# Short fuzzing run for CI, and the long run by hand (docs/fuzzing.md):
#
#   fuzz/ci.sh [SECONDS_PER_TARGET]          every target, default 15 s each
#   FUZZ_TARGETS="request_head chunked_body" fuzz/ci.sh 900    some targets, 15 min each
#
# Builds the cargo-fuzz targets once, then runs each for SECONDS_PER_TARGET from the
# committed seeds (fuzz/seeds/<target>/) plus whatever corpus earlier runs left in
# fuzz/corpus/<target>/ (not committed). Exits non-zero only when a target finds something
# (a panic, a crash, a leak, an input that hangs or eats memory) or when the targets do not
# build; a run that takes its time is never a failure. Each finding is printed with its
# reproducer path, the command that replays it and the minimised input.
#
# Needs on a clean Debian machine, besides the Rust toolchain (stable is enough: the
# nightly-only flags cargo-fuzz passes are allowed with RUSTC_BOOTSTRAP=1):
#   apt-get install g++      # libFuzzer is C++; libfuzzer-sys builds it with the system
#                            # C++ compiler (g++ also brings libstdc++-dev)
# and nothing else: AddressSanitizer's runtime ships with Rust's standard library, and
# cargo-fuzz is installed from crates.io below when missing. This script installs no
# system package itself.
#
# Environment:
#   FUZZ_TARGETS    space-separated targets to run (default: all)
#   FUZZ_SANITIZER  address (default; also finds leaks) or none (about twice as fast)
set -euo pipefail

SECONDS_PER_TARGET=${1:-15}
if ! [[ $SECONDS_PER_TARGET =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET]" >&2
  exit 2
fi
SANITIZER=${FUZZ_SANITIZER:-address}
ALL_TARGETS="request_head response_head chunked_body normalized_path forwarded_for cookie_values traceparent config_loader proxy_header client_hello dns_query"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
# One input that runs this long is a hang (the parsers take microseconds per input); far
# above anything a loaded CI machine could cause.
PER_INPUT_TIMEOUT=25
# libFuzzer checks -max_total_time between inputs and then writes its final stats; past
# this margin the run is stopped from outside and still counts as a pass.
STOP_MARGIN=60
CARGO_FUZZ_VERSION=0.13.2

cd "$(dirname "$0")"
FUZZ_DIR=$PWD

# libFuzzer's C++ sources are compiled by libfuzzer-sys's build script.
if ! command -v c++ >/dev/null && ! command -v g++ >/dev/null && ! command -v clang++ >/dev/null; then
  echo "fuzz/ci.sh: no C++ compiler; install Debian's g++ (apt-get install g++)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "--- installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# The committed lock file is the one built: fail rather than resolve anew.
cargo metadata --locked --format-version 1 >/dev/null

# cargo-fuzz passes -Z flags (sanitizer, coverage instrumentation); stable rustc takes them
# with RUSTC_BOOTSTRAP=1. -O -a: optimised, with debug assertions and overflow checks, so
# an internal `debug_assert!` or an arithmetic overflow is a finding too.
echo "--- building fuzz targets (sanitizer: $SANITIZER)"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O -a --sanitizer "$SANITIZER"

HOST=$(rustc -vV | sed -n 's/^host: //p')
BIN_DIR=$FUZZ_DIR/target/$HOST/release
LOG_DIR=$FUZZ_DIR/target/fuzz-logs
mkdir -p "$LOG_DIR"

# Longest input per target: room for the limits each parser enforces (a chunk-size line is
# cut at 4 KiB, a config file is a few KiB, a ClientHello is given up on past 16 KiB + 20)
# without slowing the run with huge inputs.
max_len() {
  case $1 in
    request_head | response_head | chunked_body) echo 8192 ;;
    config_loader) echo 16384 ;;
    client_hello) echo 17408 ;;
    *) echo 4096 ;;
  esac
}
dict() {
  case $1 in
    request_head | response_head | chunked_body) echo "-dict=$FUZZ_DIR/dicts/http.dict" ;;
    config_loader) echo "-dict=$FUZZ_DIR/dicts/config_loader.dict" ;;
  esac
}

# Prints a finding: where it is, how to replay it, and the input cut down to what matters.
report() {
  local target=$1 artifact=$2
  local bin=$BIN_DIR/$target
  echo "!!! $target found: $artifact"
  echo "    replay:   (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a -s $SANITIZER $target ${artifact#"$FUZZ_DIR"/})"
  local input=$artifact
  case $(basename "$artifact") in
    crash-* | leak-*)
      local minimised=$artifact.min
      if timeout 150 "$bin" -minimize_crash=1 -max_total_time=90 -runs=100000 \
        -exact_artifact_path="$minimised" "$artifact" >"$LOG_DIR/$target.tmin.log" 2>&1 \
        || [ -s "$minimised" ]; then
        [ -s "$minimised" ] && input=$minimised
      fi
      ;;
  esac
  echo "    input ($(wc -c <"$input") bytes, $input):"
  od -A d -c "$input" | head -n 40 | sed 's/^/      /'
  echo "    cause (from $LOG_DIR/$target.log):"
  grep -E -m 12 "panicked at|^thread|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|SUMMARY" \
    "$LOG_DIR/$target.log" | sed 's/^/      /' || true
}

found=0
summary=()
for target in $TARGETS; do
  bin=$BIN_DIR/$target
  if [ ! -x "$bin" ]; then
    echo "fuzz/ci.sh: unknown target $target (known: $ALL_TARGETS)" >&2
    exit 2
  fi
  mkdir -p "corpus/$target" "artifacts/$target"
  stamp=$(mktemp)
  echo "--- $target: ${SECONDS_PER_TARGET}s"
  set +e
  # shellcheck disable=SC2046 # dict() prints one flag or nothing
  timeout --signal=INT --kill-after=30 $((SECONDS_PER_TARGET + STOP_MARGIN)) \
    "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout="$PER_INPUT_TIMEOUT" \
    -rss_limit_mb=2048 -max_len="$(max_len "$target")" $(dict "$target") \
    -artifact_prefix="$FUZZ_DIR/artifacts/$target/" -print_final_stats=1 \
    "corpus/$target" "seeds/$target" >"$LOG_DIR/$target.log" 2>&1
  rc=$?
  set -e
  # What libFuzzer writes on a finding; slow-unit-* only warns (a loaded machine).
  mapfile -t new < <(find "artifacts/$target" -type f -newer "$stamp" \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
    ! -name '*.min' | sort)
  rm -f "$stamp"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG_DIR/$target.log" | tail -n 1)
  corpus=$(find "corpus/$target" -type f | wc -l)
  case $rc in
    0) result=ok ;;
    124 | 137) result="ok (stopped from outside after ${STOP_MARGIN}s margin)" ;;
    *) result="FAILED (exit $rc)" ;;
  esac
  if [ ${#new[@]} -gt 0 ]; then
    result="FAILED (${#new[@]} finding(s))"
    for artifact in "${new[@]}"; do
      report "$target" "$FUZZ_DIR/$artifact"
    done
  elif [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$rc" != 137 ]; then
    # Non-zero without an artifact: libFuzzer itself failed (a bad flag, a crash while
    # loading the corpus). Show why.
    tail -n 30 "$LOG_DIR/$target.log" | sed 's/^/      /'
  fi
  case $result in FAILED*) found=1 ;; esac
  summary+=("$(printf '%-16s %6ss %12s execs %6s corpus  %s' \
    "$target" "$SECONDS_PER_TARGET" "${execs:-?}" "$corpus" "$result")")
done

echo "--- fuzzing summary (logs in $LOG_DIR)"
printf '%s\n' "${summary[@]}"
if [ "$found" != 0 ]; then
  echo "fuzz/ci.sh: findings above; keep each input as a seed in fuzz/seeds/<target>/ once fixed" >&2
  exit 1
fi
