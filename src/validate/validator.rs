//! [`Validator`]: one batch input file checked a line at a time, and its
//! one-call run over a whole input at full speed.

use std::io::Read;
use std::ops::ControlFlow;

use super::{fast, json, schema, Code, Diagnostic, Limits, Severity, Summary, Verdict};
use crate::error::{Error, ErrorKind, Position, Result};
use crate::frame::{Frame, Framer};
use crate::ids::IdSet;
use crate::input::{room_for, Input, RoomHint};
use crate::observe::{Observer, PROGRESS_EVERY};

use super::probe::Probe;

/// Checks one batch input file, a line at a time. See the
/// [module docs](crate::validate).
#[derive(Debug)]
pub struct Validator {
    limits: Limits,
    ids: IdSet,
    warm: crate::ids::WarmPace,
    records: u64,
    errors: u64,
    warnings: u64,
    crlf_reported: bool,
    too_many_reported: bool,
    too_large_reported: bool,
    /// Bytes up to the end of the last line checked: the file size at the end.
    bytes: u64,
    deny_warnings: bool,
    fast_path: bool,
    /// Whether the file-level rules (BOM, CRLF, record count, file size) apply.
    file_rules: bool,
    /// Inputs checked as one stream: where each one's lines start in the
    /// global line count the id set keeps, and its name.
    inputs: Vec<(u64, String)>,
    line_base: u64,
    last_line: u64,
    /// The request id of the last valid line: in `last_id`, or, for a line
    /// the fast path took, at these bytes of it (not copied out: the
    /// caller's thread then never reads a clean line's bytes, which the
    /// threads that framed and checked it have in their caches, not this).
    last_id: String,
    last_id_at: Option<(u32, u32)>,
    findings: Vec<schema::Finding>,
    /// The models a payload may name, when not the built-in list.
    models: Option<Box<[String]>>,
}

/// Makes the diagnostics of the line `number` that starts at byte `offset`:
/// `(severity, code, column, message)`, with no request id or path yet.
fn line_diagnostic(
    number: u64,
    offset: u64,
) -> impl Fn(Severity, Code, Option<u64>, String) -> Diagnostic {
    move |severity, code, column, message| Diagnostic {
        line: Some(number),
        column,
        byte: Some(offset),
        severity,
        code,
        message,
        request_id: None,
        path: None,
    }
}

impl Validator {
    /// A validator for one file with these limits.
    pub fn new(limits: Limits) -> Self {
        Validator {
            limits,
            ids: IdSet::new(),
            warm: Default::default(),
            records: 0,
            errors: 0,
            warnings: 0,
            crlf_reported: false,
            too_many_reported: false,
            too_large_reported: false,
            bytes: 0,
            deny_warnings: false,
            fast_path: true,
            file_rules: true,
            inputs: Vec::new(),
            line_base: 0,
            last_line: 0,
            last_id: String::new(),
            last_id_at: None,
            findings: Vec::new(),
            models: None,
        }
    }

    /// Makes warnings count against validity, as `--deny-warnings` does.
    pub fn deny_warnings(mut self, yes: bool) -> Self {
        self.deny_warnings = yes;
        self
    }

    /// Checks records only: the rules of a file as a whole (byte order mark,
    /// `\r\n`, record count, file size) are left to the caller, as the
    /// splitter does, which drops the BOM, writes `\n` and sizes batches itself.
    pub fn records_only(mut self) -> Self {
        self.file_rules = false;
        self
    }

    /// Starts the next of several inputs checked as one stream (as `split`
    /// reads them): per-file counts start again, request ids stay, and a
    /// duplicate names the input of its first use. Call it before each input,
    /// the first included.
    pub fn next_input(&mut self, name: &str) {
        self.line_base += self.last_line;
        self.last_line = 0;
        self.inputs.push((self.line_base, name.to_owned()));
        self.records = 0;
        self.bytes = 0;
        self.errors = 0;
        self.warnings = 0;
        self.crlf_reported = false;
        self.too_many_reported = false;
        self.too_large_reported = false;
    }

