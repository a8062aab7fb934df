//! What a long run tells its caller as it goes: [`Observer`].

use std::ops::ControlFlow;

use crate::validate::Diagnostic;

/// Watches a one-call run ([`Validator::run`](crate::validate::Validator::run),
/// [`Splitter::run`](crate::split::Splitter::run), the merge's retry set):
/// each diagnostic as it is found, and the progress through each input.
/// Every method has a default that does nothing and goes on, so an observer
/// implements only what it needs; `()` is the observer that watches nothing.
///
/// Returning [`ControlFlow::Break`] stops the run soon after: it then ends
/// with [`ErrorKind::Interrupted`](crate::ErrorKind::Interrupted), having
/// left nothing half-written. The command line stops that way on Ctrl-C.
///
/// ```
/// use std::ops::ControlFlow;
/// use syncbatch::validate::{Diagnostic, Limits, Validator};
/// use syncbatch::{Input, Observer};
///
/// /// Prints each diagnostic's line and code; stops at the third.
/// struct FirstTwo(Vec<String>);
/// impl Observer for FirstTwo {
///     fn diagnostic(&mut self, input: &str, d: &Diagnostic, _line: Option<&[u8]>) -> ControlFlow<()> {
///         self.0.push(format!("{input}:{}: {}", d.line.unwrap_or(0), d.code));
///         if self.0.len() == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
///     }
/// }
///
/// let mut seen = FirstTwo(Vec::new());
/// let input = Input::open("examples/data/mixed.jsonl")?;
/// let err = Validator::new(Limits::default()).run(input, &mut seen).unwrap_err();
/// assert!(matches!(err.kind(), syncbatch::ErrorKind::Interrupted));
/// assert_eq!(seen.0[0], "examples/data/mixed.jsonl:1: bad_output_file_name");
/// # Ok::<(), syncbatch::Error>(())
/// ```
pub trait Observer {
    /// An input is about to be read; `size` when it is known.
    fn input_started(&mut self, name: &str, size: Option<u64>) {
        let _ = (name, size);
    }

    /// A diagnostic of `input`, as soon as it is found, with the bytes of the
    /// line it is on (none for a file-level diagnostic or a line too long to
    /// keep). A split shows every diagnostic of every record: the errors of
    /// those it refuses, the warnings of those it keeps.
    fn diagnostic(
        &mut self,
        input: &str,
        diagnostic: &Diagnostic,
        line: Option<&[u8]>,
    ) -> ControlFlow<()> {
        let _ = (input, diagnostic, line);
        ControlFlow::Continue(())
    }

    /// The run is `bytes` into `input`, `records` lines in all so far: about
    /// every [`PROGRESS_EVERY`] lines, so keep it cheap.
    fn progress(&mut self, input: &str, bytes: u64, records: u64) -> ControlFlow<()> {
        let _ = (input, bytes, records);
        ControlFlow::Continue(())
    }

    /// `input` was read to its end, `bytes` long.
    fn input_done(&mut self, name: &str, bytes: u64) {
        let _ = (name, bytes);
    }

    /// Every input was read, and the run is moving its outputs into place:
    /// from now on it does not stop when asked, so that they appear whole
    /// or not at all.
    fn committing(&mut self) {}
}

/// An observer that keeps every diagnostic it is shown, with the name of
/// its input: the easy way to get the diagnostics of a split (the errors of
/// the records it refused, the warnings of those it kept).
///
/// ```
/// use syncbatch::split::{MemorySink, SplitOptions, Splitter};
/// use syncbatch::validate::Code;
/// use syncbatch::{Collect, ErrorKind, Input};
///
/// let good = r#"{"request_id":"a","endpoint":"/v2/generate","payload":{"model":"lipsync-2","input":[{"type":"video","url":"https://a.io/v.mp4"},{"type":"audio","url":"https://a.io/a.wav"}],"priority":1}}"#;
/// let bad = r#"{"request_id":"b","endpoint":"/v1/generate","payload":{}}"#;
/// let input = Input::from_bytes("in.jsonl", format!("{good}\n{bad}\n"));
/// let mut seen = Collect::default();
/// let splitter = Splitter::new(SplitOptions::default(), MemorySink::default());
/// let err = splitter.run([input], &mut seen).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::InvalidRecords { count: 1 }));
/// // The warning of the kept record, then the errors of the refused one.
/// let codes: Vec<Code> = seen.diagnostics.iter().map(|(_, d)| d.code).collect();
/// assert_eq!(codes[0], Code::UnknownField);
/// assert!(codes.contains(&Code::BadEndpoint));
/// assert!(seen.diagnostics.iter().all(|(input, _)| input == "in.jsonl"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Collect {
    /// Each diagnostic, after the name of its input, in the order shown.
    pub diagnostics: Vec<(String, Diagnostic)>,
}

impl Observer for Collect {
    fn diagnostic(&mut self, input: &str, d: &Diagnostic, _: Option<&[u8]>) -> ControlFlow<()> {
        self.diagnostics.push((input.to_owned(), d.clone()));
        ControlFlow::Continue(())
    }
}

/// About how many lines pass between two calls of [`Observer::progress`].
pub const PROGRESS_EVERY: u64 = 64;

/// Watches nothing.
impl Observer for () {}

impl<O: Observer + ?Sized> Observer for &mut O {
    fn input_started(&mut self, name: &str, size: Option<u64>) {
        (**self).input_started(name, size)
    }
    fn diagnostic(&mut self, input: &str, d: &Diagnostic, line: Option<&[u8]>) -> ControlFlow<()> {
        (**self).diagnostic(input, d, line)
    }
    fn progress(&mut self, input: &str, bytes: u64, records: u64) -> ControlFlow<()> {
        (**self).progress(input, bytes, records)
    }
    fn input_done(&mut self, name: &str, bytes: u64) {
        (**self).input_done(name, bytes)
    }
    fn committing(&mut self) {
        (**self).committing()
    }
}
