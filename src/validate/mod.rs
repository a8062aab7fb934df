//! The incremental validator: framed lines in, [`Diagnostic`]s out.
//!
//! One call validates a whole file at full speed: [`validate_path`], or
//! [`validate_reader`] for any reader, return a [`Report`];
//! [`Validator::run`] hands each diagnostic to an
//! [`Observer`](crate::Observer) as it is found instead (the command line
//! prints them that way). Underneath, a [`Validator`] checks one batch input
//! file against every rule of the batch format, one line at a time: feed it
//! each [`Frame`](crate::frame::Frame) with [`Validator::check`], then call
//! [`Validator::finish`] for the file-level rules. It keeps no line after
//! checking it; only a compact set of the request ids it has seen (about 21
//! to 43 bytes per record) for uniqueness.
//!
//! Two paths, one answer. The fast path reads a line once with a small
//! reader made for this schema (no tree, no serde) and checks each field as
//! it reads it; it can only say "clean", and it says so for the common, valid
//! line. Any other line goes to the full rules:
//! parsed once by serde_json into a tree that borrows its strings from the
//! line, every rule run on that tree, so a line gets all its diagnostics, not
//! only the first. Tests and the fuzzer check that the two paths give the
//! same diagnostics ([`Validator::fast_path`] turns the fast one off).
//! Columns are computed only when a diagnostic is built.
//!
//! ```
//! use syncbatch::validate::{validate_reader, Code, Limits};
//!
//! let file = b"{\"request_id\":\"a\",\"endpoint\":\"/v1/generate\",\"payload\":{}}\n";
//! let report = validate_reader(&file[..], Limits::default())?;
//! let codes: Vec<Code> = report.diagnostics.iter().map(|d| d.code).collect();
//! assert!(codes.contains(&Code::BadEndpoint));
//! assert!(codes.contains(&Code::TooFewRecords));
//! assert!(!report.summary.valid);
//!
//! // One line at a time, with the file-level rules at the end.
//! use syncbatch::frame::LineReader;
//! use syncbatch::validate::Validator;
//! let validator_input = std::fs::File::open("examples/data/input.jsonl")?;
//! let mut validator = Validator::new(Limits::default());
//! let mut lines = LineReader::with_framer(validator_input, validator.framer());
//! let mut diagnostics = Vec::new();
//! while let Some(frame) = lines.next_frame()? {
//!     validator.check(&frame, &mut diagnostics);
//! }
//! let summary = validator.finish(lines.position(), &mut diagnostics);
//! assert!(summary.valid && diagnostics.is_empty());
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod fast;
pub(crate) mod json;
mod options;
mod probe;
pub mod report;
mod schema;
mod simd;
mod url;
mod validator;

use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::frame::{Framer, DEFAULT_MAX_LINE};
use crate::input::{Input, RoomHint};