    /// Checks model names against `models` (the API's live list, say)
    /// instead of the built-in list: a name not in it is the warning
    /// `unknown_model`, and a near miss of one in it the error. The fast
    /// path knows only the built-in list, so it is turned off: every line
    /// goes through the full rules, about twice the time.
    pub fn models(mut self, models: Vec<String>) -> Self {
        self.models = Some(models.into_boxed_slice());
        self.fast_path = false;
        self
    }

    /// Turns the fast path off, so every line goes through the full rules.
    /// The diagnostics are the same either way (that is what the tests check
    /// with this switch); only the speed differs.
    pub fn fast_path(mut self, on: bool) -> Self {
        self.fast_path = on;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The framer these limits call for (see [`Limits::framer`]).
    pub fn framer(&self) -> Framer {
        self.limits.framer()
    }

    /// Checks one framed line and appends its diagnostics to `out`.
    ///
    /// Cost: one parse of the line (no copy of its strings unless escaped), the
    /// rules, and one hash of the request id; allocates only for diagnostics.
    pub fn check(&mut self, frame: &Frame, out: &mut Vec<Diagnostic>) -> Verdict {
        self.check_with(frame, None, out)
    }

    /// [`Validator::check`] for a frame whose stateless part was already
    /// checked by [`precheck`] (on another thread): the same diagnostics,
    /// with that part's work not done again.
    pub(crate) fn check_prechecked(
        &mut self,
        frame: &Frame,
        pre: Precheck,
        out: &mut Vec<Diagnostic>,
    ) -> Verdict {
        self.check_with(frame, Some(pre), out)
    }

    fn check_with(
        &mut self,
        frame: &Frame,
        pre: Option<Precheck>,
        out: &mut Vec<Diagnostic>,
    ) -> Verdict {
        let start = out.len();
        let verdict = self.check_inner(frame, pre, out);
        for d in &out[start..] {
            match d.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
            }
        }
        verdict
    }

    fn check_inner(
        &mut self,
        frame: &Frame,
        pre: Option<Precheck>,
        out: &mut Vec<Diagnostic>,
    ) -> Verdict {
        let (number, offset) = (frame.number(), frame.offset());
        let diag = line_diagnostic(number, offset);
        self.last_line = number;
        if frame.bom() && self.file_rules {
            out.push(Diagnostic {
                byte: Some(0),
                ..diag(
                    Severity::Error,
                    Code::Bom,
                    Some(1),
                    "the file starts with a UTF-8 byte order mark; the batch API expects plain UTF-8 JSON Lines".into(),
                )
            });
        }
        if frame.crlf() && self.file_rules && !self.crlf_reported {
            self.crlf_reported = true;
            out.push(diag(
                Severity::Warning,
                Code::Crlf,
                None,
                "line ends with \\r\\n (reported once per file); `syncbatch split` writes \\n"
                    .into(),
            ));
        }
        self.bytes = frame.end();
        if self.file_rules && self.bytes > self.limits.max_bytes && !self.too_large_reported {
            self.too_large_reported = true;
            // A line that is over the limit alone makes every file that
            // holds it too large: no split helps that one.
            let hint = if frame.len() >= self.limits.max_bytes {
                "this record alone is over the limit, so no split can help (see record_too_large)"
            } else {
                "`syncbatch split` cuts it into files that fit"
            };
            out.push(diag(
                Severity::Error,
                Code::FileTooLarge,
                None,
                format!(
                    "the file passes {} bytes on this line: {hint}",
                    self.limits.max_bytes
                ),
            ));
        }
        // A clean line is a JSON object, never blank, and reading its first
        // byte here would be a cache miss (see `last_id`).
        let clean = matches!(pre, Some(Precheck::Clean { .. }));
        if let Frame::Line(l) = frame {
            if !clean && l.is_blank() {
                out.push(diag(
                    Severity::Error,
                    Code::BlankLine,
                    Some(1),
                    "blank line".into(),
                ));
                return Verdict::Blank;
            }
        }
        self.records += 1;
        if self.file_rules && self.records > self.limits.max_records && !self.too_many_reported {
            self.too_many_reported = true;
            out.push(diag(
                Severity::Error,
                Code::TooManyRecords,
                None,
                format!(
                    "this is record {}; a batch file holds at most {} (use `syncbatch split`)",
                    self.records, self.limits.max_records
                ),
            ));
        }
        let too_large = |len: u64| {
            diag(
                Severity::Error,
                Code::RecordTooLarge,
                None,
                format!(
                    "record is {len} bytes; with its newline it can never fit in a batch of at most {} bytes",
                    self.limits.max_bytes
                ),
            )
        };
        let line = match frame {
            Frame::TooLong(l) => {
                out.push(too_large(l.len()));
                return Verdict::Invalid;
            }
            Frame::Line(l) => l.bytes(),
        };
        // A record over a small `max_bytes` is still read whole (the framer
        // keeps lines up to the API's 5,000,000 bytes): its id counts for
        // uniqueness, and its other problems are reported with it.
        let oversize = line.len() as u64 >= self.limits.max_bytes;
        if oversize {
            out.push(too_large(line.len() as u64));
        }
        match self.check_line(line, pre, (number, offset), out) {
            _ if oversize => Verdict::Invalid,
            verdict => verdict,
        }
    }

