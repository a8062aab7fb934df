#!/usr/bin/env bash
# Splits a generated 1 GiB input with `syncbatch split` and with GNU
# `split -C 5000000` (no validation: the floor), in one run, and prints wall
# time and peak RSS of each and their ratios.
#
#   scripts/bench-split.sh [SIZE_BYTES] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
cargo build --release --quiet --example gen
cargo build --release --quiet
input="$work/input.jsonl"
if [ ! -s "$input" ] || [ "$(stat -c %s "$input")" -lt "$size" ]; then
  target/release/examples/gen --bytes "$size" --seed 1 > "$input"
fi
records=$(wc -l < "$input")
sync

measure() { # name, command...: prints "name wall_seconds peak_rss_kib"
  local name=$1; shift
  /usr/bin/time -o "$work/time.txt" -f '%e %M' "$@" >/dev/null 2>"$work/stderr.txt" || {
    cat "$work/stderr.txt" >&2; exit 1; }
  echo "$name $(tail -1 "$work/time.txt")"
}

# Each command starts with the input in the page cache and no dirty pages
# of the other's output still being written back: `cat` warms, `sync` settles.
rm -rf "$work/syncbatch-out" "$work/gnu-out"; mkdir -p "$work/gnu-out"
cat "$input" > /dev/null; sync
read -r _ sb_wall sb_rss < <(measure syncbatch target/release/syncbatch split --out "$work/syncbatch-out" "$input")
cat "$input" > /dev/null; sync
read -r _ gnu_wall gnu_rss < <(measure gnu split -C 5000000 "$input" "$work/gnu-out/x")
batches=$(ls "$work/syncbatch-out" | grep -c '^batch-')
gnu_files=$(ls "$work/gnu-out" | wc -l)

printf '%-26s %10s %12s %8s\n' "" "wall (s)" "peak RSS" "files"
printf '%-26s %10s %9s MiB %8s\n' "syncbatch split" "$sb_wall" "$((sb_rss / 1024))" "$batches"
printf '%-26s %10s %9s MiB %8s\n' "GNU split -C 5000000" "$gnu_wall" "$((gnu_rss / 1024))" "$gnu_files"
awk -v a="$sb_wall" -v b="$gnu_wall" -v r="$sb_rss" -v n="$records" 'BEGIN {
  printf "input: %d records; syncbatch/GNU wall time: %.2fx (target <= 3x)\n", n, a / b;
  budget = 64 * 1024 + 48 * n / 1024;
  printf "syncbatch peak RSS: %.1f MiB; budget 64 MiB + 48 B/record = %.1f MiB (%.1f B/record beyond 64 MiB)\n",
    r / 1024, budget / 1024, (r - 64 * 1024) * 1024 / n;
}'
rm -rf "$work/syncbatch-out" "$work/gnu-out"
