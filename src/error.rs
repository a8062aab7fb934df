//! The error of the file stages (validate, split, merge), as `csv` makes
//! its own: one boxed [`Error`] (a `Result` stays one word on the hot
//! path), a [`kind`](Error::kind) to branch on, a
//! [`position`](Error::position) where the input has one, and the I/O
//! error underneath as [`source`](std::error::Error::source).
//!
//! ```
//! use syncbatch::split::{MemorySink, SplitOptions, Splitter};
//! use syncbatch::{ErrorKind, Input};
//!
//! let line = r#"{"request_id":"r-1","endpoint":"/v1/generate","payload":{}}"#;
//! let input = Input::from_bytes("in.jsonl", format!("{line}\n"));
//! let err = syncbatch::split::split([input], SplitOptions::default(), MemorySink::default())
//!     .unwrap_err();
//! assert!(matches!(err.kind(), ErrorKind::InvalidRecords { count: 1, .. }));
//! assert_eq!(err.to_string(), "1 invalid record; nothing was written");
//! ```

use std::fmt;
use std::io;

use crate::split::plan::Infeasible;
use crate::util::count;

/// A place in an input: its name, the 0-based byte offset and the 1-based
/// line number (0 when no line was read yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The input's name, as given.
    pub input: String,
    /// 0-based byte offset.
    pub byte: u64,
    /// 1-based line number; 0 before the first line.
    pub line: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}", self.input, self.line)
        } else {
            write!(f, "{}, byte {}", self.input, self.byte)
        }
    }
}

/// What went wrong. More kinds may come: match with a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading an input or writing an output failed. The message names the
    /// file and what was being done.
    Io(io::Error),
    /// A split met invalid records and was not told to skip them: nothing
    /// was written.
    InvalidRecords {
        /// How many records were invalid.
        count: u64,
    },
    /// No split of the valid records meets the limits: nothing was written.
    Infeasible(Infeasible),
    /// Limits no batch file could meet (`max_records` 0, a minimum above
    /// the maximum).
    Limits(String),
    /// The inputs or outputs given do not make sense together (an output
    /// that is also an input, one file given twice, standard input read
    /// twice, request and result files that look swapped). Nothing was
    /// written.
    Conflict(String),
    /// The caller asked the run to stop (an [`Observer`](crate::Observer)
    /// said so): nothing was left under a final name.
    Interrupted,
}

struct Inner {
    kind: ErrorKind,
    position: Option<Position>,
    /// What was being done, and on which file, for the message.
    context: Option<String>,
}

/// The error of the file stages (validate, split, merge): boxed, with a
/// [`kind`](Error::kind), a [`position`](Error::position) and a
/// [`source`](std::error::Error::source).
pub struct Error(Box<Inner>);

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of this kind, with no position.
    pub fn new(kind: ErrorKind) -> Error {
        Error(Box::new(Inner {
            kind,
            position: None,
            context: None,
        }))
    }

    /// An I/O error while doing `context` (`"cannot create out/batch-00001.jsonl"`).
    pub fn io(context: impl Into<String>, err: io::Error) -> Error {
        Error::new(ErrorKind::Io(err)).context(context)
    }

    /// The same error, at `position`.
    pub fn at(mut self, position: Position) -> Error {
        self.0.position = Some(position);
        self
    }

    /// The same error, saying what was being done.
    pub fn context(mut self, context: impl Into<String>) -> Error {
        self.0.context = Some(context.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Takes the kind out.
    pub fn into_kind(self) -> ErrorKind {
        self.0.kind
    }

    /// Where in an input it happened, when it happened in one.
    pub fn position(&self) -> Option<&Position> {
        self.0.position.as_ref()
    }

    /// Whether the input is at fault (invalid records, no compliant split),
    /// as opposed to the system (I/O), the caller (limits, conflicts) or
    /// an interruption: the command line's exit status 1 against 2.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self.0.kind,
            ErrorKind::InvalidRecords { .. } | ErrorKind::Infeasible(_)
        )
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("position", &self.0.position)
            .field("context", &self.0.context)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.0;
        match (&inner.kind, &inner.position) {
            (ErrorKind::Io(e), Some(p)) => {
                write!(f, "{}: read error after byte {}", p.input, p.byte)?;
                if p.line > 0 {
                    write!(f, " (line {})", p.line)?;
                }
                write!(f, ": {e}")
            }
            (ErrorKind::Io(e), None) => match &inner.context {
                Some(what) => write!(f, "{what}: {e}"),
                None => write!(f, "{e}"),
            },
            (ErrorKind::InvalidRecords { count: n }, _) => write!(
                f,
                "{}; nothing was written",
                count(*n, "invalid record", "invalid records")
            ),
            (ErrorKind::Infeasible(why), Some(p)) => {
                write!(f, "{why} ({p}); nothing was written")
            }
            (ErrorKind::Infeasible(why), None) => write!(f, "{why}; nothing was written"),
            (ErrorKind::Limits(why) | ErrorKind::Conflict(why), _) => f.write_str(why),
            (ErrorKind::Interrupted, _) => {
                f.write_str("interrupted; nothing was left half-written")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::new(ErrorKind::Io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn an_error_is_one_word_and_says_where() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        let e = Error::io("", io::Error::other("disk on fire")).at(Position {
            input: "in.jsonl".into(),
            byte: 4096,
            line: 12,
        });
        assert_eq!(
            e.to_string(),
            "in.jsonl: read error after byte 4096 (line 12): disk on fire"
        );
        assert_eq!(e.position().map(|p| p.line), Some(12));
        assert_eq!(e.source().unwrap().to_string(), "disk on fire");
        let e = Error::io("cannot create out/x", io::Error::other("no room"));
        assert_eq!(e.to_string(), "cannot create out/x: no room");
        assert!(!e.is_input_error());
        let e = Error::new(ErrorKind::InvalidRecords { count: 2 });
        assert_eq!(e.to_string(), "2 invalid records; nothing was written");
        assert!(e.is_input_error() && e.source().is_none());
    }
}
