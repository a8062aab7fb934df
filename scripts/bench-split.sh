#!/usr/bin/env bash
# Splits a generated 1 GiB input with `syncbatch split` and with GNU
# `split -C 5000000` (no validation: the floor), RUNS times each (default 3),
# alternating, and prints every run's wall time and peak RSS, each round's
# ratio of the two, each command's median, the ratio of the medians, and the
# ratio in the round where GNU split ran fastest (on a virtual machine its
# copy into the page cache is at times two or three times slower, which
# flatters any ratio to it).
#
# Each round also runs `examples/split_floor` twice (skip with FLOOR=0): the
# least work a validating split must do, on all cores (cut every 500 lines,
# hash, write), checking each line's JSON syntax with serde_json, then with
# the validator's fast path. Their ratios to GNU split show how much of
# syncbatch's time any split that validates with serde_json must spend.
#
#   scripts/bench-split.sh [SIZE_BYTES] [WORKDIR]
#
# Every run writes into a new directory, and all outputs are removed only at
# the end: on ext4 without a journal, each create skips the free inodes of
# its group deleted in the last 60 s, or 360 s while their inode table block
# is dirty, which new creates in the same block make it again. Right after a
# cleanup that scan made every create slow (`strace -c`: 318 us a create
# after a large cleanup, 16 us on a quiet disk; in `perf`, 20% of a split's
# CPU). So the cleanup notes its time in WORKDIR/.cleaned, and an
# invocation started within 370 s of it waits first.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}
work=${2:-$(mktemp -d)}
runs=${RUNS:-3}
mkdir -p "$work"
cargo build --release --quiet --example gen
cargo build --release --quiet --example split_floor
cargo build --release --quiet
input="$work/input.jsonl"
if [ ! -s "$input" ] || [ "$(stat -c %s "$input")" -lt "$size" ]; then
  target/release/examples/gen --bytes "$size" --seed 1 > "$input"
fi
records=$(wc -l < "$input")
outputs=()
cleanup() {
  rm -f "$work/time.txt" "$work/stderr.txt"
  if [ "${#outputs[@]}" -gt 0 ]; then
    rm -rf "${outputs[@]}"
    date +%s > "$work/.cleaned"
  fi
}
trap cleanup EXIT
if [ -s "$work/.cleaned" ]; then
  wait_s=$(( $(cat "$work/.cleaned") + 370 - $(date +%s) ))
  if [ "$wait_s" -gt 0 ]; then
    echo "waiting ${wait_s} s: an earlier invocation deleted its outputs here just now" >&2
    sleep "$wait_s"
  fi
fi

measure() { # name, command...: prints "wall_seconds peak_rss_kib"
  local name=$1; shift
  /usr/bin/time -o "$work/time.txt" -f '%e %M' "$@" >/dev/null 2>"$work/stderr.txt" || {
    echo "$name failed:" >&2; cat "$work/stderr.txt" >&2; exit 1; }
  tail -1 "$work/time.txt"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

sb_walls=(); gnu_walls=(); syntax_walls=(); rules_walls=(); sb_rss=0; batches=0; gnu_files=0
floor=${FLOOR:-1}
printf '%-4s %-22s %10s %12s %8s\n' run command "wall (s)" "peak RSS" files
for run in $(seq 1 "$runs"); do
  # Each command starts with the input in the page cache and no dirty pages
  # of an earlier output still being written back: `cat` warms, `sync` settles.
  out=$(mktemp -d "$work/syncbatch-out.XXXXXX"); outputs+=("$out"); rmdir "$out"
  cat "$input" > /dev/null; sync
  read -r wall rss < <(measure syncbatch target/release/syncbatch split --out "$out" "$input")
  sb_walls+=("$wall"); sb_rss=$(( rss > sb_rss ? rss : sb_rss ))
  batches=$(ls "$out" | grep -c '^batch-')
  printf '%-4s %-22s %10s %9s MiB %8s\n' "$run" "syncbatch split" "$wall" "$((rss / 1024))" "$batches"

  out=$(mktemp -d "$work/gnu-out.XXXXXX"); outputs+=("$out")
  cat "$input" > /dev/null; sync
  read -r wall rss < <(measure gnu split -C 5000000 "$input" "$out/x")
  gnu_walls+=("$wall")
  gnu_files=$(ls "$out" | wc -l)
  printf '%-4s %-22s %10s %9s MiB %8s  ratio %s\n' "$run" "GNU split -C 5000000" "$wall" "$((rss / 1024))" "$gnu_files" \
    "$(awk -v a="${sb_walls[-1]}" -v b="$wall" 'BEGIN { printf "%.2fx", a / b }')"

  if [ "$floor" != 0 ]; then
    for check in syntax rules; do
      out=$(mktemp -d "$work/floor-out.XXXXXX"); outputs+=("$out")
      cat "$input" > /dev/null; sync
      read -r wall rss < <(measure "split_floor $check" target/release/examples/split_floor "$check" "$input" "$out")
      if [ "$check" = syntax ]; then syntax_walls+=("$wall"); else rules_walls+=("$wall"); fi
      printf '%-4s %-22s %10s %9s MiB %8s\n' "$run" "split_floor $check" "$wall" "$((rss / 1024))" "$(ls "$out" | wc -l)"
    done
  fi
done

sb=$(printf '%s\n' "${sb_walls[@]}" | median)
gnu=$(printf '%s\n' "${gnu_walls[@]}" | median)
# The round where GNU split ran fastest, and syncbatch's time in it.
read -r fast_gnu fast_sb < <(paste <(printf '%s\n' "${gnu_walls[@]}") <(printf '%s\n' "${sb_walls[@]}") | sort -g | head -1)
met=$(paste <(printf '%s\n' "${sb_walls[@]}") <(printf '%s\n' "${gnu_walls[@]}") | awk '$1 <= 3 * $2' | wc -l)
awk -v a="$sb" -v b="$gnu" -v r="$sb_rss" -v n="$records" -v runs="$runs" \
  -v fs="$fast_sb" -v fg="$fast_gnu" -v met="$met" 'BEGIN {
  printf "input: %d records; median of %d runs: syncbatch %.2f s, GNU %.2f s; syncbatch/GNU wall time: %.2fx (target <= 3x)\n",
    n, runs, a, b, a / b;
  printf "in the round where GNU split ran fastest: syncbatch %.2f s, GNU %.2f s: %.2fx; rounds within 3x: %d of %d\n",
    fs, fg, fs / fg, met, runs;
  budget = 64 * 1024 + 48 * n / 1024;
  printf "syncbatch peak RSS: %.1f MiB; budget 64 MiB + 48 B/record = %.1f MiB (%.1f B/record beyond 64 MiB)\n",
    r / 1024, budget / 1024, (r - 64 * 1024) * 1024 / n;
}'
if [ "$floor" != 0 ]; then
  syntax=$(printf '%s\n' "${syntax_walls[@]}" | median)
  rules=$(printf '%s\n' "${rules_walls[@]}" | median)
  awk -v s="$syntax" -v r="$rules" -v b="$gnu" 'BEGIN {
    printf "floors, median: JSON syntax only %.2f s (%.2fx GNU), the fast-path rules %.2f s (%.2fx GNU)\n",
      s, s / b, r, r / b;
  }'
fi