pub use self::schema::{LEGACY_MODELS, MODELS};
pub use self::validator::Validator;
pub(crate) use self::validator::{for_each_prechecked, line_problem, precheck, Keep, Precheck};

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The server would reject the file, or a rule of the project says so.
    Error,
    /// Accepted, but probably not what was meant.
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// A stable diagnostic code. Its [`Code::as_str`] name is part of the
        /// command-line contract and never changes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in the README's order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable snake_case name, as printed.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// The code of a name, if it is one.
            pub fn from_name(name: &str) -> Option<Code> {
                match name {
                    $($name => Some(Code::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    /// Bytes that are not UTF-8.
    InvalidUtf8 = "invalid_utf8",
    /// Not one JSON value, trailing bytes after it, or nesting deeper than 128.
    InvalidJson = "invalid_json",
    /// A JSON value that is not an object.
    NotAnObject = "not_an_object",
    /// The same key twice in one object.
    DuplicateKey = "duplicate_key",
    /// An empty or white-space-only line.
    BlankLine = "blank_line",
    /// A UTF-8 byte order mark at the start of the file.
    Bom = "bom",
    /// `\r\n` line endings (reported once per file).
    Crlf = "crlf",
    /// A record that cannot fit in a batch file even alone.
    RecordTooLarge = "record_too_large",
    /// A required field is absent (or `null`).
    MissingField = "missing_field",
    /// A field of the wrong JSON type.
    WrongType = "wrong_type",
    /// `request_id` is `""`.
    EmptyRequestId = "empty_request_id",
    /// `request_id` holds control characters.
    BadRequestId = "bad_request_id",
    /// `request_id` longer than 64 characters.
    LongRequestId = "long_request_id",
    /// `request_id` with leading or trailing white space.
    RequestIdWhitespace = "request_id_whitespace",
    /// A `request_id` seen before in the file.
    DuplicateRequestId = "duplicate_request_id",
    /// `endpoint` other than `/v2/generate`.
    BadEndpoint = "bad_endpoint",
    /// A model not in the known list.
    UnknownModel = "unknown_model",
    /// A legacy model.
    DeprecatedModel = "deprecated_model",
    /// A field the API does not define.
    UnknownField = "unknown_field",
    /// An option the API does not define.
    UnknownOption = "unknown_option",
    /// A legacy option.
    DeprecatedOption = "deprecated_option",
    /// A URL that is not absolute http(s) with a host.
    BadUrl = "bad_url",
    /// Inputs that do not make one generation.
    BadInputComposition = "bad_input_composition",
    /// A number outside its range, or a text over its length.
    OutOfRange = "out_of_range",
    /// A string outside its set of values.
    BadEnumValue = "bad_enum_value",
    /// An option or input kind the model does not take.
    ModelMismatch = "model_mismatch",
    /// A segment with bad times or a refId naming nothing.
    BadSegment = "bad_segment",
    /// A time over the batch limit of 30 s (react-1: a warning over 15 s).
    InputTooLong = "input_too_long",
    /// An outputFileName outside `^[A-Za-z0-9_-]{1,255}$`.
    BadOutputFileName = "bad_output_file_name",
    /// Fewer records than the minimum.
    TooFewRecords = "too_few_records",
    /// More records than the maximum.
    TooManyRecords = "too_many_records",
    /// More bytes than the maximum.
    FileTooLarge = "file_too_large",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits of one batch file: 500 records, 20 records and 5,000,000
/// bytes unless set otherwise.
///
/// ```
/// use syncbatch::validate::Limits;
///
/// let limits = Limits::default().max_records(100).min_records(1);
/// assert_eq!((limits.max_records, limits.min_records, limits.max_bytes), (100, 1, 5_000_000));
/// assert!(limits.check().is_ok());
/// let err = Limits::default().max_records(10).check().unwrap_err();
/// assert!(err.to_string().starts_with("a minimum of 20 records and a maximum of 10"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// At most this many records (default 500).
    pub max_records: u64,
    /// At least this many records (default 20).
    pub min_records: u64,
    /// At most this many bytes (default 5,000,000).
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}

impl Limits {
    /// The API's limits: at most 500 records and 5,000,000 bytes, at least
    /// 20 records.
    pub const fn new() -> Self {
        Limits {
            max_records: 500,
            min_records: 20,
            max_bytes: 5_000_000,
        }
    }

    /// The same limits with at most `n` records a file.
    pub const fn max_records(mut self, n: u64) -> Self {
        self.max_records = n;
        self
    }

    /// The same limits with at least `n` records a file.
    pub const fn min_records(mut self, n: u64) -> Self {
        self.min_records = n;
        self
    }

    /// The same limits with at most `n` bytes a file.
    pub const fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }

    /// Whether some batch file could meet these limits: an error of kind
    /// [`ErrorKind::Limits`] when none can (a maximum of 0 records, or a
    /// minimum above the maximum). Every one-call run checks first.
    pub fn check(&self) -> Result<()> {
        let why = if self.max_records == 0 {
            "a maximum of 0 records a batch file: no batch file could be made".to_owned()
        } else if self.min_records > self.max_records {
            format!(
                "a minimum of {} records and a maximum of {}: no batch file could meet both \
                 (the default minimum is 20)",
                self.min_records, self.max_records
            )
        } else {
            return Ok(());
        };
        Err(Error::new(ErrorKind::Limits(why)))
    }

    /// The longest line that can fit in a batch: `max_bytes` less its `\n`.
    pub fn max_line(&self) -> usize {
        usize::try_from(self.max_bytes.saturating_sub(1)).unwrap_or(usize::MAX)
    }

    /// The framer for these limits: lines up to the longer of
    /// [`Limits::max_line`] and [`DEFAULT_MAX_LINE`] (the API's 5,000,000
    /// bytes) are kept whole, longer ones are [`Frame::TooLong`](crate::frame::Frame::TooLong), skipped
    /// unread. So a record too large for a small `max_bytes` is still parsed:
    /// its request id counts for uniqueness whatever the limits, at the cost
    /// of buffering one such line (at most 5 MB).
    pub fn framer(&self) -> Framer {
        Framer::with_max_line(self.max_line().max(DEFAULT_MAX_LINE))
    }
}

/// One problem, placed in its file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostic {
    /// 1-based line number; `None` for a file-level finding with no line.
    pub line: Option<u64>,
    /// 1-based column in bytes, when known.
    pub column: Option<u64>,
    /// 0-based byte offset of the line's start in the file.
    pub byte: Option<u64>,
    /// Error or warning.
    pub severity: Severity,
    /// The stable code.
    pub code: Code,
    /// What is wrong, for people.
    pub message: String,
    /// The line's request id, when it has one.
    pub request_id: Option<String>,
    /// The JSON path of the offending field (`payload.input[1].url`), when known.
    pub path: Option<String>,
}

/// What a line turned out to be, for callers that act on records (the splitter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A blank line (an error in a batch file; dropped by the splitter).
    Blank,
    /// A record with no errors (warnings allowed).
    Valid,
    /// A record with at least one error.
    Invalid,
}

