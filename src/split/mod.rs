//! The splitter: records of any number of inputs in, compliant batch files out.
//!
//! One call splits inputs into a sink at full speed: [`split`], or
//! [`Splitter::run`] to watch the diagnostics and progress as it goes.
//! Underneath, a [`Splitter`] reads frames from one input after another as one stream,
//! checks each record with a [`Validator`] (records only: the splitter drops
//! the BOM, writes `\n` and sizes batches itself), and feeds the sizes of the
//! valid ones to the [`plan::Planner`], which hands back batches as soon as
//! they are decided. Those go to a [`Sink`]: [`DirSink`] writes files and
//! `manifest.json` aside and moves them into place only when the whole split
//! succeeded; [`MemorySink`] keeps them in memory; [`DryRunSink`] keeps only
//! their hashes and the manifest (a dry run). Memory: the undecided
//! records (a batch or two) and the id set; none of the records once no
//! compliant split can exist.
//!
//! ```
//! use syncbatch::split::{split, MemorySink, SplitOptions};
//!
//! let input: String = (1..=510)
//!     .map(|i| {
//!         format!(
//!             r#"{{"request_id":"r-{i}","endpoint":"/v2/generate","payload":{{"model":"lipsync-2","input":[{{"type":"video","url":"https://a.io/v.mp4"}},{{"type":"audio","url":"https://a.io/a.wav"}}]}}}}"#
//!         ) + "\n"
//!     })
//!     .collect();
//! let input = syncbatch::Input::from_bytes("input.jsonl", input);
//! let (summary, sink) = split([input], SplitOptions::default(), MemorySink::default())?;
//! let sizes: Vec<usize> = sink.batches.iter().map(|b| b.len()).collect();
//! assert_eq!(sizes, [490, 20]); // never 500 + 10
//! assert_eq!(summary.records, 510);
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod plan;

mod dir;
pub(crate) mod hash;
mod manifest;
mod sink;

use std::collections::VecDeque;
use std::fmt;
use std::io::Read;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, ErrorKind, Position, Result};
use crate::frame::Frame;
use crate::input::{room_for, Input, RoomHint};
use crate::observe::{Observer, PROGRESS_EVERY};
use crate::validate::{
    for_each_prechecked, Diagnostic, Limits, Precheck, Severity, Validator, Verdict,
};

pub(crate) use self::dir::remove_previous;
pub use self::dir::{DirSink, REJECTED, UNDERSIZED};
use self::manifest::widen_batch_names;
pub use self::manifest::{BatchInfo, InputInfo, Manifest, ManifestLimits};
use self::plan::{PlanLimits, Planner};
use self::sink::RecordId;
pub use self::sink::{batch_file_name, sha256_hex, DryRunSink, MemorySink, Record, Rejected, Sink};

/// How to split: the batch limits, and what to do with bare requests and
/// invalid records. Built from [`SplitOptions::default`] (or `new`) with
/// its setters, so that options can be added without breaking callers.
///
/// ```
/// use syncbatch::split::SplitOptions;
/// use syncbatch::validate::Limits;
///
/// let options = SplitOptions::new()
///     .limits(Limits::default().max_records(100))
///     .wrap(true)
///     .id_prefix("job-7-")
///     .skip_invalid(true);
/// assert_eq!(options.limits.max_records, 100);
/// assert!(options.wrap && options.skip_invalid);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SplitOptions {
    /// The limits every batch file must meet.
    pub limits: Limits,
    /// Wrap bare Generate requests (no `request_id`, no `endpoint`) in an envelope.
    pub wrap: bool,
    /// Prefix of the ids `wrap` makes: `<prefix><record number>`.
    pub id_prefix: String,
    /// Split the valid records and refuse the invalid ones, instead of failing.
    pub skip_invalid: bool,
    /// Treat a record that draws a warning as invalid.
    pub deny_warnings: bool,
}

impl SplitOptions {
    /// The defaults: the default limits, no wrapping, ids `req-<N>`, and
    /// invalid records fail the split.
    pub fn new() -> Self {
        Self::default()
    }

    /// The limits every batch must meet.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether to wrap bare Generate requests in an envelope.
    pub fn wrap(mut self, yes: bool) -> Self {
        self.wrap = yes;
        self
    }

