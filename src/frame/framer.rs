//! The push core ([`Framer`]) and its in-memory front end ([`Frames`]).

use bytes::{Buf, Bytes, BytesMut};

use super::scan;
use super::{Frame, Line, LongLine, BOM, DEFAULT_MAX_LINE};

/// State kept while the bytes of an over-long line are being discarded.
#[derive(Clone, Debug)]
pub(super) struct Skipping {
    pub(super) number: u64,
    pub(super) offset: u64,
    pub(super) len: u64,
    pub(super) last_cr: bool,
    pub(super) bom: bool,
}

/// The push core: splits whole lines off the front of a buffer. No I/O.
///
/// Call [`Framer::decode`] each time bytes were appended to the buffer, until it
/// returns `None`; at the end of the stream call [`Framer::decode_eof`] until it
/// returns `None`. Each byte is scanned once (the framer remembers how far it
/// looked), so the total cost is `O(input)` however the input is cut into reads.
///
/// ```
/// use bytes::BytesMut;
/// use syncbatch::frame::{Frame, Framer};
///
/// let mut framer = Framer::new();
/// let mut buf = BytesMut::from(&b"one\ntw"[..]);
/// assert!(matches!(framer.decode(&mut buf), Some(Frame::Line(l)) if l.bytes() == "one"));
/// assert_eq!(framer.decode(&mut buf), None); // "tw" waits for more
/// buf.extend_from_slice(b"o");
/// assert!(matches!(framer.decode_eof(&mut buf), Some(Frame::Line(l)) if l.bytes() == "two"));
/// assert_eq!(framer.decode_eof(&mut buf), None);
/// ```
#[derive(Clone, Debug)]
pub struct Framer {
    pub(super) max_line: usize,
    /// Stream offset of `buf[0]`.
    pub(super) consumed: u64,
    /// Number of the next line to yield, 1-based.
    pub(super) next_number: u64,
    /// How many bytes at the front of the buffer were already searched for `\n`.
    pub(super) scanned: usize,
    /// No byte seen yet: a byte order mark may still come.
    pub(super) at_start: bool,
    /// The line being framed came after a byte order mark.
    pub(super) bom: bool,
    pub(super) skipping: Option<Skipping>,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A framer with the default maximum line length, [`DEFAULT_MAX_LINE`].
    pub fn new() -> Self {
        Self::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A framer that yields lines longer than `max_line` bytes (terminator not
    /// counted) as [`Frame::TooLong`]. It buffers at most `max_line + 1` bytes of
    /// an unfinished line.
    pub fn with_max_line(max_line: usize) -> Self {
        Framer {
            max_line,
            consumed: 0,
            next_number: 1,
            scanned: 0,
            at_start: true,
            bom: false,
            skipping: None,
        }
    }

    /// The maximum line length.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Stream offset of the first byte not yet yielded or discarded.
    pub fn position(&self) -> u64 {
        self.consumed
    }

    /// Frames an entire input already in memory, without copying it: each
    /// line is a slice of `data` (a `Vec<u8>`, a `String`, a static slice or
    /// any `Bytes`, shared or not). Numbers and offsets go on from where this
    /// framer stands.
    pub fn frames(self, data: impl Into<Bytes>) -> Frames {
        Frames {
            framer: self,
            data: data.into(),
            pos: 0,
            newlines: scan::Newlines::new(),
        }
    }

    fn advance(&mut self, buf: &mut BytesMut, n: usize) {
        buf.advance(n);
        self.consumed += n as u64;
    }

    /// Settles whether the stream starts with a byte order mark. Returns false
    /// when more bytes are needed to tell.
    fn check_bom(&mut self, buf: &mut BytesMut, eof: bool) -> bool {
        if !self.at_start {
            return true;
        }
        let n = buf.len().min(BOM.len());
        if buf[..n] != BOM[..n] {
            self.at_start = false;
        } else if n == BOM.len() {
            self.at_start = false;
            self.bom = true;
            self.advance(buf, n);
        } else if eof {
            // A prefix of a BOM and then the end: plain data.
            self.at_start = false;
        } else {
            return false;
        }
        true
    }

    /// Splits the next whole line off the front of `buf`, or returns `None`
    /// when `buf` holds no whole line yet (then append more and call again).
    ///
    /// Cost: `O(new bytes)` to search, `O(1)` to split (no copy).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        if buf.is_empty() || !self.check_bom(buf, false) {
            return None;
        }
        if let Some(skip) = self.skipping.as_mut() {
            match memchr::memchr(b'\n', buf) {
                None => {
                    skip.len += buf.len() as u64;
                    skip.last_cr = buf.last() == Some(&b'\r');
                    let n = buf.len();
                    self.advance(buf, n);
                    return None;
                }
                Some(i) => {
                    let last_cr = if i > 0 {
                        buf[i - 1] == b'\r'
                    } else {
                        skip.last_cr
                    };
                    let mut skip = self.skipping.take().expect("checked above");
                    skip.len += i as u64;
                    self.advance(buf, i + 1);
                    return Some(self.long_line(skip, last_cr, true));
                }
            }
        }
        match memchr::memchr(b'\n', &buf[self.scanned..]) {
            Some(i) => {
                let end = self.scanned + i;
                self.scanned = 0;
                let crlf = end > 0 && buf[end - 1] == b'\r';
                let len = end - usize::from(crlf);
                if len > self.max_line {
                    let skip = self.start_skip(end as u64);
                    self.advance(buf, end + 1);
                    return Some(self.long_line(skip, crlf, true));
                }
                let mut bytes = buf.split_to(end + 1);
                bytes.truncate(len);
                Some(Frame::Line(self.line(bytes.freeze(), end + 1, crlf, true)))
            }
            None => {
                self.scanned = buf.len();
                // One `\r` may still be stripped, so `max_line + 1` bytes can
                // still make a line within the maximum.
                if buf.len() > self.max_line.saturating_add(1) {
                    let mut skip = self.start_skip(buf.len() as u64);
                    skip.last_cr = buf.last() == Some(&b'\r');
                    self.scanned = 0;
                    let n = buf.len();
                    self.advance(buf, n);
                    self.skipping = Some(skip);
                }
                None
            }
        }
    }

