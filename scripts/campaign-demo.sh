#!/usr/bin/env bash
# A whole campaign against the fake Sync API, with faults on and `kill -9`
# twice on the way: 10,000 generated requests in 20 batch files, from
# `syncbatch run` to the merged output. Prints, from the fake's own log, the
# batches it made, the requests it received in every minute and the closest
# two arrivals, and the peak RSS of each `run`.
#
#   scripts/campaign-demo.sh [REQUESTS] [RATE_LIMIT] [WORKDIR]
#
# Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-10000}
rate=${2:-120}
work=${3:-$(mktemp -d)}
port=${PORT:-18911}
mkdir -p "$work"
cargo build --release --quiet --bin syncbatch --example fake_api --example gen
bin=target/release/syncbatch

target/release/examples/fake_api --port "$port" --pending-ms 3000 --processing-ms 25000 \
  > "$work/fake.txt" 2>&1 &
fake=$!
trap 'kill $fake 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/_fake/log" > /dev/null 2>&1 && break
  sleep 0.1
done
export SYNC_API_KEY=sk-fake-key SYNC_BASE_URL=http://127.0.0.1:$port
fault() { curl -sf -X POST "http://127.0.0.1:$port/_fake/fault?kind=$1" > /dev/null; }
for kind in 429 500 create-then-fail create-then-drop cut-download expired-url fail-batch \
            500 cut-download; do
  fault "$kind"
done

target/release/examples/gen --records "$requests" --seed 5 > "$work/requests.jsonl"
dir="$work/campaign"
rm -rf "$dir"
journal_lines() { [ -f "$dir/journal.jsonl" ] && wc -l < "$dir/journal.jsonl" || echo 0; }

run() { # label, args...: one `run` under /usr/bin/time, in the background; sets $pid
  local label=$1; shift
  /usr/bin/time -o "$work/time-$label.txt" -f '%e %M' \
    "$bin" run --dir "$dir" --rate-limit "$rate" --poll-interval 5 --max-records 500 "$@" \
    > "$work/stdout-$label.txt" 2> "$work/stderr-$label.txt" &
  pid=$!
}

# 1: start; kill -9 once 9 creates are journaled (create_sent + created).
run first "$work/requests.jsonl"
until [ "$(journal_lines)" -ge 19 ] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
pkill -9 -P "$pid" syncbatch || true
wait "$pid" || true
echo "first run killed with $(journal_lines) journal lines"

# 2: resume; kill -9 while it waits on the batches.
run second
until grep -q '"event":"listed"' "$dir/journal.jsonl" || ! kill -0 "$pid" 2>/dev/null; do
  sleep 0.05
done
sleep 3
pkill -9 -P "$pid" syncbatch || true
wait "$pid" || true
echo "second run killed with $(journal_lines) journal lines"

# 3: resume to the end.
run third
status=0
wait "$pid" || status=$?
echo "third run: exit $status"
tail -14 "$work/stderr-third.txt"

curl -sf "http://127.0.0.1:$port/_fake/log" > "$work/log.jsonl"
made=$("$bin" batch list --rate-limit "$rate" | wc -l)
python3 - "$work/log.jsonl" "$rate" "$made" "$work" <<'EOF'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
log = [l for l in log if not l["path"].startswith("/_fake/")]  # the script's own controls
rate, made, work = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ms = sorted(l["ms"] for l in log)
creates = [l for l in log if l["method"] == "POST" and l["path"].startswith("/v2/batch")]
print(f"batches the fake made: {made}; create requests: {len(creates)}; requests in all: {len(ms)}")
per_minute = {}
for t in ms:
    per_minute[int(t // 60000)] = per_minute.get(int(t // 60000), 0) + 1
print("requests per clock minute since the first:", [per_minute.get(m, 0) for m in range(max(per_minute) + 1)])
worst = max(sum(1 for u in ms if t <= u < t + 60000) for t in ms)
print(f"most requests in any 60 s window: {worst} (limit {rate})")
gaps = [b - a for a, b in zip(ms, ms[1:])]
print(f"closest two arrivals: {min(gaps):.0f} ms apart (60/{rate} s = {60000 / rate:.0f} ms)")
print("keyed requests to the storage origin:", sum(1 for l in log if l["origin"] == "Storage" and l["keyed"]))
for label in ("first", "second", "third"):
    wall, rss = open(f"{work}/time-{label}.txt").read().split()[-2:]
    print(f"run {label}: {wall} s, peak RSS {int(rss) / 1024:.1f} MiB")
EOF
echo "summary: $(tr -d ' \n' < "$dir/summary.json")"