    /// The prefix of the ids wrapping makes: `<prefix><record number>`.
    pub fn id_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.id_prefix = prefix.into();
        self
    }

    /// Whether to split the valid records and refuse the invalid ones,
    /// instead of failing.
    pub fn skip_invalid(mut self, yes: bool) -> Self {
        self.skip_invalid = yes;
        self
    }

    /// Whether a record that draws a warning (an unknown model far from
    /// every known one, an unknown field, ...) is refused as invalid.
    pub fn deny_warnings(mut self, yes: bool) -> Self {
        self.deny_warnings = yes;
        self
    }
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            limits: Limits::default(),
            wrap: false,
            id_prefix: "req-".into(),
            skip_invalid: false,
            deny_warnings: false,
        }
    }
}

/// What a successful split did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitSummary {
    /// Records written.
    pub records: u64,
    /// Batches written.
    pub batches: u64,
    /// Blank lines dropped.
    pub dropped_blank_lines: u64,
    /// Lines refused.
    pub rejected: u64,
    /// Warnings seen on written records.
    pub warnings: u64,
}

/// Splits inputs into batches. See the [module docs](self).
pub struct Splitter<S: Sink> {
    options: SplitOptions,
    validator: Validator,
    planner: Planner,
    sink: S,
    /// Valid records not yet in a batch.
    pending: VecDeque<Record>,
    /// Records handed to the planner so far.
    planned: u64,
    inputs: Vec<InputInfo>,
    batches: Vec<BatchInfo>,
    record_number: u64,
    blank: u64,
    invalid: u64,
    warnings: u64,
    /// Where the planner found that no split can exist.
    dead_at: Option<Position>,
    /// The frame of the last push, when it drew diagnostics.
    last_frame: Option<Frame>,
    diagnostics: Vec<Diagnostic>,
}

impl<S: Sink> fmt::Debug for Splitter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Splitter")
            .field("records", &self.record_number)
            .field("batches", &self.batches.len())
            .finish()
    }
}

impl<S: Sink> Splitter<S> {
    /// A splitter writing to `sink`.
    pub fn new(options: SplitOptions, sink: S) -> Self {
        let l = options.limits;
        Splitter {
            validator: Validator::new(l).records_only(),
            planner: Planner::new(PlanLimits {
                max_records: l.max_records,
                min_records: l.min_records,
                max_bytes: l.max_bytes,
            }),
            options,
            sink,
            pending: VecDeque::new(),
            planned: 0,
            inputs: Vec::new(),
            batches: Vec::new(),
            record_number: 0,
            blank: 0,
            invalid: 0,
            warnings: 0,
            dead_at: None,
            last_frame: None,
            diagnostics: Vec::new(),
        }
    }

    /// Starts the next input; its frames follow through [`Splitter::push`].
    /// Use the framer of [`Limits::framer`] for the options' limits.
    pub fn next_input(&mut self, name: &str) {
        self.validator.next_input(name);
        self.inputs.push(InputInfo {
            path: name.to_owned(),
            bytes: 0,
            records: 0,
        });
    }