    /// Like [`Framer::decode`], at the end of the stream: the rest of `buf` is
    /// the last line, terminated or not. Returns `None` once all is yielded.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        if !buf.is_empty() {
            self.check_bom(buf, true);
        }
        if let Some(frame) = self.decode(buf) {
            return Some(frame);
        }
        // No `\n` is left in `buf`: what remains is an unterminated last line,
        // and a `\r` at its end is data.
        if let Some(mut skip) = self.skipping.take() {
            skip.len += buf.len() as u64;
            let n = buf.len();
            self.advance(buf, n);
            return Some(self.long_line(skip, false, false));
        }
        if buf.is_empty() {
            return None;
        }
        self.scanned = 0;
        let len = buf.len();
        if len > self.max_line {
            let skip = self.start_skip(len as u64);
            self.advance(buf, len);
            return Some(self.long_line(skip, false, false));
        }
        let bytes = buf.split().freeze();
        Some(Frame::Line(self.line(bytes, len, false, false)))
    }

    pub(super) fn line(
        &mut self,
        bytes: Bytes,
        consumed: usize,
        crlf: bool,
        newline: bool,
    ) -> Line {
        let line = Line {
            bytes,
            number: self.next_number,
            offset: self.consumed,
            crlf,
            bom: std::mem::take(&mut self.bom),
            newline,
        };
        self.next_number += 1;
        self.consumed += consumed as u64;
        line
    }

    pub(super) fn start_skip(&mut self, len: u64) -> Skipping {
        Skipping {
            number: self.next_number,
            offset: self.consumed,
            len,
            last_cr: false,
            bom: std::mem::take(&mut self.bom),
        }
    }

    /// Finishes a long line; `crlf` says whether its `\n` had a `\r` before it
    /// (that `\r` was counted in `skip.len` and comes off again).
    pub(super) fn long_line(&mut self, skip: Skipping, crlf: bool, newline: bool) -> Frame {
        self.next_number += 1;
        Frame::TooLong(LongLine {
            number: skip.number,
            offset: skip.offset,
            len: skip.len - u64::from(crlf),
            crlf,
            bom: skip.bom,
            newline,
        })
    }
}

/// The frames of an input held in memory; see [`Framer::frames`].
///
/// The whole input is there, so its `\n`s are found 64 bytes at a time in
/// one pass that reads ahead of itself, and each line is one
/// reference-counted slice: no buffer is split or grown, and nothing is
/// copied.
#[derive(Debug)]
pub struct Frames {
    pub(super) framer: Framer,
    pub(super) data: Bytes,
    /// Where the next frame starts in `data`.
    pub(super) pos: usize,
    /// Where the `\n`s of `data` are.
    pub(super) newlines: scan::Newlines,
}

impl Frames {
    /// The stream offset of the first byte not yet yielded (a byte order
    /// mark at the start counts as taken once the first frame is asked for).
    pub fn position(&self) -> u64 {
        self.framer.position()
    }
}

impl Iterator for Frames {
    type Item = Frame;

