//! `syncbatch validate`, run as a user runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn syncbatch(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncbatch"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `args` and checks that it is refused as a usage error (exit 2)
/// whose message says `says`.
fn refused(args: &[&str], says: &str) -> Output {
    let run = syncbatch(args, None);
    assert_eq!(run.status.code(), Some(2), "{args:?}");
    assert!(
        text(&run.stderr).contains(says),
        "{args:?}: {}",
        text(&run.stderr)
    );
    run
}

const GOOD: &str = "examples/data/input.jsonl";
const MIXED: &str = "examples/data/mixed.jsonl";

#[test]
fn a_good_file_exits_0_with_a_summary() {
    let out = syncbatch(&["validate", GOOD], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "examples/data/input.jsonl: 20 records, 5051 bytes, 0 errors, 0 warnings: valid\n"
    );
}

#[test]
fn a_bad_file_exits_1_with_positioned_diagnostics() {
    let out = syncbatch(&["validate", MIXED], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.ends_with(
            "examples/data/mixed.jsonl: 40 records, 15770 bytes, 10 errors, 1 warning: NOT VALID\n"
        ),
        "{stdout}"
    );
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with("examples/data/mixed.jsonl:1:")
            && first.contains("error[bad_output_file_name]"),
        "{first}"
    );
    assert!(stdout.lines().last().unwrap().ends_with("NOT VALID"));
}

#[test]
fn json_format_is_one_object_per_diagnostic_then_a_summary() {
    let out = syncbatch(&["validate", "--format", "json", MIXED], None);
    assert_eq!(out.status.code(), Some(1));
    let values: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (summary, diagnostics) = values.split_last().unwrap();
    assert!(!diagnostics.is_empty());
    for d in diagnostics {
        for key in [
            "file",
            "line",
            "column",
            "byte",
            "severity",
            "code",
            "message",
            "request_id",
            "path",
        ] {
            assert!(d.get(key).is_some(), "{key} missing in {d}");
        }
        assert_eq!(d["file"], MIXED);
        assert!(d["line"].as_u64().unwrap() >= 1);
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d["severity"] == "error")
        .count();
    assert_eq!(summary["file"], MIXED);
    assert_eq!(
        summary["summary"]["errors"].as_u64().unwrap() as usize,
        errors
    );
    assert_eq!(summary["summary"]["records"], 40);
    assert_eq!(summary["summary"]["valid"], false);
}

#[test]
fn github_format_prints_annotations() {
    let out = syncbatch(&["validate", "--format", "github", MIXED], None);
    let stdout = text(&out.stdout);
    assert!(stdout
        .lines()
        .all(|l| l.starts_with("::error file=") || l.starts_with("::warning file=")));
    assert!(stdout.contains(",line=1,col="));
}

#[test]
fn max_errors_limits_printing_not_counting() {
    let all = syncbatch(&["validate", "--format", "json", MIXED], None);
    let two = syncbatch(
        &["validate", "--format", "json", "--max-errors", "2", MIXED],
        None,
    );
    let lines: Vec<&str> = std::str::from_utf8(&two.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2], text(&all.stdout).lines().last().unwrap());
    assert_eq!(two.status.code(), Some(1));
}