/// The figures of one file, for the summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Non-blank lines.
    pub records: u64,
    /// Bytes in the file.
    pub bytes: u64,
    /// Error diagnostics.
    pub errors: u64,
    /// Warning diagnostics.
    pub warnings: u64,
    /// No errors (and, with `deny_warnings`, no warnings).
    pub valid: bool,
}

/// Checks frames one at a time into a [`Report`], with the probe the
/// one-call runs use (a file that is not JSON Lines draws one diagnostic):
/// for the front ends that drive a [`Validator`] themselves. Also what the
/// fuzz target holds the one-call runs to.
#[derive(Default)]
pub(crate) struct Keeper {
    report: Report,
    probe: Option<probe::Probe>,
    scratch: Vec<Diagnostic>,
}

impl Keeper {
    /// Checks one frame.
    pub(crate) fn check(&mut self, v: &mut Validator, frame: &crate::frame::Frame) {
        v.check(frame, &mut self.scratch);
        let out = &mut self.report.diagnostics;
        let mut emit = |d: &Diagnostic, _: Option<&[u8]>| {
            out.push(d.clone());
            std::ops::ControlFlow::Continue(())
        };
        let _ = self.probe.get_or_insert_with(probe::Probe::new).line(
            frame,
            &mut self.scratch,
            &mut emit,
        );
    }

    /// The file-level rules, and the report.
    pub(crate) fn finish(mut self, v: Validator, input_end: u64) -> Report {
        let mut summary = v.finish(input_end, &mut self.scratch);
        let out = &mut self.report.diagnostics;
        let mut emit = |d: &Diagnostic, _: Option<&[u8]>| {
            out.push(d.clone());
            std::ops::ControlFlow::Continue(())
        };
        let probe = self.probe.unwrap_or_else(probe::Probe::new);
        let _ = probe.finish(&mut summary, &mut self.scratch, &mut emit);
        self.report.summary = summary;
        self.report
    }
}

/// All the diagnostics and the summary of one file.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every diagnostic, in line order (file-level ones where they arose).
    pub diagnostics: Vec<Diagnostic>,
    /// The file's figures.
    pub summary: Summary,
}

