//! Telling, from its first lines, whether a file is JSON Lines at all: a
//! binary file or a CSV would otherwise draw a diagnostic for each of its
//! thousands of lines. The one-call runs hold the diagnostics of the first
//! lines until a line turns out to be a JSON object (then they go out, and
//! every later one as found) or the file plainly is not JSON Lines (a NUL
//! byte, or none of its first [`PROBE_LINES`] lines a JSON object): then
//! they are dropped, the lines are only counted, and one diagnostic says so.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::{Code, Diagnostic, Severity, Summary};
use crate::frame::Frame;
use crate::util::count;

/// How many lines that are no JSON object make a file plainly not JSON
/// Lines, when no line before them was one.
pub(crate) const PROBE_LINES: u64 = 10;

/// What the first lines said.
#[derive(Debug, PartialEq, Eq)]
enum State {
    /// No line was a JSON object yet: diagnostics are held.
    Holding,
    /// A line was a JSON object: diagnostics go out as found.
    Open,
    /// Not JSON Lines, for this reason: lines are only counted.
    Refused(&'static str),
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Probe {
    state: State,
    /// Lines that were no JSON object, while holding.
    not_json: u64,
    held: Vec<(Diagnostic, Option<Bytes>)>,
    /// The first line's diagnostic of a UTF-16 file, kept when it is refused.
    utf16: Option<Diagnostic>,
}

/// Hands a diagnostic, and the bytes of its line when it has one, on.
pub(crate) type Emit<'a> = dyn FnMut(&Diagnostic, Option<&[u8]>) -> ControlFlow<()> + 'a;

impl Probe {
    pub(crate) fn new() -> Probe {
        Probe {
            state: State::Holding,
            not_json: 0,
            held: Vec::new(),
            utf16: None,
        }
    }

    /// Whether diagnostics are held: every frame must be shown to the probe
    /// then, clean ones too (a clean frame is a JSON object, which opens it).
    #[inline]
    pub(crate) fn holding(&self) -> bool {
        self.state == State::Holding
    }

    /// Takes the diagnostics of one frame (emptying `diagnostics`) and hands
    /// on what is to be shown now. `O(1)` a clean line once the file is
    /// known to be JSON Lines.
    #[inline]
    pub(crate) fn line(
        &mut self,
        frame: &Frame,
        diagnostics: &mut Vec<Diagnostic>,
        emit: &mut Emit<'_>,
    ) -> ControlFlow<()> {
        let bytes = match frame {
            Frame::Line(l) => Some(l.bytes()),
            Frame::TooLong(_) => None,
        };
        match self.state {
            State::Open => {
                for d in diagnostics.drain(..) {
                    emit(&d, bytes.map(|b| &b[..]))?;
                }
                return ControlFlow::Continue(());
            }
            State::Refused(_) => {
                diagnostics.clear();
                return ControlFlow::Continue(());
            }
            State::Holding => {}
        }
        let blank = matches!(frame, Frame::Line(l) if l.is_blank());
        let broken = !blank
            && (bytes.is_none()
                || diagnostics.iter().any(|d| {
                    matches!(
                        d.code,
                        Code::InvalidUtf8 | Code::InvalidJson | Code::NotAnObject
                    )
                }));
        let nul = bytes.is_some_and(|b| memchr::memchr(0, b).is_some());
        self.held
            .extend(diagnostics.drain(..).map(|d| (d, bytes.cloned())));
        if nul {
            self.refuse("it holds NUL bytes (a binary file?)");
        } else if broken {
            self.not_json += 1;
            if self.not_json >= PROBE_LINES {
                self.refuse("none of its first 10 lines is a JSON object");
            }
        } else if !blank {
            self.state = State::Open;
            return self.flush(emit);
        }
        ControlFlow::Continue(())
    }

    fn refuse(&mut self, why: &'static str) {
        self.state = State::Refused(why);
        // A UTF-16 file says so on its first line, and what to do: that
        // diagnostic is the one kept.
        let utf16 = self.held.drain(..).map(|(d, _)| d).find(|d| {
            d.code == Code::InvalidUtf8 && d.line == Some(1) && d.message.contains("UTF-16")
        });
        self.utf16 = utf16;
        self.held = Vec::new();
    }

    fn flush(&mut self, emit: &mut Emit<'_>) -> ControlFlow<()> {
        for (d, line) in std::mem::take(&mut self.held) {
            emit(&d, line.as_deref())?;
        }
        ControlFlow::Continue(())
    }

    /// At the end of the input, with the file-level diagnostics of
    /// `summary`: hands on what was held (a short file) and those; or, for
    /// a file that is not JSON Lines, the one diagnostic that says so, and
    /// the summary counts it as the file's only error.
    pub(crate) fn finish(
        mut self,
        summary: &mut Summary,
        at_end: &mut Vec<Diagnostic>,
        emit: &mut Emit<'_>,
    ) -> ControlFlow<()> {
        let State::Refused(why) = self.state else {
            self.flush(emit)?;
            for d in at_end.drain(..) {
                emit(&d, None)?;
            }
            return ControlFlow::Continue(());
        };
        at_end.clear();
        *summary = Summary {
            errors: 1,
            warnings: 0,
            valid: false,
            ..summary.clone()
        };
        let d = self.utf16.take().unwrap_or_else(|| Diagnostic {
            line: None,
            column: None,
            byte: None,
            severity: Severity::Error,
            code: Code::InvalidJson,
            message: format!(
                "this is not JSON Lines: {why}; {} read, none reported one by one",
                count(summary.records, "line", "lines")
            ),
            request_id: None,
            path: None,
        });
        emit(&d, None)
    }
}