    /// The rules of one line kept whole: everything but the file-level rules
    /// and the record's size. Inlined into its one caller: as a call it cost
    /// 0.2% more instructions on `validate`.
    #[inline(always)]
    fn check_line(
        &mut self,
        line: &[u8],
        pre: Option<Precheck>,
        (number, offset): (u64, u64),
        out: &mut Vec<Diagnostic>,
    ) -> Verdict {
        let diag = line_diagnostic(number, offset);
        // A line not prechecked on another thread is prechecked here.
        let pre = match pre {
            None if self.fast_path => precheck_line(line),
            pre => pre.unwrap_or(Precheck::Unsure),
        };
        if let (
            true,
            Precheck::Clean {
                id_start,
                id_len,
                id_hash,
            },
        ) = (self.fast_path, pre)
        {
            // Valid UTF-8, clean but for uniqueness. The line's bytes are
            // read again only for a duplicate's diagnostic.
            let Some(first) = self.ids.insert_hash(id_hash, self.line_base + number) else {
                self.last_id_at = Some((id_start, id_len));
                return Verdict::Valid;
            };
            let id = line.get(id_start as usize..(id_start + id_len) as usize);
            if let Some(verdict) = self.duplicate_line(line, id, first, (number, offset), out) {
                return verdict;
            }
            // Not this line's precheck: the full rules judge the line.
        }
        let text = match std::str::from_utf8(line) {
            Ok(text) => text,
            Err(e) => {
                out.push(diag(
                    Severity::Error,
                    Code::InvalidUtf8,
                    Some(e.valid_up_to() as u64 + 1),
                    utf8_message(line, e.valid_up_to(), offset),
                ));
                return Verdict::Invalid;
            }
        };
        let tree = match json::parse(text) {
            Ok(tree) => tree,
            Err(e) => {
                let column = (e.column() > 0).then_some(e.column() as u64);
                let mut message = json_message(&e);
                // A file with `\r` alone between records (classic Mac line
                // endings) is one long line, broken at the first `\r`.
                if column.is_some_and(|c| after_lone_cr(line, c as usize - 1)) {
                    message.push_str(
                        " (after a \\r: the file's lines seem to end with \\r alone; \
                         JSON Lines needs \\n or \\r\\n)",
                    );
                }
                out.push(diag(Severity::Error, Code::InvalidJson, column, message));
                return Verdict::Invalid;
            }
        };
        let mut checker = schema::Checker::new(text, std::mem::take(&mut self.findings));
        checker.models = self.models.as_deref();
        checker.duplicate_keys(&tree);
        let id = checker.envelope(&tree);
        let mut findings = checker.findings;
        let id_text = id.map(|s| s.as_ref());
        if let Some(id) = id_text.filter(|s| !s.is_empty()) {
            if let Some(first) = self.ids.insert(id, self.line_base + number) {
                findings.push(self.duplicate_id(text, id, first));
            }
        }
        let mut verdict = Verdict::Valid;
        for f in findings.drain(..) {
            if f.severity == Severity::Error {
                verdict = Verdict::Invalid;
            }
            out.push(Diagnostic {
                request_id: id_text.map(str::to_owned),
                path: f.path,
                ..diag(f.severity, f.code, f.at.map(|a| a as u64 + 1), f.message)
            });
        }
        self.findings = findings;
        if verdict == Verdict::Valid {
            // A valid line has a string id.
            id_text.unwrap_or_default().clone_into(&mut self.last_id);
            self.last_id_at = None;
        }
        verdict
    }

