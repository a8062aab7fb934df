//! The validator's rules: one bad line and one near-identical good line per
//! code, the shipped examples, generated files, and property tests.

use proptest::prelude::*;
use serde_json::{json, Value};
use syncbatch::frame::frame_stream;
use syncbatch::generate::{Generator, INVALID_KINDS};
use syncbatch::validate::{
    validate_async_reader, validate_reader, validate_stream, Code, Diagnostic, Limits, Report,
    Severity,
};

/// Limits that let a single line be a whole file.
const ONE: Limits = Limits::new().min_records(1);

fn check(input: &[u8], limits: Limits) -> Report {
    validate_reader(input, limits).unwrap()
}

fn codes(input: &[u8], limits: Limits) -> Vec<(Code, Severity)> {
    check(input, limits)
        .diagnostics
        .iter()
        .map(|d| (d.code, d.severity))
        .collect()
}

const VIDEO: &str = r#"{"type":"video","url":"https://assets.sync.so/docs/example-video.mp4"}"#;
const AUDIO: &str = r#"{"type":"audio","url":"https://assets.sync.so/docs/example-audio.wav"}"#;

/// A valid line whose payload has `extra` spliced in after the inputs.
fn line_with(model: &str, inputs: &str, extra: &str) -> String {
    format!(
        r#"{{"request_id":"r-1","endpoint":"/v2/generate","payload":{{"model":"{model}","input":[{inputs}]{extra}}}}}"#
    )
}

fn good() -> String {
    line_with("lipsync-2", &format!("{VIDEO},{AUDIO}"), "")
}

