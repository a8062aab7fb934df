//! `syncbatch batch ...` and `syncbatch models`, run as a user runs them,
//! against the fake Sync API started on a loopback port in this process.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use syncbatch::fake_api::{FakeApi, FakeConfig, Fault, Origin};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_syncbatch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn fake() -> FakeApi {
    FakeApi::spawn(
        FakeConfig::default().timing(Duration::from_millis(100), Duration::from_millis(200)),
    )
    .unwrap()
}

/// Runs the command line against `fake`, with its key in the environment.
fn run(fake: &FakeApi, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("SYNC_API_KEY", fake.key())
        .env("SYNC_BASE_URL", fake.base_url())
        .env_remove("CI")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("syncbatch-cli-batch-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn batch_file(dir: &Path, records: usize) -> PathBuf {
    let path = dir.join("batch-00001.jsonl");
    fs::write(&path, syncbatch::generate::records(3, records)).unwrap();
    path
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn json_line(o: &Output) -> Value {
    serde_json::from_str(text(&o.stdout).trim())
        .unwrap_or_else(|e| panic!("{e}: {}", text(&o.stdout)))
}

/// Waits until the batch is COMPLETED, through `batch get`.
fn completed(fake: &FakeApi, id: &str) -> Value {
    for _ in 0..60 {
        let o = run(fake, &["batch", "get", id, "--rate-limit", "6000"]);
        let batch = json_line(&o);
        if batch["status"] == "COMPLETED" {
            return batch;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("never completed");
}

#[test]
fn the_key_is_needed_and_checked_before_anything_else() {
    let fake = fake();
    let dir = scratch("nokey");
    let file = batch_file(&dir, 20);
    let o = Command::new(bin())
        .args(["batch", "create", p(&file)])
        .env_remove("SYNC_API_KEY")
        .env("SYNC_BASE_URL", fake.base_url())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("SYNC_API_KEY"),
        "{}",
        text(&o.stderr)
    );
    assert!(fake.log().is_empty());
    // A wrong key: the server's 401 and message, exit 2, the key unsaid.
    let o = Command::new(bin())
        .args(["batch", "list"])
        .env("SYNC_API_KEY", "sk-not-this-one")
        .env("SYNC_BASE_URL", fake.base_url())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("401") && !err.contains("sk-not-this-one"),
        "{err}"
    );
}

#[test]
fn create_get_list_and_download_a_batch() {
    let fake = fake();
    let dir = scratch("round");
    let file = batch_file(&dir, 40);
    let o = run(&fake, &["batch", "create", p(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let batch = json_line(&o);
    let id = batch["id"].as_str().unwrap().to_owned();
    assert_eq!(batch["metrics"]["totalGenerations"], 40);
    // Not done yet: no results.
    let out = dir.join("results.jsonl");
    let o = run(&fake, &["batch", "download", &id, "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("not COMPLETED"),
        "{}",
        text(&o.stderr)
    );
    assert!(!out.exists());
    completed(&fake, &id);
    let o = run(&fake, &["batch", "list", "--status", "COMPLETED"]);
    assert_eq!(o.status.code(), Some(0));
    let listed: Vec<Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    let o = run(&fake, &["batch", "download", &id, "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(fs::read_to_string(&out).unwrap().lines().count(), 40);
    // The results merge back to the file.
    let merged = dir.join("merged.jsonl");
    let o = Command::new(bin())
        .args([
            "merge",
            "--requests",
            p(&file),
            "--results",
            p(&out),
            "--out",
            p(&merged),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("missing          1"));
    let o = run(&fake, &["batch", "get", "batch_999999"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("no such batch"));
    // The key went to the API only, never to the storage.
    let log = fake.log();
    assert!(log.iter().any(|l| l.origin == Origin::Storage));
    assert!(log.iter().all(|l| l.keyed == (l.origin == Origin::Api)));
}

#[test]
fn a_file_that_is_not_compliant_is_not_sent() {
    let fake = fake();
    let dir = scratch("invalid");
    let file = batch_file(&dir, 19);
    let o = run(&fake, &["batch", "create", p(&file)]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("too_few_records") && err.contains("nothing sent"),
        "{err}"
    );
    assert!(fake.log().is_empty());
    // --no-validate sends it; the server refuses it (a 400 here): exit 1.
    let bad = dir.join("bad.jsonl");
    fs::write(&bad, "not json\n").unwrap();
    let o = run(&fake, &["batch", "create", "--no-validate", p(&bad)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("400"), "{}", text(&o.stderr));
    assert_eq!(fake.creates(), 0);
}

#[test]
fn a_dry_run_validates_on_the_server_and_makes_nothing() {
    let fake = fake();
    let dir = scratch("dry");
    let file = batch_file(&dir, 20);
    let o = run(&fake, &["batch", "create", "--dry-run", p(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(json_line(&o), serde_json::json!({"status": "VALIDATED"}));
    assert_eq!(fake.creates(), 0);
}

/// A create that may have made a batch is not sent again: exit 2, and the
/// batches made since the attempt with the file's record count are named.
#[test]
fn a_create_that_may_have_created_names_the_candidates() {
    for fault in [Fault::CreateThenFail, Fault::CreateThenDrop] {
        let fake = fake();
        fake.inject(fault.clone());
        let dir = scratch("ambiguous");
        let file = batch_file(&dir, 21);
        let o = run(&fake, &["batch", "create", p(&file)]);
        assert_eq!(o.status.code(), Some(2), "{fault:?}");
        let err = text(&o.stderr);
        assert!(err.contains("not sent again"), "{err}");
        assert!(err.contains("batch_000001"), "{fault:?}: {err}");
        assert_eq!(fake.creates(), 1);
        assert_eq!(fake.log().iter().filter(|l| l.method == "POST").count(), 1);
    }
}

/// Faults the client rides out: a 429 with its hint, a 500 on a GET, an
/// expired signed URL, a download cut short (fetched again, whole).
#[test]
fn transient_faults_are_ridden_out() {
    let fake = fake();
    let dir = scratch("faults");
    let file = batch_file(&dir, 30);
    fake.inject(Fault::TooManyRequests {
        retry_after_ms: 300,
    });
    let o = run(&fake, &["batch", "create", p(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let id = json_line(&o)["id"].as_str().unwrap().to_owned();
    assert_eq!(fake.creates(), 1);
    fake.inject(Fault::ServerError);
    completed(&fake, &id);
    for fault in [Fault::ExpiredUrl, Fault::CutDownload] {
        fake.inject(fault.clone());
        let out = dir.join("results.jsonl");
        let o = run(&fake, &["batch", "download", &id, "--out", p(&out)]);
        assert_eq!(o.status.code(), Some(0), "{fault:?}: {}", text(&o.stderr));
        assert_eq!(
            fs::read_to_string(&out).unwrap().lines().count(),
            30,
            "{fault:?}"
        );
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.iter().all(|n| !n.to_string_lossy().starts_with('.')),
            "{left:?}"
        );
    }
}

#[test]
fn models_and_the_rate_limit() {
    let fake = fake();
    let o = run(&fake, &["models", "--rate-limit", "120"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let names: Vec<String> = text(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(names.contains(&"lipsync-2".to_owned()), "{names:?}");
    // Two batch gets after a 500: the retry keeps the spacing too.
    fake.inject(Fault::ServerError);
    let o = run(&fake, &["batch", "list", "--rate-limit", "120"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let log = fake.log();
    for pair in log.windows(2).skip(1) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(gap >= Duration::from_millis(490), "{gap:?}");
    }
}

/// `validate --models-from-api` checks models against the API's list: a
/// model newer than the built-in list (`lipsync-3` on the fake) is known
/// there, where the built-in list takes it for a typo of `lipsync-2`.
#[test]
fn validate_checks_models_against_the_live_list() {
    let fake = fake();
    let dir = scratch("models");
    let data = String::from_utf8(syncbatch::generate::records(4, 20)).unwrap();
    let lines: Vec<String> = data
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if v["payload"]["model"] == "lipsync-2" {
                v["payload"]["model"] = "lipsync-3".into();
            }
            format!("{v}\n")
        })
        .collect();
    let file = dir.join("newer.jsonl");
    assert!(lines.iter().any(|l| l.contains("lipsync-3")));
    fs::write(&file, lines.concat()).unwrap();
    let o = run(&fake, &["validate", p(&file)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("did you mean `lipsync-2`?"));
    let o = run(&fake, &["validate", "--models-from-api", p(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(fake.log().iter().any(|l| l.path == "/v2/models"));
    // Without a key, the built-in list, and a note.
    let o = Command::new(bin())
        .args(["validate", "--models-from-api", p(&file)])
        .env_remove("SYNC_API_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("SYNC_API_KEY is not set"));
}

/// The fake's own rate limit (120 a minute) against `--rate-limit 600`:
/// the download's requests draw 429s, wait as told, and get through.
#[test]
fn a_server_side_rate_limit_is_waited_out() {
    let fake = FakeApi::spawn(
        FakeConfig::default()
            .timing(Duration::from_millis(50), Duration::from_millis(50))
            .rate_limit(Some(120)),
    )
    .unwrap();
    let dir = scratch("server-limit");
    let file = batch_file(&dir, 20);
    let o = run(&fake, &["batch", "create", p(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let id = json_line(&o)["id"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(600));
    let out = dir.join("results.jsonl");
    let o = run(
        &fake,
        &[
            "batch",
            "download",
            &id,
            "--out",
            p(&out),
            "--rate-limit",
            "600",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(fs::read_to_string(&out).unwrap().lines().count(), 20);
    assert!(fake.log().iter().any(|l| l.status == 429));
}
