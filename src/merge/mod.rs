//! The merger: batch output files joined back to the requests, in request order.
//!
//! Three passes, memory bounded by an index of small entries, never by the
//! result bytes:
//!
//! 1. [`Merger::add_requests`]: each request file, in order, gives the order
//!    and the set of ids. Per request: its id (in one shared arena), where its
//!    line stands (file, line, byte range, for `--retry-dir`).
//! 2. [`Merger::add_results`]: each result file, in any order, is read once;
//!    for each line only `request_id`, `status` and `updated_at` are parsed, and
//!    the winning line per request is remembered as (file, offset, length,
//!    status class, time). Duplicates are resolved by the documented policy
//!    and counted; unknown ids and malformed lines are counted (and unknown
//!    lines handed to a writer).
//! 3. [`Merger::write_merged`]: requests in order; each winner is read again
//!    from its file (`pread`) and its `error` and `response` are copied byte
//!    for byte.
//!
//! Policy (batch-format.md section 2): a `COMPLETED` line wins over any line
//! that is not; between two lines both `COMPLETED` or both not, the later
//! `updated_at` wins (compared as instants; a missing or unreadable time is
//! the earliest); on a tie, the file given later wins, then the later line.

mod files;
mod parse;
mod policy;
mod retry;
mod write;

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, Write};

use serde::Serialize;

pub use self::files::{merge_files, MergeJob, MergeReport};
use self::parse::{id_start, parse_request, parse_result, pipeline, Parsed};
use self::policy::Best;
pub use self::policy::StatusClass;
pub use self::retry::{RetryOptions, RetrySet};
use crate::error::{Error, Result};
use crate::frame::{Frame, DEFAULT_MAX_LINE};
use crate::ids::{IdKey, IdSet, WarmPace};
use crate::input::{Again, Input};

/// The merge's figures; `--summary` writes them as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MergeSummary {
    /// Requests (lines of the request files with a string `request_id`).
    pub requests: u64,
    /// Requests whose winning status is `COMPLETED`.
    pub completed: u64,
    /// ... `FAILED`.
    pub failed: u64,
    /// ... `REJECTED`.
    pub rejected: u64,
    /// ... anything else.
    pub other: u64,
    /// Requests no result line names.
    pub missing: u64,
    /// Result lines beyond the first for a request.
    pub duplicates: u64,
    /// Result lines whose `request_id` is not among the requests.
    pub unknown: u64,
    /// Result lines that are not JSON objects or carry no string `request_id`.
    pub malformed: u64,
    /// Request lines skipped: not a request (no string `request_id`, not a
    /// JSON object), too long, or an id given before.
    pub skipped: u64,
}

/// A problem with one input line that did not stop the merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column in bytes, where the problem has a place in the line
    /// (the first byte that is not UTF-8, where the JSON breaks off).
    pub column: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Note {
    /// `FILE:LINE: MESSAGE`, or `FILE:LINE:COLUMN: MESSAGE`, as `validate` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "{}:{}:{column}: {}", self.file, self.line, self.message),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

/// Where a request stands, and the best result seen for it.
#[derive(Clone, Copy, Debug)]
struct Request {
    /// Bits of the id's hash beyond those the index keys on.
    check: u32,
    id_start: u32,
    id_len: u32,
    file: u32,
    line: u32,
    offset: u64,
    len: u32,
    best: Option<Best>,
}

/// Joins result files to requests. See the [module docs](self).
///
/// ```
/// use syncbatch::merge::Merger;
/// use syncbatch::Input;
///
/// let requests = "{\"request_id\":\"a\"}\n{\"request_id\":\"b\"}\n";
/// let results = "{\"request_id\":\"b\",\"status\":\"COMPLETED\",\"error\":null,\"response\":{\"id\":\"g1\"}}\n";
/// let mut m = Merger::new();
/// m.add_requests(Input::from_bytes("requests.jsonl", requests))?;
/// m.add_results(Input::from_bytes("output.jsonl", results), &mut std::io::sink())?;
/// let mut out = Vec::new();
/// let summary = m.write_merged(&mut out)?;
/// let text = String::from_utf8(out)?;
/// assert!(text.lines().next().unwrap().contains("\"status\":\"MISSING\""));
/// assert!(text.lines().nth(1).unwrap().contains("\"response\":{\"id\":\"g1\"}"));
/// assert_eq!((summary.completed, summary.missing), (1, 1));
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Merger {
    index: IdSet,
    ids: String,
    requests: Vec<Request>,
    request_files: Vec<RequestFile>,
    result_files: Vec<(String, File)>,
    /// Keep what it takes to read request lines again (a retry set).
    keep_requests: bool,
    /// Why the request and result inputs look swapped, when they do.
    swapped: Option<String>,
    /// Non-blank result lines read, and those with a `status` key.
    result_lines: u64,
    results_with_status: u64,
    summary: MergeSummary,
    notes: Vec<Note>,
    notes_dropped: u64,
}

impl fmt::Debug for Merger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merger")
            .field("requests", &self.requests.len())
            .field("result_files", &self.result_files.len())
            .finish()
    }
}

