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

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::FileExt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::frame::{for_each_parsed_with, parse_workers, Frame, Framer, DEFAULT_MAX_LINE};
use crate::ids::{IdKey, IdSet, WarmPace};

/// How a result's status counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusClass {
    /// `COMPLETED`.
    Completed,
    /// `FAILED`.
    Failed,
    /// `REJECTED`.
    Rejected,
    /// Anything else, kept verbatim (`CANCELED`, `TIMED_OUT`, `PENDING`, ...).
    Other,
}

impl StatusClass {
    /// The class of a status string.
    pub fn of(status: &str) -> StatusClass {
        match status {
            "COMPLETED" => StatusClass::Completed,
            "FAILED" => StatusClass::Failed,
            "REJECTED" => StatusClass::Rejected,
            _ => StatusClass::Other,
        }
    }
}

/// The merge's figures; `--summary` writes them as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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

/// The winning result line so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Best {
    file: u32,
    offset: u64,
    len: u32,
    class: StatusClass,
    /// Milliseconds since the epoch; `i64::MIN` when missing.
    time: i64,
}

impl Best {
    /// Whether `self` beats `other` by the policy (files and offsets grow
    /// in the order given, so they order ties).
    fn beats(&self, other: &Best) -> bool {
        let done = |b: &Best| b.class == StatusClass::Completed;
        (done(self), self.time, self.file, self.offset)
            > (done(other), other.time, other.file, other.offset)
    }
}

/// The fields of a result line the index needs, borrowed.
#[derive(Default)]
struct ResultKeys<'a> {
    request_id: Option<Cow<'a, str>>,
    status: Option<Cow<'a, str>>,
    updated_at: Option<Cow<'a, str>>,
}

/// Reads `request_id` (or `requestId`), `status` and `updated_at` (or
/// `updatedAt`) of a JSON object and skips the rest; `Err` when the line is
/// not an object. Non-string values of those keys count as absent.
fn result_keys(line: &str) -> Result<ResultKeys<'_>, serde_json::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = ResultKeys<'de>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut keys = ResultKeys::default();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                let slot = match key.as_ref() {
                    "request_id" | "requestId" => &mut keys.request_id,
                    "status" => &mut keys.status,
                    "updated_at" | "updatedAt" => &mut keys.updated_at,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                };
                let value = map.next_value::<StringOrOther<'de>>()?;
                if slot.is_none() {
                    *slot = value.0;
                }
            }
            Ok(keys)
        }
    }
    let mut de = serde_json::Deserializer::from_str(line);
    let keys = de.deserialize_map(V)?;
    de.end()?;
    Ok(keys)
}

/// A string, or any other value (skipped, kept as `None`).
struct StringOrOther<'a>(Option<Cow<'a, str>>);