/// Validates a whole file from a reader at full speed ([`Validator::run`]:
/// framing and the stateless checks on worker threads), and keeps every
/// diagnostic. The id set is sized as it goes (from the first MiB; the
/// reader's size is not known). Memory: the diagnostics, the id set and at
/// most 16 MiB of lines on their way.
pub fn validate_reader<R: Read + Send>(reader: R, limits: Limits) -> Result<Report> {
    limits.check()?;
    let mut keep = Keep::default();
    let summary =
        Validator::new(limits).run_reader("<reader>", reader, RoomHint::new(None), &mut keep)?;
    Ok(Report {
        diagnostics: keep.0,
        summary,
    })
}

/// Validates the file at `path` at full speed, as `syncbatch validate`
/// does, and keeps every diagnostic: [`Validator::run`] over
/// [`Input::open`]. The error names the file.
///
/// ```
/// use syncbatch::validate::{validate_path, Limits};
///
/// let report = validate_path("examples/data/input.jsonl", Limits::default())?;
/// assert!(report.summary.valid);
/// assert_eq!(report.summary.records, 20);
/// # Ok::<(), syncbatch::Error>(())
/// ```
pub fn validate_path(path: impl AsRef<Path>, limits: Limits) -> Result<Report> {
    validate(Input::open(path)?, limits)
}

/// Validates one [`Input`] at full speed and keeps every diagnostic.
pub fn validate(input: Input, limits: Limits) -> Result<Report> {
    limits.check()?;
    let mut keep = Keep::default();
    let summary = Validator::new(limits).run(input, &mut keep)?;
    Ok(Report {
        diagnostics: keep.0,
        summary,
    })
}

/// Validates a whole file from a stream of frames (from
/// [`crate::frame::frame_stream`] or any `FramedRead` over
/// [`crate::frame::LineCodec`]), one frame at a time on the caller's task;
/// gives the same report as [`validate_reader`] when the frames come from
/// [`Limits::framer`], so long lines are cut alike, with one exception: a
/// stream of frames does not say where the input ended, so an input holding
/// a UTF-8 byte order mark and nothing else reads as empty.
/// [`validate_async_reader`] sees it.
///
/// ```
/// use syncbatch::frame::frame_stream;
/// use syncbatch::validate::{validate_stream, Limits};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let limits = Limits::default();
/// let file = tokio::fs::File::open("examples/data/input.jsonl").await?;
/// let report = validate_stream(frame_stream(file, limits.framer()), limits).await?;
/// assert!(report.summary.valid);
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
#[cfg(feature = "async")]
pub async fn validate_stream<S>(frames: S, limits: Limits) -> std::io::Result<Report>
where
    S: futures::Stream<Item = std::io::Result<crate::frame::Frame>>,
{
    use futures::StreamExt;
    let mut v = Validator::new(limits);
    let mut keep = Keeper::default();
    let mut frames = std::pin::pin!(frames);
    let mut end = 0;
    while let Some(frame) = frames.next().await {
        let frame = frame?;
        end = frame.end();
        keep.check(&mut v, &frame);
    }
    Ok(keep.finish(v, end))
}

/// Validates a whole file from an async reader, one frame at a time on the
/// caller's task: the async twin of [`validate_reader`], with the same
/// report for the same bytes (an input of a byte order mark alone
/// included). Memory: the diagnostics, the id set and one 64 KiB read
/// buffer (more while a line is longer).
///
/// ```
/// use syncbatch::validate::{validate_async_reader, Limits};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let file = tokio::fs::File::open("examples/data/input.jsonl").await?;
/// let report = validate_async_reader(file, Limits::default()).await?;
/// assert!(report.summary.valid);
///
/// let bom_alone = validate_async_reader(&b"\xEF\xBB\xBF"[..], Limits::default()).await?;
/// assert_eq!(bom_alone.summary.bytes, 3);
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
#[cfg(feature = "async")]
pub async fn validate_async_reader<R>(reader: R, limits: Limits) -> std::io::Result<Report>
where
    R: tokio::io::AsyncRead,
{
    use futures::StreamExt;
    let mut v = Validator::new(limits);
    let mut keep = Keeper::default();
    let frames = crate::frame::frame_stream(reader, v.framer());
    let mut frames = std::pin::pin!(frames);
    while let Some(frame) = frames.next().await {
        keep.check(&mut v, &frame?);
    }
    let end = frames.decoder().position();
    Ok(keep.finish(v, end))
}
