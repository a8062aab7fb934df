//! `syncbatch run` and `syncbatch status`, run as a user runs them, against
//! the fake Sync API started on a loopback port in this process: the happy
//! path against `split` + `merge` by hand, `kill -9` and resume, each fault
//! of the fake, `--no-wait`, retry rounds, dry runs, settling a stop.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use syncbatch::fake_api::{FakeApi, FakeConfig, Fault, Origin};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_syncbatch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn fake(pending_ms: u64, processing_ms: u64) -> FakeApi {
    FakeApi::spawn(FakeConfig::default().timing(
        Duration::from_millis(pending_ms),
        Duration::from_millis(processing_ms),
    ))
    .unwrap()
}

/// The command line against `fake`, with its key in the environment.
fn command(fake: &FakeApi, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .env("SYNC_API_KEY", fake.key())
        .env("SYNC_BASE_URL", fake.base_url())
        .env_remove("CI")
        .stdin(Stdio::null());
    c
}

fn run(fake: &FakeApi, args: &[&str]) -> Output {
    command(fake, args).output().unwrap()
}

/// `run --dir DIR` with fast polls and a high rate limit, plus `args`.
fn campaign(fake: &FakeApi, dir: &Path, args: &[&str]) -> Output {
    let mut all = vec![
        "run",
        "--dir",
        p(dir),
        "--poll-interval",
        "0.1",
        "--rate-limit",
        "6000",
    ];
    all.extend_from_slice(args);
    run(fake, &all)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncbatch-cli-run-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn requests(dir: &Path, seed: u64, n: usize) -> PathBuf {
    let path = dir.join("requests.jsonl");
    fs::write(&path, syncbatch::generate::records(seed, n)).unwrap();
    path
}

fn ok(o: &Output) -> String {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    err
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The batch files of a round, sorted.
fn jsonl_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

/// The ids of the request lines of `files`.
fn ids(files: &[PathBuf]) -> BTreeSet<String> {
    files
        .iter()
        .flat_map(|f| {
            fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<Value>(l).unwrap()["request_id"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn journal_lines(dir: &Path) -> usize {
    fs::read(dir.join("journal.jsonl"))
        .map(|t| t.iter().filter(|&&b| b == b'\n').count())
        .unwrap_or(0)
}

/// The happy path on 1,234 requests gives what `split` then `merge` by
/// hand give, byte for byte; the key is in no file of DIR; a run on the
/// finished campaign sends nothing and says the same.
#[test]
fn the_happy_path_is_split_and_merge_by_hand() {
    let fake = fake(100, 300);
    let work = scratch("happy");
    let input = requests(&work, 7, 1234);
    let dir = work.join("campaign");
    let err = ok(&campaign(&fake, &dir, &[p(&input)]));
    assert!(
        err.contains("batches/batch-00003.jsonl: created batch"),
        "{err}"
    );
    assert!(err.contains("merged into"), "{err}");
    assert_eq!(fake.creates(), 3);

    // By hand.
    let hand = work.join("hand");
    ok(&run(
        &fake,
        &["split", "--out", p(&hand.join("batches")), p(&input)],
    ));
    for (a, b) in jsonl_in(&dir.join("batches"))
        .iter()
        .zip(jsonl_in(&hand.join("batches")))
    {
        assert_eq!(
            fs::read(a).unwrap(),
            fs::read(&b).unwrap(),
            "{}",
            a.display()
        );
    }
    let mut args: Vec<String> = vec!["merge".into(), "--requests".into()];
    // As the contract spells it: the campaign's own batch files.
    args.extend(
        jsonl_in(&dir.join("batches"))
            .iter()
            .map(|p| p.display().to_string()),
    );
    args.push("--results".into());
    args.extend(
        jsonl_in(&dir.join("results"))
            .iter()
            .map(|p| p.display().to_string()),
    );
    for (flag, name) in [
        ("--out", "merged.jsonl"),
        ("--summary", "summary.json"),
        ("--unknown", "unknown.jsonl"),
    ] {
        args.push(flag.into());
        args.push(hand.join(name).display().to_string());
    }
    args.push("--retry-dir".into());
    args.push(hand.join("retry").display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&run(&fake, &args));
    for name in ["merged.jsonl", "summary.json", "unknown.jsonl"] {
        assert_eq!(
            fs::read(dir.join(name)).unwrap(),
            fs::read(hand.join(name)).unwrap(),
            "{name}"
        );
    }
    for (a, b) in jsonl_in(&dir.join("retry"))
        .iter()
        .zip(jsonl_in(&hand.join("retry")))
    {
        assert_eq!(fs::read(a).unwrap(), fs::read(&b).unwrap());
    }
    assert_eq!(summary(&dir)["requests"], 1234);

    // The key is in no file of DIR, and went to the API's origin only.
    for file in files_under(&dir) {
        let bytes = fs::read(&file).unwrap();
        assert!(
            !bytes
                .windows(fake.key().len())
                .any(|w| w == fake.key().as_bytes()),
            "the key is in {}",
            file.display()
        );
    }
    assert!(fake
        .log()
        .iter()
        .all(|l| l.keyed == (l.origin == Origin::Api)));

    // Finished: nothing sent, the same summary, the same exit.
    let before = fake.log().len();
    let err = ok(&campaign(&fake, &dir, &[]));
    assert!(err.contains("is finished: nothing sent"), "{err}");
    assert!(err.contains("completed"), "{err}");
    assert_eq!(fake.log().len(), before);

    // status, offline and online.
    let o = run(
        &fake,
        &["status", "--dir", p(&dir), "--offline", "--format", "json"],
    );
    let lines: Vec<Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["file"], "batches/batch-00001.jsonl");
    assert_eq!(lines[0]["status"], "COMPLETED");
    assert_eq!(lines[0]["downloaded"], true);
    let s = &lines[3]["summary"];
    assert_eq!(
        (s["batches"].as_u64(), s["records"].as_u64()),
        (Some(3), Some(1234))
    );
    assert_eq!(
        s["success"].as_u64().unwrap() + s["failed"].as_u64().unwrap(),
        1234
    );
    let o = run(&fake, &["status", "--dir", p(&dir), "--rate-limit", "6000"]);
    let table = text(&o.stdout);
    assert!(table.contains("batches/batch-00002.jsonl"), "{table}");
    assert!(table.starts_with("file"), "{table}");
}

/// `kill -9` at several moments (creates under way, waiting, downloads),
/// then `run --dir DIR` resumes: one batch per file, and the same merge.
#[test]
fn kill_9_at_several_moments_then_resume() {
    let fake = fake(300, 1200);
    let work = scratch("kill");
    let input = requests(&work, 11, 1500);
    let dir = work.join("campaign");
    let mut first = true;
    let mut killed = 0;
    // Kill once the journal holds this many lines (header included).
    for at in [2, 4, 7, 10, 14] {
        let mut args = vec![
            "run",
            "--dir",
            p(&dir),
            "--poll-interval",
            "0.05",
            "--rate-limit",
            "6000",
            "--max-records",
            "300",
        ];
        if first {
            args.push(p(&input));
            first = false;
        }
        let mut child: Child = command(&fake, &args).stderr(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if journal_lines(&dir) >= at || Instant::now() > deadline {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(killed >= 4, "killed while running {killed} times");
    let err = ok(&campaign(&fake, &dir, &[]));
    assert!(err.contains("merged into"), "{err}");
    assert_eq!(fake.creates(), 5, "one batch per file: {err}");
    let s = summary(&dir);
    assert_eq!(s["requests"], 1500);
    assert_eq!(s["missing"], 0);
    // Every created batch is bound to one file, and none twice.
    let o = run(
        &fake,
        &["status", "--dir", p(&dir), "--offline", "--format", "json"],
    );
    let bound: BTreeSet<String> = text(&o.stdout)
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(bound.len(), 5);
}

/// Each fault of the fake, one run each: the run ends with the merge and
/// one batch per file.
#[test]
fn each_fault_of_the_fake_is_met() {
    let faults = [
        (
            "429",
            Fault::TooManyRequests {
                retry_after_ms: 300,
            },
        ),
        ("500", Fault::ServerError),
        ("create-then-fail", Fault::CreateThenFail),
        ("create-then-drop", Fault::CreateThenDrop),
        ("cut-download", Fault::CutDownload),
        ("expired-url", Fault::ExpiredUrl),
        ("fail-batch", Fault::FailBatch),
    ];
    for (name, fault) in faults {
        let fake = fake(50, 150);
        let work = scratch(&format!("fault-{name}"));
        let input = requests(&work, 3, 60);
        let dir = work.join("campaign");
        fake.inject(fault);
        let o = campaign(&fake, &dir, &["--max-records", "30", p(&input)]);
        let err = ok(&o);
        assert_eq!(fake.creates(), 2, "{name}: {err}");
        let s = summary(&dir);
        assert_eq!(s["requests"], 60, "{name}");
        match name {
            "fail-batch" => {
                assert!(err.contains("FAILED as a whole"), "{err}");
                assert_eq!(s["missing"], 30, "{name}");
            }
            "create-then-fail" | "create-then-drop" => {
                assert!(err.contains("may have made a batch"), "{name}: {err}");
                assert!(err.contains("adopted"), "{name}: {err}");
                assert_eq!(s["missing"], 0, "{name}");
            }
            _ => assert_eq!(s["missing"], 0, "{name}: {err}"),
        }
        if name == "429" {
            assert!(fake.log().iter().any(|l| l.status == 429));
        }
        if name == "cut-download" {
            let gets = fake
                .log()
                .iter()
                .filter(|l| l.origin == Origin::Storage)
                .count();
            assert!(gets >= 3, "fetched again: {gets}");
        }
    }
}

/// `--no-wait` exits once the creates are sent; a later run waits and
/// finishes without creating again.
#[test]
fn no_wait_then_resume() {
    let fake = fake(200, 500);
    let work = scratch("nowait");
    let input = requests(&work, 5, 90);
    let dir = work.join("campaign");
    let err = ok(&campaign(
        &fake,
        &dir,
        &["--no-wait", "--max-records", "30", p(&input)],
    ));
    assert!(err.contains("3 of 3 batch files created"), "{err}");
    assert_eq!(fake.creates(), 3);
    assert!(!dir.join("merged.jsonl").exists());
    // With a cap, --no-wait creates what the cap lets through.
    let capped = work.join("capped");
    let err = ok(&campaign(
        &fake,
        &capped,
        &[
            "--no-wait",
            "--max-records",
            "30",
            "--max-in-flight",
            "2",
            p(&input),
        ],
    ));
    assert!(err.contains("2 of 3 batch files created"), "{err}");
    assert_eq!(fake.creates(), 5);
    ok(&campaign(&fake, &dir, &[]));
    ok(&campaign(&fake, &capped, &[]));
    assert_eq!(fake.creates(), 6);
    assert_eq!(summary(&dir)["requests"], 90);
    assert_eq!(summary(&capped)["requests"], 90);
}

/// `--retry-rounds 1`: the second round holds exactly the requests the
/// first did not complete, and the merge covers both rounds.
#[test]
fn a_retry_round_holds_only_what_did_not_complete() {
    let fake = fake(50, 150);
    let work = scratch("rounds");
    let input = requests(&work, 9, 600);
    let dir = work.join("campaign");
    // Round 1 alone first, to know what it left.
    ok(&campaign(&fake, &dir, &[p(&input)]));
    let merged = fs::read_to_string(dir.join("merged.jsonl")).unwrap();
    let not_completed: BTreeSet<String> = merged
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["status"] != "COMPLETED")
        .map(|v| v["request_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!not_completed.is_empty());
    let s1 = summary(&dir);
    // A resume raises the rounds: the finished campaign runs round 2.
    let err = ok(&campaign(&fake, &dir, &["--retry-rounds", "1"]));
    assert!(err.contains("round 2:"), "{err}");
    let round2 = jsonl_in(&dir.join("rounds/2/batches"));
    assert_eq!(ids(&round2), not_completed);
    assert!(dir.join("rounds/2/results/batch-00001.jsonl").exists());
    let s2 = summary(&dir);
    assert_eq!(s2["requests"], 600);
    assert!(
        s2["completed"].as_u64() > s1["completed"].as_u64(),
        "{s1} {s2}"
    );
    // Lowering the rounds, or another recorded option, is refused.
    let o = campaign(&fake, &dir, &["--retry-rounds", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let o = campaign(&fake, &dir, &["--prefix", "other"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--prefix"), "{}", text(&o.stderr));
}

/// `--dry-run` records no batch; a later run submits for real.
#[test]
fn a_dry_run_records_no_batch() {
    let fake = fake(50, 150);
    let work = scratch("dry");
    let input = requests(&work, 4, 50);
    let dir = work.join("campaign");
    let o = campaign(
        &fake,
        &dir,
        &["--dry-run", "--max-records", "25", p(&input)],
    );
    let err = ok(&o);
    assert!(
        err.contains("batches/batch-00001.jsonl: VALIDATED"),
        "{err}"
    );
    assert!(err.contains("2 of 2 batch files VALIDATED"), "{err}");
    assert_eq!(fake.creates(), 0);
    assert_eq!(journal_lines(&dir), 1, "the header alone");
    ok(&campaign(&fake, &dir, &[]));
    assert_eq!(fake.creates(), 2);
}

/// A create that may have made a batch, with another batch of the same
/// size made meanwhile: the run stops naming both, every later run stops
/// the same way, and `--adopt` settles it; adopting the wrong one is caught
/// when its results are in.
#[test]
fn two_candidates_stop_until_settled() {
    let fake = fake(50, 150);
    let work = scratch("candidates");
    let input = requests(&work, 6, 20);
    let other = work.join("other.jsonl");
    // Someone else's batch of the same size: other ids.
    let theirs_text = String::from_utf8(syncbatch::generate::records(99, 20))
        .unwrap()
        .replace("\"request_id\":\"req-", "\"request_id\":\"other-");
    fs::write(&other, theirs_text).unwrap();
    let o = run(
        &fake,
        &["batch", "create", p(&other), "--rate-limit", "6000"],
    );
    let theirs: Value = serde_json::from_slice(&o.stdout).unwrap();
    let theirs = theirs["id"].as_str().unwrap().to_owned();
    let dir = work.join("campaign");
    fake.inject(Fault::CreateThenFail);
    let o = campaign(&fake, &dir, &[p(&input)]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&theirs) && err.contains("batch_000002"),
        "{err}"
    );
    assert!(err.contains("--adopt batches/batch-00001.jsonl="), "{err}");
    let o = campaign(&fake, &dir, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains(&theirs));
    // The wrong one: caught once its results are in.
    let o = campaign(
        &fake,
        &dir,
        &["--adopt", &format!("batch-00001.jsonl={theirs}")],
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("someone else's"), "{err}");
    assert!(!dir.join("results/batch-00001.jsonl").exists());
    // The right one.
    let err = ok(&campaign(
        &fake,
        &dir,
        &["--adopt", "batches/batch-00001.jsonl=batch_000002"],
    ));
    assert!(err.contains("merged into"), "{err}");
    assert_eq!(fake.creates(), 2, "never created again");
    assert_eq!(summary(&dir)["missing"], 0);
}

/// SIGTERM while waiting: exit 130, the journal consistent, and a resume
/// finishes. Bad input: exit 1, nothing sent. A directory not empty, or
/// not a campaign: exit 2.
#[test]
fn signals_bad_input_and_bad_directories() {
    let fake = fake(2000, 2000);
    let work = scratch("signals");
    let input = requests(&work, 8, 40);
    let dir = work.join("campaign");
    let child = command(
        &fake,
        &[
            "run",
            "--dir",
            p(&dir),
            "--poll-interval",
            "0.1",
            "--rate-limit",
            "6000",
            p(&input),
        ],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while journal_lines(&dir) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("run it again"),
        "{}",
        text(&o.stderr)
    );
    let err = ok(&campaign(&fake, &dir, &[]));
    assert!(err.contains("merged into"), "{err}");
    assert_eq!(fake.creates(), 1);

    let bad = work.join("bad.jsonl");
    fs::write(&bad, b"{\"request_id\":\"a\"}\n").unwrap();
    let fresh = work.join("fresh");
    let o = campaign(&fake, &fresh, &[p(&bad)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(!fresh.exists(), "nothing left behind");
    assert_eq!(fake.creates(), 1);

    let o = campaign(&fake, &dir, &[p(&input)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("leave the inputs out to resume"));
    let o = campaign(&fake, &work, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("holds no campaign"));
    let o = Command::new(bin())
        .args(["run", "--dir", p(&dir)])
        .env_remove("SYNC_API_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("SYNC_API_KEY"));
}

/// `--strict` fails the run (and every later run of the finished
/// campaign) when a request did not complete; `--webhook-url` goes with
/// every create.
#[test]
fn strict_and_the_webhook_are_kept() {
    let fake = fake(50, 150);
    let work = scratch("strict");
    let input = requests(&work, 12, 40);
    let dir = work.join("campaign");
    let o = campaign(
        &fake,
        &dir,
        &[
            "--strict",
            "--webhook-url",
            "https://hooks.example.com/sync",
            p(&input),
        ],
    );
    let err = text(&o.stderr);
    let s = summary(&dir);
    assert!(
        s["completed"].as_u64() < Some(40),
        "the fake fails some: {s}"
    );
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("--strict:"), "{err}");
    let o = campaign(&fake, &dir, &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "exits as the run that finished it did"
    );
    let o = run(
        &fake,
        &["batch", "get", "batch_000001", "--rate-limit", "6000"],
    );
    let batch: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        batch["webhookUrl"], "https://hooks.example.com/sync",
        "{batch}"
    );
}
