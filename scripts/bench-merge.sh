#!/usr/bin/env bash
# Merges 1,000,000 generated requests with results spread over 2,000 shuffled
# output files, with `syncbatch merge` and with the plain Python reference
# (scripts/merge_reference.py), in one run; prints wall time and peak RSS of
# each and the ratios.
#
#   scripts/bench-merge.sh [REQUESTS] [FILES] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-1000000}
files=${2:-2000}
work=${3:-$(mktemp -d)}
mkdir -p "$work"
cargo build --release --quiet --example gen
cargo build --release --quiet
if [ ! -s "$work/requests.jsonl" ] || [ "$(wc -l < "$work/requests.jsonl")" -ne "$requests" ]; then
  target/release/examples/gen --records "$requests" --seed 1 > "$work/requests.jsonl"
  rm -rf "$work/results"
fi
if [ ! -d "$work/results" ]; then
  target/release/examples/gen --outputs-for "$work/requests.jsonl" --files "$files" \
    --out-dir "$work/results" --seed 2
fi
result_bytes=$(du -cb "$work"/results/*.jsonl | tail -1 | cut -f1)

measure() { # name, command...: prints "name wall_seconds peak_rss_kib"
  local name=$1; shift
  /usr/bin/time -o "$work/time.txt" -f '%e %M' "$@" >/dev/null 2>"$work/stderr.txt" || {
    cat "$work/stderr.txt" >&2; exit 1; }
  echo "$name $(tail -1 "$work/time.txt")"
}

cat "$work/requests.jsonl" "$work"/results/*.jsonl > /dev/null; sync
read -r _ sb_wall sb_rss < <(measure syncbatch target/release/syncbatch merge \
  --requests "$work/requests.jsonl" --results "$work"/results/*.jsonl --out "$work/merged.jsonl")
sync
read -r _ py_wall py_rss < <(measure python python3 scripts/merge_reference.py \
  "$work/requests.jsonl" "$work/merged-py.jsonl" "$work"/results/*.jsonl)

printf 'requests: %d; results: %d files, %d MB\n' "$requests" "$files" "$((result_bytes / 1000000))"
printf '%-26s %10s %12s\n' "" "wall (s)" "peak RSS"
printf '%-26s %10s %9s MiB\n' "syncbatch merge" "$sb_wall" "$((sb_rss / 1024))"
printf '%-26s %10s %9s MiB\n' "Python reference" "$py_wall" "$((py_rss / 1024))"
cmp -s <(wc -l < "$work/merged.jsonl") <(wc -l < "$work/merged-py.jsonl") || echo "line counts differ!"
awk -v a="$sb_wall" -v b="$py_wall" -v r="$sb_rss" -v n="$requests" 'BEGIN {
  printf "speed: %.1fx the Python reference (target >= 10x)\n", b / a;
  printf "syncbatch peak RSS: %.1f MiB = 64 MiB + %.1f B/request (target < 100)\n", r / 1024, (r - 64 * 1024) * 1024 / n;
}'
