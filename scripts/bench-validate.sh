#!/usr/bin/env bash
# Validates a generated 1 GiB input with `syncbatch validate` and with the
# library alone (`examples/validate_path`: `Validator::run` over
# `Input::open`, the one call the command makes), RUNS times each (default
# 3), alternating; prints every run's wall time and peak RSS, and the
# medians and their ratio (the library should take the command's time).
#
#   scripts/bench-validate.sh [SIZE_BYTES] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}
work=${2:-$(mktemp -d)}
runs=${RUNS:-3}
mkdir -p "$work"
cargo build --release --quiet --example gen --example validate_path
cargo build --release --quiet
input="$work/input.jsonl"
if [ ! -s "$input" ] || [ "$(stat -c %s "$input")" -lt "$size" ]; then
  target/release/examples/gen --bytes "$size" --seed 1 > "$input"
fi
measure() { # command...: prints "wall_seconds peak_rss_kib"; exit 1 (not compliant) is expected
  /usr/bin/time -o "$work/time.txt" -f '%e %M' "$@" >/dev/null 2>"$work/stderr.txt" || true
  tail -1 "$work/time.txt"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cli=(); lib=()
printf '%-4s %-28s %10s %12s\n' run command "wall (s)" "peak RSS"
for run in $(seq 1 "$runs"); do
  cat "$input" > /dev/null
  read -r wall rss < <(measure target/release/syncbatch validate "$input")
  cli+=("$wall")
  printf '%-4s %-28s %10s %9s MiB\n' "$run" "syncbatch validate" "$wall" "$((rss / 1024))"
  cat "$input" > /dev/null
  read -r wall rss < <(measure target/release/examples/validate_path "$input")
  lib+=("$wall")
  printf '%-4s %-28s %10s %9s MiB\n' "$run" "library (Validator::run)" "$wall" "$((rss / 1024))"
done
a=$(printf '%s\n' "${cli[@]}" | median)
b=$(printf '%s\n' "${lib[@]}" | median)
awk -v a="$a" -v b="$b" -v n="$(stat -c %s "$input")" 'BEGIN {
  printf "median of the runs: command %.2f s (%.0f MiB/s), library %.2f s; library/command: %.2fx\n",
    a, n / a / 1048576, b, b / a;
}'
