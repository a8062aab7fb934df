//! The splitter end to end, in memory, against simple references.

use proptest::prelude::*;
use syncbatch::generate::Generator;
use syncbatch::split::{split, MemorySink, SplitOptions, Splitter};
use syncbatch::validate::{validate_reader, Limits};
use syncbatch::{ErrorKind, Input};

/// Codes the generator makes that are only warnings: such records are valid.
const WARNING_KINDS: &[&str] = &[
    "crlf",
    "long_request_id",
    "request_id_whitespace",
    "unknown_model",
    "deprecated_model",
    "unknown_field",
    "unknown_option",
    "deprecated_option",
];

/// Fewest batches by brute force over every last batch of every prefix.
fn fewest(sizes: &[u64], l: Limits) -> Option<usize> {
    let mut best: Vec<Option<usize>> = vec![None; sizes.len() + 1];
    best[0] = Some(0);
    for i in 1..=sizes.len() {
        for j in 0..i {
            let n = (i - j) as u64;
            let bytes: u64 = sizes[j..i].iter().sum();
            if n <= l.max_records && n >= l.min_records.max(1) && bytes <= l.max_bytes {
                if let Some(b) = best[j] {
                    best[i] = Some(best[i].map_or(b + 1, |x| x.min(b + 1)));
                }
            }
        }
    }
    if (sizes.len() as u64) < l.min_records {
        return None;
    }
    best[sizes.len()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn batches_are_the_valid_records_in_order_in_fewest_compliant_files(
        seed in any::<u64>(),
        n in 0usize..50,
        fraction in 0.0f64..0.5,
        max_records in 1u64..8,
        min_records in 0u64..4,
        max_bytes in 700u64..3000,
    ) {
        let limits = Limits::default().max_records(max_records).min_records(min_records.min(max_records)).max_bytes(max_bytes);
        let mut g = Generator::new(seed).invalid_fraction(fraction);
        let mut input = Vec::new();
        let mut valid: Vec<Vec<u8>> = Vec::new();
        for _ in 0..n {
            let start = input.len();
            let kind = g.next_record(&mut input);
            let line = input[start..].strip_suffix(b"\n").unwrap();
            let line = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
            let ok = kind.is_none_or(|k| WARNING_KINDS.contains(&k));
            // A record must fit in a batch with its newline.
            if ok && (line.len() as u64) < max_bytes {
                valid.push(line);
            }
        }
        let options = SplitOptions::new().limits(limits).skip_invalid(true);
        let sizes: Vec<u64> = valid.iter().map(|l| l.len() as u64 + 1).collect();
        match split([Input::from_bytes("in", input.clone())], options, MemorySink::default()) {
            Ok((summary, sink)) => {
                let got: Vec<Vec<u8>> = sink.batches.iter().flatten().map(|r| r.bytes.to_vec()).collect();
                for r in sink.batches.iter().flatten() {
                    let line: serde_json::Value = serde_json::from_slice(&r.bytes).unwrap();
                    prop_assert_eq!(Some(r.request_id()), line["request_id"].as_str());
                }
                prop_assert_eq!(&got, &valid);
                prop_assert_eq!(Some(sink.batches.len()), fewest(&sizes, limits));
                prop_assert_eq!(summary.records as usize, valid.len());
                for batch in &sink.batches {
                    let mut file = Vec::new();
                    for r in batch {
                        file.extend_from_slice(&r.bytes);
                        file.push(b'\n');
                    }
                    let report = validate_reader(&file[..], limits).unwrap();
                    prop_assert_eq!(report.summary.errors, 0, "{:?}", report.diagnostics);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::Infeasible(_)) => prop_assert_eq!(fewest(&sizes, limits), None),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}

/// Each record keeps its request id, decoded, whether it is written plainly
/// (kept as a span of the record) or with escapes, and whichever path checked
/// it; the manifest's first and last ids are those.
#[test]
fn records_keep_their_decoded_request_ids() {
    let seed = syncbatch::generate::records(5, 3);
    let lines: Vec<&str> = std::str::from_utf8(&seed).unwrap().lines().collect();
    let mut input = String::new();
    let mut want = Vec::new();
    for (i, id) in [
        "plain-1",
        "esc\\u002d2",
        "caf\\u00e9-3",
        "\\\"q\\\"-4",
        "plain-5",
    ]
    .iter()
    .enumerate()
    {
        let mut v: serde_json::Value = serde_json::from_str(lines[i % lines.len()]).unwrap();
        v["request_id"] = "PLACEHOLDER".into();
        input += &v
            .to_string()
            .replace("\"PLACEHOLDER\"", &format!("\"{id}\""));
        input.push('\n');
        want.push(serde_json::from_str::<String>(&format!("\"{id}\"")).unwrap());
    }
    let limits = Limits::default()
        .max_records(3)
        .min_records(1)
        .max_bytes(5_000_000);
    let options = SplitOptions::new().limits(limits);
    // The pipeline (prechecked) and one frame at a time (full rules).
    let piped = split(
        [Input::from_bytes("in", input.clone())],
        options.clone(),
        MemorySink::default(),
    );
    let mut pushed = Splitter::new(options, MemorySink::default());
    pushed.next_input("in");
    for frame in syncbatch::frame::Framer::new().frames(input.clone().into_bytes()) {
        pushed.push(frame).unwrap();
    }
    for done in [piped, pushed.finish()] {
        let (_, sink) = done.unwrap();
        let got: Vec<&str> = sink
            .batches
            .iter()
            .flatten()
            .map(|r| r.request_id())
            .collect();
        assert_eq!(got, want);
        let ends: Vec<(&str, &str)> = sink
            .manifest
            .as_ref()
            .unwrap()
            .batches
            .iter()
            .map(|b| (b.first_request_id.as_str(), b.last_request_id.as_str()))
            .collect();
        let sizes: Vec<usize> = sink.batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 2]);
        assert_eq!(ends, [("plain-1", "caf\u{e9}-3"), ("\"q\"-4", "plain-5")]);
    }
}

#[test]
fn without_skip_invalid_an_invalid_record_fails_the_split() {
    let mut g = Generator::new(1).invalid_fraction(0.3);
    let mut input = Vec::new();
    for _ in 0..100 {
        g.next_record(&mut input);
    }
    let input = Input::from_bytes("in", input);
    let err = split([input], SplitOptions::default(), MemorySink::default()).unwrap_err();
    match err.kind() {
        ErrorKind::InvalidRecords { count } => assert!(*count > 0),
        other => panic!("{other:?}"),
    }
    assert!(err.is_input_error());
}

/// A sink whose disk fills up after `room` batches.
#[derive(Debug)]
struct FullAfter {
    room: usize,
    aborted: std::rc::Rc<std::cell::Cell<bool>>,
}

impl syncbatch::split::Sink for FullAfter {
    fn batch(&mut self, index: usize, _: Vec<syncbatch::split::Record>) -> std::io::Result<String> {
        if index > self.room {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        Ok(format!("b{index}"))
    }
    fn finish_batches(&mut self) -> std::io::Result<Vec<String>> {
        Ok(vec![String::new(); self.room])
    }
    fn reject(&mut self, _: &syncbatch::split::Rejected) -> std::io::Result<()> {
        Ok(())
    }
    fn commit(&mut self, _: &syncbatch::split::Manifest) -> std::io::Result<()> {
        panic!("a failed split must not commit")
    }
    fn abort(&mut self) {
        self.aborted.set(true);
    }
}

#[test]
fn an_output_error_aborts_the_sink_and_names_the_batch() {
    let input = syncbatch::generate::records(2, 5000);
    let aborted = std::rc::Rc::new(std::cell::Cell::new(false));
    let sink = FullAfter {
        room: 3,
        aborted: aborted.clone(),
    };
    let err = split(
        [Input::from_bytes("in", input)],
        SplitOptions::default(),
        sink,
    )
    .unwrap_err();
    assert!(aborted.get(), "the sink was not told to clean up");
    assert!(
        err.to_string().starts_with("cannot write batch 4: "),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
    assert!(err.to_string().contains("No space left on device"), "{err}");
}

/// Past 99,999 batches the five-digit numbers would stop sorting in batch
/// order (`batch-100000` before `batch-10001`): every name gets as many
/// digits as the count needs.
#[test]
fn more_than_99999_batches_get_names_that_sort_in_order() {
    let n = 100_001;
    let input: String = (1..=n)
        .map(|i| {
            format!(
                r#"{{"request_id":"r{i}","endpoint":"/v2/generate","payload":{{"model":"lipsync-2","input":[{{"type":"video","url":"https://a.io/v"}},{{"type":"audio","url":"https://a.io/a"}}]}}}}"#
            ) + "\n"
        })
        .collect();
    let options = SplitOptions::new().limits(Limits::default().max_records(1).min_records(1));
    let input = Input::from_bytes("in", input);
    let (summary, sink) = split([input], options, MemorySink::default()).unwrap();
    assert_eq!(summary.batches, n as u64);
    let names: Vec<String> = sink
        .manifest
        .unwrap()
        .batches
        .into_iter()
        .map(|b| b.file)
        .collect();
    assert_eq!(names[0], "batch-000001.jsonl");
    assert_eq!(names[99_998], "batch-099999.jsonl");
    assert_eq!(names[n - 1], "batch-100001.jsonl");
    let mut sorted = names.clone();
    sorted.sort();
    assert!(sorted == names, "the names do not sort in batch order");
}

/// Once no compliant split can exist, the splitter keeps no record: it used
/// to hold every later record until the end (1.27 GiB of peak RSS for a
/// 1 GiB input that could not be split), only to fail. The error is the
/// same, and the later records are still checked.
#[test]
fn an_impossible_split_holds_no_records() {
    let input = syncbatch::generate::records(5, 3000);
    let limits = Limits::default().max_bytes(3000);
    let options = SplitOptions::new().limits(limits);
    let mut splitter = Splitter::new(options, MemorySink::default());
    splitter.next_input("in");
    for frame in limits.framer().frames(input) {
        splitter.push(frame).unwrap();
    }
    assert_eq!(splitter.records_seen(), 3000);
    assert_eq!(splitter.records_held(), 0);
    let err = splitter.finish().unwrap_err();
    let at = err.position().expect("a position");
    match err.kind() {
        ErrorKind::Infeasible(why) => {
            assert!(why.to_string().contains("fits in the byte limit"), "{why}");
            assert_eq!(at.input, "in");
            assert!(at.line < 20, "{}", at.line);
        }
        other => panic!("{other:?}"),
    }
}

/// A directory sink moves each batch to the name the manifest gives it
/// (widened past 99,999 batches) and refuses a name that is not a plain
/// file name, leaving nothing under a final name.
#[test]
fn a_dir_sink_moves_batches_to_the_manifests_names() {
    let commit_as = |dir: &std::path::Path, names: [&str; 2]| commit_with(dir, names, |_| {});
    let root = std::env::temp_dir().join(format!("syncbatch-dirsink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    // Absent (staged beside it, renamed whole), and empty (staged inside,
    // each file moved).
    let widened = root.join("widened");
    let existing = root.join("widened-existing");
    std::fs::create_dir_all(&existing).unwrap();
    for dir in [&widened, &existing] {
        commit_as(dir, ["b-000001.jsonl", "b-000002.jsonl"]).unwrap();
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["b-000001.jsonl", "b-000002.jsonl", "manifest.json"]);
        assert_eq!(
            std::fs::read_to_string(dir.join("b-000002.jsonl")).unwrap(),
            "{\"request_id\":\"r1\"}\n"
        );
    }
    for absent in [false, true] {
        let escaping = root.join(format!("escaping-{absent}"));
        if !absent {
            std::fs::create_dir_all(&escaping).unwrap();
        }
        let err = commit_as(&escaping, ["b-00001.jsonl", "../b-00002.jsonl"]).unwrap_err();
        assert!(err.to_string().contains("not a plain file name"), "{err}");
        assert!(!root.join("b-00002.jsonl").exists());
        assert!(!escaping.exists() || std::fs::read_dir(&escaping).unwrap().next().is_none());
    }
    // Nothing staged is left beside or inside.
    let mut left: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["escaping-false", "widened", "widened-existing"]);
    std::fs::remove_dir_all(&root).unwrap();
}

/// An output directory that did not exist, but that something else made and
/// put a file in while the split ran: the commit fails, names it, and
/// leaves it as it was, with nothing staged left beside it.
#[test]
fn a_dir_sink_never_merges_into_a_directory_that_appeared_meanwhile() {
    let root = std::env::temp_dir().join(format!("syncbatch-appeared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let out = root.join("out");
    let err = commit_with(&out, ["b-00001.jsonl", "b-00002.jsonl"], |out| {
        std::fs::create_dir_all(out).unwrap();
        std::fs::write(out.join("theirs.txt"), "keep").unwrap();
    })
    .unwrap_err();
    assert!(err.to_string().contains("cannot move into place"), "{err}");
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["theirs.txt"]);
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        1,
        "staging left beside"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// Two one-record batches through a [`DirSink`] on `dir`, committed with a
/// manifest naming them `names`; `before_commit` runs just before the
/// commit. A failed commit is aborted.
fn commit_with(
    dir: &std::path::Path,
    names: [&str; 2],
    before_commit: impl FnOnce(&std::path::Path),
) -> std::io::Result<()> {
    use syncbatch::split::{BatchInfo, DirSink, Manifest, ManifestLimits, Record, Sink};
    {
        let mut sink = DirSink::create(dir, "b", false).unwrap();
        let mut batches = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let line = format!("{{\"request_id\":\"r{i}\"}}");
            let record = Record::new(bytes::Bytes::from(line), &format!("r{i}"));
            assert_eq!(
                sink.batch(i + 1, vec![record]).unwrap(),
                format!("b-0000{}.jsonl", i + 1)
            );
            batches.push(BatchInfo {
                file: name.to_string(),
                records: 1,
                bytes: 17,
                first_request_id: format!("r{i}"),
                last_request_id: format!("r{i}"),
                sha256: String::new(),
            });
        }
        sink.finish_batches().unwrap();
        let manifest = Manifest {
            version: 1,
            limits: ManifestLimits {
                max_records: 1,
                min_records: 1,
                max_bytes: 100,
            },
            inputs: Vec::new(),
            batches,
            records: 2,
            dropped_blank_lines: 0,
            rejected: 0,
        };
        before_commit(dir);
        let done = sink.commit(&manifest);
        if done.is_err() {
            sink.abort();
        }
        done
    }
}

/// Lines of one generated input: 0 an enveloped record, 1 a bare Generate
/// request, anything else a blank line. Ids are `job-<n>`, `n` counting this
/// input's lines from 1, so a second input reuses the first one's ids and
/// either can take an id that `--wrap` makes.
fn wrap_input(seed: u64, kinds: &[u8]) -> Vec<u8> {
    let mut g = Generator::new(seed).id_prefix("job-");
    let mut out = Vec::new();
    for kind in kinds {
        match kind {
            0 => assert_eq!(g.next_record(&mut out), None),
            1 => g.next_payload(&mut out),
            _ => out.extend_from_slice(b"  \n"),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// `--wrap` over two inputs against a reference written from the
    /// contract: blank lines are dropped and not numbered; a bare line
    /// becomes `{"request_id":"job-<N>","endpoint":"/v2/generate","payload":…}`
    /// with N its record number over all inputs; the first use of an id
    /// wins and every later line with it is refused, whoever made the id.
    #[test]
    fn wrap_numbers_records_over_all_inputs_and_ids_stay_unique(
        seeds in (any::<u64>(), any::<u64>()),
        kinds in (
            proptest::collection::vec(0u8..3, 0..30),
            proptest::collection::vec(0u8..3, 0..30),
        ),
        max_records in 1u64..8,
        min_records in 0u64..4,
    ) {
        let limits = Limits::default().max_records(max_records).min_records(min_records.min(max_records)).max_bytes(5_000_000);
        let inputs = [wrap_input(seeds.0, &kinds.0), wrap_input(seeds.1, &kinds.1)];

        let mut seen = std::collections::HashSet::new();
        let (mut want, mut number, mut blank) = (Vec::new(), 0, 0);
        for line in inputs.iter().flat_map(|i| std::str::from_utf8(i).unwrap().lines()) {
            if line.trim().is_empty() {
                blank += 1;
                continue;
            }
            number += 1;
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let (record, id) = match v["request_id"].as_str() {
                Some(id) => (line.to_owned(), id.to_owned()),
                None => (
                    format!(r#"{{"request_id":"job-{number}","endpoint":"/v2/generate","payload":{line}}}"#),
                    format!("job-{number}"),
                ),
            };
            if seen.insert(id) {
                want.push(record.into_bytes());
            }
        }

        let options = SplitOptions::new()
            .limits(limits)
            .wrap(true)
            .id_prefix("job-")
            .skip_invalid(true);
        let named = inputs.iter().enumerate().map(|(i, input)| Input::from_bytes(format!("in{i}"), input.clone()));
        let sizes: Vec<u64> = want.iter().map(|l| l.len() as u64 + 1).collect();
        match split(named, options, MemorySink::default()) {
            Ok((summary, sink)) => {
                let got: Vec<Vec<u8>> = sink.batches.iter().flatten().map(|r| r.bytes.to_vec()).collect();
                prop_assert_eq!(&got, &want);
                prop_assert_eq!(Some(sink.batches.len()), fewest(&sizes, limits));
                prop_assert_eq!(summary.records as usize, want.len());
                prop_assert_eq!(summary.rejected as usize, number - want.len());
                prop_assert_eq!(summary.dropped_blank_lines, blank);
            }
            Err(e) if matches!(e.kind(), ErrorKind::Infeasible(_)) => prop_assert_eq!(fewest(&sizes, limits), None),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}
