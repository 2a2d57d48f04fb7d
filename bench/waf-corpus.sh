#!/usr/bin/env bash
# Detection and false-positive rates of the managed WAF set `ballast-core` on public
# corpora from package registries (see docs/security.md#web-application-firewall):
#   attacks: PyPI protego-sqli 1.0.1 (MIT), sqlmap 1.10.10 (GPL-2, payload templates),
#            fray 3.5.249 (MIT); Debian wfuzz 3.1.0-2 (GPL-2 wordlists)
#   benign:  Faker 40.54.0 form posts (seeded), protego's labelled benign values, the
#            package.json files of npm 11.19.1, the url 2.5.9 crate's URL test data,
#            sqlmap's user agents
# Everything is downloaded into $WAF_WORK (default /tmp/ballast-waf); nothing is installed
# system-wide but a Python virtual environment there. Bounded: every step has a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${WAF_WORK:-/tmp/ballast-waf}
mkdir -p "$W/py/x" "$W/deb" "$W/npm/npmpkg" "$W/cr/probe"
(
  cd "$W/py"
  timeout 300 pip download --no-deps -q --only-binary :all: sqlmap==1.10.10 fray==3.5.249 protego-sqli==1.0.1 -d .
  for w in ./*.whl; do unzip -qo "$w" -d x; done
)
( cd "$W/deb" && timeout 300 apt-get download wfuzz >/dev/null && dpkg-deb -x wfuzz_*.deb ext )
( cd "$W/npm" && timeout 300 npm pack -q npm@11.19.1 >/dev/null && tar xzf npm-11.19.1.tgz -C npmpkg )
# The url crate's WPT test data comes with its source in the cargo registry.
(
  cd "$W/cr/probe"
  if [ ! -f Cargo.toml ]; then
    cargo init -q --name probe .
    echo 'url = "=2.5.9"' >> Cargo.toml
  fi
  timeout 300 cargo fetch -q
)
[ -x "$W/venv/bin/python" ] || python3 -m venv "$W/venv"
timeout 300 "$W/venv/bin/pip" install -q faker==40.54.0
WAF_WORK=$W timeout 600 "$W/venv/bin/python" bench/waf/make_corpora.py
# WAF_CORPORA_ONLY=1: build the corpora, measure later.
[ -n "${WAF_CORPORA_ONLY:-}" ] && exit 0
WAF_CORPORA=$W/corpora timeout 1200 cargo test --release -q -p ballast-http --test waf_corpus -- --ignored --nocapture
