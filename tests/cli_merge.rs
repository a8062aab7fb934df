//! `syncbatch merge`, run as a user runs it: each liberal-reading case, each
//! duplicate-policy case, the retry set, and split -> outputs -> merge.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_syncbatch")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("syncbatch-cli-merge-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A FIFO at `path` that a thread fills with `text` once a reader opens it.
fn fifo_with(path: &Path, text: String) -> std::thread::JoinHandle<()> {
    mkfifo(path);
    let path = path.to_owned();
    std::thread::spawn(move || fs::write(path, text).unwrap())
}

fn requests(dir: &Path, ids: &[&str]) -> PathBuf {
    let path = dir.join("requests.jsonl");
    let body: String = ids
        .iter()
        .map(|id| format!("{}\n", json!({"request_id": id, "endpoint": "/v2/generate", "payload": {"model": "lipsync-2"}})))
        .collect();
    fs::write(&path, body).unwrap();
    path
}

/// Merges `results` (one string per file) for `ids`; returns the merged
/// lines by id, the summary, and the process output.
fn merge_case(
    name: &str,
    ids: &[&str],
    results: &[&str],
    extra: &[&str],
) -> (Vec<Value>, Value, Output) {
    let dir = scratch(name);
    let req = requests(&dir, ids);
    let mut args = vec![
        "merge".to_owned(),
        "--requests".into(),
        p(&req).into(),
        "--results".into(),
    ];
    for (i, body) in results.iter().enumerate() {
        let path = dir.join(format!("output-{i}.jsonl"));
        fs::write(&path, body).unwrap();
        args.push(p(&path).to_owned());
    }
    let out = dir.join("merged.jsonl");
    let summary = dir.join("summary.json");
    args.extend([
        "--out".into(),
        p(&out).into(),
        "--summary".into(),
        p(&summary).into(),
    ]);
    args.extend(extra.iter().map(|s| s.replace("{dir}", p(&dir))));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args);
    let merged = fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = fs::read_to_string(&summary)
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap_or(Value::Null);
    (merged, summary, o)
}

