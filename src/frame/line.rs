//! The lines a framer yields: [`Line`], [`LongLine`] and [`Frame`].

use bytes::Bytes;

/// One line of input, its terminator removed.
///
/// Cloning is cheap (`O(1)`, a reference count): the bytes are a slice of the
/// read buffer, shared, never copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub(super) bytes: Bytes,
    pub(super) number: u64,
    pub(super) offset: u64,
    pub(super) crlf: bool,
    pub(super) bom: bool,
    pub(super) newline: bool,
}

impl Line {
    /// The line's bytes, without `\n` (and without the `\r` of a `\r\n`).
    #[inline]
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Takes the bytes out of the line. `O(1)`.
    #[inline]
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The 1-based line number in the stream.
    #[inline]
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The 0-based byte offset of the line's first byte in the stream. For the
    /// first line of a stream that began with a byte order mark, that is 3.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether the line ended with `\r\n` (the `\r` is not in [`Line::bytes`]).
    #[inline]
    pub fn crlf(&self) -> bool {
        self.crlf
    }

    /// Whether a UTF-8 byte order mark stood before this line (first line only).
    #[inline]
    pub fn bom(&self) -> bool {
        self.bom
    }

    /// Whether a `\n` ended the line (false only for a last line without one).
    #[inline]
    pub fn newline(&self) -> bool {
        self.newline
    }

    /// The same line (number, offset, flags) holding other bytes: for callers
    /// that rewrite a line (`split --wrap`) and check the result in its place.
    /// `O(1)`.
    pub fn with_bytes(&self, bytes: Bytes) -> Line {
        Line {
            bytes,
            ..self.clone()
        }
    }

    /// Whether the line is empty or holds only JSON white space (space, tab,
    /// `\r`). `O(len)`.
    pub fn is_blank(&self) -> bool {
        self.bytes.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
    }
}

/// A line longer than the framer's maximum. Its bytes were skipped, not kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LongLine {
    pub(super) number: u64,
    pub(super) offset: u64,
    pub(super) len: u64,
    pub(super) crlf: bool,
    pub(super) bom: bool,
    pub(super) newline: bool,
}

impl LongLine {
    /// The 1-based line number in the stream.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The 0-based byte offset of the line's first byte in the stream.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The line's length in bytes, without its terminator (`\n` or `\r\n`).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: a long line is longer than the maximum. Here for clippy's
    /// `len_without_is_empty` and for symmetry with [`Line`].
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the line ended with `\r\n`.
    pub fn crlf(&self) -> bool {
        self.crlf
    }

    /// Whether a UTF-8 byte order mark stood before this line (first line only).
    pub fn bom(&self) -> bool {
        self.bom
    }

    /// Whether a `\n` ended the line (false only for a last line without one).
    pub fn newline(&self) -> bool {
        self.newline
    }
}

/// What the framer yields: a line, or the news that a line was too long.
///
/// An over-long line is an item, not an error, so a `FramedRead` (which stops
/// for good after a decoder error) keeps going.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A line within the maximum.
    Line(Line),
    /// A line over the maximum; its bytes were discarded.
    TooLong(LongLine),
}

impl Frame {
    /// The 1-based line number.
    pub fn number(&self) -> u64 {
        match self {
            Frame::Line(l) => l.number,
            Frame::TooLong(l) => l.number,
        }
    }

    /// The 0-based byte offset of the line's start.
    pub fn offset(&self) -> u64 {
        match self {
            Frame::Line(l) => l.offset,
            Frame::TooLong(l) => l.offset,
        }
    }

    /// Whether the line ended with `\r\n`.
    pub fn crlf(&self) -> bool {
        match self {
            Frame::Line(l) => l.crlf,
            Frame::TooLong(l) => l.crlf,
        }
    }

    /// Whether a byte order mark stood before this line.
    pub fn bom(&self) -> bool {
        match self {
            Frame::Line(l) => l.bom,
            Frame::TooLong(l) => l.bom,
        }
    }

    /// The line's length without its terminator.
    pub fn len(&self) -> u64 {
        match self {
            Frame::Line(l) => l.bytes.len() as u64,
            Frame::TooLong(l) => l.len,
        }
    }

    /// Whether the line is empty (no bytes before its terminator).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stream offset just past the line and its terminator: after the
    /// last frame, the size of the stream.
    pub fn end(&self) -> u64 {
        let (crlf, newline) = match self {
            Frame::Line(l) => (l.crlf, l.newline),
            Frame::TooLong(l) => (l.crlf, l.newline),
        };
        self.offset() + self.len() + u64::from(crlf) + u64::from(newline)
    }
}