    /// Makes room in the id set for `additional` more request ids, so that
    /// they do not grow it: see [`IdSet::reserve`] (16 bytes a slot; a
    /// hint, which a caller that estimates the count well takes from
    /// [`crate::ids::RoomHint`]).
    pub(crate) fn reserve_ids(&mut self, additional: usize) {
        self.ids.reserve(additional);
    }

    /// Readies the id set for the clean lines in `ahead` (the lines still to
    /// be checked, in order, as [`for_each_prechecked`] hands them over):
    /// every 64 lines it touches the id-set slots of the next 64 in one burst,
    /// so that their cache misses overlap instead of stalling one insert
    /// each. Only ever a speed-up: it changes no result.
    pub(crate) fn warm(&mut self, ahead: &[Precheck]) {
        let due = self.warm.due(ahead.len());
        self.ids.warm(ahead[..due].iter().filter_map(|p| match p {
            Precheck::Clean { id_hash, .. } => Some(*id_hash),
            Precheck::Unsure => None,
        }));
    }

    /// The request id of the last line [`Validator::check`] found valid,
    /// given that line's bytes as checked. `O(1)`: the id of a line the
    /// fast path took is not copied out of it, but found in `line` here.
    ///
    /// ```
    /// use syncbatch::frame::{Frame, Framer};
    /// use syncbatch::validate::{Validator, Verdict};
    ///
    /// let line = br#"{"request_id":"r-1","endpoint":"/v2/generate","payload":{"model":"lipsync-2","input":[{"type":"video","url":"https://x.test/v.mp4"},{"type":"audio","url":"https://x.test/a.wav"}]}}"#;
    /// let frame = Framer::new().frames(line.to_vec()).next().unwrap();
    /// let mut validator = Validator::new(Default::default());
    /// assert_eq!(validator.check(&frame, &mut Vec::new()), Verdict::Valid);
    /// let Frame::Line(line) = &frame else { unreachable!() };
    /// assert_eq!(validator.request_id(line.bytes()), "r-1");
    /// ```
    pub fn request_id<'a>(&'a self, line: &'a [u8]) -> &'a str {
        match self.last_id_at {
            Some((start, len)) => line
                .get(start as usize..(start + len) as usize)
                .and_then(|id| std::str::from_utf8(id).ok())
                .unwrap_or_default(),
            None => &self.last_id,
        }
    }

    /// A clean line, with its `id`, whose id was first used at global line
    /// `first`: a `duplicate_request_id`. `None` when the line or the id is
    /// not UTF-8 (a precheck of another line), for the full rules to judge.
    fn duplicate_line(
        &mut self,
        line: &[u8],
        id: Option<&[u8]>,
        first: u64,
        (number, offset): (u64, u64),
        out: &mut Vec<Diagnostic>,
    ) -> Option<Verdict> {
        let text = std::str::from_utf8(line).ok()?;
        let id = std::str::from_utf8(id?).ok()?;
        let f = self.duplicate_id(text, id, first);
        out.push(Diagnostic {
            line: Some(number),
            column: f.at.map(|a| a as u64 + 1),
            byte: Some(offset),
            severity: f.severity,
            code: f.code,
            message: f.message,
            request_id: Some(id.to_owned()),
            path: f.path,
        });
        Some(Verdict::Invalid)
    }

