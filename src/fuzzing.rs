//! Entry points shared by the cargo-fuzz targets in `fuzz/` and by the stable
//! test that replays their corpora (`tests/fuzz_corpus.rs`). Each takes
//! arbitrary bytes and panics only when an invariant breaks.

use crate::frame::{Frame, Framer, LineReader};

/// Reads the fuzzer's first bytes as small settings, so that limits and read
/// sizes are explored along with the input.
fn settings(data: &[u8]) -> (usize, usize, &[u8]) {
    match data {
        [a, b, rest @ ..] => (usize::from(*a), usize::from(*b % 16) + 1, rest),
        _ => (16, 1, data),
    }
}

/// Small validation limits from a setting byte, so that record counts and
/// sizes cross them often.
fn small_limits(max: usize) -> crate::validate::Limits {
    let max_records = (max % 8) as u64 + 1;
    crate::validate::Limits::new()
        .max_records(max_records)
        .min_records(((max % 3) as u64).min(max_records))
        .max_bytes(max as u64 * 4 + 1)
}

/// Checks one frame against the input it came from.
fn check_frame(input: &[u8], frame: &Frame, max: usize) {
    let start = frame.offset() as usize;
    match frame {
        Frame::Line(line) => {
            assert!(line.bytes().len() <= max);
            assert_eq!(&input[start..start + line.bytes().len()], &line.bytes()[..]);
            assert!(!line.bytes().contains(&b'\n'));
        }
        Frame::TooLong(long) => {
            assert!(long.len() as usize > max);
            let body = &input[start..start + long.len() as usize];
            assert!(!body.contains(&b'\n'));
        }
    }
}

/// The framer: the in-memory path and a blocking reader cut into small reads
/// must agree, and every frame must be the input's bytes at its offset.
pub fn frame(data: &[u8]) {
    let (max, read_size, input) = settings(data);
    let whole: Vec<Frame> = Framer::with_max_line(max).frames(input.to_vec()).collect();
    for (number, f) in (1..).zip(&whole) {
        assert_eq!(f.number(), number);
        check_frame(input, f, max);
    }
    let read: Vec<Frame> = LineReader::with_framer(input, Framer::with_max_line(max))
        .read_size(read_size)
        .collect::<Result<_, _>>()
        .expect("reading a slice cannot fail");
    assert_eq!(whole, read);
}

/// The async decoder, driven by hand the way `FramedRead` drives it (append a
/// chunk, decode until `None`; at the end, `decode_eof` until `None`), must
/// agree with the in-memory path.
#[cfg(feature = "async")]
pub fn decode(data: &[u8]) {
    use bytes::BytesMut;
    use tokio_util::codec::Decoder;
    let (max, chunk, input) = settings(data);
    let whole: Vec<Frame> = Framer::with_max_line(max).frames(input.to_vec()).collect();
    let mut codec = crate::frame::LineCodec::with_framer(Framer::with_max_line(max));
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(f) = codec.decode(&mut buf).expect("never an error") {
            got.push(f);
        }
    }
    while let Some(f) = codec.decode_eof(&mut buf).expect("never an error") {
        got.push(f);
    }
    assert!(buf.is_empty(), "bytes left after the end");
    assert_eq!(whole, got);
}

