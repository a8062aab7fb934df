//! What a newcomer trips on, each held by a test: typos that ship, stray
//! files among the batches, merges that cannot run again, swapped
//! arguments, wrong reasons, binary files, standard input read twice,
//! machine output that is not, two wordings for one line, and the small
//! things.

use std::fs;
use std::io::{BufRead, BufReader};
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
        std::env::temp_dir().join(format!("syncbatch-newcomer-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `n` generated valid records, as values.
fn records(seed: u64, n: usize) -> Vec<Value> {
    let data = syncbatch::generate::records(seed, n);
    text(&data)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn lines(values: &[Value]) -> String {
    values.iter().map(|v| format!("{v}\n")).collect()
}

/// Point 1: a near miss of a known model is an error that names it; a name
/// far from every known one stays a warning, which split prints and
/// `--deny-warnings` refuses.
#[test]
fn a_model_typo_is_an_error_that_names_the_model() {
    let dir = scratch("typo");
    for (typo, meant) in [
        ("lipsync-2-prp", "lipsync-2-pro"),
        ("Lipsync-2", "lipsync-2"),
    ] {
        let mut v = records(1, 20);
        v[4]["payload"]["model"] = json!(typo);
        let file = dir.join("typo.jsonl");
        fs::write(&file, lines(&v)).unwrap();
        let o = run(&["validate", p(&file)]);
        assert_eq!(o.status.code(), Some(1), "{typo}");
        let out = text(&o.stdout);
        assert!(out.contains(":5:"), "{out}");
        assert!(out.contains("error[unknown_model]"), "{out}");
        assert!(out.contains(&format!("did you mean `{meant}`?")), "{out}");
        let o = run(&["split", "--out", p(&dir.join("never")), p(&file)]);
        assert_eq!(o.status.code(), Some(1));
        assert!(!dir.join("never").exists());
    }
    let mut v = records(1, 20);
    v[4]["payload"]["model"] = json!("wav2lip-hd");
    let file = dir.join("far.jsonl");
    fs::write(&file, lines(&v)).unwrap();
    let o = run(&["validate", p(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("warning[unknown_model]"));
    // split prints the warning as validate does, and splits.
    let out = dir.join("out");
    let o = run(&["split", "--out", p(&out), p(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("far.jsonl:5:") && err.contains("warning[unknown_model]"),
        "{err}"
    );
    assert!(err.contains("1 warning"), "{err}");
    // --deny-warnings refuses the record that draws it.
    let strict = dir.join("strict");
    let o = run(&["split", "--deny-warnings", "--out", p(&strict), p(&file)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("1 invalid record;"),
        "{}",
        text(&o.stderr)
    );
    assert!(!strict.exists());
}

/// Point 2: `DIR/*.jsonl` is exactly the batch files: refused lines go to
/// `rejected.ndjson`, written only when a line was refused, and a retry
/// set leaves no empty file beside its batches.
#[test]
fn an_output_directory_holds_batches_and_nothing_else_named_jsonl() {
    let dir = scratch("stray");
    let clean = dir.join("clean.jsonl");
    fs::write(&clean, lines(&records(2, 40))).unwrap();
    let out = dir.join("out-clean");
    let o = run(&["split", "--skip-invalid", "--out", p(&out), p(&clean)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(names(&out), ["batch-00001.jsonl", "manifest.json"]);
    let mut v = records(2, 40);
    v[7] = json!({"request_id": "x", "endpoint": "/v1/generate", "payload": {}});
    let mixed = dir.join("mixed.jsonl");
    fs::write(&mixed, lines(&v)).unwrap();
    let out = dir.join("out-mixed");
    let o = run(&["split", "--skip-invalid", "--out", p(&out), p(&mixed)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let got = names(&out);
    assert!(got.contains(&"rejected.ndjson".to_owned()), "{got:?}");
    let jsonl: Vec<&String> = got.iter().filter(|n| n.ends_with(".jsonl")).collect();
    assert!(jsonl.iter().all(|n| n.starts_with("batch-")), "{got:?}");
    let rejected = fs::read_to_string(out.join("rejected.ndjson")).unwrap();
    let r: Value = serde_json::from_str(rejected.lines().next().unwrap()).unwrap();
    assert_eq!(r["line"], 8);
    // A merge's retry set: batch files and the manifest, no empty file.
    let results = dir.join("results.jsonl");
    fs::write(&results, "").unwrap();
    let retry = dir.join("retry");
    let o = run(&[
        "merge",
        "--requests",
        p(&clean),
        "--results",
        p(&results),
        "--out",
        p(&dir.join("merged.jsonl")),
        "--retry-dir",
        p(&retry),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(names(&retry), ["batch-00001.jsonl", "manifest.json"]);
}

/// Point 3: a merge with a retry set runs again with `--force` (without it,
/// the message says so), and the retry manifest names the request files.
#[test]
fn a_merge_runs_again_with_force_and_names_its_request_files() {
    let dir = scratch("again");
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    let v = records(3, 50);
    fs::write(&a, lines(&v[..25])).unwrap();
    fs::write(&b, lines(&v[25..])).unwrap();
    let results = dir.join("results.jsonl");
    let done = json!({"request_id": v[0]["request_id"], "status": "COMPLETED", "error": null, "response": {}});
    fs::write(&results, format!("{done}\n")).unwrap();
    let retry = dir.join("retry");
    let merged = dir.join("merged.jsonl");
    let merge = |extra: &[&str]| {
        let mut args = vec![
            "merge",
            "--requests",
            p(&a),
            p(&b),
            "--results",
            p(&results),
            "--out",
            p(&merged),
            "--retry-dir",
            p(&retry),
        ];
        args.extend(extra);
        run(&args)
    };
    let o = merge(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let manifest: Value =
        serde_json::from_slice(&fs::read(retry.join("manifest.json")).unwrap()).unwrap();
    let inputs: Vec<&str> = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(inputs, [p(&a), p(&b)]);
    assert_eq!(manifest["inputs"][0]["records"], 24);
    assert_eq!(manifest["records"], 49);
    let o = merge(&[]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("is not empty") && err.contains("--force"),
        "{err}"
    );
    let o = merge(&["--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(names(&retry), ["batch-00001.jsonl", "manifest.json"]);
    // Once few enough are left for no batch, the earlier batches go.
    let all_but_three: String = v[..47]
        .iter()
        .map(|r| format!("{}\n", json!({"request_id": r["request_id"], "status": "COMPLETED", "error": null, "response": {}})))
        .collect();
    fs::write(&results, all_but_three).unwrap();
    let o = merge(&["--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(names(&retry), ["retry-undersized.ndjson"]);
    assert!(text(&o.stderr).contains("retry-undersized.ndjson"));
}

/// Point 4: swapped `--requests` and `--results` are a usage error that
/// says so, and nothing is written.
#[test]
fn swapped_requests_and_results_are_named() {
    let dir = scratch("swapped");
    let v = records(4, 20);
    let requests = dir.join("batch-00001.jsonl");
    fs::write(&requests, lines(&v)).unwrap();
    let results = dir.join("output.jsonl");
    let out: String = v
        .iter()
        .map(|r| format!("{}\n", json!({"request_id": r["request_id"], "endpoint": "/v2/generate", "payload": {}, "status": "COMPLETED", "error": null, "response": {}})))
        .collect();
    fs::write(&results, out).unwrap();
    let merged = dir.join("merged.jsonl");
    // Results given as requests (their first line has a status and an
    // endpoint here, so the other check names them: no status in the
    // "results").
    let o = run(&[
        "merge",
        "--requests",
        p(&results),
        "--results",
        p(&requests),
        "--out",
        p(&merged),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("look swapped"),
        "{}",
        text(&o.stderr)
    );
    assert!(!merged.exists());
    // A requests file that starts with a result line with no endpoint.
    let bare: String = v
        .iter()
        .map(|r| {
            format!(
                "{}\n",
                json!({"request_id": r["request_id"], "status": "FAILED"})
            )
        })
        .collect();
    fs::write(&results, bare).unwrap();
    let o = run(&[
        "merge",
        "--requests",
        p(&results),
        "--results",
        p(&requests),
        "--out",
        p(&merged),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("starts with a result line") && err.contains("look swapped"),
        "{err}"
    );
    assert!(!merged.exists());
    // The right way round merges.
    let o = run(&[
        "merge",
        "--requests",
        p(&requests),
        "--results",
        p(&results),
        "--out",
        p(&merged),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

/// Point 5: the reason of an impossible split names the limit that binds.
#[test]
fn an_impossible_split_names_the_limit_that_binds() {
    let dir = scratch("reason");
    let file = dir.join("thirty.jsonl");
    fs::write(&file, lines(&records(5, 30))).unwrap();
    let o = run(&[
        "split",
        "--max-records",
        "25",
        "--out",
        p(&dir.join("out")),
        p(&file),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("30 valid records cannot make batches of 20 to 25 records: 1 batch holds at most 25, and 2 batches need at least 40"),
        "{err}"
    );
    assert!(!err.contains("byte limit"), "{err}");
    let o = run(&[
        "split",
        "--max-bytes",
        "3000",
        "--out",
        p(&dir.join("out")),
        p(&file),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("fits in the byte limit of 3000 bytes"),
        "{}",
        text(&o.stderr)
    );
}

/// Point 6: a file that is plainly not JSON Lines draws one diagnostic
/// and the count, not one a line.
#[test]
fn a_binary_or_csv_file_draws_one_diagnostic() {
    let o = run(&["validate", bin()]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert_eq!(out.lines().count(), 2, "{}", &out[..out.len().min(2000)]);
    assert!(out.contains("not JSON Lines: it holds NUL bytes"), "{out}");
    let dir = scratch("csv");
    let csv = dir.join("requests.csv");
    let rows: String = (0..50)
        .map(|i| format!("req-{i},https://a.io/v.mp4,https://a.io/a.wav\n"))
        .collect();
    fs::write(&csv, rows).unwrap();
    let o = run(&["validate", "--format", "json", p(&csv)]);
    let out = text(&o.stdout);
    assert_eq!(out.lines().count(), 2, "{out}");
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["code"], "invalid_json");
    assert!(
        first["message"].as_str().unwrap().contains("50 lines read"),
        "{first}"
    );
    let summary: Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
    assert_eq!(summary["summary"]["records"], 50);
    assert_eq!(summary["summary"]["errors"], 1);
    // A few broken lines among good ones are each reported.
    let mut v = lines(&records(6, 20));
    v.push_str("not json\n");
    let file = dir.join("one-broken.jsonl");
    fs::write(&file, format!("not json either\n{v}")).unwrap();
    let o = run(&["validate", p(&file)]);
    let out = text(&o.stdout);
    assert_eq!(out.matches("error[invalid_json]").count(), 2, "{out}");
}

/// Point 7: standard input named twice is a usage error.
#[test]
fn standard_input_twice_is_a_usage_error() {
    for args in [
        vec!["validate", "-", "-"],
        vec!["split", "--dry-run", "-", "-"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            text(&o.stderr).contains("can be read only once"),
            "{args:?}"
        );
    }
}

/// Point 8: with `--format json`, split's stderr is JSON Lines: each
/// diagnostic, then a summary object; nothing human-readable.
#[test]
fn split_format_json_is_json_lines_only() {
    let dir = scratch("json");
    let mut v = records(7, 40);
    v[3] = json!({"request_id": "x", "endpoint": "/v1/generate", "payload": {}});
    v[9]["payload"]["priority"] = json!(1);
    let file = dir.join("in.jsonl");
    fs::write(&file, lines(&v)).unwrap();
    for (extra, ok) in [(vec![], false), (vec!["--skip-invalid"], true)] {
        let out = dir.join(format!("out-{ok}"));
        let mut args = vec!["split", "--format", "json", "--out", p(&out)];
        args.extend(extra);
        args.push(p(&file));
        let o = run(&args);
        let err = text(&o.stderr);
        let objects: Vec<Value> = err
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect();
        let last = objects.last().unwrap();
        assert_eq!(last["summary"]["ok"], ok, "{err}");
        assert!(
            objects[..objects.len() - 1]
                .iter()
                .all(|d| d["code"].is_string()),
            "{err}"
        );
        assert!(
            objects.iter().any(|d| d["code"] == "unknown_field"),
            "{err}"
        );
        if ok {
            assert_eq!(last["summary"]["rejected"], 1);
            assert_eq!(last["summary"]["warnings"], 1);
        } else {
            assert_eq!(last["summary"]["error"], "invalid_records");
            assert!(objects.iter().any(|d| d["code"] == "bad_endpoint"), "{err}");
        }
    }
}

/// Point 9: merge words a broken line as validate does, and counts every
/// request line it skips.
#[test]
fn merge_words_broken_lines_as_validate_and_counts_skipped_requests() {
    let dir = scratch("wording");
    let v = records(8, 20);
    let mut requests = lines(&v);
    requests.push_str("{\"no_id\":1}\n");
    requests.push_str(&format!("{}\n", v[0]));
    let req = dir.join("requests.jsonl");
    fs::write(&req, requests).unwrap();
    let broken = format!(
        "{{\"request_id\":{},\"status\":\"COMPLETED\",}}",
        v[1]["request_id"]
    );
    let results = dir.join("output.jsonl");
    let done = json!({"request_id": v[0]["request_id"], "status": "COMPLETED", "error": null, "response": {}});
    fs::write(&results, format!("{done}\n{broken}\n")).unwrap();
    let summary = dir.join("summary.json");
    let o = run(&[
        "merge",
        "--requests",
        p(&req),
        "--results",
        p(&results),
        "--out",
        p(&dir.join("merged.jsonl")),
        "--summary",
        p(&summary),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let line = dir.join("broken.jsonl");
    fs::write(&line, format!("{broken}\n")).unwrap();
    let v_out = text(&run(&["validate", "--format", "json", p(&line)]).stdout);
    let d: Value = serde_json::from_str(v_out.lines().next().unwrap()).unwrap();
    let message = d["message"].as_str().unwrap();
    assert!(message.contains("trailing comma"), "{message}");
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("output.jsonl:2:{}: {message}", d["column"])),
        "{err}"
    );
    let s: Value = serde_json::from_slice(&fs::read(&summary).unwrap()).unwrap();
    assert_eq!(s["skipped"], 2, "{s}");
    assert_eq!(s["requests"], 20);
    assert!(err.contains("skipped"), "{err}");
}

/// Point 10: "1 record", a file of one oversized record is not sent to
/// split, and a closed pipe ends a merge quietly.
#[test]
fn the_small_things() {
    let dir = scratch("small");
    let one = dir.join("one.jsonl");
    fs::write(&one, lines(&records(9, 1))).unwrap();
    let out = text(&run(&["validate", p(&one)]).stdout);
    assert!(out.contains("the file has 1 record;"), "{out}");
    let big = dir.join("big.jsonl");
    let mut v = records(9, 1);
    v[0]["payload"]["projectId"] = json!("x".repeat(6000));
    fs::write(&big, lines(&v)).unwrap();
    let out = text(
        &run(&[
            "validate",
            "--max-bytes",
            "5000",
            "--min-records",
            "1",
            p(&big),
        ])
        .stdout,
    );
    assert!(
        out.contains("error[file_too_large]") && out.contains("no split can help"),
        "{out}"
    );
    assert!(!out.contains("cuts it into files"), "{out}");
    // A merge into a pipe whose reader leaves after one line.
    let v = records(10, 3000);
    let req = dir.join("requests.jsonl");
    fs::write(&req, lines(&v)).unwrap();
    let results = dir.join("output.jsonl");
    fs::write(&results, "").unwrap();
    let mut child = Command::new(bin())
        .args([
            "merge",
            "--requests",
            p(&req),
            "--results",
            p(&results),
            "--out",
            "-",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"status\":\"MISSING\""));
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        !text(&o.stderr).contains("Broken pipe"),
        "{}",
        text(&o.stderr)
    );
}

/// Point 11: every subcommand's help lists its exit codes and an example,
/// and split's usage shows `--out` as required unless `--dry-run`.
#[test]
fn every_help_lists_exit_codes_and_an_example() {
    for sub in ["validate", "split", "merge"] {
        let help = text(&run(&[sub, "--help"]).stdout);
        assert!(
            help.contains("Exit codes:") && help.contains("Examples:"),
            "{sub}: {help}"
        );
    }
    let help = text(&run(&["split", "--help"]).stdout);
    assert!(
        help.contains("syncbatch split [OPTIONS] --out <DIR> [INPUT]..."),
        "{help}"
    );
    let merge = text(&run(&["merge", "--help"]).stdout);
    assert!(
        merge.contains("--force") && merge.contains("retry-undersized.ndjson"),
        "{merge}"
    );
}