    /// The finding for a request id first used at global line `first`.
    fn duplicate_id(&self, line: &str, id: &str, first: u64) -> schema::Finding {
        let place = match self.inputs.iter().rev().find(|(base, _)| *base < first) {
            Some((base, _)) if *base == self.line_base => format!("line {}", first - base),
            Some((base, name)) => format!("line {} of {name}", first - base),
            None => format!("line {first}"),
        };
        schema::Finding {
            severity: Severity::Error,
            code: Code::DuplicateRequestId,
            message: format!("request_id \"{id}\" was first used on {place}"),
            path: Some("request_id".into()),
            at: schema::position(line, id),
        }
    }

    /// Counts a file holding a UTF-8 byte order mark and nothing else,
    /// which the framer drops with no line to carry it, from where the input
    /// ended (`position`). `O(1)`.
    fn end_of_input(&mut self, position: u64, out: &mut Vec<Diagnostic>) {
        // Every byte the framer consumes is in a frame, but for a leading
        // byte order mark: with no frame at all, that is what was read.
        if self.last_line == 0 && position > self.bytes {
            self.bytes = position;
            if self.file_rules {
                self.errors += 1;
                out.push(Diagnostic {
                    line: Some(1),
                    column: Some(1),
                    byte: Some(0),
                    severity: Severity::Error,
                    code: Code::Bom,
                    message: "the file holds a UTF-8 byte order mark and nothing else".into(),
                    request_id: None,
                    path: None,
                });
            }
        }
    }

    /// The file-level rules, once the whole file was checked: `input_end`
    /// is where the input ended, the framer's position after its last
    /// frame ([`LineReader::position`](crate::frame::LineReader::position),
    /// [`Frames::position`](crate::frame::Frames::position)); it counts the
    /// bytes of a file that holds a byte order mark and no line. Returns
    /// the file's summary; the validator is spent. `O(1)`.
    pub fn finish(mut self, input_end: u64, out: &mut Vec<Diagnostic>) -> Summary {
        self.end_of_input(input_end, out);
        let start = out.len();
        if self.file_rules && self.records < self.limits.min_records {
            out.push(Diagnostic {
                line: None,
                column: None,
                byte: None,
                severity: Severity::Error,
                code: Code::TooFewRecords,
                message: format!(
                    "the file has {}; a batch needs at least {}",
                    crate::util::count(self.records, "record", "records"),
                    self.limits.min_records
                ),
                request_id: None,
                path: None,
            });
        }
        self.errors += out[start..].len() as u64;
        Summary {
            records: self.records,
            bytes: self.bytes,
            errors: self.errors,
            warnings: self.warnings,
            valid: self.errors == 0 && (!self.deny_warnings || self.warnings == 0),
        }
    }
}

/// Why a line is no JSON object, in the validator's words: its code, the
/// 1-based column it points at, and the message `validate` prints; `None`
/// for a JSON object. For other readers of lines (merge), so that one line
/// draws one wording everywhere. `O(line)`.
pub(crate) fn line_problem(line: &[u8]) -> Option<(Code, Option<u64>, String)> {
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(e) => {
            let at = e.valid_up_to();
            return Some((
                Code::InvalidUtf8,
                Some(at as u64 + 1),
                utf8_message(line, at, 1),
            ));
        }
    };
    match json::parse(text) {
        Ok(tree) if tree.as_object().is_some() => None,
        Ok(tree) => Some((
            Code::NotAnObject,
            Some(1),
            format!("a batch line must be a JSON object, not {}", tree.kind()),
        )),
        Err(e) => Some((
            Code::InvalidJson,
            (e.column() > 0).then_some(e.column() as u64),
            json_message(&e),
        )),
    }
}