/// (code, severity, bad line, near-identical good line)
fn cases() -> Vec<(Code, Severity, Vec<u8>, Vec<u8>)> {
    let va = format!("{VIDEO},{AUDIO}");
    let seg_inputs = format!(
        r#"{VIDEO},{{"type":"audio","url":"https://a.io/1.wav","refId":"a1"}},{{"type":"audio","url":"https://a.io/2.wav","refId":"a2"}}"#
    );
    let segs = |a: &str, b: &str, r: &str| {
        format!(
            r#","segments":[{{"startTime":{a},"endTime":{b},"audioInput":{{"refId":"a1"}}}},{{"startTime":{b},"endTime":12,"audioInput":{{"refId":"{r}"}}}}]"#
        )
    };
    let l = |m: &str, i: &str, e: &str| line_with(m, i, e).into_bytes();
    // A line whose options hold this active speaker detection object's body.
    let asd = |body: &str| {
        l(
            "lipsync-2",
            &va,
            &format!(r#","options":{{"active_speaker_detection":{{{body}}}}}"#),
        )
    };
    let with_id = |id: &str| {
        good()
            .replacen(r#""request_id":"r-1""#, &format!(r#""request_id":{id}"#), 1)
            .into_bytes()
    };
    let e = Severity::Error;
    let w = Severity::Warning;
    let mut bad_utf8 = good().into_bytes();
    let at = bad_utf8.len() - 10;
    bad_utf8[at] = 0xC3; // a lead byte followed by ASCII
    vec![
        (Code::InvalidUtf8, e, bad_utf8, good().into_bytes()),
        (
            Code::InvalidJson,
            e,
            good()[..good().len() - 1].into(),
            good().into_bytes(),
        ),
        (
            Code::InvalidJson,
            e,
            format!("{} x", good()).into_bytes(),
            format!("{} ", good()).into_bytes(),
        ),
        (Code::NotAnObject, e, b"[1,2]".to_vec(), good().into_bytes()),
        (
            Code::DuplicateKey,
            e,
            l(
                "lipsync-2",
                &va,
                r#","options":{"temperature":0.5,"temperature":0.6}"#,
            ),
            l("lipsync-2", &va, r#","options":{"temperature":0.5}"#),
        ),
        (
            Code::BlankLine,
            e,
            format!("{}\n \t\n", good()).into_bytes(),
            format!("{}\n", good()).into_bytes(),
        ),
        (
            Code::Bom,
            e,
            format!("\u{feff}{}", good()).into_bytes(),
            good().into_bytes(),
        ),
        (
            Code::Crlf,
            w,
            format!("{}\r\n", good()).into_bytes(),
            format!("{}\n", good()).into_bytes(),
        ),
        (
            Code::MissingField,
            e,
            good()
                .replacen(r#""endpoint":"/v2/generate","#, "", 1)
                .into_bytes(),
            good().into_bytes(),
        ),
        (Code::MissingField, e, with_id("null"), with_id(r#""r-2""#)),
        (Code::WrongType, e, with_id("7"), with_id(r#""7""#)),
        (
            Code::EmptyRequestId,
            e,
            with_id(r#""""#),
            with_id(r#"" x""#.trim_start_matches(' ')),
        ),
        (
            Code::BadRequestId,
            e,
            with_id(r#""a\nb""#),
            with_id(r#""a\\nb""#),
        ),
        (
            Code::LongRequestId,
            w,
            with_id(&format!("\"{}\"", "x".repeat(65))),
            with_id(&format!("\"{}\"", "x".repeat(64))),
        ),
        (
            Code::RequestIdWhitespace,
            w,
            with_id(r#""r-1 ""#),
            with_id(r#""r-1""#),
        ),
        (
            Code::DuplicateRequestId,
            e,
            format!("{}\n{}\n", good(), good()).into_bytes(),
            format!("{}\n{}\n", good(), good().replacen("r-1", "r\\u002d2", 1)).into_bytes(),
        ),
        (
            Code::DuplicateRequestId,
            e,
            format!("{}\n{}\n", good(), good().replacen("r-1", "r\\u002d1", 1)).into_bytes(),
            format!("{}\n{}\n", good(), good().replacen("r-1", "r-1\\u0020", 1)).into_bytes(),
        ),
        (
            Code::BadEndpoint,
            e,
            good()
                .replacen("/v2/generate", "/v2/generate/", 1)
                .into_bytes(),
            good().into_bytes(),
        ),
        (
            Code::UnknownModel,
            w,
            l("wav2lip-hd", &va, ""),
            l("lipsync-2", &va, ""),
        ),
        // A near miss of a known model is an error: a typo that would ship.
        (
            Code::UnknownModel,
            e,
            l("lipsync-2-prp", &va, ""),
            l("lipsync-2-pro", &va, ""),
        ),
        (
            Code::DeprecatedModel,
            w,
            l("lipsync-1.6.0", &va, ""),
            l("lipsync-1.9.0-beta", &va, ""),
        ),
        (
            Code::UnknownField,
            w,
            l("lipsync-2", &va, r#","priority":1"#),
            l("lipsync-2", &va, r#","projectId":"p1""#),
        ),
        (
            Code::UnknownField,
            w,
            l(
                "lipsync-2",
                &format!(r#"{VIDEO},{{"type":"audio","url":"https://a.io/x.wav","volume":2}}"#),
                "",
            ),
            l(
                "lipsync-2",
                &format!(r#"{VIDEO},{{"type":"audio","url":"https://a.io/x.wav","refId":"v"}}"#),
                "",
            ),
        ),
        (
            Code::UnknownOption,
            w,
            l("lipsync-2", &va, r#","options":{"speed":2}"#),
            l(
                "lipsync-2",
                &va,
                r#","options":{"occlusion_detection_enabled":true}"#,
            ),
        ),
        (
            Code::DeprecatedOption,
            w,
            l("lipsync-2", &va, r#","options":{"fps":25}"#),
            l("lipsync-2", &va, r#","options":{"sync_mode":"loop"}"#),
        ),
        (
            Code::BadUrl,
            e,
            l("lipsync-2", &va.replacen("https://", "https:/", 1), ""),
            l("lipsync-2", &va, ""),
        ),
        (
            Code::BadUrl,
            w,
            l(
                "lipsync-2",
                &va,
                r#","webhookUrl":"http://hooks.example.com/x""#,
            ),
            l(
                "lipsync-2",
                &va,
                r#","webhookUrl":"https://hooks.example.com/x""#,
            ),
        ),
        (
            Code::BadUrl,
            e,
            l("lipsync-2", &va, r#","webhookUrl":"hooks.example.com""#),
            l("lipsync-2", &va, ""),
        ),
        (
            Code::BadInputComposition,
            e,
            l("lipsync-2", VIDEO, ""),
            l("lipsync-2", &va, ""),
        ),
        (
            Code::BadInputComposition,
            e,
            l("lipsync-2", &format!("{VIDEO},{VIDEO},{AUDIO}"), ""),
            l("lipsync-2", &va, ""),
        ),
        (
            Code::BadInputComposition,
            e,
            l("lipsync-2", &format!("{VIDEO},{AUDIO},{AUDIO}"), ""),
            l("lipsync-2", &seg_inputs, &segs("0", "5", "a2")),
        ),
        (
            Code::BadInputComposition,
            e,
            l("lipsync-2", &va, r#","dubParams":{"targetLang":"fr"}"#),
            l("lipsync-2", VIDEO, r#","dubParams":{"targetLang":"fr"}"#),
        ),
        (
            Code::BadInputComposition,
            e,
            l(
                "lipsync-2",
                &format!(r#"{{"type":"video","url":"https://a.io/v.mp4","assetId":"x"}},{AUDIO}"#),
                "",
            ),
            l(
                "lipsync-2",
                &format!(r#"{{"type":"video","assetId":"x"}},{AUDIO}"#),
                "",
            ),
        ),
        (
            Code::OutOfRange,
            e,
            l("lipsync-2", &va, r#","options":{"temperature":1.01}"#),
            l("lipsync-2", &va, r#","options":{"temperature":1}"#),
        ),
        // An integer is any number with a zero fractional part (JSON Schema
        // since draft 6): `3.0` and `3e0` pass, `2.5` and `-1` do not.
        (
            Code::OutOfRange,
            e,
            asd(r#""frame_number":2.5"#),
            asd(r#""frame_number":3.0"#),
        ),
        (
            Code::OutOfRange,
            e,
            asd(r#""frame_number":-1"#),
            asd(r#""frame_number":3e0"#),
        ),
        (
            Code::WrongType,
            e,
            asd(r#""coordinates":[1.5,2]"#),
            asd(r#""coordinates":[1.0,2e1]"#),
        ),
        (
            Code::WrongType,
            e,
            asd(r#""bounding_boxes":[null,[1,2,3]]"#),
            asd(r#""bounding_boxes":[null,[1,2,3,4.0]]"#),
        ),
        (
            Code::OutOfRange,
            e,
            l(
                "lipsync-2",
                &format!(
                    r#"{VIDEO},{{"type":"text","provider":{{"name":"elevenlabs","voiceId":"v","script":"{}"}}}}"#,
                    "a".repeat(5001)
                ),
                "",
            ),
            l(
                "lipsync-2",
                &format!(
                    r#"{VIDEO},{{"type":"text","provider":{{"name":"elevenlabs","voiceId":"v","script":"{}"}}}}"#,
                    "a".repeat(5000)
                ),
                "",
            ),
        ),
        (
            Code::BadEnumValue,
            e,
            l("lipsync-2", &va, r#","options":{"sync_mode":"Loop"}"#),
            l("lipsync-2", &va, r#","options":{"sync_mode":"loop"}"#),
        ),
        (
            Code::BadEnumValue,
            e,
            l(
                "lipsync-2",
                &format!(r#"{VIDEO},{{"type":"speech","url":"https://a.io/x.wav"}}"#),
                "",
            ),
            l(
                "lipsync-2",
                &format!(r#"{VIDEO},{{"type":"audio","url":"https://a.io/x.wav"}}"#),
                "",
            ),
        ),
        (
            Code::ModelMismatch,
            e,
            l("lipsync-2", &va, r#","options":{"prompt":"happy"}"#),
            l("react-1", &va, r#","options":{"prompt":"happy"}"#),
        ),
        (
            Code::ModelMismatch,
            e,
            l(
                "lipsync-2",
                &format!(r#"{{"type":"image","url":"https://a.io/p.png"}},{AUDIO}"#),
                "",
            ),
            l(
                "sync-3",
                &format!(r#"{{"type":"image","url":"https://a.io/p.png"}},{AUDIO}"#),
                "",
            ),
        ),
        (
            Code::BadSegment,
            e,
            l("lipsync-2", &seg_inputs, &segs("6", "5", "a2")),
            l("lipsync-2", &seg_inputs, &segs("4", "5", "a2")),
        ),
        (
            Code::BadSegment,
            e,
            l("lipsync-2", &seg_inputs, &segs("0", "5", "a3")),
            l("lipsync-2", &seg_inputs, &segs("0", "5", "a2")),
        ),
        (
            Code::InputTooLong,
            e,
            l(
                "lipsync-2",
                &seg_inputs,
                &segs("0", "30.5", "a2").replace("\"endTime\":12", "\"endTime\":31"),
            ),
            l("lipsync-2", &seg_inputs, &segs("0", "5", "a2")),
        ),
        (
            Code::InputTooLong,
            w,
            l(
                "react-1",
                &seg_inputs,
                &segs("0", "5", "a2").replace("\"endTime\":12", "\"endTime\":16"),
            ),
            l("react-1", &seg_inputs, &segs("0", "5", "a2")),
        ),
        (
            Code::BadOutputFileName,
            e,
            l("lipsync-2", &va, r#","outputFileName":"clip.mp4""#),
            l("lipsync-2", &va, r#","outputFileName":"clip_mp4""#),
        ),
        (
            Code::RecordTooLarge,
            e,
            l(
                "lipsync-2",
                &va,
                &format!(r#","projectId":"{}""#, "p".repeat(5_000_000)),
            ),
            l(
                "lipsync-2",
                &va,
                &format!(r#","projectId":"{}""#, "p".repeat(4_999_000)),
            ),
        ),
    ]
}

#[test]
fn every_code_has_a_bad_line_and_a_good_twin() {
    let mut covered = std::collections::BTreeSet::new();
    for (code, severity, bad, good) in cases() {
        let got = codes(&bad, ONE);
        assert!(
            got.contains(&(code, severity)),
            "{code} ({severity:?}) not reported for {}: {got:?}",
            String::from_utf8_lossy(&bad[..bad.len().min(300)])
        );
        let twin = codes(&good, ONE);
        assert!(
            !twin.iter().any(|(c, _)| *c == code),
            "{code} reported for the good twin {}: {twin:?}",
            String::from_utf8_lossy(&good[..good.len().min(300)])
        );
        covered.insert(code);
    }
    // The file-level codes have their own tests below.
    for code in Code::ALL {
        if !matches!(
            code,
            Code::TooFewRecords | Code::TooManyRecords | Code::FileTooLarge
        ) {
            assert!(covered.contains(code), "no test for {code}");
        }
    }
}

fn file_of(n: usize) -> Vec<u8> {
    syncbatch::generate::records(11, n)
}

#[test]
fn record_counts_at_the_limits() {
    let l = Limits::default();
    assert!(check(&file_of(20), l).diagnostics.is_empty());
    assert!(check(&file_of(500), l).diagnostics.is_empty());
    let few = check(&file_of(19), l);
    assert_eq!(few.diagnostics.len(), 1);
    assert_eq!(few.diagnostics[0].code, Code::TooFewRecords);
    assert_eq!(few.diagnostics[0].line, None);
    let many = check(&file_of(501), l);
    assert_eq!(many.diagnostics.len(), 1);
    assert_eq!(many.diagnostics[0].code, Code::TooManyRecords);
    assert_eq!(many.diagnostics[0].line, Some(501));
    assert_eq!(many.summary.records, 501);
}

#[test]
fn byte_limit_names_the_line_that_crosses_it() {
    let data = file_of(30);
    let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let through_10: usize = lines[..10].iter().map(|l| l.len()).sum();
    // Exactly the first ten lines fit; the eleventh crosses.
    let limits = Limits::default().max_bytes(through_10 as u64);
    let r = check(&data, limits);
    let d: Vec<&Diagnostic> = r
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::FileTooLarge)
        .collect();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].line, Some(11));
    assert!(
        check(&data[..through_10], limits).diagnostics.is_empty()
            || check(&data[..through_10], limits.min_records(1))
                .diagnostics
                .is_empty()
    );
    // Without its final newline, a file one byte larger still fits.
    let cut = &data[..through_10 - 1];
    let r = check(cut, limits.max_bytes(through_10 as u64 - 1).min_records(1));
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(r.summary.bytes, through_10 as u64 - 1);
}

#[test]
fn positions_are_line_column_and_byte() {
    let second = line_with(
        "lipsync-2",
        &format!("{VIDEO},{AUDIO}"),
        r#","options":{"sync_mode":"wrap"}"#,
    );
    let input = format!("{}\n{second}\n", good());
    let r = check(input.as_bytes(), ONE);
    let d = &r.diagnostics[0];
    assert_eq!(d.code, Code::BadEnumValue);
    assert_eq!(d.line, Some(2));
    assert_eq!(d.byte, Some(good().len() as u64 + 1));
    let col = d.column.unwrap() as usize;
    assert_eq!(&second[col - 1..col + 5], "\"wrap\"");
    assert_eq!(d.path.as_deref(), Some("payload.options.sync_mode"));
    assert_eq!(d.request_id.as_deref(), Some("r-1"));
}

#[test]
fn all_diagnostics_of_a_line_are_reported() {
    let line = line_with(
        "wav2lip-hd",
        &format!("{VIDEO},{AUDIO}"),
        r#","options":{"sync_mode":"x","temperature":2},"outputFileName":"a b""#,
    );
    let got: Vec<Code> = codes(line.as_bytes(), ONE)
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    for want in [
        Code::UnknownModel,
        Code::BadEnumValue,
        Code::OutOfRange,
        Code::BadOutputFileName,
    ] {
        assert!(got.contains(&want), "{want} missing from {got:?}");
    }
}

/// A missing field has no place of its own; its column points at the object
/// that lacks it (its first key), so an editor can jump there.
#[test]
fn a_missing_field_points_at_its_object() {
    let line = r#"{"endpoint":"/v2/generate","payload":{"model":"lipsync-2","input":[{"type":"video"},{"type":"audio","url":"https://a.io/a.wav"}],"segments":[{"endTime":3,"audioInput":{}}]}}"#;
    let report = check(line.as_bytes(), ONE);
    let got: Vec<(Option<&str>, Option<u64>)> = report
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::MissingField)
        .map(|d| (d.path.as_deref(), d.column))
        .collect();
    let col = |s: &str| Some(line.find(s).unwrap() as u64 + 1);
    assert_eq!(
        got,
        [
            (Some("request_id"), col(r#""endpoint""#)),
            (Some("payload.input[0].url"), col(r#""type":"video""#)),
            (Some("payload.segments[0].startTime"), col(r#""endTime""#)),
            // An empty object has no key to point at.
            (Some("payload.segments[0].audioInput.refId"), None),
        ]
    );
}

/// Two common ways a file is not JSON Lines at all get a message that says
/// so: UTF-16 (Windows PowerShell 5 writes it with `>`) and lines ending in
/// `\r` alone.
#[test]
fn utf16_files_and_lone_cr_line_ends_are_named() {
    let good = good() + "\n";
    let first = |input: &[u8]| check(input, ONE).diagnostics[0].clone();
    for (bom, which) in [
        (&[0xFF, 0xFE][..], "FF FE, UTF-16 little-endian"),
        (&[0xFE, 0xFF][..], "FE FF, UTF-16 big-endian"),
    ] {
        let mut utf16 = bom.to_vec();
        for unit in good.encode_utf16() {
            let bytes = if which.contains("little") {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            };
            utf16.extend_from_slice(&bytes);
        }
        let d = first(&utf16);
        assert_eq!(
            (d.code, d.line, d.column),
            (Code::InvalidUtf8, Some(1), Some(1))
        );
        assert!(
            d.message.starts_with(&format!(
                "the file starts with a UTF-16 byte order mark ({which})"
            )),
            "{}",
            d.message
        );
    }
    // The same bytes later in a file are only bad bytes.
    let mut later = good.clone().into_bytes();
    later.extend_from_slice(b"\xFF\xFE{}\n");
    let d = &check(&later, ONE).diagnostics[0];
    assert_eq!(
        (d.line, d.message.as_str()),
        (Some(2), "invalid UTF-8 byte 0xFF")
    );
    // Records separated by `\r` alone make one line, broken after the first.
    let cr = format!("{}\r{}\r", good.trim_end(), good.trim_end());
    let d = first(cr.as_bytes());
    assert_eq!(d.code, Code::InvalidJson);
    assert!(
        d.message
            .contains("after a \\r: the file's lines seem to end with \\r alone"),
        "{}",
        d.message
    );
    // Other trailing bytes draw no such guess.
    let d = first(format!("{} x\n", good.trim_end()).as_bytes());
    assert_eq!(d.message, "not one JSON value: trailing characters");
    // A byte order mark and nothing else: the mark is still reported, and
    // its bytes counted.
    let report = check(b"\xEF\xBB\xBF", ONE);
    let found: Vec<_> = report
        .diagnostics
        .iter()
        .map(|d| (d.code, d.line))
        .collect();
    assert_eq!(
        found,
        [(Code::Bom, Some(1)), (Code::TooFewRecords, None)],
        "{report:?}"
    );
    assert_eq!((report.summary.bytes, report.summary.errors), (3, 2));
    // Well-formed JSON past a reader's limits is not called broken.
    let deep = format!("{}{}\n", "[".repeat(200), "]".repeat(200));
    let d = first(deep.as_bytes());
    assert_eq!(d.code, Code::InvalidJson);
    assert!(
        d.message.starts_with("nested more than 128 levels"),
        "{}",
        d.message
    );
    let huge = line_with(
        "lipsync-2",
        &format!("{VIDEO},{AUDIO}"),
        r#","options":{"temperature":1e400}"#,
    );
    let d = first(huge.as_bytes());
    assert!(d.message.starts_with("a number too large"), "{}", d.message);
}

/// A wrong integer array says what is wrong with it, not only "an array".
#[test]
fn integer_arrays_say_what_is_wrong() {
    let messages = |extra: &str| -> Vec<String> {
        let line = line_with("lipsync-2", &format!("{VIDEO},{AUDIO}"), extra);
        check(line.as_bytes(), ONE)
            .diagnostics
            .into_iter()
            .map(|d| d.message)
            .collect()
    };
    let asd = |inner: &str| format!(r#","options":{{"active_speaker_detection":{{{inner}}}}}"#);
    assert_eq!(
        messages(&asd(r#""coordinates":[1,"2"]"#)),
        [r#""coordinates" must be [x, y], two integers, not an array whose item 2 is a string"#]
    );
    assert_eq!(
        messages(&asd(r#""coordinates":[1,2,3]"#)),
        [r#""coordinates" must be [x, y], two integers, not an array of 3 items"#]
    );
    assert_eq!(
        messages(&asd(r#""coordinates":{"x":1}"#)),
        [r#""coordinates" must be [x, y], two integers, not an object"#]
    );
    assert_eq!(
        messages(&asd(r#""bounding_boxes":[[1,2,3,4.5]]"#)),
        ["a bounding box must be [x1, y1, x2, y2] integers or null, not an array whose item 4 is 4.5"]
    );
    assert_eq!(
        messages(&asd(r#""bounding_boxes":[[1]]"#)),
        ["a bounding box must be [x1, y1, x2, y2] integers or null, not an array of 1 item"]
    );
}

/// A record over a small `max_bytes` (but within the API's 5 MB) is read
/// whole: its other problems are reported with its size, and its id is taken,
/// so a later line reusing it is a duplicate whatever the limits.
#[test]
fn a_record_too_large_for_the_limits_still_takes_its_id() {
    let big = line_with(
        "lipsync-2",
        &format!("{VIDEO},{AUDIO}"),
        r#","outputFileName":"a b""#,
    );
    let small = good();
    let limits = ONE.max_bytes(small.len() as u64 + 1);
    let input = format!("{big}\n{small}\n");
    let report = check(input.as_bytes(), limits);
    let by_line: Vec<(u64, Code)> = report
        .diagnostics
        .iter()
        .filter(|d| d.code != Code::FileTooLarge)
        .map(|d| (d.line.unwrap(), d.code))
        .collect();
    assert_eq!(
        by_line,
        [
            (1, Code::RecordTooLarge),
            (1, Code::BadOutputFileName),
            (2, Code::DuplicateRequestId),
        ]
    );
    // Over the API's own limit, a line is skipped unread: size alone.
    let huge = line_with(
        "lipsync-2",
        &format!("{VIDEO},{AUDIO}"),
        &format!(r#","projectId":"{}""#, "p".repeat(5_000_000)),
    );
    let input = format!("{huge}\n{small}\n");
    let codes: Vec<Code> = check(input.as_bytes(), limits)
        .diagnostics
        .iter()
        .map(|d| d.code)
        .filter(|&c| c != Code::FileTooLarge)
        .collect();
    assert_eq!(codes, [Code::RecordTooLarge]);
}

#[test]
fn deep_nesting_is_invalid_json_not_a_crash() {
    let deep = format!("{}{}\n", "[".repeat(200_000), "]".repeat(200_000));
    assert_eq!(
        codes(deep.as_bytes(), ONE),
        vec![(Code::InvalidJson, Severity::Error)]
    );
}

#[test]
fn seed_example_repeated_to_20_records_is_clean() {
    let r = check(
        include_bytes!("../examples/data/input.jsonl"),
        Limits::default(),
    );
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(r.summary.records, 20);
    assert!(r.summary.valid);
}

#[test]
fn generated_file_of_500_valid_records_draws_nothing() {
    for seed in 0..8 {
        let r = check(&syncbatch::generate::records(seed, 500), Limits::default());
        assert!(
            r.diagnostics.is_empty(),
            "seed {seed}: {:?}",
            r.diagnostics.first()
        );
    }
}

#[test]
fn every_generated_invalid_line_draws_its_code() {
    let mut g = Generator::new(5).invalid_fraction(0.5);
    let mut data = Vec::new();
    let mut expected = Vec::new();
    for n in 1..=4000u64 {
        if let Some(code) = g.next_record(&mut data) {
            expected.push((n, code));
        }
    }
    let r = check(&data, ONE.max_records(u64::MAX));
    let mut seen = std::collections::BTreeSet::new();
    for (line, code) in expected {
        let hit = r
            .diagnostics
            .iter()
            .any(|d| d.line == Some(line) && d.code.as_str() == code);
        if code != "crlf" {
            // crlf is reported once per file.
            assert!(hit, "line {line}: expected {code}");
        }
        seen.insert(code);
    }
    assert_eq!(seen.len(), INVALID_KINDS.len());
}

/// Re-serialises a line after changing its JSON.
fn mutate(line: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(line).unwrap();
    f(&mut v);
    v.to_string()
}

fn one_line(seed: u64) -> String {
    let mut out = Vec::new();
    Generator::new(seed).next_record(&mut out);
    String::from_utf8(out).unwrap().trim_end().to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn generated_valid_lines_are_never_flagged(seed in any::<u64>(), n in 20usize..60) {
        let data = syncbatch::generate::records(seed, n);
        let r = check(&data, Limits::default());
        prop_assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    }

    #[test]
    fn a_changed_type_is_wrong_type_at_its_path(seed in any::<u64>(), which in 0usize..4) {
        let line = one_line(seed);
        let (path, new) = [
            ("payload.model", json!(2)),
            ("payload.input", json!({"type": "video"})),
            ("endpoint", json!(["/v2/generate"])),
            ("payload", json!("lipsync-2")),
        ][which].clone();
        let bad = mutate(&line, |v| {
            let mut target = &mut *v;
            let parts: Vec<&str> = path.split('.').collect();
            for p in &parts[..parts.len() - 1] {
                target = &mut target[*p];
            }
            target[parts[parts.len() - 1]] = new;
        });
        let r = check(bad.as_bytes(), ONE);
        prop_assert!(
            r.diagnostics.iter().any(|d| d.code == Code::WrongType && d.path.as_deref() == Some(path)),
            "{path}: {:?}", r.diagnostics
        );
    }

    #[test]
    fn a_dropped_required_key_is_missing_field_at_its_path(seed in any::<u64>(), which in 0usize..5) {
        let line = one_line(seed);
        let path = ["request_id", "endpoint", "payload", "payload.model", "payload.input"][which];
        let bad = mutate(&line, |v| {
            match path.split_once('.') {
                Some((a, b)) => v[a].as_object_mut().unwrap().remove(b),
                None => v.as_object_mut().unwrap().remove(path),
            };
        });
        let r = check(bad.as_bytes(), ONE);
        prop_assert!(
            r.diagnostics.iter().any(|d| d.code == Code::MissingField && d.path.as_deref() == Some(path)),
            "{path}: {:?}", r.diagnostics
        );
    }

    #[test]
    fn an_altered_enum_value_is_bad_enum_value_at_its_path(seed in any::<u64>(), which in 0usize..2, junk in "[a-z]{1,8}") {
        let line = one_line(seed);
        let (path, value) = [("payload.options.sync_mode", format!("x{junk}")), ("payload.input[0].type", format!("y{junk}"))][which].clone();
        let bad = mutate(&line, |v| {
            if which == 0 {
                v["payload"]["options"] = json!({"sync_mode": value});
            } else {
                v["payload"]["input"][0]["type"] = json!(value);
            }
        });
        let r = check(bad.as_bytes(), ONE);
        prop_assert!(
            r.diagnostics.iter().any(|d| d.code == Code::BadEnumValue && d.path.as_deref() == Some(path)),
            "{path}: {:?}", r.diagnostics
        );
    }

    #[test]
    fn blocking_and_async_give_identical_diagnostics(
        seed in any::<u64>(),
        n in 1usize..80,
        fraction in 0.0f64..1.0,
        chunk in 1usize..700,
        // 0: the records; 1: a byte order mark, then the records; 2: a byte
        // order mark alone.
        shape in 0u8..3,
    ) {
        let mut g = Generator::new(seed).invalid_fraction(fraction);
        let mut data = Vec::new();
        if shape > 0 {
            data.extend_from_slice(b"\xEF\xBB\xBF");
        }
        if shape < 2 {
            for _ in 0..n {
                g.next_record(&mut data);
            }
        }
        let limits = Limits::default().max_bytes(20_000).max_records(50);
        let blocking = check(&data, limits);
        let reader = || {
            let chunks: Vec<std::io::Result<bytes::Bytes>> =
                data.chunks(chunk).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
            tokio_util::io::StreamReader::new(futures::stream::iter(chunks))
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let from_reader = rt.block_on(validate_async_reader(reader(), limits)).unwrap();
        prop_assert_eq!(&blocking.diagnostics, &from_reader.diagnostics);
        prop_assert_eq!(&blocking.summary, &from_reader.summary);
        // A stream of frames cannot tell a byte order mark alone from nothing.
        if shape < 2 {
            let from_frames = rt
                .block_on(validate_stream(frame_stream(reader(), limits.framer()), limits))
                .unwrap();
            prop_assert_eq!(&blocking.diagnostics, &from_frames.diagnostics);
            prop_assert_eq!(blocking.summary, from_frames.summary);
        }
    }
}

/// Validates with the fast path on or off.
fn report_with(input: &[u8], limits: Limits, fast: bool) -> Report {
    let mut v = syncbatch::validate::Validator::new(limits).fast_path(fast);
    let mut lines = syncbatch::frame::LineReader::with_framer(input, v.framer());
    let mut report = Report::default();
    while let Some(frame) = lines.next_frame().unwrap() {
        v.check(&frame, &mut report.diagnostics);
    }
    report.summary = v.finish(lines.position(), &mut report.diagnostics);
    report
}

fn assert_paths_agree(input: &[u8], limits: Limits) {
    let fast = report_with(input, limits, true);
    let full = report_with(input, limits, false);
    assert_eq!(
        fast.diagnostics,
        full.diagnostics,
        "{}",
        String::from_utf8_lossy(input)
    );
    assert_eq!(fast.summary, full.summary);
}

#[test]
fn fast_and_full_paths_agree_on_every_case() {
    for (_, _, bad, good) in cases() {
        assert_paths_agree(&bad, ONE);
        assert_paths_agree(&good, ONE);
    }
    let mut g = Generator::new(17).invalid_fraction(0.5);
    let mut data = Vec::new();
    for _ in 0..3000 {
        g.next_record(&mut data);
    }
    assert_paths_agree(&data, ONE.max_records(u64::MAX));
}

/// Values and keys that sit on the rules' edges.
/// Bytes that, put anywhere in a line, most often change what it means to
/// a JSON reader: structure, whitespace, escapes, control bytes, parts of
/// numbers and literals, and bytes that are not UTF-8 alone (the fast path
/// checks UTF-8 only in strings that are not ASCII).
const EDIT_BYTES: &[u8] = b" \t\r\"\\,:{}[]0159-+.eEnultrsf\x01\x1f\x7f\x80\xc3\xff";

/// `line` with whitespace between all its tokens (pretty-printed, then put
/// back on one line: raw newlines occur only between tokens).
fn spaced(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    serde_json::to_string_pretty(&v)
        .unwrap()
        .replace("\n", " \t")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The fast path reads bytes with its own reader, so edit bytes, not
    /// trees: syntax errors, escapes, odd whitespace, broken numbers and
    /// literals. The two paths must still agree.
    #[test]
    fn fast_path_agrees_after_byte_edits(
        seed in any::<u64>(),
        with_spaces in any::<bool>(),
        edits in proptest::collection::vec((any::<usize>(), 0usize..4, any::<usize>()), 1..4),
    ) {
        let line = one_line(seed);
        let mut line = if with_spaces { spaced(&line) } else { line }.into_bytes();
        for (at, op, b) in edits {
            let at = at % (line.len() + 1);
            let byte = EDIT_BYTES[b % EDIT_BYTES.len()];
            match op {
                0 => line.insert(at, byte),
                1 if at < line.len() => { line.remove(at); }
                2 if at < line.len() => line[at] = byte,
                // A two-byte character: UTF-8 in strings, an error elsewhere.
                _ => { line.splice(at..at, "é".bytes()); }
            }
        }
        line.push(b'\n');
        assert_paths_agree(&line, ONE);
    }
}

#[test]
fn spaced_lines_are_clean() {
    let lines: Vec<String> = (0..200)
        .map(|seed| spaced(&one_line(seed)) + "\n")
        .collect();
    for line in &lines {
        assert!(
            report_with(line.as_bytes(), ONE, true)
                .diagnostics
                .is_empty(),
            "{line}"
        );
    }
}

fn edge_value(i: usize) -> Value {
    let pool = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1.0),
        json!(31),
        json!(16),
        json!(15),
        json!(0.5),
        json!(""),
        json!(" "),
        json!("react-1"),
        json!("sync-3"),
        json!("lipsync-1.6.0"),
        json!("http://a.io/x"),
        json!("https://a.io/x"),
        json!("loop"),
        json!("happy"),
        json!("head"),
        json!("a1"),
        json!("a2"),
        json!("video"),
        json!("image"),
        json!("audio"),
        json!("text"),
        json!("elevenlabs"),
        json!("x\u{7}"),
        json!("a\"b"),
        json!([]),
        json!({}),
        json!([1, 2]),
        json!([1, 2, 3, 4]),
        json!([null]),
        json!({"refId": "a1"}),
        json!({"name": "elevenlabs", "voiceId": "v", "script": "hi"}),
        json!({"type": "audio", "url": "https://a.io/y.wav", "refId": "a2"}),
        json!({"startTime": 0, "endTime": 5, "audioInput": {"refId": "a1"}}),
        json!(1.01),
        json!(-0.01),
        json!(14.9),
        json!(15.01),
        json!(29.9),
        json!(30.01),
        json!(2),
        json!(5.5),
        json!(12),
        json!("ftp://a.io/x"),
        json!("https://a b"),
        json!("clip.mp4"),
        json!("clip_1"),
        json!("/v2/generate"),
        json!("lipsync-2"),
        json!("a".repeat(5001)),
        json!([1.5, 2]),
        json!(["x", 1]),
        json!("r-1 "),
        json!("\u{e9}"),
        json!({"type": "audio", "url": "https://a.io/z.wav"}),
        json!({"type": "video", "assetId": "v1"}),
    ];
    pool[i % pool.len()].clone()
}

const EDGE_KEYS: &[&str] = &[
    "refId",
    "url",
    "assetId",
    "provider",
    "segments",
    "options",
    "dubParams",
    "dialogueEdit",
    "startTime",
    "endTime",
    "audioInput",
    "model_mode",
    "prompt",
    "fps",
    "webhookUrl",
    "outputFileName",
    "extra",
    "segments_secs",
    "temperature",
    "type",
];

/// Every node of a JSON value, as a path of keys and indexes.
fn node_paths(v: &Value, here: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                here.push(json!(k));
                node_paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                here.push(json!(i));
                node_paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn node_at<'v>(v: &'v mut Value, path: &[Value]) -> &'v mut Value {
    path.iter().fold(v, |v, step| match step {
        Value::String(k) => &mut v[k.as_str()],
        Value::Number(i) => &mut v[i.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

const POOL_SIZE: usize = 60;

/// Every single edit of a few valid lines (each node replaced by each edge
/// value or deleted, each array given each edge value, each object given each
/// edge key) is judged alike by the
/// fast path and the full rules.
#[test]
fn fast_path_agrees_on_every_single_edit() {
    let mut lines = Vec::new();
    for seed in 0..24 {
        let original: Value = serde_json::from_str(&one_line(seed)).unwrap();
        let mut paths = Vec::new();
        node_paths(&original, &mut Vec::new(), &mut paths);
        for path in &paths {
            for i in 0..POOL_SIZE {
                let mut v = original.clone();
                *node_at(&mut v, path) = edge_value(i);
                lines.push(v);
            }
            if let Some((last, parent)) = path.split_last() {
                let mut v = original.clone();
                match (node_at(&mut v, parent), last) {
                    (Value::Object(m), Value::String(k)) => {
                        m.remove(k);
                    }
                    (Value::Array(items), Value::Number(i)) => {
                        items.remove(i.as_u64().unwrap() as usize);
                    }
                    _ => {}
                }
                lines.push(v);
            }
            if node_at(&mut original.clone(), path).is_array() {
                for i in 0..POOL_SIZE {
                    let mut v = original.clone();
                    if let Value::Array(items) = node_at(&mut v, path) {
                        items.push(edge_value(i));
                    }
                    lines.push(v);
                }
            }
            if node_at(&mut original.clone(), path).is_object() {
                for key in EDGE_KEYS {
                    for i in [0, 4, 12, 20, 29, 30] {
                        let mut v = original.clone();
                        if let Value::Object(m) = node_at(&mut v, path) {
                            m.insert((*key).to_owned(), edge_value(i));
                        }
                        lines.push(v);
                    }
                }
            }
        }
    }
    let mut clean = 0;
    for v in &lines {
        let line = format!("{v}\n");
        let fast = report_with(line.as_bytes(), ONE, true);
        let full = report_with(line.as_bytes(), ONE, false);
        assert_eq!(fast.diagnostics, full.diagnostics, "{line}");
        clean += usize::from(full.diagnostics.is_empty());
    }
    // The edits must both keep and break lines, or the test shows nothing.
    assert!(
        clean > lines.len() / 20 && clean < lines.len() / 2,
        "{clean} of {}",
        lines.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The fast path may only ever call a line clean when the full rules
    /// find nothing: mutate valid lines at random nodes and compare.
    #[test]
    fn fast_path_never_calls_a_flawed_line_clean(
        seed in any::<u64>(),
        edits in proptest::collection::vec((any::<usize>(), 0usize..3, any::<usize>(), any::<usize>()), 1..4),
    ) {
        let mut v: Value = serde_json::from_str(&one_line(seed)).unwrap();
        for (node, op, a, b) in edits {
            let mut paths = Vec::new();
            node_paths(&v, &mut Vec::new(), &mut paths);
            let path = &paths[node % paths.len()];
            match op {
                0 => *node_at(&mut v, path) = edge_value(a),
                1 => {
                    if let Value::Object(m) = node_at(&mut v, path) {
                        m.insert(EDGE_KEYS[a % EDGE_KEYS.len()].to_owned(), edge_value(b));
                    }
                }
                _ => {
                    if let Some((last, parent)) = path.split_last() {
                        match (node_at(&mut v, parent), last) {
                            (Value::Object(m), Value::String(k)) => { m.remove(k); }
                            (Value::Array(items), Value::Number(i)) => { items.remove(i.as_u64().unwrap() as usize); }
                            _ => {}
                        }
                    }
                }
            }
        }
        let line = format!("{v}\n");
        let fast = report_with(line.as_bytes(), ONE, true);
        let full = report_with(line.as_bytes(), ONE, false);
        prop_assert_eq!(fast.diagnostics, full.diagnostics, "{}", line);
    }
}
