#!/usr/bin/env bash
# The Python module against the command line and a plain Python loop, on 100,000
# generated records, in one run (scripts/bench_python.py). Installs the package into a
# virtual environment of its own first.
#
#   scripts/bench-python.sh [RECORDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-100000}
rounds=${2:-5}
work=$(mktemp -d)
venv=${VENV:-target/bench-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q ./python
cargo build --release --quiet --bin syncbatch --example gen
target/release/examples/gen --records "$records" --seed 3 > "$work/requests.jsonl"
cat "$work/requests.jsonl" > /dev/null
"$venv/bin/python" scripts/bench_python.py "$work/requests.jsonl" target/release/syncbatch "$rounds"
rm -rf "$work"
