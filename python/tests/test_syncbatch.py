"""The Python package against the engine's command line and the fake API:
every function, the error mapping, interruption, and the same diagnostics as
`syncbatch validate` on the shipped examples and on generated broken files."""

import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import syncbatch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "data"

VIDEO = "https://assets.sync.so/docs/example-video.mp4"
AUDIO = "https://assets.sync.so/docs/example-audio.wav"


def request(i, prefix="req-"):
    return json.dumps(
        {
            "request_id": f"{prefix}{i}",
            "endpoint": "/v2/generate",
            "payload": {
                "model": "lipsync-2",
                "input": [{"type": "video", "url": VIDEO}, {"type": "audio", "url": AUDIO}],
            },
        }
    )


def requests_file(path, n, prefix="req-"):
    path.write_text("".join(request(i, prefix) + "\n" for i in range(1, n + 1)))
    return path


def cli(*args, **kw):
    """The console script, as a user runs it."""
    exe = Path(sys.executable).parent / "syncbatch"
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, **kw)


# ---- validate -------------------------------------------------------------


def test_validate_a_path_bytes_and_lines_alike():
    path = EXAMPLES / "mixed.jsonl"
    data = path.read_bytes()
    a = syncbatch.validate(path)
    b = syncbatch.validate(data, name=str(path))
    c = syncbatch.validate(io.BytesIO(data), name=str(path))
    assert not a.valid and a.errors > 0
    for other in (b, c):
        assert other.to_dict() == a.to_dict()
    d = a.diagnostics[0]
    assert set(d.to_dict()) == {
        "code", "severity", "message", "line", "column", "byte", "request_id", "path", "file"
    }
    good = syncbatch.validate(EXAMPLES / "input.jsonl")
    assert (good.valid, good.records, good.diagnostics) == (True, 20, [])


def cli_diagnostics(path, *flags):
    out = cli("validate", "--format", "json", *flags, path)
    assert out.returncode in (0, 1), out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    return [l for l in lines if "summary" not in l], lines[-1]["summary"], out.returncode


def same_as_cli(path, **kw):
    flags = ["--deny-warnings"] if kw.get("deny_warnings") else []
    expected, summary, code = cli_diagnostics(path, *flags)
    report = syncbatch.validate(path, **kw)
    got = [d.to_dict() for d in report.diagnostics]
    for d in got:
        d["file"] = str(path)
    assert got == expected, path
    assert report.valid == summary["valid"] == (code == 0)
    assert (report.records, report.errors, report.warnings) == (
        summary["records"], summary["errors"], summary["warnings"]
    )


@pytest.mark.parametrize("name", ["input.jsonl", "mixed.jsonl"])
def test_the_same_diagnostics_as_the_command_line_on_the_examples(name):
    same_as_cli(EXAMPLES / name)
    same_as_cli(EXAMPLES / name, deny_warnings=True)


