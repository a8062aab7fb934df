#!/usr/bin/env python3
"""A plain Python reference for `syncbatch merge`: json.loads every line into a
dict, apply the documented duplicate policy, write the merged lines in request
order. Used by scripts/bench-merge.sh as the speed baseline.

    merge_reference.py REQUESTS.jsonl OUT.jsonl RESULTS.jsonl...
"""
import json
import sys
from datetime import datetime


def instant(text):
    if not isinstance(text, str):
        return float("-inf")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("-inf")


def main():
    requests_path, out_path, results = sys.argv[1], sys.argv[2], sys.argv[3:]
    order = []
    for number, line in enumerate(open(requests_path, encoding="utf-8"), 1):
        if line.strip():
            order.append((json.loads(line)["request_id"], number))
    ids = {rid for rid, _ in order}
    best = {}
    counts = dict(duplicates=0, unknown=0, malformed=0)
    for f, path in enumerate(results):
        for n, line in enumerate(open(path, encoding="utf-8", errors="replace")):
            try:
                v = json.loads(line)
            except ValueError:
                counts["malformed"] += 1
                continue
            rid = v.get("request_id", v.get("requestId")) if isinstance(v, dict) else None
            if not isinstance(rid, str):
                counts["malformed"] += 1
                continue
            if rid not in ids:
                counts["unknown"] += 1
                continue
            key = (v.get("status") == "COMPLETED", instant(v.get("updated_at", v.get("updatedAt"))), f, n)
            old = best.get(rid)
            if old is not None:
                counts["duplicates"] += 1
                if key <= old[0]:
                    continue
            best[rid] = (key, v)
    with open(out_path, "w", encoding="utf-8") as out:
        for rid, number in order:
            hit = best.get(rid)
            v = hit[1] if hit else {"status": "MISSING"}
            out.write(json.dumps({
                "request_id": rid,
                "status": v.get("status"),
                "error": v.get("error"),
                "response": v.get("response"),
                "updated_at": v.get("updated_at", v.get("updatedAt")),
                "source": {"file": requests_path, "line": number},
            }) + "\n")
    print(json.dumps(counts), file=sys.stderr)


if __name__ == "__main__":
    main()
