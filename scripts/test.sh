#!/usr/bin/env bash
# The whole test suite from a fresh Debian or Ubuntu machine with a Rust toolchain: installs
# the system tools the tests drive (only those missing; apt-get, through sudo when not root),
# then runs `cargo test --workspace --locked`. Extra arguments go to cargo test, e.g.
# `scripts/test.sh -p ballast-config`. `scripts/test.sh --install-only` installs and stops
# (the CI does this before fmt and clippy, which build too).
set -euo pipefail
cd "$(dirname "$0")/.."

# A command the tests run, and the Debian packages that provide it:
#   cc            compiles and links: mimalloc and ring have C parts
#   kill          the tests signal the real binary (SIGHUP, SIGTERM, SIGUSR1)
#   curl          the operations guide's admin calls are run as written (tests/docs_examples.rs)
#   openssl       the real TLS 1.1 client showing old versions are refused; RSA test keys
#   pebble, pebble-challtestsrv   Let's Encrypt's test ACME CA and its DNS stub (tests/acme.rs)
#   chromium      the headless browser the dashboard test drives (tests/dashboard.rs)
#   dnsmasq, dig  a real DNS server behind a udp listener and a real client (tests/l4_udp.rs),
#                 and the client asking the DNS server (tests/dns.rs)
#   etcd, etcdctl a real etcd the cluster's nodes share (tests/cluster.rs, ballast-cluster)
NEEDED=(
  "cc gcc libc6-dev"
  "kill procps"
  "curl curl ca-certificates"
  "openssl openssl"
  "pebble pebble"
  "pebble-challtestsrv pebble"
  "chromium chromium"
  "dnsmasq dnsmasq-base"
  "dig bind9-dnsutils"
  "etcd etcd-server"
  "etcdctl etcd-client"
)

missing=()
for entry in "${NEEDED[@]}"; do
  read -r command packages <<<"$entry"
  if ! command -v "$command" >/dev/null 2>&1; then
    read -r -a list <<<"$packages"
    missing+=("${list[@]}")
  fi
done

if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: missing ${missing[*]}, and no apt-get to install them with" >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "scripts/test.sh: installing ${missing[*]} needs root (or sudo)" >&2
      exit 1
    }
    sudo=(sudo)
  fi
  echo "scripts/test.sh: installing ${missing[*]}" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ${1:-} == --install-only ]]; then
  exit 0
fi

command -v cargo >/dev/null 2>&1 || {
  echo "scripts/test.sh: cargo not found: install Rust first (https://rustup.rs)" >&2
  exit 1
}
exec cargo test --workspace --locked "$@"