def broken(rng, line):
    """One way people break a line."""
    kind = rng.randrange(12)
    try:
        obj = json.loads(line)
    except ValueError:
        return line[: max(1, len(line) // 2)]
    if kind == 0:
        return line[: rng.randrange(1, len(line))]
    if kind == 1:
        del obj["endpoint"]
    elif kind == 2:
        obj["endpoint"] = "/v2/generat"
    elif kind == 3:
        obj["request_id"] = ""
    elif kind == 4:
        obj["payload"]["model"] = "lipsync-2-prp"
    elif kind == 5:
        obj["payload"]["input"][0]["url"] = "ftp://x"
    elif kind == 6:
        obj["payload"]["input"] = []
    elif kind == 7:
        return line.replace("}", "},", 1)
    elif kind == 8:
        obj["request_id"] = 7
    elif kind == 9:
        return "\ufeff" + line if rng.random() < 0.5 else line + " \t"
    elif kind == 10:
        return ""
    else:
        obj["payload"]["options"] = {"sync_mode": "sideways"}
    return json.dumps(obj)


@pytest.mark.parametrize("seed", range(12))
def test_the_same_diagnostics_as_the_command_line_on_broken_files(tmp_path, seed):
    rng = random.Random(seed)
    lines = [request(i) for i in range(1, rng.randrange(5, 40))]
    for _ in range(rng.randrange(1, 8)):
        i = rng.randrange(len(lines))
        lines[i] = broken(rng, lines[i])
    if rng.random() < 0.3:
        lines.append(lines[0])  # a duplicate id
    path = tmp_path / f"broken-{seed}.jsonl"
    path.write_text("\n".join(lines) + ("\n" if rng.random() < 0.8 else ""))
    same_as_cli(path)


def test_limits_and_usage_errors():
    with pytest.raises(syncbatch.UsageError) as e:
        syncbatch.validate(EXAMPLES / "input.jsonl", min_records=30, max_records=20)
    assert e.value.kind == "limits"
    assert isinstance(e.value, ValueError)
    with pytest.raises(syncbatch.FileError) as e:
        syncbatch.validate("no/such/file.jsonl")
    assert isinstance(e.value, OSError) and "no/such/file.jsonl" in str(e.value)


# ---- split ----------------------------------------------------------------


def test_split_writes_compliant_batches_and_a_manifest(tmp_path):
    src = requests_file(tmp_path / "requests.jsonl", 1234)
    m = syncbatch.split(src, tmp_path / "out")
    assert [p.name for p in m.files] == [f"batch-0000{i}.jsonl" for i in (1, 2, 3)]
    assert m.records == 1234 and sum(b["records"] for b in m.batches) == 1234
    for f in m.files:
        assert syncbatch.validate(f).valid
    by_cli = cli("split", "--out", tmp_path / "cli", src)
    assert by_cli.returncode == 0, by_cli.stderr
    for f in m.files:
        assert f.read_bytes() == (tmp_path / "cli" / f.name).read_bytes()


def test_invalid_records_raise_with_diagnostics_and_nothing_is_written(tmp_path):
    src = tmp_path / "requests.jsonl"
    lines = [request(i) for i in range(1, 60)]
    lines[9] = '{"request_id": "broken"'
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(syncbatch.ValidationError) as e:
        syncbatch.split([src], tmp_path / "out")
    err = e.value
    assert err.kind == "invalid_records"
    assert [(d.line, d.code) for d in err.diagnostics] == [(10, "invalid_json")]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    m = syncbatch.split([src], tmp_path / "out2", skip_invalid=True)
    assert (m.records, m.rejected) == (58, 1)
    assert (tmp_path / "out2" / "rejected.ndjson").exists()
    with pytest.raises(syncbatch.ValidationError) as e:
        syncbatch.split([src], tmp_path / "out3", skip_invalid=True, max_records=25, min_records=20, max_bytes=100)
    assert e.value.kind == "no_compliant_split"


def test_a_progress_callback_that_raises_stops_cleanly(tmp_path):
    src = requests_file(tmp_path / "requests.jsonl", 20000)

    def stop(name, done, records):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        syncbatch.split([src], tmp_path / "out", progress=stop)
    left = list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else []
    assert left == [], "nothing half-written"
    with pytest.raises(KeyboardInterrupt):
        syncbatch.validate(src, progress=stop)
    # A real SIGINT, as Ctrl-C sends it, from within the call.
    with pytest.raises(KeyboardInterrupt):
        syncbatch.split([src], tmp_path / "out4", progress=lambda *a: os.kill(os.getpid(), signal.SIGINT))
    assert not (tmp_path / "out4").exists() or not any((tmp_path / "out4").iterdir())


def test_the_docstring_examples_run():
    import doctest

    failures, tried = doctest.testmod(syncbatch, extraglobs={"syncbatch": syncbatch})
    assert tried >= 3 and failures == 0


# ---- merge ----------------------------------------------------------------


def results_for(batch, out, fail_every=5, skip=()):
    lines = []
    for line in batch.read_text().splitlines():
        rid = json.loads(line)["request_id"]
        if rid in skip:
            continue
        n = int(rid.split("-")[-1])
        status = "FAILED" if n % fail_every == 0 else "COMPLETED"
        lines.append(json.dumps({"request_id": rid, "status": status, "error": None, "response": None}))
    out.write_text("\n".join(lines) + "\n")
    return out


def test_merge_joins_counts_and_writes_a_retry_set(tmp_path):
    m = syncbatch.split(requests_file(tmp_path / "requests.jsonl", 100), tmp_path / "b", max_records=50)
    results = [
        results_for(m.files[0], tmp_path / "r1.jsonl"),
        results_for(m.files[1], tmp_path / "r2.jsonl", skip={"req-77"}),
    ]
    r = syncbatch.merge(
        m.files, results, tmp_path / "merged.jsonl",
        summary=tmp_path / "summary.json", retry_dir=tmp_path / "retry", unknown=tmp_path / "unknown.jsonl",
    )
    assert (r.requests, r.completed, r.failed, r.missing) == (100, 79, 20, 1)
    assert r.retry == {"kind": "batches", "requests": 21, "batches": 1}
    merged = [json.loads(l) for l in (tmp_path / "merged.jsonl").read_text().splitlines()]
    assert [x["request_id"] for x in merged] == [f"req-{i}" for i in range(1, 101)]
    assert json.loads((tmp_path / "summary.json").read_text())["missing"] == 1
    args = ["merge", "--requests", *m.files, "--results", *results, "--out", tmp_path / "cli.jsonl"]
    assert cli(*args).returncode == 0
    assert (tmp_path / "cli.jsonl").read_bytes() == (tmp_path / "merged.jsonl").read_bytes()
    with pytest.raises(syncbatch.FileError):
        syncbatch.merge(m.files, results, tmp_path / "m2.jsonl", retry_dir=tmp_path / "retry")
    with pytest.raises(syncbatch.UsageError) as e:
        syncbatch.merge(results, m.files, tmp_path / "m3.jsonl")
    assert "swapped" in str(e.value)


# ---- the API --------------------------------------------------------------


@pytest.fixture
def api():
    return syncbatch.FakeApi(pending_ms=50, processing_ms=150)


def test_the_client_creates_gets_lists_and_downloads(tmp_path, api):
    client = syncbatch.Client(api.key, base_url=api.base_url, rate_limit=6000)
    batch_file = requests_file(tmp_path / "batch.jsonl", 20)
    assert client.create_batch(batch_file, dry_run=True)["status"] == "VALIDATED"
    batch = client.create_batch(batch_file)
    assert api.creates() == 1
    for _ in range(100):
        got = client.get_batch(batch["id"])
        if got["status"] == "COMPLETED":
            break
        time.sleep(0.05)
    assert got["metrics"]["totalGenerations"] == 20
    assert [b["id"] for b in client.list_batches(status="COMPLETED")] == [batch["id"]]
    assert any(m["name"] == "lipsync-2" for m in client.list_models())
    n = client.download_results(batch["id"], tmp_path / "out.jsonl")
    assert n == (tmp_path / "out.jsonl").stat().st_size and n > 0
    with pytest.raises(syncbatch.ApiError) as e:
        client.get_batch("batch_nope")
    assert e.value.status == 404 and not e.value.may_have_created
    with pytest.raises(syncbatch.ApiError) as e:
        syncbatch.Client("wrong", base_url=api.base_url).get_batch(batch["id"])
    assert e.value.status == 401
    os.environ.pop("SYNC_API_KEY", None)
    with pytest.raises(syncbatch.UsageError):
        syncbatch.Client(base_url=api.base_url)


def test_run_a_campaign_status_and_run_again(tmp_path, api):
    src = requests_file(tmp_path / "requests.jsonl", 120)
    events = []
    kw = dict(api_key=api.key, base_url=api.base_url, rate_limit=6000, poll_interval=0.05)
    api.inject("create-then-fail")
    r = syncbatch.run(tmp_path / "c", [src], max_records=50, on_event=events.append, **kw)
    assert r.finished and r.summary["requests"] == 120 and r.summary["missing"] == 0
    assert api.creates() == 3, "the ambiguous create was adopted, never sent again"
    assert {e["event"] for e in events} >= {"created", "adopted", "status", "downloaded", "merged"}
    rows = syncbatch.status(tmp_path / "c", offline=True)
    assert [r["file"] for r in rows] == [f"batches/batch-0000{i}.jsonl" for i in (1, 2, 3)]
    assert all(r["downloaded"] and r["status"] == "COMPLETED" for r in rows)
    assert syncbatch.status(tmp_path / "c", api_key=api.key, base_url=api.base_url) == rows
    again = syncbatch.run(tmp_path / "c", **kw)
    assert again.summary == r.summary and api.creates() == 3
    r2 = syncbatch.run(tmp_path / "c", retry_rounds=1, **kw)
    assert r2.summary["completed"] > r.summary["completed"]
    assert (tmp_path / "c" / "rounds" / "2" / "batches").is_dir()
    with pytest.raises(syncbatch.UsageError):
        syncbatch.run(tmp_path / "c", [src], **kw)
    with pytest.raises(syncbatch.UsageError) as e:
        syncbatch.run(tmp_path / "c", max_records=40, **kw)
    assert "max_records (recorded: 50)" in str(e.value)
    assert syncbatch.run(tmp_path / "c", max_records=50, **kw).finished
    with pytest.raises(syncbatch.ValidationError):
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"request_id":"a"}\n')
        syncbatch.run(tmp_path / "fresh", [bad], **kw)
    assert not (tmp_path / "fresh").exists()


def test_ctrl_c_stops_a_run_and_it_resumes(tmp_path):
    api = syncbatch.FakeApi(pending_ms=1500, processing_ms=500)
    src = requests_file(tmp_path / "requests.jsonl", 40)
    kw = dict(api_key=api.key, base_url=api.base_url, rate_limit=6000, poll_interval=30)
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.01)

    threading.Thread(target=ticker, daemon=True).start()
    threading.Timer(0.6, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        syncbatch.run(tmp_path / "c", [src], **kw)
    stop.set()
    assert time.monotonic() - started < 5
    assert len(ticks) > 20, "the GIL was released while the run waited"
    assert api.creates() == 1
    r = syncbatch.run(tmp_path / "c", **{**kw, "poll_interval": 0.1})
    assert r.finished and api.creates() == 1


# ---- the command line -------------------------------------------------------


def test_the_console_script_and_python_m_run_the_same_command_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"request_id":"a"}\nnot json\n')
    a = cli("validate", "--format", "json", bad)
    b = subprocess.run(
        [sys.executable, "-m", "syncbatch", "validate", "--format", "json", str(bad)],
        capture_output=True, text=True,
    )
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)
    assert a.returncode == 1 and '"code":"invalid_json"' in a.stdout
    assert cli("frobnicate").returncode == 2
    assert cli("--version").stdout.startswith("syncbatch ")
    native = os.environ.get("SYNCBATCH_BIN")
    if native:
        for args in (["validate", bad], ["validate", EXAMPLES / "input.jsonl"], ["split", "--help"]):
            r = subprocess.run([native, *map(str, args)], capture_output=True, text=True)
            p = cli(*args)
            assert (p.returncode, p.stdout, p.stderr) == (r.returncode, r.stdout, r.stderr), args