#[test]
fn liberal_reading() {
    let results = concat!(
        // camelCase keys
        r#"{"requestId":"a","status":"COMPLETED","error":null,"response":{"id":"g-a"},"updatedAt":"2024-01-15T10:35:00Z"}"#,
        "\n",
        // error as a bare string, no response key
        r#"{"request_id":"b","status":"FAILED","error":"out of credits","updated_at":"2024-01-15T10:35:00Z"}"#,
        "\n",
        // no error key, an unknown status kept verbatim
        r#"{"request_id":"c","status":"TIMED_OUT","response":null}"#,
        "\n",
        // not JSON, and an object with no string id: malformed
        "garbage\n",
        r#"{"request_id":7,"status":"COMPLETED"}"#,
        "\n",
        // JSON, but not an object
        "[1,2]\n",
        // an id no request has
        r#"{"request_id":"zzz","status":"COMPLETED"}"#,
        "\n",
        // the last line cut short, as by an interrupted download
        r#"{"request_id":"d","status":"COMPL"#,
    );
    let (merged, s, o) = merge_case(
        "liberal",
        &["a", "b", "c", "d"],
        &[results],
        &["--unknown", "{dir}/unknown.jsonl"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(merged[0]["status"], "COMPLETED");
    assert_eq!(merged[0]["response"], json!({"id": "g-a"}));
    assert_eq!(merged[0]["updated_at"], "2024-01-15T10:35:00Z");
    assert_eq!(merged[1]["error"], "out of credits");
    assert_eq!(merged[1]["response"], Value::Null);
    assert_eq!(merged[2]["status"], "TIMED_OUT");
    assert_eq!(merged[2]["error"], Value::Null);
    assert_eq!(merged[3]["status"], "MISSING");
    assert_eq!(
        merged[3]["source"],
        json!({"file": merged[3]["source"]["file"], "line": 4})
    );
    assert_eq!(
        s,
        json!({"requests":4,"completed":1,"failed":1,"rejected":0,"other":1,"missing":1,"duplicates":0,"unknown":1,"malformed":4,"skipped":0})
    );
    // Each note says where, down to the column where the line breaks.
    let stderr = text(&o.stderr);
    for note in [
        "output-0.jsonl:4:1: not one JSON value: expected value\n",
        "output-0.jsonl:5: no string request_id\n",
        "output-0.jsonl:6:1: a batch line must be a JSON object, not an array\n",
        "output-0.jsonl:8:33: last line cut short (an interrupted download?): \
         not one JSON value: EOF while parsing a string\n",
    ] {
        assert!(stderr.contains(note), "{note:?} not in {stderr}");
    }
    for row in ["requests", "completed", "malformed"] {
        assert!(
            stderr.lines().any(|l| l.trim_start().starts_with(row)),
            "no {row} row: {stderr}"
        );
    }
}

#[test]
fn error_and_response_bytes_pass_through_unchanged() {
    let line = r#"{"request_id":"a","status":"FAILED","error":{ "code" : "X",  "message":"é\u00e9" },"response":{"b":1.50,"a":[ 1 ]},"updated_at":"2026-01-01T00:00:00Z"}"#;
    let dir = scratch("bytes");
    let req = requests(&dir, &["a"]);
    let res = dir.join("out.jsonl");
    fs::write(&res, format!("{line}\n")).unwrap();
    let out = dir.join("merged.jsonl");
    let o = run(&[
        "merge",
        "--requests",
        p(&req),
        "--results",
        p(&res),
        "--out",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let merged = fs::read_to_string(&out).unwrap();
    assert!(
        merged.contains(r#""error":{ "code" : "X",  "message":"é\u00e9" }"#),
        "{merged}"
    );
    assert!(
        merged.contains(r#""response":{"b":1.50,"a":[ 1 ]}"#),
        "{merged}"
    );
}

fn one(status: &str, time: Option<&str>, tag: &str) -> String {
    let mut v =
        json!({"request_id": "a", "status": status, "error": null, "response": {"tag": tag}});
    if let Some(t) = time {
        v["updated_at"] = json!(t);
    }
    format!("{v}\n")
}

#[test]
fn duplicate_policy() {
    let tag = |results: &[String]| {
        let refs: Vec<&str> = results.iter().map(String::as_str).collect();
        let (merged, s, o) = merge_case("dups", &["a"], &refs, &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert_eq!(
            s["duplicates"],
            results.iter().map(|r| r.lines().count()).sum::<usize>() - 1
        );
        merged[0]["response"]["tag"].as_str().unwrap().to_owned()
    };
    let t1 = Some("2026-01-01T00:00:01Z");
    let t9 = Some("2026-01-01T00:00:09Z");
    // COMPLETED wins over a later FAILED, in either file order.
    assert_eq!(
        tag(&[one("COMPLETED", t1, "done"), one("FAILED", t9, "failed")]),
        "done"
    );
    assert_eq!(
        tag(&[one("FAILED", t9, "failed"), one("COMPLETED", t1, "done")]),
        "done"
    );
    // Both not COMPLETED: the later time, compared as instants.
    assert_eq!(
        tag(&[one("FAILED", t9, "late"), one("REJECTED", t1, "early")]),
        "late"
    );
    assert_eq!(
        tag(&[
            one("FAILED", Some("2026-01-01T01:00:05+01:00"), "early"),
            one("FAILED", t9, "late")
        ]),
        "late"
    );
    // Both COMPLETED: the later time.
    assert_eq!(
        tag(&[one("COMPLETED", t9, "late"), one("COMPLETED", t1, "early")]),
        "late"
    );
    // A missing time is the earliest.
    assert_eq!(
        tag(&[one("FAILED", t1, "timed"), one("FAILED", None, "untimed")]),
        "timed"
    );
    // A tie: the file given later, then the later line.
    assert_eq!(
        tag(&[one("FAILED", t1, "first"), one("FAILED", t1, "second")]),
        "second"
    );
    assert_eq!(
        tag(&[one("FAILED", t1, "line1") + &one("FAILED", t1, "line2")]),
        "line2"
    );
}

#[test]
fn strict_and_unknown() {
    let results = format!(
        "{}{}",
        one("COMPLETED", None, "x"),
        r#"{"request_id":"other","status":"COMPLETED"}"#
    );
    let (_, s, o) = merge_case(
        "strict",
        &["a", "b"],
        &[&results],
        &["--strict", "--unknown", "{dir}/unknown.jsonl"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        (s["missing"].as_u64(), s["unknown"].as_u64()),
        (Some(1), Some(1))
    );
    let (_, _, o) = merge_case(
        "lax",
        &["a"],
        &[&one("COMPLETED", None, "x")],
        &["--strict"],
    );
    assert_eq!(o.status.code(), Some(0));
}

fn validate_ok(file: &Path) {
    let o = run(&["validate", "--format", "json", p(file)]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}: {}",
        file.display(),
        text(&o.stdout)
    );
}

#[test]
fn split_then_outputs_then_merge_gives_every_request_in_order() {
    let dir = scratch("chain");
    let input = dir.join("input.jsonl");
    fs::write(&input, syncbatch::generate::records(31, 1234)).unwrap();
    let batches = dir.join("batches");
    let o = run(&["split", "--out", p(&batches), p(&input)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let mut batch_files: Vec<PathBuf> = fs::read_dir(&batches)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("batch-")
        })
        .collect();
    batch_files.sort();
    // Outputs fabricated for every batch, shuffled over 7 files.
    let mut ids = Vec::new();
    for b in &batch_files {
        for line in fs::read_to_string(b).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            ids.push(v["request_id"].as_str().unwrap().to_owned());
        }
    }
    let results = dir.join("results");
    fs::create_dir_all(&results).unwrap();
    let mut bodies = vec![String::new(); 7];
    let shape = syncbatch::generate::OutputShape {
        files: 7,
        ..Default::default()
    };
    syncbatch::generate::fabricate_outputs(&ids, 5, &shape, |f, line| {
        bodies[f].push_str(std::str::from_utf8(line).unwrap());
        bodies[f].push('\n');
    });
    let mut args = vec!["merge".to_owned(), "--requests".into()];
    args.extend(batch_files.iter().map(|b| p(b).to_owned()));
    args.push("--results".into());
    for (i, body) in bodies.iter().enumerate() {
        let path = results.join(format!("output-{i}.jsonl"));
        fs::write(&path, body).unwrap();
        args.push(p(&path).to_owned());
    }
    let merged = dir.join("merged.jsonl");
    let retry = dir.join("retry");
    args.extend([
        "--out".into(),
        p(&merged).into(),
        "--retry-dir".into(),
        p(&retry).into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // Every request, once, in the input's order.
    let original: Vec<String> = fs::read_to_string(&input)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["request_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let merged_lines: Vec<Value> = fs::read_to_string(&merged)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let merged_ids: Vec<&str> = merged_lines
        .iter()
        .map(|v| v["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(merged_ids, original);
    // Each row names where its request stands.
    assert_eq!(merged_lines[0]["source"]["line"], 1);
    assert!(merged_lines[0]["source"]["file"]
        .as_str()
        .unwrap()
        .ends_with("batch-00001.jsonl"));
    // The retry set: compliant batch files holding exactly the requests not COMPLETED.
    let not_done: Vec<&str> = merged_lines
        .iter()
        .filter(|v| v["status"] != "COMPLETED")
        .map(|v| v["request_id"].as_str().unwrap())
        .collect();
    let mut retried = Vec::new();
    let mut retry_files: Vec<PathBuf> = fs::read_dir(&retry)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    retry_files.sort();
    for f in retry_files.iter().filter(|f| {
        f.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("batch-")
    }) {
        validate_ok(f);
        for line in fs::read_to_string(f).unwrap().lines() {
            retried.push(
                serde_json::from_str::<Value>(line).unwrap()["request_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    assert_eq!(retried, not_done);
    assert!(!not_done.is_empty());
}

/// Ids `r0`..`r<n-1>` and a result file body where every tenth (`r0`,
/// `r10`, ...) FAILED and the rest COMPLETED.
fn every_tenth_failed(n: usize) -> (Vec<String>, String) {
    let ids: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    let body = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let status = if i % 10 == 0 { "FAILED" } else { "COMPLETED" };
            format!("{}\n", json!({"request_id": id, "status": status}))
        })
        .collect();
    (ids, body)
}

#[test]
fn a_small_retry_set_goes_to_the_undersized_file() {
    let (ids, results) = every_tenth_failed(30);
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (_, s, o) = merge_case(
        "small-retry",
        &id_refs,
        &[&results],
        &["--retry-dir", "{dir}/retry"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(s["failed"], 3);
    assert!(
        text(&o.stderr).contains("retry-undersized.ndjson"),
        "{}",
        text(&o.stderr)
    );
    let dir = std::env::temp_dir().join(format!(
        "syncbatch-cli-merge-{}-small-retry",
        std::process::id()
    ));
    let undersized = fs::read_to_string(dir.join("retry/retry-undersized.ndjson")).unwrap();
    assert_eq!(undersized.lines().count(), 3);
    assert!(undersized.lines().next().unwrap().contains("\"r0\""));
}

/// The merged lines `ids` with no results give: every one MISSING.
fn all_missing(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("\"request_id\":\"{id}\",\"status\":\"MISSING\""))
        .collect::<Vec<_>>()
        .join("|")
}

fn assert_merged(text: &str, ids: &[&str]) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), ids.len(), "{text}");
    for (line, want) in lines.iter().zip(all_missing(ids).split('|')) {
        assert!(line.contains(want), "{line}");
    }
}

#[test]
fn outputs_that_are_not_regular_files_are_written_to_not_replaced() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = scratch("special");
    let ids = ["a", "b", "c"];
    let req = requests(&dir, &ids);
    let results = dir.join("output.jsonl");
    fs::write(
        &results,
        "{\"request_id\":\"zz\",\"status\":\"COMPLETED\"}\n",
    )
    .unwrap();
    let base = ["merge", "--requests", p(&req), "--results", p(&results)];

    // A FIFO stays a FIFO and its reader gets the merged lines.
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read_to_string(fifo).unwrap())
    };
    let o = run(&[&base[..], &["--out", p(&fifo)]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // (Checked before joining: a replaced FIFO leaves the reader waiting.)
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_merged(&reader.join().unwrap(), &ids);

    // Devices, made here rather than using /dev's own, so that a regression
    // replaces only these: a null device (a common --unknown) stays one; a
    // full one gives a clear error, exit 2, and stays one. Making a device
    // needs root, as CI is; elsewhere this part is skipped.
    let null = dir.join("null");
    let full = dir.join("full");
    let made = |path: &Path, minor: &str| {
        Command::new("mknod")
            .args([p(path), "c", "1", minor])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if made(&null, "3") && made(&full, "7") {
        let o = run(&[
            &base[..],
            &["--out", p(&dir.join("m.jsonl")), "--unknown", p(&null)],
        ]
        .concat());
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert!(fs::metadata(&null).unwrap().file_type().is_char_device());
        let o = run(&[&base[..], &["--out", p(&full)]].concat());
        assert_eq!(o.status.code(), Some(2));
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains(&format!("{}: No space left on device", p(&full))),
            "{stderr}"
        );
        assert!(fs::metadata(&full).unwrap().file_type().is_char_device());
    } else {
        eprintln!("not root: the device cases are skipped");
    }

    // A symbolic link is followed: its target is replaced, keeping its
    // permissions, and the link stays a link.
    let target = dir.join("private.jsonl");
    fs::write(&target, "old\n").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = run(&[&base[..], &["--out", p(&link)]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_merged(&fs::read_to_string(&target).unwrap(), &ids);
    assert_eq!(
        fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Standard output by its /proc name (as /dev/stdout resolves), onto a
    // file opened to append: the lines go after what was there.
    let appended = dir.join("appended.txt");
    fs::write(&appended, "first\n").unwrap();
    let stdout = fs::OpenOptions::new().append(true).open(&appended).unwrap();
    let o = Command::new(bin())
        .args([&base[..], &["--out", "/proc/self/fd/1"]].concat())
        .stdout(stdout)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let got = fs::read_to_string(&appended).unwrap();
    let rest = got.strip_prefix("first\n").expect("the earlier line kept");
    assert_merged(rest, &ids);
}

#[test]
fn ctrl_c_removes_files_written_aside() {
    use std::io::Write;
    let dir = scratch("sigint");
    let ids: Vec<String> = (0..50).map(|i| format!("r{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let req = requests(&dir, &ids);
    // Results from a FIFO: the merge waits on it with --unknown's file open
    // aside.
    let fifo = dir.join("results.fifo");
    mkfifo(&fifo);
    let unknown = dir.join("unknown.jsonl");
    let merged = dir.join("merged.jsonl");
    let child = Command::new(bin())
        .args(["merge", "--requests", p(&req), "--results", p(&fifo)])
        .args(["--out", p(&merged), "--unknown", p(&unknown)])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut writer = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    writer
        .write_all(b"{\"request_id\":\"nobody\",\"status\":\"COMPLETED\"}\n")
        .unwrap();
    let temp = dir.join(format!(".unknown.jsonl.syncbatch-{}", child.id()));
    let start = std::time::Instant::now();
    while !temp.exists() {
        assert!(start.elapsed().as_secs() < 20, "no file written aside");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    drop(writer);
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    assert!(!temp.exists() && !unknown.exists() && !merged.exists());
}

/// Results that cannot be read twice, standard input (`-`) and a FIFO, merge
/// exactly as the same bytes in a file do (they are copied aside first: the
/// winners are read again at the end). Standard input named twice is a
/// usage error.
#[test]
fn results_from_standard_input_or_a_pipe_merge_like_a_file() {
    let dir = scratch("stdin-results");
    let req = requests(&dir, &["a", "b", "c"]);
    let body = concat!(
        r#"{"request_id":"c","status":"COMPLETED","error":null,"response":{"id":"g-c"}}"#,
        "\n",
        r#"{"request_id":"a","status":"FAILED","error":"bad video","response":null}"#,
        "\n",
        r#"{"request_id":"zz","status":"COMPLETED","error":null,"response":{}}"#,
        "\n",
    );
    let file = dir.join("output.jsonl");
    fs::write(&file, body).unwrap();
    let merged = |results: &str, stdin: Option<&str>| {
        let out = dir.join("merged.jsonl");
        let _ = fs::remove_file(&out);
        let mut child = Command::new(bin())
            .args([
                "merge",
                "--requests",
                p(&req),
                "--results",
                results,
                "--out",
                p(&out),
            ])
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        fs::read_to_string(&out).unwrap()
    };
    let want = merged(p(&file), None);
    assert!(want.contains(r#""response":{"id":"g-c"}"#), "{want}");
    assert_eq!(merged("-", Some(body)), want);

    let fifo = dir.join("results.fifo");
    let writer = fifo_with(&fifo, body.to_owned());
    assert_eq!(merged(p(&fifo), None), want);
    writer.join().unwrap();

    let o = run(&[
        "merge",
        "--requests",
        "-",
        "--results",
        "-",
        "--out",
        p(&dir.join("x.jsonl")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("can be read only once"),
        "{}",
        text(&o.stderr)
    );
}

/// The retry set reads request lines again: requests from standard input or
/// a FIFO (copied aside first) give the same retry set as from a file.
#[test]
fn a_retry_set_from_requests_on_standard_input_or_a_pipe() {
    let dir = scratch("stdin-retry");
    let (ids, body) = every_tenth_failed(30);
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let req = requests(&dir, &id_refs);
    let results = dir.join("output.jsonl");
    fs::write(&results, body).unwrap();
    let requests_text = fs::read_to_string(&req).unwrap();
    let retry_set = |name: &str, requests: &str, stdin: bool| {
        let retry = dir.join(name);
        let mut child = Command::new(bin())
            .args(["merge", "--requests", requests, "--results", p(&results)])
            .args(["--out", "/dev/null", "--retry-dir", p(&retry)])
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if stdin {
            use std::io::Write;
            let mut input = child.stdin.take().unwrap();
            input.write_all(requests_text.as_bytes()).unwrap();
        }
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o.stderr));
        fs::read_to_string(retry.join("retry-undersized.ndjson")).unwrap()
    };
    let want = retry_set("from-file", p(&req), false);
    // The original lines of the three FAILED requests, in request order.
    let failed: Vec<&str> = requests_text.lines().step_by(10).collect();
    assert_eq!(want.lines().collect::<Vec<_>>(), failed);
    assert_eq!(retry_set("from-stdin", "-", true), want);
    let fifo = dir.join("requests.fifo");
    let writer = fifo_with(&fifo, requests_text.clone());
    assert_eq!(retry_set("from-fifo", p(&fifo), false), want);
    writer.join().unwrap();
}

/// `-` is standard output for `--unknown` and `--summary` as for `--out`
/// (it used to create a file named `-`); only one of them may take it.
#[test]
fn dash_outputs_go_to_standard_output() {
    let dir = scratch("stdout-outputs");
    let req = requests(&dir, &["a"]);
    let results = dir.join("output.jsonl");
    let unknown_line = r#"{"request_id":"zz","status":"COMPLETED","error":null,"response":{}}"#;
    fs::write(&results, format!("{unknown_line}\n")).unwrap();
    let run_in_dir = |extra: &[&str]| {
        Command::new(bin())
            .current_dir(&dir)
            .args(["merge", "--requests", p(&req), "--results", p(&results)])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = run_in_dir(&["--out", "/dev/null", "--unknown", "-"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), format!("{unknown_line}\n"));
    let o = run_in_dir(&["--out", "/dev/null", "--summary", "-"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (summary["missing"].as_u64(), summary["unknown"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(!dir.join("-").exists(), "a file named - was created");
    let o = run_in_dir(&["--out", "-", "--summary", "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("only one of --out, --unknown and --summary"));
}

/// An output on an input (by another spelling or through a link) would
/// replace the user's own file, and two outputs on one path would keep only
/// the last: both are usage errors that leave every file as it was.
/// `/dev/null` may still take several outputs.
#[test]
fn outputs_never_replace_inputs_or_each_other() {
    let dir = scratch("overwrite");
    let req = requests(&dir, &["a", "b"]);
    let results = dir.join("output.jsonl");
    let body =
        r#"{"request_id":"a","status":"COMPLETED","error":null,"response":{}}"#.to_owned() + "\n";
    fs::write(&results, &body).unwrap();
    let requests_before = fs::read(&req).unwrap();
    let link = dir.join("link.jsonl");
    std::os::unix::fs::symlink(&req, &link).unwrap();
    let other_spelling = dir.join(".").join("output.jsonl");
    let merged = dir.join("merged.jsonl");
    let base = ["merge", "--requests", p(&req), "--results", p(&results)];
    for (extra, says) in [
        (vec!["--out", p(&other_spelling)], "the merged output"),
        (
            vec!["--out", "/dev/null", "--unknown", p(&link)],
            "the unknown lines' output",
        ),
        (
            vec![
                "--out",
                p(&merged),
                "--summary",
                p(&dir.join(".").join("merged.jsonl")),
            ],
            "same file",
        ),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        assert!(
            text(&o.stderr).contains(says),
            "{extra:?}: {}",
            text(&o.stderr)
        );
    }
    assert_eq!(fs::read_to_string(&results).unwrap(), body);
    assert_eq!(fs::read(&req).unwrap(), requests_before);
    assert!(!merged.exists());
    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--out", "/dev/null", "--summary", "/dev/null"])
        .collect();
    assert_eq!(run(&args).status.code(), Some(0));
    // One file named twice among the results (or the requests) would count
    // every line twice: refused, however it is spelled.
    for args in [
        vec![
            "merge",
            "--requests",
            p(&req),
            "--results",
            p(&results),
            p(&other_spelling),
        ],
        vec![
            "merge",
            "--requests",
            p(&req),
            p(&link),
            "--results",
            p(&results),
        ],
    ] {
        let args: Vec<&str> = args.into_iter().chain(["--out", p(&merged)]).collect();
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            text(&o.stderr).contains("name one file twice"),
            "{}",
            text(&o.stderr)
        );
        assert!(!merged.exists());
    }
    // The same file as a request file and a result file is not refused
    // when its lines are both (an output file carries each request's
    // endpoint and payload beside its status).
    let both = dir.join("both.jsonl");
    fs::write(
        &both,
        r#"{"request_id":"a","endpoint":"/v2/generate","payload":{},"status":"COMPLETED","error":null,"response":{}}"#.to_owned() + "\n",
    )
    .unwrap();
    let args = [
        "merge",
        "--requests",
        p(&both),
        "--results",
        p(&both),
        "--out",
        "/dev/null",
    ];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

/// A retry directory that cannot be used is refused before the merge, so
/// no merged file is left behind by a run that exits 2.
#[test]
fn an_unusable_retry_dir_is_refused_before_anything_is_written() {
    let dir = scratch("retry-taken");
    let req = requests(&dir, &["a"]);
    let results = dir.join("output.jsonl");
    fs::write(&results, "").unwrap();
    let taken = dir.join("taken");
    fs::create_dir_all(&taken).unwrap();
    fs::write(taken.join("notes.txt"), "mine").unwrap();
    let merged = dir.join("merged.jsonl");
    let o = run(&[
        "merge",
        "--requests",
        p(&req),
        "--results",
        p(&results),
        "--out",
        p(&merged),
        "--retry-dir",
        p(&taken),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("is not empty"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stderr).contains("--force"),
        "the message names --force: {}",
        text(&o.stderr)
    );
    assert!(!merged.exists());
    assert_eq!(fs::read_to_string(taken.join("notes.txt")).unwrap(), "mine");
    // With --force the retry set goes in beside what is there, which stays.
    let o = run(&[
        "merge",
        "--requests",
        p(&req),
        "--results",
        p(&results),
        "--out",
        p(&merged),
        "--retry-dir",
        p(&taken),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(fs::read_to_string(taken.join("notes.txt")).unwrap(), "mine");
}

/// A merge keeps every result file open until it writes. 200 result files
/// under a soft limit of 64 open files merge all the same (the limit is
/// raised to the hard one); when the hard limit is that low too, the error
/// says why and what to do, and no merged file appears.
#[test]
fn more_result_files_than_the_soft_open_file_limit() {
    let dir = scratch("nofile");
    let ids: Vec<String> = (0..200).map(|i| format!("r{i}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let req = requests(&dir, &id_refs);
    let mut results = Vec::new();
    for id in &ids {
        let path = dir.join(format!("out-{id}.jsonl"));
        let line = json!({"request_id": id, "status": "COMPLETED", "error": null, "response": {}});
        fs::write(&path, format!("{line}\n")).unwrap();
        results.push(p(&path).to_owned());
    }
    let out = dir.join("merged.jsonl");
    let merge_under = |limits: &str| {
        let script = format!(
            "ulimit {limits} && exec \"$0\" merge --requests {} --out {} --results {}",
            p(&req),
            p(&out),
            results.join(" ")
        );
        Command::new("sh")
            .args(["-c", &script, bin()])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = merge_under("-S -n 64");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let merged = fs::read_to_string(&out).unwrap();
    assert_eq!(merged.lines().count(), 200);
    assert!(merged
        .lines()
        .all(|l| l.contains("\"status\":\"COMPLETED\"")));
    fs::remove_file(&out).unwrap();
    let o = merge_under("-S -n 64 && ulimit -H -n 64");
    assert_eq!(o.status.code(), Some(2));
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("too many files open at once")
            && stderr.contains("200 result files need more than the 64")
            && stderr.contains("ulimit -n"),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// Every output is made (aside) before any input is read: an output that
/// cannot be made fails at once, even with a result FIFO nobody writes to,
/// and leaves no other output behind. (Before, --summary in a missing
/// directory failed only after the merged file was in place.)
#[test]
fn an_output_that_cannot_be_made_fails_before_any_input_is_read() {
    let dir = scratch("unmakeable");
    let req = requests(&dir, &["a"]);
    let fifo = dir.join("results.fifo");
    mkfifo(&fifo);
    let out = dir.join("merged.jsonl");
    let unknown = dir.join("unknown.jsonl");
    let missing = dir.join("no/such/dir");
    for (flag, bad) in [
        ("--out", "m.jsonl"),
        ("--unknown", "u.jsonl"),
        ("--summary", "s.json"),
    ] {
        let bad = missing.join(bad);
        let mut args = vec!["merge", "--requests", p(&req), "--results", p(&fifo)];
        let (out_path, unknown_path) = match flag {
            "--out" => (p(&bad), p(&unknown)),
            "--unknown" => (p(&out), p(&bad)),
            _ => (p(&out), p(&unknown)),
        };
        args.extend(["--out", out_path, "--unknown", unknown_path]);
        if flag == "--summary" {
            args.extend(["--summary", p(&bad)]);
        }
        let mut child = Command::new(bin())
            .args(&args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > std::time::Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("{flag}: merge read its inputs before making its outputs");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{flag}: {stderr}");
        assert!(
            stderr.contains("cannot create") && stderr.contains("no/such/dir"),
            "{stderr}"
        );
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["requests.jsonl", "results.fifo"], "{flag}");
    }
}
