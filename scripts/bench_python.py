"""Validates one generated file of 100,000 records three ways, in one run,
and prints the figures: `syncbatch.validate` from Python, the `syncbatch
validate` command line (the Rust binary), and a plain Python loop of
`json.loads` with the envelope checks a user would write.

    python scripts/bench_python.py FILE [SYNCBATCH_BINARY] [ROUNDS]

FILE is made by `cargo run --release --example gen -- --records 100000`
(scripts/bench-python.sh does it all). Each way runs ROUNDS times (5),
alternating; the medians are compared.
"""

import json
import statistics
import subprocess
import sys
import time

import syncbatch


def plain_python(path):
    """What a careful user writes: every line parsed, the envelope and the
    payload's shape checked, ids unique."""
    errors = 0
    seen = set()
    records = 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                errors += 1
                continue
            records += 1
            try:
                obj = json.loads(line)
            except ValueError:
                errors += 1
                continue
            if not isinstance(obj, dict):
                errors += 1
                continue
            rid = obj.get("request_id")
            if not isinstance(rid, str) or not rid or rid in seen:
                errors += 1
            else:
                seen.add(rid)
            if obj.get("endpoint") != "/v2/generate":
                errors += 1
            payload = obj.get("payload")
            if not isinstance(payload, dict) or not isinstance(payload.get("model"), str):
                errors += 1
                continue
            inputs = payload.get("input")
            if not isinstance(inputs, list) or not inputs:
                errors += 1
                continue
            for item in inputs:
                if not (
                    isinstance(item, dict)
                    and item.get("type") in ("video", "audio", "text", "image")
                    and isinstance(item.get("url", ""), str)
                    and str(item.get("url", "https://")).startswith(("http://", "https://"))
                ):
                    errors += 1
    return records, errors


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main():
    path = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else "syncbatch"
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    limits = dict(max_records=1_000_000, max_bytes=1 << 40)
    ways = {
        "syncbatch.validate (Python module)": lambda: syncbatch.validate(path, **limits).records,
        "syncbatch validate (Rust command line)": lambda: subprocess.run(
            [binary, "validate", "--max-records", "1000000", "--max-bytes", str(1 << 40), path],
            stdout=subprocess.DEVNULL,
            check=True,
        ),
        "plain Python loop (json.loads + checks)": lambda: plain_python(path)[0],
    }
    times = {name: [] for name in ways}
    for _ in range(rounds):
        for name, fn in ways.items():
            times[name].append(timed(fn)[0])
    records = syncbatch.validate(path, **limits).records
    print(f"file: {path}, {records} records; {rounds} rounds, alternating; medians:")
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, t in med.items():
        print(f"  {name:42s} {t * 1000:8.1f} ms   (min {min(times[name]) * 1000:.1f} ms)")
    module, command, plain = med.values()
    print(f"module / command line: {module / command:.3f}")
    print(f"plain Python loop / module: {plain / module:.1f}x")


if __name__ == "__main__":
    main()