/// The validator over a whole file: small limits taken from the first bytes,
/// the file read in small pieces and whole, with and without the fast path,
/// must give the same report, and every diagnostic must point into the file.
pub fn validate(data: &[u8]) {
    use crate::validate::validate_reader;
    let (max, read_size, input) = settings(data);
    let limits = small_limits(max);
    let whole = validate_reader(input, limits).expect("a slice cannot fail");
    struct Pieces<'a>(&'a [u8], usize);
    impl std::io::Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let pieces = validate_reader(Pieces(input, read_size), limits).expect("cannot fail");
    assert_eq!(whole.diagnostics, pieces.diagnostics);
    assert_eq!(whole.summary, pieces.summary);
    // The async front end, fed the same small pieces, agrees too.
    #[cfg(feature = "async")]
    {
        use std::pin::Pin;
        use std::task::{Context, Poll};
        use tokio::io::{AsyncRead, ReadBuf};
        impl AsyncRead for Pieces<'_> {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<std::io::Result<()>> {
                let n = self.1.min(buf.remaining()).min(self.0.len());
                buf.put_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Poll::Ready(Ok(()))
            }
        }
        let reader = crate::validate::validate_async_reader(Pieces(input, read_size), limits);
        // Every read is ready at once, so no runtime is needed.
        let from_async = futures::executor::block_on(reader).expect("cannot fail");
        assert_eq!(whole.diagnostics, from_async.diagnostics);
        assert_eq!(whole.summary, from_async.summary);
    }
    // The fast path must agree with the full rules on every line.
    let mut full = crate::validate::Validator::new(limits).fast_path(false);
    let mut keep = crate::validate::Keeper::default();
    let mut frames = full.framer().frames(input.to_vec());
    for frame in frames.by_ref() {
        keep.check(&mut full, &frame);
    }
    let report = keep.finish(full, frames.position());
    assert_eq!(whole.diagnostics, report.diagnostics);
    assert_eq!(whole.summary, report.summary);
    // Frames cover the whole input; a lone BOM is counted at its end.
    assert_eq!(whole.summary.bytes, input.len() as u64);
    let lengths: Vec<usize> = input.split(|&b| b == b'\n').map(<[u8]>::len).collect();
    let lines = lengths.len() as u64;
    for d in &whole.diagnostics {
        if let Some(line) = d.line {
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
            // The command line draws its caret at `column - 1` in the line.
            if let Some(column) = d.column {
                let len = lengths[line as usize - 1] as u64;
                assert!(column >= 1 && column <= len + 1, "column {column} of {len}");
            }
        }
        if let Some(byte) = d.byte {
            assert!(byte <= input.len() as u64);
        }
    }
}

/// The splitter over any bytes with small limits: on success every batch is
/// within the limits and validates without an error, and the batches hold
/// exactly the records a records-only validator finds valid, in order.
pub fn split(data: &[u8]) {
    use crate::split::{split, MemorySink, SplitOptions};
    use crate::validate::{validate_reader, Limits, Validator, Verdict};
    use crate::ErrorKind;
    let (a, b, input) = settings(data);
    let max_records = (a % 6) as u64 + 1;
    let limits = Limits::new()
        .max_records(max_records)
        .min_records(((b % 3) as u64).min(max_records))
        .max_bytes(64 + (a as u64) * 8);
    let wrap = a & 0x80 != 0;
    let deny_warnings = a & 0x40 != 0;
    let options = SplitOptions::new()
        .limits(limits)
        .wrap(wrap)
        .skip_invalid(true)
        .deny_warnings(deny_warnings);
    let input_bytes = crate::Input::from_bytes("fuzz", input.to_vec());
    match split([input_bytes], options, MemorySink::default()) {
        Ok((summary, sink)) => {
            let mut written = Vec::new();
            let mut files = Vec::new();
            for batch in &sink.batches {
                assert!(!batch.is_empty() && batch.len() as u64 <= limits.max_records);
                assert!(batch.len() as u64 >= limits.min_records);
                let mut file = Vec::new();
                for r in batch {
                    file.extend_from_slice(&r.bytes);
                    file.push(b'\n');
                }
                assert!(file.len() as u64 <= limits.max_bytes);
                let report = validate_reader(&file[..], limits).expect("memory");
                assert_eq!(report.summary.errors, 0, "{:?}", report.diagnostics);
                written.extend(batch.iter().map(|r| r.bytes.clone()));
                files.push(file);
            }
            assert_eq!(summary.records as usize, written.len());
            // The directory sink's hashes, sixteen files side by side, are
            // the manifest's, from the memory sink's `sha2` one by one.
            let slices: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
            let hashes: Vec<String> = crate::split::hash::sha256_many(&slices)
                .iter()
                .map(crate::split::hash::to_hex)
                .collect();
            let manifest = sink.manifest.as_ref().expect("a finished split commits");
            let listed: Vec<&String> = manifest.batches.iter().map(|b| &b.sha256).collect();
            assert_eq!(hashes.iter().collect::<Vec<_>>(), listed);
            if !wrap {
                let mut v = Validator::new(limits).records_only();
                v.next_input("fuzz");
                let mut valid = Vec::new();
                for frame in v.framer().frames(input.to_vec()) {
                    let mut found = Vec::new();
                    let verdict = v.check(&frame, &mut found);
                    // With deny_warnings, a warning refuses the record too.
                    if verdict == Verdict::Valid && (!deny_warnings || found.is_empty()) {
                        if let Frame::Line(l) = frame {
                            valid.push(l.into_bytes());
                        }
                    }
                }
                assert_eq!(written, valid);
            }
        }
        Err(e) if matches!(e.kind(), ErrorKind::Infeasible(_)) => {}
        Err(e) => panic!("{e}"),
    }
}