/// Notes kept for the caller to print; the rest are only counted.
const MAX_NOTES: usize = 1000;

/// A request input, and how to read its lines again.
struct RequestFile {
    name: String,
    again: Option<Again>,
}

impl Merger {
    /// An empty merger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps what it takes to read request lines again, for
    /// [`Merger::write_retry_set`]: a request input that is a regular file
    /// is opened again by its path, bytes in memory are kept, and anything
    /// else (standard input, a pipe) is copied to an anonymous temporary
    /// file as it is read.
    pub fn keep_requests(mut self, yes: bool) -> Self {
        self.keep_requests = yes;
        self
    }

    fn note(&mut self, file: &str, line: u64, message: String) {
        self.note_at(file, line, None, message);
    }

    fn note_at(&mut self, file: &str, line: u64, column: Option<u64>, message: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(Note {
                file: file.to_owned(),
                line,
                column,
                message,
            });
        } else {
            self.notes_dropped += 1;
        }
    }

    /// Why the request and result inputs given so far look swapped, when
    /// they do: a request input that starts with a result line (a `status`
    /// and no `endpoint`), or result inputs that hold lines and none with a
    /// `status`. [`merge_files`] refuses to merge then.
    pub fn looks_swapped(&self) -> Option<String> {
        if let Some(why) = &self.swapped {
            return Some(why.clone());
        }
        (self.result_lines > 0 && self.results_with_status == 0).then(|| {
            format!(
                "the result files hold {} and none has a status, as request lines have \
                 none: the request and result files look swapped",
                crate::util::count(self.result_lines, "line", "lines")
            )
        })
    }

    /// Problems met so far (bad request lines, malformed results), at most
    /// 1000; [`Merger::notes_dropped`] counts the rest.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// Notes beyond the first 1000.
    pub fn notes_dropped(&self) -> u64 {
        self.notes_dropped
    }

    /// Reads one request input. Lines without a string `request_id` are
    /// noted and skipped; an id given twice keeps its first place and is
    /// noted. `O(input)`; about 40 bytes of index a request. Framing and
    /// parsing run on worker threads beside the caller's.
    pub fn add_requests(&mut self, input: Input) -> Result<()> {
        let name = input.name().to_owned();
        let failed = |e: io::Error| Error::io(name.clone(), e);
        let (again, reader) = match input.again() {
            Some(again) => (Some(again), input.into_reader()),
            None if self.keep_requests => {
                let spooled = spool(&mut input.into_reader()).map_err(failed)?;
                let reader = spooled.try_clone().map_err(failed)?;
                (
                    Some(Again::File(spooled)),
                    Box::new(reader) as Box<dyn Read + Send>,
                )
            }
            None => (None, input.into_reader()),
        };
        self.add_requests_from(&name, reader).map_err(failed)?;
        self.request_files.push(RequestFile { name, again });
        Ok(())
    }

    fn add_requests_from(&mut self, name: &str, reader: impl Read + Send) -> io::Result<()> {
        let file = self.request_files.len() as u32;
        let mut pace = WarmPace::default();
        let mut full = false;
        let mut first = true;
        pipeline(reader, parse_request, |frame, parsed, ahead| {
            if full {
                return;
            }
            // The index's slots for the next ids, their misses overlapped.
            let due = pace.due(ahead.len());
            self.index.warm(
                ahead[..due]
                    .iter()
                    .filter_map(|p| p.as_ref().ok().map(|p| p.hash)),
            );
            let Frame::Line(line) = &frame else {
                self.summary.skipped += 1;
                self.note(
                    name,
                    frame.number(),
                    format!("request line over {DEFAULT_MAX_LINE} bytes: skipped"),
                );
                return;
            };
            let request = match parsed {
                Ok(request) => request,
                Err(None) => return,
                Err(Some((why, column))) => {
                    self.summary.skipped += 1;
                    let message = format!("{why}: not a request, skipped");
                    self.note_at(name, line.number(), column, message);
                    return;
                }
            };
            if std::mem::take(&mut first) && request.like_a_result && self.swapped.is_none() {
                self.swapped = Some(format!(
                    "{name} starts with a result line (a status and no endpoint), not a \
                     request: the request and result files look swapped"
                ));
            }
            let (id_text, hash, check) = (request.id, request.hash, request.check);
            let id = id_text.get(line.bytes());
            let index = self.requests.len() as u64;
            if let Some(first) = self.index.insert_hash(hash, index) {
                let first = self.requests[first as usize];
                let where_ = match self.request_files.get(first.file as usize) {
                    Some(f) => f.name.as_str(),
                    None => name,
                };
                let message = format!(
                    "request_id {id:?} repeats line {} of {where_}; the first counts",
                    first.line
                );
                self.summary.skipped += 1;
                self.note(name, line.number(), message);
                return;
            }
            let Some(id_start) = id_start(self.ids.len(), id.len()) else {
                full = true;
                return;
            };
            self.ids.push_str(id);
            self.requests.push(Request {
                check,
                id_start,
                id_len: id.len() as u32,
                file,
                line: u32::try_from(line.number()).unwrap_or(u32::MAX),
                offset: line.offset(),
                len: line.bytes().len() as u32,
                best: None,
            });
        })?;
        self.summary.requests = self.requests.len() as u64;
        if full {
            return Err(io::Error::other(
                "over 4 GiB of request ids in all, more than one merge can hold: \
                 merge the request files in groups",
            ));
        }
        Ok(())
    }

    /// Reads one result input: the winners are read from it again at the
    /// end. Unknown result lines are written to `unknown` as they are.
    /// `O(input)`; keeps the file open until the merger is dropped, so a
    /// merge of `n` result files needs `n` file descriptors. Anything that
    /// is no regular file (standard input, a pipe, bytes in memory) is first
    /// copied to an anonymous temporary file (in `TMPDIR`, gone when the
    /// merger is dropped or the process ends). Framing and parsing run on
    /// worker threads beside the caller's.
    pub fn add_results(&mut self, input: Input, unknown: &mut dyn Write) -> Result<()> {
        let name = input.name().to_owned();
        let failed = |e: io::Error| Error::io(name.clone(), e);
        let file = match input.into_file() {
            Ok(file) => file,
            Err(input) => spool(&mut input.into_reader()).map_err(failed)?,
        };
        self.add_results_file(name.clone(), file, unknown)
            .map_err(failed)
    }

    fn add_results_file(
        &mut self,
        name: String,
        file: File,
        unknown: &mut dyn Write,
    ) -> io::Result<()> {
        let file_index = self.result_files.len() as u32;
        let reader = file.try_clone()?;
        self.result_files.push((name.clone(), file));
        let mut failed = Ok(());
        let mut pace = WarmPace::default();
        pipeline(reader, parse_result, |frame, parsed, ahead| {
            if failed.is_err() {
                return;
            }
            let due = pace.due(ahead.len());
            self.warm_lookups(&ahead[..due]);
            self.result_lines += 1;
            let Frame::Line(line) = &frame else {
                self.summary.malformed += 1;
                self.note(
                    &name,
                    frame.number(),
                    format!(
                        "result line over {DEFAULT_MAX_LINE} bytes: skipped, counted as malformed"
                    ),
                );
                return;
            };
            let (hash, check, class, time) = match parsed {
                Parsed::Blank => {
                    self.result_lines -= 1;
                    return;
                }
                Parsed::Malformed(why, column) => {
                    self.summary.malformed += 1;
                    let message = if line.newline() {
                        why
                    } else {
                        format!("last line cut short (an interrupted download?): {why}")
                    };
                    self.note_at(&name, line.number(), column, message);
                    return;
                }
                Parsed::Keyed {
                    hash,
                    check,
                    has_status,
                    class,
                    time,
                } => {
                    self.results_with_status += u64::from(has_status);
                    (hash, check, class, time)
                }
            };
            let Some(index) = self.lookup(hash, check) else {
                self.summary.unknown += 1;
                failed = unknown
                    .write_all(line.bytes())
                    .and_then(|()| unknown.write_all(b"\n"));
                return;
            };
            let candidate = Best {
                file: file_index,
                offset: line.offset(),
                len: line.bytes().len() as u32,
                class,
                time,
            };
            let request = &mut self.requests[index];
            match &request.best {
                None => request.best = Some(candidate),
                Some(best) => {
                    self.summary.duplicates += 1;
                    if candidate.beats(best) {
                        request.best = Some(candidate);
                    }
                }
            }
        })?;
        failed
    }

    /// The request with this id's hash: 96 bits find it, 32 more confirm
    /// it (two ids agree on all 128 with odds near 2⁻¹²⁸ a pair), without
    /// touching the id text.
    fn lookup(&self, key: IdKey, check: u32) -> Option<usize> {
        let index = self.index.get_hash(key)? as usize;
        (self.requests[index].check == check).then_some(index)
    }

    /// Looks the next results up ahead of their turn, all in one burst, so
    /// that the cache misses in the index and in the requests overlap
    /// instead of stalling one result each. Changes nothing.
    fn warm_lookups(&self, ahead: &[Parsed]) {
        let mut seen = 0u32;
        for parsed in ahead {
            if let Parsed::Keyed { hash, .. } = parsed {
                if let Some(index) = self.index.get_hash(*hash) {
                    seen ^= self.requests.get(index as usize).map_or(0, |r| r.check);
                }
            }
        }
        std::hint::black_box(seen);
    }

    fn id(&self, r: &Request) -> &str {
        &self.ids[r.id_start as usize..(r.id_start + r.id_len) as usize]
    }

    /// The figures so far (final after [`Merger::write_merged`]).
    pub fn summary(&self) -> &MergeSummary {
        &self.summary
    }
}