/// The `invalid_utf8` message for the byte at `at` of a line at stream
/// `offset`. A file that starts with a UTF-16 byte order mark (what Windows
/// PowerShell 5 writes with `>`) is named as such: every line of it is
/// broken, and the first says why.
fn utf8_message(line: &[u8], at: usize, offset: u64) -> String {
    let utf16 = match line {
        [0xFF, 0xFE, ..] => Some("FF FE, UTF-16 little-endian"),
        [0xFE, 0xFF, ..] => Some("FE FF, UTF-16 big-endian"),
        _ => None,
    };
    match utf16 {
        Some(which) if offset == 0 && at == 0 => format!(
            "the file starts with a UTF-16 byte order mark ({which}); batch files must be \
             UTF-8: convert it (iconv -f UTF-16 -t UTF-8) or save it as UTF-8"
        ),
        _ => format!("invalid UTF-8 byte 0x{:02X}", line[at]),
    }
}

/// Whether the white space just before `line[at]` holds a `\r` (JSON reads
/// `\r` as white space, so trailing characters after one are reported where
/// the next value starts).
fn after_lone_cr(line: &[u8], at: usize) -> bool {
    line[..at.min(line.len())]
        .iter()
        .rev()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r'))
        .any(|&b| b == b'\r')
}

fn json_message(e: &serde_json::Error) -> String {
    // Two limits JSON allows a reader to set (RFC 8259, section 9): the
    // text may be well formed, so do not call it broken.
    match json::error_text(e).as_str() {
        "recursion limit exceeded" => "nested more than 128 levels deep: no request is, \
                                       and syncbatch reads no deeper"
            .to_owned(),
        "number out of range" => "a number too large for a 64-bit float (beyond about \
                                  1.8e308), which the API cannot read either"
            .to_owned(),
        text => format!("not one JSON value: {text}"),
    }
}

/// What the stateless part of checking a line found (UTF-8 and the fast
/// path), so that it can run on another thread: see [`precheck`] and
/// [`Validator::check_prechecked`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precheck {
    /// The line is valid UTF-8 and clean but for id uniqueness; its request
    /// id is at these bytes of the line.
    Clean {
        /// Where the id starts in the line.
        id_start: u32,
        /// Its length.
        id_len: u32,
        /// Its hash, for the id set.
        id_hash: crate::ids::IdKey,
    },
    /// The full rules must look at the line.
    Unsure,
}

/// The stateless part of checking one frame. `O(line)`, no allocation
/// beyond the fast path's own; call it on any thread.
pub(crate) fn precheck(frame: &Frame) -> Precheck {
    match frame {
        Frame::Line(line) => precheck_line(line.bytes()),
        _ => Precheck::Unsure,
    }
}

/// [`precheck`] of a line's bytes.
fn precheck_line(line: &[u8]) -> Precheck {
    // A line the fast path takes is UTF-8 (it checks each string that is
    // not ASCII); any other goes to the full rules, which check it all.
    match fast::clean(line) {
        // The id is borrowed from the line, so its address says where it is.
        Some(id) => match (
            u32::try_from(id.as_ptr() as usize - line.as_ptr() as usize),
            u32::try_from(id.len()),
        ) {
            (Ok(id_start), Ok(id_len)) => Precheck::Clean {
                id_start,
                id_len,
                id_hash: IdSet::hash(id),
            },
            _ => Precheck::Unsure,
        },
        None => Precheck::Unsure,
    }
}

/// Frames `reader` and prechecks each frame off the calling thread
/// ([`crate::pipeline::for_each_parsed_with`]), handing each frame and its
/// precheck to `each` on this one, in order, with the prechecks of the
/// frames after it in the same chunk (for [`Validator::warm`]), until the
/// end or until `each` returns false. Returns the stream position reached;
/// a read error ends the run.
pub(crate) fn for_each_prechecked<R, F>(reader: R, framer: Framer, each: F) -> std::io::Result<u64>
where
    R: Read + Send,
    F: FnMut(Frame, Precheck, &[Precheck]) -> bool,
{
    use crate::pipeline::{for_each_parsed_with, parse_workers};
    for_each_parsed_with(parse_workers(), reader, framer, precheck, each)
}