    /// Splits every input, in order, as one stream of records, and ends
    /// the split ([`Splitter::finish`]): the one call `syncbatch split`
    /// makes. Framing and the stateless checks run on worker threads beside
    /// the caller's, the id set is sized once from a sample of the inputs
    /// (about 1 MiB read from each regular file), and each diagnostic goes
    /// to `observer` as it is found: the errors of every record refused and
    /// the warnings of every record kept. On any error the sink is aborted:
    /// nothing is left under a final name.
    ///
    /// Memory: the id set (about 21 to 43 bytes a record), at most 16 MiB of
    /// lines on their way, the undecided records (a batch or two), and what
    /// the sink holds.
    pub fn run(
        mut self,
        inputs: impl IntoIterator<Item = Input>,
        mut observer: impl Observer,
    ) -> Result<(SplitSummary, S)> {
        if let Err(e) = self.options.limits.check() {
            self.sink.abort();
            return Err(e);
        }
        let inputs: Vec<Input> = inputs.into_iter().collect();
        let mut room = room_for(&inputs);
        let mut before = 0u64;
        for input in inputs {
            let name = input.name().to_owned();
            observer.input_started(&name, input.size());
            self.next_input(&name);
            match self.feed(&name, input.into_reader(), &mut room, before, &mut observer) {
                Ok(end) => {
                    before += end;
                    observer.input_done(&name, end);
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
        observer.committing();
        self.finish()
    }

    /// Pushes every frame of `reader` through the pipeline; where it ended.
    fn feed<R: Read + Send>(
        &mut self,
        name: &str,
        reader: R,
        room: &mut RoomHint,
        before: u64,
        observer: &mut impl Observer,
    ) -> Result<u64> {
        let mut failure = None;
        let (mut position, mut line) = (0u64, 0u64);
        let framer = self.options.limits.framer();
        let read = for_each_prechecked(reader, framer, |frame, pre, ahead| {
            position = frame.end();
            line = frame.number();
            if let Some(n) = room.due(self.records_seen(), before + position) {
                self.reserve_ids(n);
            }
            self.warm(ahead);
            let told_to_stop = match self.push_prechecked(frame, pre) {
                Ok([]) => false,
                Ok(_) => {
                    let bytes = match &self.last_frame {
                        Some(Frame::Line(l)) => Some(&l.bytes()[..]),
                        _ => None,
                    };
                    self.diagnostics
                        .iter()
                        .any(|d| observer.diagnostic(name, d, bytes).is_break())
                }
                Err(e) => {
                    failure = Some(e);
                    return false;
                }
            };
            let seen = self.records_seen();
            let stop = told_to_stop
                || (seen.is_multiple_of(PROGRESS_EVERY)
                    && observer.progress(name, position, seen).is_break());
            if stop {
                failure = Some(Error::new(ErrorKind::Interrupted));
                return false;
            }
            true
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let end = read.map_err(|e| {
            Error::from(e).at(Position {
                input: name.to_owned(),
                byte: position,
                line,
            })
        })?;
        self.end_of_input(end);
        Ok(end)
    }

    /// Says where the current input ended, so that an input of a byte
    /// order mark alone, which makes no frame, counts its bytes in the
    /// manifest. `O(1)`.
    fn end_of_input(&mut self, position: u64) {
        if let Some(input) = self.inputs.last_mut() {
            input.bytes = input.bytes.max(position);
        }
    }

    /// Pushes one frame of the current input (framed by [`Limits::framer`]
    /// for the options' limits). Returns the record's diagnostics: those of
    /// an invalid record, which is refused (and fails the split unless
    /// `skip_invalid`), or the warnings of a valid one; empty for a clean
    /// record. An `Err` is an output error, which ends the split.
    pub fn push(&mut self, frame: Frame) -> Result<&[Diagnostic]> {
        self.push_with(frame, None)
    }

    /// Makes room for `additional` more request ids: see
    /// [`Validator::reserve_ids`].
    pub(crate) fn reserve_ids(&mut self, additional: usize) {
        self.validator.reserve_ids(additional);
    }

    /// Readies the id set for the frames `ahead`: see [`Validator::warm`].
    pub(crate) fn warm(&mut self, ahead: &[Precheck]) {
        self.validator.warm(ahead);
    }

    /// [`Splitter::push`] for a frame already through
    /// [`precheck`](crate::validate::precheck).
    pub(crate) fn push_prechecked(&mut self, frame: Frame, pre: Precheck) -> Result<&[Diagnostic]> {
        self.push_with(frame, Some(pre))
    }

    fn push_with(&mut self, frame: Frame, pre: Option<Precheck>) -> Result<&[Diagnostic]> {
        self.diagnostics.clear();
        self.last_frame = None;
        if let Some(input) = self.inputs.last_mut() {
            input.bytes = frame.end();
        }
        // A clean line is a JSON object, never blank: its bytes need not be
        // read here (the threads that framed and checked it have them in
        // their caches, not this one).
        let clean = matches!(pre, Some(Precheck::Clean { .. }));
        if !clean && matches!(&frame, Frame::Line(l) if l.is_blank()) {
            self.blank += 1;
            return Ok(&self.diagnostics);
        }
        self.record_number += 1;
        if let Some(input) = self.inputs.last_mut() {
            input.records += 1;
        }
        let (frame, pre) = match frame {
            // A clean line has a request_id, so it is never bare.
            Frame::Line(line)
                if self.options.wrap
                    && !matches!(pre, Some(Precheck::Clean { .. }))
                    && is_bare_request(line.bytes()) =>
            {
                let wrapped = self.wrap(line.bytes());
                (Frame::Line(line.with_bytes(wrapped)), None)
            }
            other => (other, pre),
        };
        let clean_span = match pre {
            Some(Precheck::Clean {
                id_start, id_len, ..
            }) => Some((id_start, id_len)),
            _ => None,
        };
        let mut diagnostics = std::mem::take(&mut self.diagnostics);
        let verdict = match pre {
            Some(pre) => self
                .validator
                .check_prechecked(&frame, pre, &mut diagnostics),
            None => self.validator.check(&frame, &mut diagnostics),
        };
        self.diagnostics = diagnostics;
        let verdict = match verdict {
            Verdict::Valid if self.options.deny_warnings && !self.diagnostics.is_empty() => {
                Verdict::Invalid
            }
            verdict => verdict,
        };
        if !self.diagnostics.is_empty() {
            // A reference count, for the caller to show the line.
            self.last_frame = Some(frame.clone());
        }
        match (verdict, frame) {
            (Verdict::Valid, Frame::Line(line)) => {
                self.warnings += self.diagnostics.len() as u64;
                let (number, offset) = (line.number(), line.offset());
                // The line is taken, not cloned: no reference count to share
                // with the thread that framed it. A clean line's id is where
                // the precheck found it, as valid UTF-8.
                let record = match clean_span {
                    Some((start, len)) => Record {
                        bytes: line.into_bytes(),
                        id: RecordId::Span(start, len),
                    },
                    None => {
                        let id = self.validator.request_id(line.bytes()).into();
                        Record {
                            bytes: line.into_bytes(),
                            id: RecordId::Owned(id),
                        }
                    }
                };
                let size = record.bytes.len() as u64 + 1;
                let was_dead = self.planner.is_dead();
                let ends = self.planner.push(size);
                if self.planner.is_dead() {
                    if !was_dead {
                        let input = self
                            .inputs
                            .last()
                            .map(|i| i.path.clone())
                            .unwrap_or_default();
                        self.dead_at = Some(Position {
                            input,
                            byte: offset,
                            line: number,
                        });
                    }
                    // Nothing more will be written: the split fails at the
                    // end. Checking goes on (every invalid record is still
                    // reported), but no record is kept, so memory stays
                    // bounded however much input follows.
                    self.pending.clear();
                } else {
                    self.pending.push_back(record);
                    self.write(&ends)?;
                }
            }
            (Verdict::Invalid, frame) => {
                self.invalid += 1;
                if self.options.skip_invalid {
                    let rejected = self.rejected(&frame);
                    if let Err(e) = self.sink.reject(&rejected) {
                        let e = Error::io("cannot write the refused lines", e);
                        return Err(self.fail(e));
                    }
                }
            }
            (verdict, _) => unreachable!("{verdict:?}: blank lines are counted above"),
        }
        Ok(&self.diagnostics)
    }

    /// The diagnostics of the last push, and its frame as checked (after
    /// `wrap`) when it drew any: for printing them with the line they point
    /// into.
    pub fn last_diagnostics(&self) -> (&[Diagnostic], Option<&Frame>) {
        (&self.diagnostics, self.last_frame.as_ref())
    }

    fn wrap(&self, payload: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(payload.len() + 64);
        // The prefix is the user's: escape it as JSON would.
        let id = format!("{}{}", self.options.id_prefix, self.record_number);
        let quoted = serde_json::to_string(&id).expect("a string serialises");
        out.put_slice(b"{\"request_id\":");
        out.put_slice(quoted.as_bytes());
        out.put_slice(b",\"endpoint\":\"/v2/generate\",\"payload\":");
        out.put_slice(payload);
        out.put_slice(b"}");
        out.freeze()
    }

    fn rejected(&self, frame: &Frame) -> Rejected {
        let first = self
            .diagnostics
            .iter()
            .find(|d| d.severity == Severity::Error)
            .or(self.diagnostics.first());
        Rejected {
            file: self
                .inputs
                .last()
                .map(|i| i.path.clone())
                .unwrap_or_default(),
            line: frame.number(),
            code: first.map_or("invalid", |d| d.code.as_str()),
            message: first.map(|d| d.message.clone()).unwrap_or_default(),
            raw: match frame {
                Frame::Line(l) => Some(String::from_utf8_lossy(l.bytes()).into_owned()),
                Frame::TooLong(_) => None,
            },
        }
    }

    /// Writes the decided batches ending at `ends` (record counts).
    fn write(&mut self, ends: &[u64]) -> Result<()> {
        for &end in ends {
            let count = (end - self.planned) as usize;
            self.planned = end;
            let records: Vec<Record> = self.pending.drain(..count).collect();
            if self.invalid > 0 && !self.options.skip_invalid {
                continue; // the split fails; keep checking, write nothing
            }
            let index = self.batches.len() + 1;
            let info = BatchInfo {
                file: String::new(),
                records: records.len() as u64,
                bytes: records.iter().map(|r| r.bytes.len() as u64 + 1).sum(),
                first_request_id: records[0].request_id().to_owned(),
                last_request_id: records[records.len() - 1].request_id().to_owned(),
                sha256: String::new(),
            };
            match self.sink.batch(index, records) {
                Ok(file) => self.batches.push(BatchInfo { file, ..info }),
                Err(e) => {
                    let e = Error::io(format!("cannot write batch {index}"), e);
                    return Err(self.fail(e));
                }
            }
        }
        Ok(())
    }

    fn fail(&mut self, error: Error) -> Error {
        self.sink.abort();
        error
    }

    /// Ends the split: the last batches and the manifest, made final; or the
    /// reason there is none, with nothing left behind.
    pub fn finish(mut self) -> Result<(SplitSummary, S)> {
        if self.invalid > 0 && !self.options.skip_invalid {
            self.sink.abort();
            return Err(Error::new(ErrorKind::InvalidRecords {
                count: self.invalid,
            }));
        }
        let planner = std::mem::replace(
            &mut self.planner,
            Planner::new(PlanLimits {
                max_records: 1,
                min_records: 0,
                max_bytes: 0,
            }),
        );
        match planner.finish() {
            Ok(ends) => self.write(&ends)?,
            Err(why) => {
                self.sink.abort();
                let e = Error::new(ErrorKind::Infeasible(why));
                return Err(match self.dead_at.take() {
                    Some(at) => e.at(at),
                    None => e,
                });
            }
        }
        match self.sink.finish_batches() {
            Ok(hashes) => {
                for (batch, hash) in self.batches.iter_mut().zip(hashes) {
                    batch.sha256 = hash;
                }
            }
            Err(e) => {
                self.sink.abort();
                return Err(Error::io("cannot write the batches", e));
            }
        }
        widen_batch_names(&mut self.batches);
        let l = self.options.limits;
        let records = self.batches.iter().map(|b| b.records).sum();
        let manifest = Manifest {
            version: 1,
            limits: ManifestLimits {
                max_records: l.max_records,
                min_records: l.min_records,
                max_bytes: l.max_bytes,
            },
            inputs: std::mem::take(&mut self.inputs),
            batches: std::mem::take(&mut self.batches),
            records,
            dropped_blank_lines: self.blank,
            rejected: self.invalid,
        };
        if let Err(e) = self.sink.commit(&manifest) {
            self.sink.abort();
            return Err(Error::io("cannot move the split into place", e));
        }
        let summary = SplitSummary {
            records,
            batches: manifest.batches.len() as u64,
            dropped_blank_lines: self.blank,
            rejected: self.invalid,
            warnings: self.warnings,
        };
        Ok((summary, self.sink))
    }

    /// Records checked so far (non-blank lines over all inputs).
    pub fn records_seen(&self) -> u64 {
        self.record_number
    }

    /// Valid records held until their batch is decided: about two batches'
    /// worth at most, and none once no compliant split can exist (the split
    /// will fail, so nothing more is kept).
    pub fn records_held(&self) -> usize {
        self.pending.len()
    }
}

/// Whether a line is a bare Generate request: a JSON object with neither
/// `request_id` nor `endpoint` at its top level.
fn is_bare_request(line: &[u8]) -> bool {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct TopKeys;
    impl<'de> Visitor<'de> for TopKeys {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut bare = true;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                bare &= key != "request_id" && key != "endpoint";
                map.next_value::<IgnoredAny>()?;
            }
            Ok(bare)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(line);
    de.deserialize_map(TopKeys).unwrap_or(false)
}

/// Splits `inputs`, read in order as one stream of records, into `sink`
/// with `options`, at full speed: [`Splitter::run`] with no observer. Gives
/// back what the split did and the sink.
pub fn split<S: Sink>(
    inputs: impl IntoIterator<Item = Input>,
    options: SplitOptions,
    sink: S,
) -> Result<(SplitSummary, S)> {
    Splitter::new(options, sink).run(inputs, ())
}