/// The merger over any result-file bytes, for requests `r0` to `r7`: it
/// never fails on the bytes, writes every request once, in order, as a JSON
/// object, and its figures add up.
pub fn merge(data: &[u8]) {
    use crate::merge::Merger;
    thread_local! {
        static PATH: std::path::PathBuf = std::env::temp_dir()
            .join(format!("syncbatch-fuzz-merge-{}-{:?}", std::process::id(), std::thread::current().id()));
    }
    let path = PATH.with(|p| p.clone());
    std::fs::write(&path, data).expect("a temporary file");
    let requests: String = (0..8)
        .map(|i| {
            format!("{{\"request_id\":\"r{i}\",\"endpoint\":\"/v2/generate\",\"payload\":{{}}}}\n")
        })
        .collect();
    let mut m = Merger::new();
    m.add_requests(crate::Input::from_bytes("requests", requests))
        .expect("memory");
    let mut unknown = Vec::new();
    let results = crate::Input::open(&path).expect("the file was just written");
    m.add_results(results, &mut unknown)
        .expect("the file was just written");
    // The swap check: results that hold lines and none with a status.
    if let Some(why) = m.looks_swapped() {
        assert!(why.contains("look swapped"), "{why}");
    }
    let mut out = Vec::new();
    let s = m
        .write_merged(&mut out)
        .expect("a line read again is the line indexed");
    let text = std::str::from_utf8(&out).expect("merged output is UTF-8");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each merged line is JSON"))
        .collect();
    assert_eq!(lines.len(), 8);
    for (i, v) in lines.iter().enumerate() {
        assert_eq!(v["request_id"], format!("r{i}"));
        assert_eq!(v["source"]["line"], i + 1);
    }
    assert_eq!(
        s.completed + s.failed + s.rejected + s.other + s.missing,
        s.requests
    );
    assert_eq!(
        unknown.iter().filter(|&&b| b == b'\n').count() as u64,
        s.unknown
    );
}

/// The typed API objects and the webhook check, on any bytes: every object
/// that parses survives a round trip through its own JSON unchanged (the
/// module promises that a round trip loses nothing); the signature check
/// never panics, and a header signed for the body is accepted.
pub fn api(data: &[u8]) {
    use crate::api::{
        verify_webhook, ApiError, Batch, DryRun, GenerateResponse, Metrics, OutputLine,
    };
    use serde::{de::DeserializeOwned, Serialize};

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8]) {
        if let Ok(value) = serde_json::from_slice::<T>(data) {
            let text = serde_json::to_string(&value).expect("a parsed object serialises");
            let again: T = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{text} does not parse again: {e}"));
            assert_eq!(value, again, "{text}");
        }
    }
    round_trip::<Batch>(data);
    round_trip::<DryRun>(data);
    round_trip::<GenerateResponse>(data);
    round_trip::<OutputLine>(data);
    round_trip::<Metrics>(data);
    round_trip::<ApiError>(data);
    if let Ok(e) = serde_json::from_slice::<ApiError>(data) {
        let _ = (e.to_string(), e.is_retryable());
    }

    // The first line is the header, the rest the body.
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    let secret = b"whsec_fuzz";
    let now = 1_700_000_000;
    let _ = verify_webhook(secret, &header, body, now, 300);
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{now}.").as_bytes());
    mac.update(body);
    let good = format!("t={now},v1={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(verify_webhook(secret, &good, body, now, 300), Ok(()));
    // The same header with the fuzzer's own parts after it still verifies
    // when those parts are well formed, and never panics.
    let _ = verify_webhook(secret, &format!("{good},{header}"), body, now, 300);
}