impl<'de> serde::Deserialize<'de> for StringOrOther<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringOrOther<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StringOrOther(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrOther(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(StringOrOther(Some(Cow::Owned(v))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StringOrOther(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(StringOrOther(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(StringOrOther(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(StringOrOther(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StringOrOther(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> Result<Self::Value, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StringOrOther(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StringOrOther(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// An RFC 3339 time as milliseconds since the epoch.
fn instant(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Joins result files to requests. See the [module docs](self).
///
/// ```
/// use syncbatch::merge::Merger;
///
/// let requests = b"{\"request_id\":\"a\"}\n{\"request_id\":\"b\"}\n";
/// let results = b"{\"request_id\":\"b\",\"status\":\"COMPLETED\",\"error\":null,\"response\":{\"id\":\"g1\"}}\n";
/// let mut m = Merger::new();
/// m.add_requests("requests.jsonl", &requests[..])?;
/// // Results are read again at the end, so they come from files.
/// let dir = std::env::temp_dir().join(format!("syncbatch-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("output.jsonl");
/// std::fs::write(&path, results)?;
/// m.add_results(&path, &mut std::io::sink())?;
/// let mut out = Vec::new();
/// let summary = m.write_merged(&mut out)?;
/// let text = String::from_utf8(out)?;
/// assert!(text.lines().next().unwrap().contains("\"status\":\"MISSING\""));
/// assert!(text.lines().nth(1).unwrap().contains("\"response\":{\"id\":\"g1\"}"));
/// assert_eq!((summary.completed, summary.missing), (1, 1));
/// # std::fs::remove_dir_all(&dir)?;
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Merger {
    index: IdSet,
    ids: String,
    requests: Vec<Request>,
    request_files: Vec<String>,
    result_files: Vec<(String, File)>,
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

impl Merger {
    /// An empty merger.
    pub fn new() -> Self {
        Self::default()
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

    /// Problems met so far (bad request lines, malformed results), at most
    /// 1000; [`Merger::notes_dropped`] counts the rest.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// Notes beyond the first 1000.
    pub fn notes_dropped(&self) -> u64 {
        self.notes_dropped
    }

    /// Reads one request file. Lines without a string `request_id` are
    /// noted and skipped; an id given twice keeps its first place and is
    /// noted. `O(file)`; about 40 bytes of index a request. Framing and
    /// parsing run off this thread ([`parse_workers`] of them).
    pub fn add_requests<R: Read + Send>(&mut self, name: &str, reader: R) -> io::Result<()> {
        let file = self.request_files.len() as u32;
        self.request_files.push(name.to_owned());
        let mut pace = WarmPace::default();
        let mut full = false;
        pipeline(reader, parse_request, |frame, parsed, ahead| {
            if full {
                return;
            }
            // The index's slots for the next ids, their misses overlapped.
            let due = pace.due(ahead.len());
            self.index.warm(
                ahead[..due]
                    .iter()
                    .filter_map(|p| p.as_ref().ok().map(|p| p.1)),
            );
            let Frame::Line(line) = &frame else {
                self.note(
                    name,
                    frame.number(),
                    format!("request line over {DEFAULT_MAX_LINE} bytes: skipped"),
                );
                return;
            };
            let (id_text, hash, check) = match parsed {
                Ok(keyed) => keyed,
                Err(None) => return,
                Err(Some((why, column))) => {
                    let message = format!("{why}: not a request, skipped");
                    self.note_at(name, line.number(), column, message);
                    return;
                }
            };
            let id = id_text.get(line.bytes());
            let index = self.requests.len() as u64;
            if let Some(first) = self.index.insert_hash(hash, index) {
                let first = self.requests[first as usize];
                let where_ = &self.request_files[first.file as usize];
                let message = format!(
                    "request_id {id:?} repeats line {} of {where_}; the first counts",
                    first.line
                );
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

    /// Reads one result file: the winners are read from it again at the end.
    /// Unknown result lines are written to `unknown` as they are. `O(file)`;
    /// keeps the file open until the merger is dropped, so a merge of `n`
    /// result files needs `n` file descriptors (the command line raises its
    /// soft limit for that). Framing and parsing run off this thread
    /// ([`parse_workers`] of them). A path that is not a regular file (a
    /// pipe, `/dev/stdin`, a process substitution) cannot be read again, so
    /// it goes through [`Merger::add_results_reader`].
    pub fn add_results(
        &mut self,
        path: &std::path::Path,
        unknown: &mut dyn Write,
    ) -> io::Result<()> {
        let name = path.display().to_string();
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_file() {
            self.add_results_file(name, file, unknown)
        } else if meta.is_dir() {
            Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "a directory, not a result file",
            ))
        } else {
            self.add_results_reader(&name, file, unknown)
        }
    }

    /// Reads one result stream that cannot be read again (standard input, a
    /// pipe), called `name` in notes and errors. It is first copied to an
    /// anonymous temporary file (in `TMPDIR`, gone when the merger is
    /// dropped or the process ends), which the winners are read from at the
    /// end. Cost: one copy of the stream to disk, on top of
    /// [`Merger::add_results`].
    pub fn add_results_reader(
        &mut self,
        name: &str,
        mut reader: impl Read,
        unknown: &mut dyn Write,
    ) -> io::Result<()> {
        let file = spool(&mut reader)?;
        self.add_results_file(name.to_owned(), file, unknown)
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
                Parsed::Blank => return,
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
                    class,
                    time,
                } => (hash, check, class, time),
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

    /// Writes one merged line per request, in request order, and returns the
    /// figures. Each winner is read again from its result file; a second
    /// thread reads and formats while this one writes.
    pub fn write_merged(&mut self, out: &mut dyn Write) -> io::Result<MergeSummary> {
        const CHUNK: usize = 2048;
        /// Chunks go round-robin to this many formatting threads; this thread
        /// writes them back in order.
        const WORKERS: usize = 2;
        let this = &*self;
        let chunks = this.requests.len().div_ceil(CHUNK);
        std::thread::scope(|scope| {
            let mut queues = Vec::new();
            let mut workers = Vec::new();
            for w in 0..WORKERS {
                let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(2);
                queues.push(rx);
                workers.push(scope.spawn(move || {
                    let mut counts = MergeSummary::default();
                    let mut buf = Vec::new();
                    for chunk in this.requests.chunks(CHUNK).skip(w).step_by(WORKERS) {
                        let mut text = Vec::with_capacity(CHUNK * 700);
                        let made = chunk.iter().try_for_each(|r| {
                            this.merged_line(r, &mut counts, &mut buf, &mut text)
                        });
                        let stop = made.is_err();
                        if tx.send(made.map(|()| text)).is_err() || stop {
                            break;
                        }
                    }
                    counts
                }));
            }
            let mut result = Ok(());
            for i in 0..chunks {
                let next = queues[i % WORKERS]
                    .recv()
                    .unwrap_or_else(|_| Err(io::Error::other("a merge worker stopped")));
                if let Err(e) = next.and_then(|text| out.write_all(&text)) {
                    result = Err(e);
                    break;
                }
            }
            drop(queues);
            let mut summary = this.summary.clone();
            for w in workers {
                let c = w.join().expect("merge workers do not panic");
                summary.completed += c.completed;
                summary.failed += c.failed;
                summary.rejected += c.rejected;
                summary.other += c.other;
                summary.missing += c.missing;
            }
            result.map(|()| summary)
        })
    }

    fn merged_line(
        &self,
        r: &Request,
        summary: &mut MergeSummary,
        buf: &mut Vec<u8>,
        line: &mut Vec<u8>,
    ) -> io::Result<()> {
        line.extend_from_slice(b"{\"request_id\":");
        serde_json::to_writer(&mut *line, self.id(r))?;
        match r.best {
            None => {
                summary.missing += 1;
                line.extend_from_slice(
                    b",\"status\":\"MISSING\",\"error\":null,\"response\":null,\"updated_at\":null",
                );
            }
            Some(best) => {
                match best.class {
                    StatusClass::Completed => summary.completed += 1,
                    StatusClass::Failed => summary.failed += 1,
                    StatusClass::Rejected => summary.rejected += 1,
                    StatusClass::Other => summary.other += 1,
                }
                let (name, file) = &self.result_files[best.file as usize];
                buf.resize(best.len as usize, 0);
                file.read_exact_at(buf, best.offset)
                    .map_err(|e| io::Error::new(e.kind(), format!("{name}: read again: {e}")))?;
                let text = std::str::from_utf8(buf).map_err(io::Error::other)?;
                write_result_fields(text, line)?;
            }
        }
        line.extend_from_slice(b",\"source\":{\"file\":");
        serde_json::to_writer(&mut *line, &self.request_files[r.file as usize])?;
        line.extend_from_slice(b",\"line\":");
        line.extend_from_slice(r.line.to_string().as_bytes());
        line.extend_from_slice(b"}}\n");
        Ok(())
    }

    /// The figures so far (final after [`Merger::write_merged`]).
    pub fn summary(&self) -> &MergeSummary {
        &self.summary
    }

    /// The requests not `COMPLETED` (failed, rejected, other, missing), in
    /// request order, as (request file name as given to
    /// [`Merger::add_requests`], byte offset, length of the line without its
    /// terminator): where their original lines stand, for a retry set. See
    /// the `cookbook` module for reading them back. `O(requests)`.
    pub fn retry_lines(&self) -> impl Iterator<Item = (&str, u64, u32)> + '_ {
        self.requests
            .iter()
            .filter(|r| !matches!(r.best, Some(b) if b.class == StatusClass::Completed))
            .map(|r| {
                (
                    self.request_files[r.file as usize].as_str(),
                    r.offset,
                    r.len,
                )
            })
    }
}

/// Copies a stream that cannot be read twice (standard input, a pipe) to an
/// anonymous temporary file (in `TMPDIR`; it has no name, so nothing is left
/// behind even if the process is killed) and returns it rewound, for reading
/// by offset. Cost: one copy of the stream to disk.
pub fn spool(reader: &mut dyn Read) -> io::Result<File> {
    let failed =
        |e: io::Error| io::Error::new(e.kind(), format!("copying it to a temporary file: {e}"));
    let mut file = tempfile::tempfile().map_err(failed)?;
    io::copy(reader, &mut file).map_err(failed)?;
    // Handles cloned from it share this position.
    file.rewind()?;
    Ok(file)
}

/// Where an id stands: a span of its line, or its own text when escaped.
enum IdText {
    Span(u32, u32),
    Owned(String),
}

impl IdText {
    /// A span when `id` is borrowed from `line` (no escapes), else a copy.
    fn of(id: &str, line: &str) -> IdText {
        let (start, end) = (line.as_ptr() as usize, line.as_ptr() as usize + line.len());
        let at = id.as_ptr() as usize;
        if at >= start && at + id.len() <= end {
            IdText::Span((at - start) as u32, id.len() as u32)
        } else {
            IdText::Owned(id.to_owned())
        }
    }

    fn get<'a>(&'a self, line: &'a [u8]) -> &'a str {
        match self {
            IdText::Span(start, len) => {
                std::str::from_utf8(&line[*start as usize..(*start + *len) as usize])
                    .expect("a parsed string")
            }
            IdText::Owned(s) => s,
        }
    }
}

/// A request line, parsed off the main thread: its id and the id's hash.
/// A request line's id, or why it has none (`None` for a blank or over-long
/// line, which need no more words).
fn parse_request(frame: &Frame) -> Result<(IdText, IdKey, u32), Option<Why>> {
    let Frame::Line(line) = frame else {
        return Err(None);
    };
    if line.is_blank() {
        return Err(None);
    }
    let (text, keys) = line_keys(line.bytes()).map_err(Some)?;
    let id = keys
        .request_id
        .ok_or_else(|| ("no string request_id".to_owned(), None))?;
    let (hash, check) = IdSet::hash_and_check(&id);
    Ok((IdText::of(&id, text), hash, check))
}

/// Where an id of `len` bytes starts in the ids kept so far (`held` bytes),
/// if both ends fit the index's 32-bit offsets: `None` past 4 GiB of ids,
/// which a merge refuses rather than wrap around.
fn id_start(held: usize, len: usize) -> Option<u32> {
    let end = held.checked_add(len)?;
    u32::try_from(end).ok()?;
    u32::try_from(held).ok()
}

/// What is wrong with a line, and the 1-based column it points at.
type Why = (String, Option<u64>);

/// The keys merge reads from a line (request or result), or why it has none:
/// not UTF-8 (at the first bad byte), not valid JSON (where it breaks off),
/// or JSON that is not an object (named by its kind).
fn line_keys(bytes: &[u8]) -> Result<(&str, ResultKeys<'_>), Why> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ("not UTF-8".to_owned(), Some(e.valid_up_to() as u64 + 1)))?;
    match result_keys(text) {
        Ok(keys) => Ok((text, keys)),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            // Only the top level can mismatch: every value inside is taken.
            let kind = match text.trim_start().bytes().next() {
                Some(b'[') => "an array",
                Some(b'"') => "a string",
                Some(b't' | b'f') => "a boolean",
                Some(b'n') => "null",
                _ => "a number",
            };
            Err((format!("not a JSON object but {kind}"), None))
        }
        Err(e) => {
            let column = (e.column() > 0).then_some(e.column() as u64);
            let why = crate::validate::json::error_text(&e);
            Err((format!("not valid JSON: {why}"), column))
        }
    }
}

/// A result line, parsed off the main thread.
enum Parsed {
    Blank,
    /// Why, and the column it points at.
    Malformed(String, Option<u64>),
    Keyed {
        hash: IdKey,
        check: u32,
        class: StatusClass,
        time: i64,
    },
}

fn parse_result(frame: &Frame) -> Parsed {
    let Frame::Line(line) = frame else {
        return Parsed::Malformed("too long".into(), None);
    };
    if line.is_blank() {
        return Parsed::Blank;
    }
    let keys = match line_keys(line.bytes()) {
        Ok((_, keys)) => keys,
        Err((why, column)) => return Parsed::Malformed(why, column),
    };
    let Some(id) = keys.request_id else {
        return Parsed::Malformed("no string request_id".into(), None);
    };
    let (hash, check) = IdSet::hash_and_check(&id);
    Parsed::Keyed {
        hash,
        check,
        class: StatusClass::of(keys.status.as_deref().unwrap_or("")),
        time: keys
            .updated_at
            .as_deref()
            .and_then(instant)
            .unwrap_or(i64::MIN),
    }
}

/// Frames `reader` and parses off this thread ([`for_each_parsed_with`]);
/// `each` sees every frame, in order, and the parsed frames after it in its
/// chunk.
fn pipeline<R, T, P, F>(reader: R, parse: P, mut each: F) -> io::Result<()>
where
    R: Read + Send,
    T: Send,
    P: Fn(&Frame) -> T + Sync,
    F: FnMut(Frame, T, &[T]),
{
    for_each_parsed_with(
        parse_workers(),
        reader,
        Framer::new(),
        parse,
        |frame, parsed, ahead| {
            each(frame, parsed, ahead);
            true
        },
    )
    .map(|_| ())
}

/// The output fields of a result line: `status`, `error` and `response` as
/// raw JSON, `updated_at`; absent ones as `null`.
fn write_result_fields(text: &str, out: &mut Vec<u8>) -> io::Result<()> {
    struct V;
    #[derive(Default)]
    struct Fields<'a> {
        status: Option<&'a RawValue>,
        error: Option<&'a RawValue>,
        response: Option<&'a RawValue>,
        updated_at: Option<&'a RawValue>,
    }
    impl<'de> Visitor<'de> for V {
        type Value = Fields<'de>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut f = Fields::default();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                let slot = match key.as_ref() {
                    "status" => &mut f.status,
                    "error" => &mut f.error,
                    "response" => &mut f.response,
                    "updated_at" | "updatedAt" => &mut f.updated_at,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                };
                let value = map.next_value::<&'de RawValue>()?;
                if slot.is_none() {
                    *slot = Some(value);
                }
            }
            Ok(f)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let f = de.deserialize_map(V).map_err(io::Error::other)?;
    fn raw(v: Option<&RawValue>) -> &str {
        v.map_or("null", RawValue::get)
    }
    // A status that is not a string is no status: kept as "" (class other).
    let status = f
        .status
        .map(RawValue::get)
        .filter(|s| s.starts_with('"'))
        .unwrap_or("\"\"");
    let updated = f
        .updated_at
        .map(RawValue::get)
        .filter(|s| s.starts_with('"'))
        .unwrap_or("null");
    for (key, value) in [
        ("status", status),
        ("error", raw(f.error)),
        ("response", raw(f.response)),
        ("updated_at", updated),
    ] {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(value.as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let b = |class, time, file, offset| Best {
            file,
            offset,
            len: 1,
            class,
            time,
        };
        use StatusClass::*;
        // COMPLETED beats anything else, whatever the times.
        assert!(b(Completed, 1, 0, 0).beats(&b(Failed, 9, 1, 9)));
        assert!(!b(Failed, 9, 1, 9).beats(&b(Completed, 1, 0, 0)));
        // Same class: the later time.
        assert!(b(Failed, 5, 0, 0).beats(&b(Other, 4, 1, 0)));
        // A missing time is the earliest.
        assert!(b(Failed, 0, 0, 0).beats(&b(Failed, i64::MIN, 1, 0)));
        // Ties: the later file, then the later line.
        assert!(b(Completed, 5, 1, 0).beats(&b(Completed, 5, 0, 9)));
        assert!(b(Completed, 5, 1, 7).beats(&b(Completed, 5, 1, 3)));
    }

    #[test]
    fn pipeline_keeps_order_across_chunk_edges_and_reports_read_errors() {
        for n in [0usize, 1, 511, 512, 513, 1024, 1537] {
            let input: String = (0..n)
                .map(|i| format!("{{\"request_id\":\"r{i}\"}}\n"))
                .collect();
            let mut seen = Vec::new();
            pipeline(input.as_bytes(), parse_request, |frame, parsed, _| {
                let (id, _, _) = parsed.expect("a request");
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
            .add_requests("requests.jsonl", &b"{\"request_id\":\"a\"}\n"[..])
            .unwrap();
        let results: &[u8] = b"{\"request_id\":\"a\",\"x\":\"\xC3(\"}\n\
            \"a\"\n\
            {\"request_id\":\"a\"}}\n\
            {\"request_id\":null}\n\
            {\"request_id\":\"a\",\"status\":\"COMPL";
        merger
            .add_results_reader("out.jsonl", results, &mut io::sink())
            .unwrap();
        let notes: Vec<String> = merger.notes().iter().map(Note::to_string).collect();
        assert_eq!(
            notes,
            [
                "out.jsonl:1:24: not UTF-8",
                "out.jsonl:2: not a JSON object but a string",
                "out.jsonl:3:19: not valid JSON: trailing characters",
                "out.jsonl:4: no string request_id",
                "out.jsonl:5:33: last line cut short (an interrupted download?): \
                 not valid JSON: EOF while parsing a string",
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
        merger.add_requests("in.jsonl", requests).unwrap();
        let notes: Vec<String> = merger.notes().iter().map(Note::to_string).collect();
        assert_eq!(
            notes,
            [
                "in.jsonl:2: not a JSON object but an array: not a request, skipped",
                "in.jsonl:4: no string request_id: not a request, skipped",
                "in.jsonl:5:17: not valid JSON: EOF while parsing an object: not a request, skipped",
            ]
        );
        assert_eq!(merger.summary().requests, 1);
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

    #[test]
    fn liberal_keys() {
        let k = result_keys(
            r#"{"requestId":"a","status":7,"updatedAt":"2024-01-15T10:35:00Z","x":[1,{"y":2}]}"#,
        )
        .unwrap();
        assert_eq!(k.request_id.as_deref(), Some("a"));
        assert_eq!(k.status, None);
        assert_eq!(instant(&k.updated_at.unwrap()), Some(1_705_314_900_000));
        assert!(result_keys("[1]").is_err());
        assert!(result_keys(r#"{"request_id":"a""#).is_err());
        assert_eq!(
            instant("2024-01-15T11:35:00+01:00"),
            instant("2024-01-15T10:35:00Z")
        );
    }
}