/// Copies a stream that cannot be read twice (standard input, a pipe) to an
/// anonymous temporary file (in `TMPDIR`; it has no name, so nothing is left
/// behind even if the process is killed) and returns it rewound, for reading
/// by offset. Cost: one copy of the stream to disk.
fn spool(reader: &mut dyn Read) -> io::Result<File> {
    let failed =
        |e: io::Error| io::Error::new(e.kind(), format!("copying it to a temporary file: {e}"));
    let mut file = tempfile::tempfile().map_err(failed)?;
    io::copy(reader, &mut file).map_err(failed)?;
    // Handles cloned from it share this position.
    file.rewind()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_keeps_order_across_chunk_edges_and_reports_read_errors() {
        for n in [0usize, 1, 511, 512, 513, 1024, 1537] {
            let input: String = (0..n)
                .map(|i| format!("{{\"request_id\":\"r{i}\"}}\n"))
                .collect();
            let mut seen = Vec::new();
            pipeline(input.as_bytes(), parse_request, |frame, parsed, _| {
                let id = parsed.expect("a request").id;
                seen.push((frame.number(), id.get(frame_bytes(&frame)).to_owned()));
            })
            .unwrap();
            let want: Vec<(u64, String)> =
                (0..n).map(|i| (i as u64 + 1, format!("r{i}"))).collect();
            assert_eq!(seen, want, "{n} lines");
        }
        struct FailsAfter(usize);
        impl Read for FailsAfter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk gone"));
                }
                self.0 -= 1;
                let line = b"{\"request_id\":\"x\"}\n";
                buf[..line.len()].copy_from_slice(line);
                Ok(line.len())
            }
        }
        for lines in [3, 600, 1100] {
            let err = pipeline(FailsAfter(lines), parse_request, |_, _, _| {}).unwrap_err();
            assert_eq!(err.to_string(), "disk gone");
        }
    }

    fn frame_bytes(frame: &Frame) -> &[u8] {
        match frame {
            Frame::Line(l) => l.bytes(),
            Frame::TooLong(_) => &[],
        }
    }

    /// Every malformed result line is noted with what is wrong and, where
    /// the line breaks at a byte, its column.
    #[test]
    fn malformed_results_are_noted_with_their_columns() {
        let mut merger = Merger::new();
        merger
            .add_requests(Input::from_bytes(
                "requests.jsonl",
                &b"{\"request_id\":\"a\"}\n"[..],
            ))
            .unwrap();
        let results: &[u8] = b"{\"request_id\":\"a\",\"x\":\"\xC3(\"}\n\
            \"a\"\n\
            {\"request_id\":\"a\"}}\n\
            {\"request_id\":null}\n\
            {\"request_id\":\"a\",\"status\":\"COMPL";
        merger
            .add_results(Input::from_bytes("out.jsonl", results), &mut io::sink())
            .unwrap();
        let notes: Vec<String> = merger.notes().iter().map(Note::to_string).collect();
        assert_eq!(
            notes,
            [
                "out.jsonl:1:24: invalid UTF-8 byte 0xC3",
                "out.jsonl:2:1: a batch line must be a JSON object, not a string",
                "out.jsonl:3:19: not one JSON value: trailing characters",
                "out.jsonl:4: no string request_id",
                "out.jsonl:5:33: last line cut short (an interrupted download?): \
                 not one JSON value: EOF while parsing a string",
            ]
        );
        assert_eq!(merger.summary().malformed, 5);

        // Request lines are noted the same way, and skipped.
        let mut merger = Merger::new();
        let requests: &[u8] = b"{\"request_id\":\"a\"}\n\
            [\"b\"]\n\
            \n\
            {\"request_id\":7}\n\
            {\"request_id\":\"c\"\n";
        merger
            .add_requests(Input::from_bytes("in.jsonl", requests))
            .unwrap();
        let notes: Vec<String> = merger.notes().iter().map(Note::to_string).collect();
        assert_eq!(
            notes,
            [
                "in.jsonl:2:1: a batch line must be a JSON object, not an array: not a request, skipped",
                "in.jsonl:4: no string request_id: not a request, skipped",
                "in.jsonl:5:17: not one JSON value: EOF while parsing an object: not a request, skipped",
            ]
        );
        assert_eq!(merger.summary().requests, 1);
        assert_eq!(merger.summary().skipped, 3);
    }

    #[test]
    fn ids_past_4_gib_are_refused_not_wrapped() {
        assert_eq!(id_start(0, 5), Some(0));
        assert_eq!(id_start(10, 5), Some(10));
        let max = u32::MAX as usize;
        assert_eq!(id_start(max - 5, 5), Some(u32::MAX - 5));
        assert_eq!(id_start(max - 5, 6), None);
        assert_eq!(id_start(max + 1, 0), None);
        assert_eq!(id_start(usize::MAX, 1), None);
    }
}
