//! `syncbatch split`, run as a user runs it; every batch it writes is checked
//! with the real `syncbatch validate`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

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

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncbatch-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A scratch directory with `n` generated records in `in.jsonl`: the
/// directory, the input and an output path `out` not made yet.
fn input_and_out(name: &str, n: usize, seed: u64) -> (PathBuf, PathBuf, PathBuf) {
    let dir = scratch(name);
    let file = dir.join("in.jsonl");
    fs::write(&file, generated(n, seed)).unwrap();
    let out = dir.join("out");
    (dir, file, out)
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

fn generated(n: usize, seed: u64) -> Vec<u8> {
    syncbatch::generate::records(seed, n)
}

fn batch_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("batch-")
        })
        .collect();
    files.sort();
    files
}

/// Splits `input` and checks the output: each batch valid by the real
/// validator with the same limits, manifest consistent, records in order.
fn split_ok(name: &str, input: &[u8], extra: &[&str]) -> (PathBuf, Vec<usize>) {
    let dir = scratch(name);
    let file = dir.join("input.jsonl");
    fs::write(&file, input).unwrap();
    let out = dir.join("out");
    let mut args = vec![
        "split",
        "--out",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let batches = batch_files(&out);
    let limit_args: Vec<&str> = extra
        .windows(2)
        .filter(|w| w[0].starts_with("--m"))
        .flat_map(|w| [w[0], w[1]])
        .collect();
    let mut counts = Vec::new();
    let mut joined = Vec::new();
    for b in &batches {
        let mut v = vec!["validate", "--format", "json"];
        v.extend_from_slice(&limit_args);
        v.push(b.to_str().unwrap());
        let o = run(&v);
        let summary: Value = serde_json::from_str(text(&o.stdout).lines().last().unwrap()).unwrap();
        assert_eq!(
            summary["summary"]["errors"],
            0,
            "{}: {}",
            b.display(),
            text(&o.stdout)
        );
        assert_eq!(o.status.code(), Some(0));
        let bytes = fs::read(b).unwrap();
        counts.push(bytes.iter().filter(|&&c| c == b'\n').count());
        joined.extend_from_slice(&bytes);
    }
    let manifest: Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let listed: Vec<u64> = manifest["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["records"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, counts.iter().map(|&c| c as u64).collect::<Vec<_>>());
    // Each file's hash, as `sha2` computes it from the file on disk.
    for (b, entry) in batches.iter().zip(manifest["batches"].as_array().unwrap()) {
        use sha2::Digest;
        let want: String = sha2::Sha256::digest(fs::read(b).unwrap())
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect();
        assert_eq!(entry["sha256"], want.as_str(), "{}", b.display());
    }
    assert_eq!(
        manifest["records"].as_u64().unwrap() as usize,
        counts.iter().sum::<usize>()
    );
    // Records keep their order and bytes: the batches concatenated are the
    // input's non-blank lines, BOM dropped and `\r\n` made `\n`.
    let mut expected = Vec::new();
    let body = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.iter().all(|b| b.is_ascii_whitespace()) {
            expected.extend_from_slice(line);
            expected.push(b'\n');
        }
    }
    if !extra.contains(&"--skip-invalid") && !extra.contains(&"--wrap") {
        assert_eq!(joined, expected);
    }
    (out, counts)
}

#[test]
fn exact_record_counts() {
    for (n, want) in [
        (20, vec![20]),
        (500, vec![500]),
        (501, vec![481, 20]),
        (510, vec![490, 20]),
        (1000, vec![500, 500]),
        (1001, vec![500, 481, 20]),
    ] {
        let (_, counts) = split_ok(&format!("n{n}"), &generated(n, n as u64), &[]);
        assert_eq!(counts, want, "{n} records");
    }
}

/// Enough batches for the writer's groups of sixteen files hashed side by
/// side (and a short group at the end), of slightly different lengths:
/// `split_ok` checks every hash in the manifest against the file's.
#[test]
fn manifest_hashes_match_the_files_in_groups_and_alone() {
    let (_, counts) = split_ok(
        "hash-groups",
        &generated(750, 12),
        &["--max-records", "20", "--min-records", "1"],
    );
    assert_eq!(counts.len(), 38);
}

#[test]
fn too_few_records_write_nothing() {
    let dir = scratch("n19");
    let file = dir.join("in.jsonl");
    fs::write(&file, generated(19, 1)).unwrap();
    let out = dir.join("out");
    let o = run(&[
        "split",
        "--out",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("19 valid records in all; a batch needs at least 20"));
    assert!(!out.exists(), "the output directory is left behind");
}

#[test]
fn byte_limit_forces_more_batches() {
    // 60 records of about 400 bytes under a 6,000-byte limit: 14 or so per
    // batch, so the byte limit, not the count, sets the split.
    let input = generated(60, 9);
    let (_, counts) = split_ok(
        "bytes",
        &input,
        &["--max-bytes", "6000", "--min-records", "3"],
    );
    assert!(counts.len() >= 4, "{counts:?}");
    assert!(counts.iter().all(|&c| c >= 3));
}

#[test]
fn a_record_over_the_byte_limit_is_refused() {
    let mut input = generated(30, 2);
    let big = format!(
        "{{\"request_id\":\"big\",\"endpoint\":\"/v2/generate\",\"payload\":{{\"model\":\"lipsync-2\",\"projectId\":\"{}\",\"input\":[]}}}}\n",
        "p".repeat(20_000)
    );
    input.extend_from_slice(big.as_bytes());
    let dir = scratch("big");
    let file = dir.join("in.jsonl");
    fs::write(&file, &input).unwrap();
    let out = dir.join("out");
    let o = run(&[
        "split",
        "--max-bytes",
        "10000",
        "--min-records",
        "5",
        "--out",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains(":31: error[record_too_large]"),
        "{}",
        text(&o.stderr)
    );
    assert!(!out.exists());
    let o = run(&[
        "split",
        "--skip-invalid",
        "--max-bytes",
        "10000",
        "--min-records",
        "5",
        "--out",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let rejected: Vec<Value> = text(&fs::read(out.join("rejected.ndjson")).unwrap())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["code"], "record_too_large");
    assert_eq!(rejected[0]["line"], 31);
    let manifest: Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["rejected"], 1);
    assert_eq!(manifest["records"], 30);
}

#[test]
fn skip_invalid_refuses_and_reports_every_bad_line() {
    let mut g = syncbatch::generate::Generator::new(21).invalid_fraction(0.2);
    let mut input = Vec::new();
    let mut bad = 0;
    for _ in 0..200 {
        if let Some(code) = g.next_record(&mut input) {
            bad += usize::from(!matches!(
                code,
                "crlf"
                    | "blank_line"
                    | "long_request_id"
                    | "request_id_whitespace"
                    | "unknown_model"
                    | "deprecated_model"
                    | "unknown_field"
                    | "unknown_option"
                    | "deprecated_option"
            ));
        }
    }
    let (out, _) = split_ok("skip", &input, &["--skip-invalid"]);
    let rejected = text(&fs::read(out.join("rejected.ndjson")).unwrap());
    assert_eq!(rejected.lines().count(), bad);
    for line in rejected.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["raw"].is_string() && v["line"].as_u64().unwrap() >= 1 && v["code"].is_string());
    }
}

/// Refused lines' errors print in any of validate's formats, and
/// --max-errors caps how many print while the count goes on.
#[test]
fn refused_lines_print_in_the_chosen_format_up_to_max_errors() {
    let dir = scratch("maxerr");
    let file = dir.join("in.jsonl");
    let mut input = generated(20, 3);
    input.extend_from_slice(b"not json\n[1]\n{\"request_id\":\"x\"\n");
    fs::write(&file, &input).unwrap();
    let split = |extra: &[&str]| {
        let out = dir.join("out");
        let mut args = vec!["split", "--out", out.to_str().unwrap()];
        args.extend(extra);
        args.push(file.to_str().unwrap());
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1));
        assert!(!out.exists());
        text(&o.stderr)
    };
    let all = split(&["--format", "json"]);
    let objects: Vec<Value> = all
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|o| o.get("summary").is_none())
        .collect();
    let lines: Vec<u64> = objects
        .iter()
        .map(|o| o["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [21, 22, 23], "{all}");
    assert!(objects.iter().all(|o| o["severity"] == "error"));
    let capped = split(&["--format", "github", "--max-errors", "1"]);
    assert_eq!(
        capped.lines().collect::<Vec<_>>(),
        [
            "::error file=".to_owned()
                + file.to_str().unwrap()
                + ",line=21,col=2::[invalid_json] not one JSON value: expected ident",
            "syncbatch: 2 more diagnostics not shown (--max-errors)".to_owned(),
            "syncbatch: 3 invalid records; nothing was written (--skip-invalid splits the valid ones)"
                .to_owned(),
        ],
        "{capped}"
    );
}

#[test]
fn bom_crlf_and_blank_lines_are_normalised() {
    let records = text(&generated(25, 3));
    let mut input = b"\xEF\xBB\xBF".to_vec();
    for (i, line) in records.lines().enumerate() {
        input.extend_from_slice(line.as_bytes());
        input.extend_from_slice(if i % 2 == 0 { b"\r\n" } else { b"\n" });
        if i % 10 == 0 {
            input.extend_from_slice(b"  \n");
        }
    }
    let (out, counts) = split_ok("norm", &input, &[]);
    assert_eq!(counts, [25]);
    let manifest: Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["dropped_blank_lines"], 3);
    assert_eq!(manifest["inputs"][0]["records"], 25);
    assert_eq!(manifest["inputs"][0]["bytes"], input.len());
    // An input of a byte order mark alone still counts its three bytes.
    let dir = scratch("bom-alone");
    let (full, bom) = (dir.join("full.jsonl"), dir.join("bom.jsonl"));
    fs::write(&full, &input).unwrap();
    fs::write(&bom, b"\xEF\xBB\xBF").unwrap();
    let out = dir.join("out");
    let run = run(&[
        "split",
        "--out",
        out.to_str().unwrap(),
        full.to_str().unwrap(),
        bom.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let manifest: Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["inputs"][1]["bytes"], 3);
    assert_eq!(manifest["inputs"][1]["records"], 0);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrap_makes_envelopes_and_refuses_colliding_ids() {
    let mut g = syncbatch::generate::Generator::new(4);
    let mut input = Vec::new();
    for _ in 0..30 {
        g.next_payload(&mut input);
    }
    let (out, counts) = split_ok("wrap", &input, &["--wrap", "--id-prefix", "job-"]);
    assert_eq!(counts, [30]);
    let batch = text(&fs::read(out.join("batch-00001.jsonl")).unwrap());
    let first: Value = serde_json::from_str(batch.lines().next().unwrap()).unwrap();
    assert_eq!(first["request_id"], "job-1");
    assert_eq!(first["endpoint"], "/v2/generate");
    let original: Value = serde_json::from_str(text(&input).lines().next().unwrap()).unwrap();
    assert_eq!(first["payload"], original);
    // Without --wrap, a bare request is missing its fields.
    let dir = scratch("nowrap");
    let file = dir.join("in.jsonl");
    fs::write(&file, &input).unwrap();
    let o = run(&[
        "split",
        "--out",
        dir.join("o").to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("error[missing_field]"));
    // A given id equal to a generated one is a duplicate, not a silent twin.
    let mut mixed = format!(
        "{{\"request_id\":\"req-2\",\"endpoint\":\"/v2/generate\",\"payload\":{}}}\n",
        text(&input).lines().next().unwrap()
    )
    .into_bytes();
    mixed.extend_from_slice(&input);
    fs::write(&file, &mixed).unwrap();
    let o = run(&[
        "split",
        "--wrap",
        "--out",
        dir.join("o2").to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("error[duplicate_request_id]"),
        "{}",
        text(&o.stderr)
    );
    // --id-prefix without --wrap would do nothing, and a prefix with a
    // control character would make every id invalid: both are usage errors.
    fs::write(&file, &input).unwrap();
    for (args, why) in [
        (
            &["--id-prefix", "job-"][..],
            "required arguments were not provided",
        ),
        (
            &["--wrap", "--id-prefix", "job\t"][..],
            "--id-prefix holds the control character U+0009",
        ),
    ] {
        let o2 = dir.join("o3");
        let mut all = vec!["split", "--out", o2.to_str().unwrap()];
        all.extend(args);
        all.push(file.to_str().unwrap());
        let o = run(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(text(&o.stderr).contains(why), "{}", text(&o.stderr));
        assert!(!o2.exists());
    }
}

#[test]
fn ids_must_be_unique_over_all_inputs() {
    let dir = scratch("multi");
    let a = dir.join("a.jsonl");
    let b = dir.join("b.jsonl");
    fs::write(&a, generated(15, 5)).unwrap();
    fs::write(&b, generated(15, 6)).unwrap(); // the same ids req-1..req-15
    let out = dir.join("out");
    let o = run(&[
        "split",
        "--out",
        out.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("b.jsonl:1:") && err.contains("was first used on line 1 of"),
        "{err}"
    );
    // With distinct ids the two inputs make one stream.
    let other = text(&generated(15, 6)).replace("\"req-", "\"other-");
    fs::write(&b, other).unwrap();
    let o = run(&[
        "split",
        "--out",
        out.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(batch_files(&out).len(), 1);
    let manifest: Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(manifest["batches"][0]["first_request_id"], "req-1");
    assert_eq!(manifest["batches"][0]["last_request_id"], "other-15");
}

#[test]
fn same_inputs_give_byte_identical_outputs() {
    let input = generated(1200, 8);
    let (a, _) = split_ok("det-a", &input, &[]);
    let (b, _) = split_ok("det-b", &input, &[]);
    assert_eq!(names(&a), names(&b));
    for name in names(&a) {
        let (x, y) = (
            fs::read(a.join(&name)).unwrap(),
            fs::read(b.join(&name)).unwrap(),
        );
        if name == "manifest.json" {
            // Input paths differ between the two scratch dirs; all else is equal.
            let (mut x, mut y): (Value, Value) = (
                serde_json::from_slice(&x).unwrap(),
                serde_json::from_slice(&y).unwrap(),
            );
            x["inputs"][0]["path"] = Value::Null;
            y["inputs"][0]["path"] = Value::Null;
            assert_eq!(x, y);
        } else {
            assert_eq!(x, y, "{name}");
        }
    }
}

#[test]
fn a_non_empty_directory_needs_force_and_force_replaces_stale_files() {
    let input = generated(1001, 10);
    let (out, _) = split_ok("force", &input, &[]);
    let file = out.parent().unwrap().join("input.jsonl");
    let o = run(&[
        "split",
        "--out",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("not empty"));
    fs::write(&file, generated(500, 10)).unwrap(); // one batch
    let o = run(&[
        "split",
        "--force",
        "--out",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(batch_files(&out).len(), 1, "stale batch files remain");
}

#[test]
fn an_output_path_that_is_a_file_is_refused_and_left_alone() {
    let dir = scratch("outfile");
    let file = dir.join("in.jsonl");
    fs::write(&file, generated(40, 15)).unwrap();
    let out = dir.join("taken");
    fs::write(&out, "keep me").unwrap();
    let o = run(&[
        "split",
        "--out",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: not usable as the output directory",
            out.display()
        )),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(&out).unwrap(), "keep me");
}

#[test]
fn what_a_killed_split_set_aside_is_named_and_cleared_by_force() {
    let (_, file, out) = input_and_out("killed", 40, 16);
    // No process has this id: it is above Linux's largest (2^22).
    let leftover = out.join(".syncbatch-staging-4294967");
    fs::create_dir_all(&leftover).unwrap();
    fs::write(leftover.join("batch-00001.jsonl"), "half a batch").unwrap();
    let args = [
        "split",
        "--out",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(2));
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains(".syncbatch-staging-4294967, set aside by a split that was killed")
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(leftover.exists(), "removed without --force");
    let o = run(&[&args[..], &["--force"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(!leftover.exists());
    assert_eq!(names(&out), ["batch-00001.jsonl", "manifest.json"]);
}

/// A new output directory is staged beside it, hidden, and renamed into
/// place whole; what killed splits into the same directory left beside it
/// goes, what a running one stages is left alone.
#[test]
fn a_new_output_directory_appears_whole_and_dead_staging_beside_it_goes() {
    let (dir, file, out) = input_and_out("beside", 40, 17);
    // No process has this id: it is above Linux's largest (2^22). This test
    // is running, so its own id is a live split's.
    let dead = dir.join(".out.syncbatch-staging-4294967");
    let live = dir.join(format!(".out.syncbatch-staging-{}", std::process::id()));
    let other = dir.join(".other.syncbatch-staging-4294967");
    for d in [&dead, &live, &other] {
        fs::create_dir_all(d).unwrap();
        fs::write(d.join("batch-00001.jsonl"), "half a batch").unwrap();
    }
    let o = run(&[
        "split",
        "--out",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let live_name = live.file_name().unwrap().to_string_lossy().into_owned();
    let mut want = vec![
        ".other.syncbatch-staging-4294967".to_owned(),
        live_name,
        "in.jsonl".into(),
        "out".into(),
    ];
    want.sort();
    assert_eq!(names(&dir), want);
    assert_eq!(names(&out), ["batch-00001.jsonl", "manifest.json"]);
}

/// `-`, or no INPUT at all, reads standard input (the contract's rule for
/// every subcommand); the manifest names it `<stdin>`.
#[test]
fn reads_standard_input() {
    let dir = scratch("stdin");
    for (i, inputs) in [&["-"][..], &[][..]].into_iter().enumerate() {
        let out = dir.join(format!("out-{i}"));
        let mut child = Command::new(bin())
            .args(["split", "--out", out.to_str().unwrap()])
            .args(inputs)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&generated(40, 12))
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{inputs:?}: {}", text(&o.stderr));
        assert_eq!(batch_files(&out).len(), 1);
        let manifest: serde_json::Value =
            serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["inputs"][0]["path"], "<stdin>");
        assert_eq!(manifest["inputs"][0]["records"], 40);
    }
}

/// Runs a shell script in a private mount namespace (`unshare`), where it may
/// mount small or read-only file systems.
fn in_mount_namespace(script: &str) -> Output {
    Command::new("unshare")
        .args(["-rm", "sh", "-c", script])
        .output()
        .expect("unshare (util-linux) runs the fault tests")
}

#[test]
fn a_full_disk_gives_a_clear_error_and_no_partial_batch() {
    let dir = scratch("full");
    let file = dir.join("in.jsonl");
    fs::write(&file, generated(3000, 13)).unwrap(); // about 1.3 MB
    let mnt = dir.join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=512k tmpfs {m} && {bin} split --out {m}/out {f}; echo \"rc=$?\"; ls -A {m} {m}/out 2>&1",
        m = mnt.display(),
        bin = bin(),
        f = file.display()
    );
    let o = in_mount_namespace(&script);
    let stdout = text(&o.stdout);
    let stderr = text(&o.stderr);
    assert!(stdout.contains("rc=2"), "{stdout} {stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        !stdout.contains("batch-0"),
        "a batch file was left: {stdout}"
    );
    assert!(
        !stdout.contains(".syncbatch-staging"),
        "staging was left: {stdout}"
    );
}

#[test]
fn an_unwritable_directory_gives_a_clear_error() {
    let dir = scratch("ro");
    let file = dir.join("in.jsonl");
    fs::write(&file, generated(40, 14)).unwrap();
    let mnt = dir.join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    let script = format!(
        "mount -t tmpfs -o ro,size=64k tmpfs {m} && {bin} split --out {m}/out {f}; echo \"rc=$?\"; ls -A {m}",
        m = mnt.display(),
        bin = bin(),
        f = file.display()
    );
    let o = in_mount_namespace(&script);
    let stdout = text(&o.stdout);
    let stderr = text(&o.stderr);
    assert!(stdout.contains("rc=2"), "{stdout} {stderr}");
    assert!(
        stderr.contains("cannot create") && stderr.contains("Read-only file system"),
        "{stderr}"
    );
    assert_eq!(stdout.lines().count(), 1, "something was written: {stdout}");
}

#[test]
fn dry_run_prints_the_manifest_a_real_run_writes_and_writes_nothing() {
    // Several batches under a byte limit, blank lines, refused lines: the
    // manifest must match the real run's field for field, hashes included.
    let mut g = syncbatch::generate::Generator::new(33).invalid_fraction(0.1);
    let mut input = Vec::new();
    for _ in 0..300 {
        g.next_record(&mut input);
    }
    let dir = scratch("dry");
    let file = dir.join("in.jsonl");
    fs::write(&file, &input).unwrap();
    let file = file.to_str().unwrap();
    let limits = ["--max-bytes", "30000", "--skip-invalid", "--prefix", "part"];

    let never = dir.join("never");
    let mut args = vec!["split", "--dry-run", "--out", never.to_str().unwrap()];
    args.extend(limits);
    args.push(file);
    let dry = run(&args);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert!(!never.exists(), "a dry run created its --out");
    assert!(text(&dry.stderr).contains("nothing written"));

    let out = dir.join("out");
    let mut args = vec!["split", "--out", out.to_str().unwrap()];
    args.extend(limits);
    args.push(file);
    let real = run(&args);
    assert_eq!(real.status.code(), Some(0), "{}", text(&real.stderr));
    let written = fs::read(out.join("manifest.json")).unwrap();
    assert_eq!(text(&dry.stdout), text(&written));
    let manifest: Value = serde_json::from_slice(&written).unwrap();
    assert!(manifest["batches"].as_array().unwrap().len() > 1);
    assert!(manifest["rejected"].as_u64().unwrap() > 0);

    // Every refused line is reported: one line of errors or more each.
    let reported = text(&dry.stderr).matches(": error[").count() as u64;
    assert!(reported >= manifest["rejected"].as_u64().unwrap());
}

#[test]
fn dry_run_of_a_non_compliant_input_fails_and_prints_no_manifest() {
    let dir = scratch("dry-n7");
    let file = dir.join("in.jsonl");
    fs::write(&file, generated(7, 2)).unwrap();
    let o = run(&["split", "--dry-run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(text(&o.stderr).contains("7 valid records in all; a batch needs at least 20"));
}

/// Waits (up to 20 s) until `ready` holds.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(
            start.elapsed().as_secs() < 20,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The next `n` records of `g`.
fn records(g: &mut syncbatch::generate::Generator, n: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    for _ in 0..n {
        g.next_record(&mut buf);
    }
    buf
}

/// Starts a split of standard input into `out`, feeds it enough records for
/// batches to be written aside, waits until they are, and sends SIGINT.
/// Gives back the process and its still open standard input.
fn split_then_sigint(
    out: &Path,
    g: &mut syncbatch::generate::Generator,
) -> (std::process::Child, std::process::ChildStdin) {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(["split", "--out", out.to_str().unwrap(), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&records(g, 3000)).unwrap();
    // The output directory does not exist: the split stages beside it, and
    // the directory appears only when the split is whole.
    let staging = out
        .parent()
        .unwrap()
        .join(format!(".out.syncbatch-staging-{}", child.id()));
    wait_for("a batch written aside", || {
        fs::read_dir(&staging).is_ok_and(|mut d| d.next().is_some())
    });
    assert!(
        !out.exists(),
        "the output directory appeared before the end"
    );
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    (child, stdin)
}

#[test]
fn ctrl_c_stops_the_split_and_leaves_nothing_behind() {
    use std::io::Write;
    let out = scratch("sigint").join("out");
    let mut g = syncbatch::generate::Generator::new(21);
    let (mut child, mut stdin) = split_then_sigint(&out, &mut g);
    // More input wakes the reader; the input never ends, so only the
    // signal can stop the split.
    while stdin.write_all(&records(&mut g, 100)).is_ok() {
        std::thread::sleep(std::time::Duration::from_millis(10));
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("interrupted; nothing written"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        !out.exists(),
        "the output directory it made is left: {:?}",
        fs::read_dir(&out).map(|d| d.count())
    );
    nothing_staged_beside(&out);
}

/// No staging directory is left beside `out`.
fn nothing_staged_beside(out: &Path) {
    let left: Vec<String> = fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("syncbatch-staging"))
        .collect();
    assert!(left.is_empty(), "staging left beside the output: {left:?}");
}

#[test]
fn ctrl_c_while_the_input_is_silent_still_stops_and_cleans_up() {
    let out = scratch("sigint-silent").join("out");
    let mut g = syncbatch::generate::Generator::new(22);
    // The split now waits on a pipe that stays open and silent, as a
    // terminal would: the signal alone must end it.
    let (mut child, stdin) = split_then_sigint(&out, &mut g);
    wait_for("the split to exit", || child.try_wait().unwrap().is_some());
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    assert!(
        !out.exists(),
        "left behind: {:?}",
        fs::read_dir(&out).map(|d| d.count())
    );
    nothing_staged_beside(&out);
}

/// A file name that is not UTF-8 (legal on Unix) is read like any other,
/// by validate and split alike, and named with U+FFFD in what they write.
#[test]
fn file_names_need_not_be_utf8() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch("non-utf8-name");
    let input = dir.join(OsStr::from_bytes(b"in-\xFF.jsonl"));
    fs::write(&input, generated(30, 5)).unwrap();
    let out = dir.join("out");
    let run = Command::new(bin())
        .arg("split")
        .arg("--out")
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let manifest: Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let path = manifest["inputs"][0]["path"].as_str().unwrap();
    assert!(path.ends_with("in-\u{FFFD}.jsonl"), "{path}");
    assert_eq!(manifest["records"], 30);
    let run = Command::new(bin())
        .args(["validate", "--format", "json"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(text(&run.stdout).contains("in-\u{FFFD}.jsonl\",\"summary\":{\"records\":30"));
    fs::remove_dir_all(&dir).unwrap();
}