/// The reports of any input, as the command line prints them, in every
/// format: nothing panics, the text and GitHub formats hold nothing a
/// terminal would obey (only `\n` of all control characters), every JSON
/// line is an object, and there is a line per diagnostic and one summary.
pub fn render(data: &[u8]) {
    use crate::validate::report::{unprintable, write_diagnostic, write_summary, Format};
    use crate::validate::Validator;
    let (max, cut, input) = settings(data);
    let limits = small_limits(max);
    // The file name is untrusted too: the input's first bytes.
    let name = String::from_utf8_lossy(&input[..input.len().min(cut)]).into_owned();
    let mut v = Validator::new(limits);
    let mut diagnostics = Vec::new();
    let mut lines = Vec::new();
    let mut frames = v.framer().frames(input.to_vec());
    for frame in frames.by_ref() {
        v.check(&frame, &mut diagnostics);
        let bytes = match &frame {
            Frame::Line(l) => Some(l.bytes().clone()),
            Frame::TooLong(_) => None,
        };
        lines.resize(diagnostics.len(), bytes);
    }
    let summary = v.finish(frames.position(), &mut diagnostics);
    lines.resize(diagnostics.len(), None);
    for format in [Format::Human, Format::Json, Format::Github] {
        let mut out = Vec::new();
        for (d, line) in diagnostics.iter().zip(&lines) {
            write_diagnostic(&mut out, format, &name, d, line.as_deref()).expect("a Vec");
        }
        write_summary(&mut out, format, &name, &summary, 0).expect("a Vec");
        let text = String::from_utf8(out).expect("reports are UTF-8");
        if format == Format::Json {
            let n = text.lines().count();
            assert_eq!(n, diagnostics.len() + 1);
            for l in text.lines() {
                let v: serde_json::Value = serde_json::from_str(l).expect("one JSON value a line");
                assert!(v.is_object());
            }
        } else {
            assert!(
                text.chars().all(|c| c == '\n' || !unprintable(c)),
                "{format:?}: {text:?}"
            );
            if format == Format::Github {
                assert_eq!(text.lines().count(), diagnostics.len() + 1);
            }
        }
    }
}

/// Every parser of the API's answers, on any bytes (feature `client`): a
/// Batch, a list of batches or models (bare or wrapped), an error body
/// (its message never empty), a
/// results line, and the retry hints of any header text. Nothing panics,
/// and what parses survives a round trip through its own JSON.
#[cfg(feature = "client")]
pub fn answers(data: &[u8]) {
    use crate::api::{Batch, OutputLine};
    use crate::client::{decode_list, error_message, policy, Model};
    if let Ok(batches) = decode_list::<Batch>(data) {
        let text = serde_json::to_vec(&batches).expect("batches serialise");
        assert_eq!(decode_list::<Batch>(&text).expect("parses again"), batches);
    }
    if let Ok(models) = decode_list::<Model>(data) {
        let text = serde_json::to_vec(&models).expect("models serialise");
        assert_eq!(decode_list::<Model>(&text).expect("parses again"), models);
    }
    let _ = serde_json::from_slice::<OutputLine>(data);
    for status in [400, 401, 429, 500] {
        let message = error_message(status, data);
        assert!(!message.is_empty());
    }
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\n').unwrap_or((&text, ""));
    let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    if let Some(wait) = policy::retry_after(Some(a), Some(b), now) {
        assert!(wait <= policy::BACKOFF_MAX * 10);
    }
}

/// A campaign journal, as a resume reads it back (a file cut or damaged on
/// disk): parsing and replaying never panic, a replay is deterministic, and
/// what parses survives being written again.
pub fn journal(data: &[u8]) {
    use crate::campaign::journal::{parse_bytes, replay};
    let Ok((header, events)) = parse_bytes(data) else {
        return;
    };
    let mut core = replay(&header, &events);
    let again = replay(&header, &events);
    assert_eq!(core.next(), again.next());
    for i in 0..core.len() {
        assert_eq!(
            core.view(i).map(|v| v.id.map(str::to_owned)),
            again.view(i).map(|v| v.id.map(str::to_owned))
        );
    }
    let _ = core.creates_settled();
    core.poll();
    let _ = core.next();
    let mut text = serde_json::to_vec(&header).expect("a header serialises");
    text.push(b'\n');
    for e in &events {
        text.extend(serde_json::to_vec(e).expect("an event serialises"));
        text.push(b'\n');
    }
    let (header2, events2) = parse_bytes(&text).expect("written back, it parses");
    assert_eq!(header2, header);
    assert_eq!(events2, events);
}