impl Validator {
    /// Validates a whole input at full speed and hands each diagnostic to
    /// `observer` as it is found (the file-level ones at the end, with no
    /// line). Returns the file's summary; the validator is spent.
    ///
    /// This is what `syncbatch validate` runs: framing and the stateless
    /// checks on worker threads beside the caller's (one
    /// a core, up to 8), the id set sized once from a sample of a regular
    /// file (about 1 MiB read first) or from the first MiB of anything of
    /// known size, and the end-of-input rules. Memory: the id set (about 21
    /// to 43 bytes a record) and at most 16 MiB of lines on their way.
    ///
    /// ```
    /// use syncbatch::validate::{Diagnostic, Limits, Validator};
    /// use syncbatch::Input;
    ///
    /// struct Collect(Vec<String>);
    /// impl syncbatch::Observer for Collect {
    ///     fn diagnostic(&mut self, _: &str, d: &Diagnostic, _: Option<&[u8]>) -> std::ops::ControlFlow<()> {
    ///         self.0.push(d.code.to_string());
    ///         std::ops::ControlFlow::Continue(())
    ///     }
    /// }
    /// let mut codes = Collect(Vec::new());
    /// let input = Input::open("examples/data/mixed.jsonl")?;
    /// let summary = Validator::new(Limits::default()).run(input, &mut codes)?;
    /// assert!(!summary.valid);
    /// assert_eq!(summary.errors + summary.warnings, codes.0.len() as u64);
    /// # Ok::<(), syncbatch::Error>(())
    /// ```
    pub fn run(self, input: Input, mut observer: impl Observer) -> Result<Summary> {
        let room = room_for(std::slice::from_ref(&input));
        let name = input.name().to_owned();
        observer.input_started(&name, input.size());
        self.run_reader(&name, input.into_reader(), room, &mut observer)
    }

    /// [`Validator::run`] over any reader, named `name`.
    pub(crate) fn run_reader<R: Read + Send>(
        mut self,
        name: &str,
        reader: R,
        mut room: RoomHint,
        observer: &mut impl Observer,
    ) -> Result<Summary> {
        let framer = self.framer();
        let mut diagnostics = Vec::new();
        let (mut frames, mut position, mut line) = (0u64, 0u64, 0u64);
        let mut stopped = false;
        let mut probe = Probe::new();
        let read = for_each_prechecked(reader, framer, |frame, pre, ahead| {
            position = frame.end();
            line = frame.number();
            frames += 1;
            if let Some(n) = room.due(frames, position) {
                self.reserve_ids(n);
            }
            self.warm(ahead);
            self.check_prechecked(&frame, pre, &mut diagnostics);
            if !diagnostics.is_empty() || probe.holding() {
                let mut emit =
                    |d: &Diagnostic, bytes: Option<&[u8]>| observer.diagnostic(name, d, bytes);
                if probe.line(&frame, &mut diagnostics, &mut emit).is_break() {
                    stopped = true;
                    return false;
                }
            }
            if frames.is_multiple_of(PROGRESS_EVERY)
                && observer.progress(name, position, frames).is_break()
            {
                stopped = true;
                return false;
            }
            true
        });
        if stopped {
            return Err(Error::new(ErrorKind::Interrupted));
        }
        let end = read.map_err(|e| {
            Error::from(e).at(Position {
                input: name.to_owned(),
                byte: position,
                line,
            })
        })?;
        let mut summary = self.finish(end, &mut diagnostics);
        let mut emit = |d: &Diagnostic, bytes: Option<&[u8]>| observer.diagnostic(name, d, bytes);
        if probe
            .finish(&mut summary, &mut diagnostics, &mut emit)
            .is_break()
        {
            return Err(Error::new(ErrorKind::Interrupted));
        }
        observer.input_done(name, end);
        Ok(summary)
    }
}

/// Keeps every diagnostic, for the one-call functions that return a
/// [`Report`](super::Report).
#[derive(Default)]
pub(crate) struct Keep(pub(crate) Vec<Diagnostic>);

impl Observer for Keep {
    fn diagnostic(&mut self, _: &str, d: &Diagnostic, _: Option<&[u8]>) -> ControlFlow<()> {
        self.0.push(d.clone());
        ControlFlow::Continue(())
    }
}