    #[inline]
    fn next(&mut self) -> Option<Frame> {
        let f = &mut self.framer;
        if f.at_start && self.pos == 0 {
            f.at_start = false;
            if self.data.starts_with(BOM) {
                f.bom = true;
                f.consumed += BOM.len() as u64;
                self.pos = BOM.len();
            }
        }
        let rest = &self.data[self.pos..];
        if rest.is_empty() {
            // The end: a long line still being skipped (from an earlier
            // buffer of this framer) ends here, unterminated.
            return f
                .skipping
                .take()
                .map(|skip| f.long_line(skip, false, false));
        }
        let (end, newline) = match self.newlines.next(&self.data, self.pos) {
            Some(i) => (i - self.pos, true),
            None => (rest.len(), false),
        };
        let start = self.pos;
        let consumed = end + usize::from(newline);
        self.pos += consumed;
        if let Some(mut skip) = f.skipping.take() {
            let crlf = newline
                && if end > 0 {
                    rest[end - 1] == b'\r'
                } else {
                    skip.last_cr
                };
            skip.len += end as u64;
            f.consumed += consumed as u64;
            return Some(f.long_line(skip, crlf, newline));
        }
        // Only a `\r` before a `\n` is a terminator; at the very end it is data.
        let crlf = newline && end > 0 && rest[end - 1] == b'\r';
        let len = end - usize::from(crlf);
        if len > f.max_line {
            let skip = f.start_skip(end as u64);
            f.consumed += consumed as u64;
            return Some(f.long_line(skip, crlf, newline));
        }
        let bytes = self.data.slice(start..start + len);
        Some(Frame::Line(f.line(bytes, consumed, crlf, newline)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::LineReader;
    use std::io;

    fn lines(input: &[u8], max: usize) -> Vec<Frame> {
        Framer::with_max_line(max).frames(input.to_vec()).collect()
    }

    fn text(f: &Frame) -> String {
        match f {
            Frame::Line(l) => String::from_utf8_lossy(l.bytes()).into_owned(),
            Frame::TooLong(l) => format!("<long {}>", l.len()),
        }
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert!(lines(b"", 10).is_empty());
    }

    #[test]
    fn trailing_newline_makes_no_extra_line() {
        let f = lines(b"a\n", 10);
        assert_eq!(f.len(), 1);
        let f = lines(b"\n", 10);
        assert_eq!(f.len(), 1);
        assert!(matches!(&f[0], Frame::Line(l) if l.is_blank()));
    }

    #[test]
    fn lone_cr_is_data_and_crlf_is_reported() {
        let f = lines(b"a\rb\r\nc\r", 10);
        assert_eq!(f.iter().map(text).collect::<Vec<_>>(), ["a\rb", "c\r"]);
        assert!(f[0].crlf());
        assert!(!f[1].crlf());
        assert_eq!(f[1].offset(), 5);
    }

    #[test]
    fn bom_only_at_stream_start() {
        let f = lines(b"\xEF\xBB\xBFx\n\xEF\xBB\xBFy", 10);
        assert!(f[0].bom());
        assert_eq!(f[0].offset(), 3);
        assert!(!f[1].bom());
        assert_eq!(text(&f[1]), "\u{feff}y");
        // A BOM prefix cut short by the end of input is data.
        let f = lines(b"\xEF\xBB", 10);
        assert!(matches!(&f[0], Frame::Line(l) if l.bytes() == &b"\xEF\xBB"[..] && !l.bom()));
    }

    #[test]
    pub(super) fn long_lines_are_items_with_their_length() {
        let f = lines(b"12345\n123456\r\n1234567", 5);
        assert_eq!(
            f.iter().map(text).collect::<Vec<_>>(),
            ["12345", "<long 6>", "<long 7>"]
        );
        assert!(f[1].crlf());
        assert_eq!(f[2].number(), 3);
        assert_eq!(f[2].offset(), 14);
        // Exactly the maximum plus `\r\n`, arriving byte by byte.
        let r = LineReader::with_framer(&b"12345\r\nx"[..], Framer::with_max_line(5)).read_size(1);
        let f: Vec<Frame> = r.collect::<io::Result<_>>().unwrap();
        assert_eq!(f.iter().map(text).collect::<Vec<_>>(), ["12345", "x"]);
    }

    #[test]
    fn frames_slice_shared_bytes_without_copying() {
        let data = Bytes::from_static(b"ab\ncd\r\nef");
        let frames: Vec<Frame> = Framer::new().frames(data.clone()).collect();
        assert_eq!(frames.len(), 3);
        let range = data.as_ptr_range();
        for f in &frames {
            let Frame::Line(l) = f else { panic!("{f:?}") };
            assert!(range.contains(&l.bytes().as_ptr()), "{l:?} was copied");
        }
    }

    #[test]
    fn frames_finish_a_long_line_begun_in_an_earlier_buffer() {
        let whole = b"ok\nabcdefghij\r\nnext\n";
        let want: Vec<Frame> = Framer::with_max_line(4).frames(&whole[..]).collect();
        assert!(matches!(&want[1], Frame::TooLong(l) if l.len() == 10));
        for cut in 4..14 {
            let mut framer = Framer::with_max_line(4);
            let mut buf = BytesMut::from(&whole[..cut]);
            let mut got = Vec::new();
            while let Some(f) = framer.decode(&mut buf) {
                got.push(f);
            }
            // What the buffer still holds goes on in memory, with the rest.
            let mut rest = buf.to_vec();
            rest.extend_from_slice(&whole[cut..]);
            got.extend(framer.frames(rest));
            assert_eq!(got, want, "cut at {cut}");
        }
    }
}