#[test]
fn deny_warnings_makes_warnings_count() {
    let input = std::fs::read_to_string(GOOD)
        .unwrap()
        .replace("lipsync-2", "lipsync-1.6.0");
    let plain = syncbatch(&["validate"], Some(input.as_bytes()));
    assert_eq!(plain.status.code(), Some(0));
    assert!(text(&plain.stdout).contains("warning[deprecated_model]"));
    let strict = syncbatch(
        &["validate", "--deny-warnings", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(strict.status.code(), Some(1));
    assert!(text(&strict.stdout).contains("<stdin>: 20 records"));
}

#[test]
fn limit_flags_apply() {
    let one = std::fs::read_to_string(GOOD)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned()
        + "\n";
    assert_eq!(
        syncbatch(&["validate"], Some(one.as_bytes())).status.code(),
        Some(1)
    );
    let out = syncbatch(&["validate", "--min-records", "1"], Some(one.as_bytes()));
    assert_eq!(out.status.code(), Some(0));
    let out = syncbatch(
        &[
            "validate",
            "--max-records",
            "10",
            "--min-records",
            "1",
            GOOD,
        ],
        None,
    );
    assert!(text(&out.stdout).contains(":11: error[too_many_records]"));
    let out = syncbatch(&["validate", "--max-bytes", "1000", GOOD], None);
    assert!(
        text(&out.stdout).contains(":4: error[file_too_large]"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_missing_file_is_an_io_error_and_the_others_still_run() {
    let out = syncbatch(&["validate", "no/such.jsonl", GOOD], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no/such.jsonl: cannot open"));
    assert!(text(&out.stdout).contains("input.jsonl: 20 records"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        syncbatch(&["validate", "--format", "xml"], None)
            .status
            .code(),
        Some(2)
    );
    assert_eq!(syncbatch(&["frobnicate"], None).status.code(), Some(2));
    assert_eq!(syncbatch(&["--help"], None).status.code(), Some(0));
}

/// Limits no batch file could meet are a usage error in every subcommand
/// (they share the flags), refused before any input is read or output made:
/// validate used to call every file not compliant, and merge to call every
/// retry undersized.
#[test]
fn contradictory_limits_are_usage_errors_in_every_subcommand() {
    let dir = std::env::temp_dir().join(format!("syncbatch-test-{}-limits", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let retry = dir.join("retry");
    let retry = retry.to_str().unwrap();
    for (limits, why) in [
        (
            ["--min-records", "30", "--max-records", "10"],
            "a minimum of 30 records and a maximum of 10: no batch file could meet both",
        ),
        (
            ["--min-records", "0", "--max-records", "0"],
            "a maximum of 0 records a batch file",
        ),
    ] {
        let runs: [Vec<&str>; 3] = [
            vec!["validate", GOOD],
            vec!["split", "--out", out, GOOD],
            vec![
                "merge",
                "--requests",
                GOOD,
                "--results",
                GOOD,
                "--out",
                out,
                "--retry-dir",
                retry,
            ],
        ];
        for mut args in runs {
            args.extend(limits);
            let run = refused(&args, why);
            assert!(run.stdout.is_empty(), "{args:?}");
            assert!(!std::path::Path::new(out).exists() && !std::path::Path::new(retry).exists());
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn human_output_shows_the_offending_part_of_the_line() {
    let long = format!(
        "{{\"request_id\":\"r\",\"endpoint\":\"/v2/generate\",\"payload\":{{\"model\":\"lipsync-2\",\"projectId\":\"{}\",\"input\":[]}}}}\n",
        "p".repeat(500)
    );
    let out = syncbatch(&["validate", "--min-records", "1"], Some(long.as_bytes()));
    let stdout = text(&out.stdout);
    let excerpt = stdout.lines().find(|l| l.starts_with("    | ")).unwrap();
    assert!(excerpt.chars().count() < 100, "{excerpt}");
    assert!(excerpt.contains('…'));
}

/// Messages quote what the input holds; a terminal must not get its control
/// characters or bidirectional overrides (they can recolour, retitle or
/// reorder what the user reads). JSON output keeps them, escaped as JSON.
#[test]
fn human_and_github_output_escape_what_a_terminal_would_obey() {
    let line =
        "{\"request_id\":\"\\u001b[31mX\",\"endpoint\":\"/v2/gen\\u001b]0;t\\u0007\\u202e\",\
                \"payload\":{\"model\":\"lipsync-\\u009b2\",\"input\":[],\"k\\u2066\":1}}\n";
    for format in ["human", "github"] {
        let out = syncbatch(
            &["validate", "--format", format, "-"],
            Some(line.as_bytes()),
        );
        assert_eq!(out.status.code(), Some(1));
        let shown = text(&out.stdout);
        for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\u{2066}'] {
            assert!(
                !shown.contains(bad),
                "{format} output holds {bad:?}:\n{shown}"
            );
        }
        assert!(shown.contains("bad_endpoint"), "{shown}");
        assert!(shown.contains(r"/v2/gen\u{1b}]0;t\u{7}\u{202e}"), "{shown}");
        assert!(shown.contains(r"lipsync-\u{9b}2"), "{shown}");
    }
    let out = syncbatch(
        &["validate", "--format", "json", "-"],
        Some(line.as_bytes()),
    );
    let endpoint = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["code"] == "bad_endpoint")
        .unwrap();
    let message = endpoint["message"].as_str().unwrap();
    assert!(
        message.contains("/v2/gen\u{1b}]0;t\u{7}\u{202e}"),
        "{message}"
    );
}

/// `completions bash` prints a script that bash loads and that completes
/// subcommands and their flags; a shell it does not know is a usage error.
#[test]
fn completions_complete_subcommands_and_flags_in_bash() {
    let out = syncbatch(&["completions", "bash"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let script =
        std::env::temp_dir().join(format!("syncbatch-completion-{}.bash", std::process::id()));
    std::fs::write(&script, &out.stdout).unwrap();
    let complete = |words: &str| {
        let program = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _syncbatch syncbatch \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Command::new("bash")
            .args(["-c", &program])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(complete("syncbatch sp").trim(), "split");
    assert_eq!(complete("syncbatch split --skip").trim(), "--skip-invalid");
    assert!(complete("syncbatch merge --re").contains("--retry-dir"));
    std::fs::remove_file(&script).unwrap();
    assert_eq!(
        syncbatch(&["completions", "nosuchshell"], None)
            .status
            .code(),
        Some(2)
    );
}

/// A directory where an input file belongs is a usage error that says so,
/// in every subcommand (it used to surface as a read or copy error).
#[test]
fn a_directory_as_input_says_so() {
    let dir = std::env::temp_dir().join(format!("syncbatch-dir-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let file = "examples/data/input.jsonl";
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    for (args, says) in [
        (vec!["validate", d], "a directory, not an input file"),
        (
            vec!["split", "--out", o, d],
            "a directory, not an input file",
        ),
        (
            vec!["merge", "--requests", d, "--results", file, "--out", "-"],
            "a directory, not an input file",
        ),
        (
            vec!["merge", "--requests", file, "--results", d, "--out", "-"],
            "a directory, not an input file",
        ),
    ] {
        refused(&args, says);
    }
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Run with no FILE at a terminal, validate says that it reads the terminal
/// instead of waiting in silence; from a pipe or a file it says nothing.
/// The terminal comes from `script` (util-linux, on every Debian machine).
#[test]
fn reading_a_terminal_is_said() {
    let bin = env!("CARGO_BIN_EXE_syncbatch");
    let out = Command::new("timeout")
        .args([
            "20",
            "script",
            "-qec",
            &format!("{bin} validate"),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("timeout and script run");
    let shown = text(&out.stdout);
    assert!(
        shown.contains("reading standard input from the terminal; end it with Ctrl-D"),
        "{out:?}"
    );
    assert!(shown.contains("0 records"), "{out:?}");
    let out = Command::new(bin)
        .arg("validate")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!text(&out.stderr).contains("terminal"), "{out:?}");
    assert!(text(&out.stdout).contains("0 records"), "{out:?}");
}

/// A file of a byte order mark alone: the mark is named on line 1 and its
/// three bytes counted, in every format.
#[test]
fn a_byte_order_mark_alone_is_reported() {
    let run = syncbatch(
        &["validate", "--format", "json", "-"],
        Some(b"\xEF\xBB\xBF"),
    );
    assert_eq!(run.status.code(), Some(1));
    let lines: Vec<Value> = text(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["code"], "bom", "{lines:?}");
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[1]["code"], "too_few_records");
    assert_eq!(lines[2]["summary"]["bytes"], 3);
}

/// A file of several MiB takes room in the id set at once for the records
/// a sample of it promises (`ids::RoomHint`); through standard input, with
/// no size, the set grows instead, doubling and moving its ids. Either way
/// every id counts: duplicates of an early and a late line are found at the
/// end, the same.
#[test]
fn ids_count_however_the_id_set_makes_room() {
    let data = syncbatch::generate::records(8, 12_000);
    assert!(data.len() > 3 << 20, "{} bytes", data.len());
    let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let mut input = Vec::new();
    for line in &lines {
        input.extend_from_slice(line);
    }
    // Line 12,001 repeats line 3 (before the room); 12,002 repeats 11,000.
    input.extend_from_slice(lines[2]);
    input.extend_from_slice(lines[10_999]);
    let dir = std::env::temp_dir().join(format!("syncbatch-room-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.jsonl");
    std::fs::write(&path, &input).unwrap();
    let from_file = syncbatch(
        &["validate", "--format", "json", path.to_str().unwrap()],
        None,
    );
    let from_stdin = syncbatch(&["validate", "--format", "json", "-"], Some(&input));
    std::fs::remove_dir_all(&dir).unwrap();
    let duplicates = |out: &Output| -> Vec<(u64, String)> {
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|d| d["code"] == "duplicate_request_id")
            .map(|d| {
                (
                    d["line"].as_u64().unwrap(),
                    d["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let found = duplicates(&from_file);
    assert_eq!(found.len(), 2, "{}", text(&from_file.stdout));
    assert_eq!((found[0].0, found[1].0), (12_001, 12_002));
    assert!(found[0].1.contains("line 3"), "{}", found[0].1);
    assert!(found[1].1.contains("line 11000"), "{}", found[1].1);
    assert_eq!(found, duplicates(&from_stdin));
    assert_eq!(from_file.status.code(), Some(1));
}
