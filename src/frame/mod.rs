//! Zero-copy line framing: bytes in, numbered lines out.
//!
//! The logic lives once, in [`Framer`], a push core with no I/O: hand it a
//! [`BytesMut`] holding whatever has been read so far and it splits whole lines
//! off the front. Two thin front ends drive it:
//!
//! - [`LineReader`] over any [`std::io::Read`] (blocking), and [`Framer::frames`]
//!   over a buffer already in memory (the fast path: no read, no copy);
//! - [`LineCodec`], a [`tokio_util::codec::Decoder`] for `FramedRead`, and
//!   [`frame_stream`], a `futures::Stream` of frames (feature `async`).
//!
//! Rules (they match a naive "split on `\n`" reference, checked by property tests):
//!
//! - `\n` ends a line. A `\r` right before it is dropped from the line and
//!   reported ([`Line::crlf`]); a `\r` anywhere else is data.
//! - A UTF-8 byte order mark at the very start of the stream is dropped and
//!   reported on the first frame ([`Line::bom`]).
//! - The last line may lack its `\n`; an empty stream has no lines, and `"a\n"`
//!   has one.
//! - Blank lines are yielded like any other (the validator reports them).
//! - A line longer than the maximum ([`DEFAULT_MAX_LINE`] unless set) is yielded
//!   as a [`LongLine`] (number, offset, length) and its bytes are discarded as
//!   they arrive: memory stays bounded by the maximum plus one read, whatever
//!   the input.
//! - The result does not depend on how the input is cut into reads.
//!
//! # Example
//!
//! ```
//! use syncbatch::frame::{Frame, LineReader};
//!
//! let input = &b"\xEF\xBB\xBF{\"a\":1}\r\n\n{\"b\":2}"[..];
//! let frames: Vec<Frame> = LineReader::new(input).collect::<Result<_, _>>()?;
//! assert_eq!(frames.len(), 3);
//! let Frame::Line(first) = &frames[0] else { panic!() };
//! assert_eq!((first.number(), first.offset()), (1, 3));
//! assert!(first.bom() && first.crlf());
//! assert_eq!(first.bytes(), &b"{\"a\":1}"[..]);
//! assert!(matches!(&frames[1], Frame::Line(l) if l.is_blank()));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod scan;

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};

/// The default longest line, in bytes without its terminator: 5,000,000, the
/// batch file size limit (a longer line can never fit in a batch).
pub const DEFAULT_MAX_LINE: usize = 5_000_000;

/// The default size of one read in [`LineReader`]: 256 KiB.
pub const DEFAULT_READ_SIZE: usize = 256 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One line of input, its terminator removed.
///
/// Cloning is cheap (`O(1)`, a reference count): the bytes are a slice of the
/// read buffer, shared, never copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    bytes: Bytes,
    number: u64,
    offset: u64,
    crlf: bool,
    bom: bool,
    newline: bool,
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
    number: u64,
    offset: u64,
    len: u64,
    crlf: bool,
    bom: bool,
    newline: bool,
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

/// State kept while the bytes of an over-long line are being discarded.
#[derive(Clone, Debug)]
struct Skipping {
    number: u64,
    offset: u64,
    len: u64,
    last_cr: bool,
    bom: bool,
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
    max_line: usize,
    /// Stream offset of `buf[0]`.
    consumed: u64,
    /// Number of the next line to yield, 1-based.
    next_number: u64,
    /// How many bytes at the front of the buffer were already searched for `\n`.
    scanned: usize,
    /// No byte seen yet: a byte order mark may still come.
    at_start: bool,
    /// The line being framed came after a byte order mark.
    bom: bool,
    skipping: Option<Skipping>,
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

    fn line(&mut self, bytes: Bytes, consumed: usize, crlf: bool, newline: bool) -> Line {
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

    fn start_skip(&mut self, len: u64) -> Skipping {
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
    fn long_line(&mut self, skip: Skipping, crlf: bool, newline: bool) -> Frame {
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
    framer: Framer,
    data: Bytes,
    /// Where the next frame starts in `data`.
    pos: usize,
    /// Where the `\n`s of `data` are.
    newlines: scan::Newlines,
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

/// Blocking front end: frames lines from any [`Read`].
///
/// Reads into blocks of [`DEFAULT_READ_SIZE`] bytes (or the size given to
/// [`LineReader::read_size`]) and frames the whole lines of each block as
/// [`Framer::frames`] frames a buffer in memory: each line is a slice of its
/// block, found 64 bytes at a time. Only the start of a line cut by the
/// block's end is copied, to the front of the next block. A block goes back
/// to the reader once the last line lent from it is dropped, and is read
/// into again: so it is neither zeroed nor faulted in anew (framing into a
/// fresh, zeroed buffer a read, as this did until 2026-11-29, spent about 2%
/// of `split`'s CPU time on the zeroing and 1% more in `memchr` and
/// splitting the buffer line by line).
///
/// Memory: the maximum line length plus one block, plus the blocks that the
/// lines the caller still holds were lent from (a held [`Line`] keeps its
/// block), plus up to 64 blocks kept for reuse. Retries reads interrupted
/// by a signal. A block is framed once it is half full and holds a whole
/// line (or the input ends), so a pipe that delivers a little at a time is
/// framed in blocks, not in each read's worth.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    /// The framer, while no block is being framed.
    framer: Framer,
    /// The whole lines of the last block read, being handed out.
    current: Option<Frames>,
    /// The start of a line whose end is not read yet.
    partial: Bytes,
    pool: Arc<Pool>,
    done: bool,
}

/// The blocks a [`LineReader`] reads into, kept for reuse once no line
/// holds them. Only blocks of the standard length come back.
struct Pool {
    block_len: usize,
    free: Mutex<Vec<Vec<u8>>>,
}

/// The block length and how many blocks are kept, not their bytes.
impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.free.lock().map_or(0, |free| free.len());
        f.debug_struct("Pool")
            .field("block_len", &self.block_len)
            .field("kept", &kept)
            .finish()
    }
}

impl Pool {
    /// The most blocks kept for reuse: with the default block, 16 MiB.
    const MAX_FREE: usize = 64;

    fn new(block_len: usize) -> Arc<Pool> {
        Arc::new(Pool {
            block_len,
            free: Mutex::new(Vec::new()),
        })
    }

    /// A block to read into after `carry` bytes: one kept for reuse (or a
    /// new one) when `carry` takes at most half of it, else a new, larger
    /// one with room for a read after `carry`.
    fn take(&self, carry: usize) -> Vec<u8> {
        if carry > self.block_len / 2 {
            return vec![0; carry + self.block_len];
        }
        let kept = self.free.lock().ok().and_then(|mut free| free.pop());
        kept.unwrap_or_else(|| vec![0; self.block_len])
    }

    fn give_back(&self, block: Vec<u8>) {
        if block.len() != self.block_len {
            return;
        }
        if let Ok(mut free) = self.free.lock() {
            if free.len() < Self::MAX_FREE {
                free.push(block);
            }
        }
    }
}

/// A block lent out as the `Bytes` of lines: bytes `..len` were read. When
/// the last of those `Bytes` is dropped, the block goes back to its pool.
struct Lent {
    block: Vec<u8>,
    len: usize,
    pool: Arc<Pool>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.block[..self.len]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.block));
    }
}

impl<R: Read> LineReader<R> {
    /// A reader with the default maximum line and read size.
    pub fn new(inner: R) -> Self {
        Self::with_framer(inner, Framer::new())
    }

    /// A reader driving the given framer (to set the maximum line length).
    pub fn with_framer(inner: R, framer: Framer) -> Self {
        LineReader {
            inner,
            framer,
            current: None,
            partial: Bytes::new(),
            pool: Pool::new(DEFAULT_READ_SIZE),
            done: false,
        }
    }

    /// Sets the size of a block, the most bytes asked for per read (at least
    /// 1); small sizes are for tests, large ones for throughput.
    pub fn read_size(mut self, n: usize) -> Self {
        self.pool = Pool::new(n.max(1));
        self
    }

    /// The stream offset of the first byte not yet yielded.
    pub fn position(&self) -> u64 {
        self.current
            .as_ref()
            .map_or(self.framer.position(), Frames::position)
    }

    /// Returns the next frame, `Ok(None)` at the end, or the read's error.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if let Some(frames) = &mut self.current {
                if let Some(frame) = frames.next() {
                    return Ok(Some(frame));
                }
                if let Some(frames) = self.current.take() {
                    self.framer = frames.framer;
                }
            }
            if self.done {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Reads the next block: after it, the whole lines read are being
    /// framed, and `partial` holds the start of the line after them; or at
    /// the end, the rest is being framed.
    fn fill(&mut self) -> io::Result<()> {
        let carry = self.partial.len();
        let mut block = self.pool.take(carry);
        block[..carry].copy_from_slice(&self.partial);
        // The block holds `filled` bytes, and none before `searched` is `\n`.
        // (The carry is searched again: after a read error it may hold
        // whole lines.)
        let (mut filled, mut searched) = (carry, 0);
        let mut last_newline = None;
        let eof = loop {
            if filled == block.len() {
                if last_newline.is_some() {
                    break false;
                }
                // One line fills the block: room for more of it, twice
                // as much, but never more than it takes to tell that the
                // line is over the maximum (and then it is skipped below).
                let len = block.len();
                let enough = self.framer.max_line.saturating_add(2 + BOM.len());
                block.resize((2 * len).min(enough).max(len + 1), 0);
            }
            let read = loop {
                match self.inner.read(&mut block[filled..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            let n = match read {
                Ok(0) => break true,
                Ok(n) => n,
                Err(e) => {
                    // Nothing read is lost: it waits for the next call.
                    self.partial = self.lend(block, filled);
                    return Err(e);
                }
            };
            filled += n;
            if let Some(i) = memchr::memrchr(b'\n', &block[searched..filled]) {
                last_newline = Some(searched + i);
            }
            searched = filled;
            if last_newline.is_some() {
                if filled * 2 >= block.len() {
                    break false;
                }
            } else if !self.skip(&block[..filled], false) {
                // The bytes went to a line being skipped.
                (filled, searched) = (0, 0);
            }
        };
        // The loop stops short of the end only with a `\n` read.
        let data = match last_newline.filter(|_| !eof) {
            Some(i) => {
                let data = self.lend(block, filled);
                self.partial = data.slice(i + 1..);
                data.slice(..=i)
            }
            None => {
                // The end: all that is left is framed, the last line
                // unterminated (or the end of one being skipped).
                self.done = true;
                self.partial = Bytes::new();
                if last_newline.is_none() && !self.skip(&block[..filled], true) {
                    filled = 0;
                }
                self.lend(block, filled)
            }
        };
        let framer = std::mem::take(&mut self.framer);
        self.current = Some(framer.frames(data));
        Ok(())
    }

    /// For bytes holding no `\n`, all of one line so far: whether they must
    /// be kept. False when they belong to a line over the maximum, now
    /// being skipped (and so counted and dropped); true when they can still
    /// be a line within the maximum, or may still begin with a byte order
    /// mark. At the `end` the bytes are the last line: kept, unless a line
    /// is being skipped.
    fn skip(&mut self, bytes: &[u8], end: bool) -> bool {
        let f = &mut self.framer;
        if let Some(skip) = f.skipping.as_mut() {
            skip.len += bytes.len() as u64;
            skip.last_cr = bytes.last().map_or(skip.last_cr, |&b| b == b'\r');
            f.consumed += bytes.len() as u64;
            return false;
        }
        if end {
            return true;
        }
        let mut start = 0;
        if f.at_start {
            let n = bytes.len().min(BOM.len());
            if bytes[..n] == BOM[..n] && n < BOM.len() {
                return true;
            }
            if n == BOM.len() && bytes[..n] == *BOM {
                start = BOM.len();
            }
        }
        // One `\r` may still be stripped, so `max_line + 1` bytes can still
        // make a line within the maximum.
        let len = bytes.len() - start;
        if len <= f.max_line.saturating_add(1) {
            return true;
        }
        if f.at_start {
            f.at_start = false;
            f.bom = start > 0;
            f.consumed += start as u64;
        }
        let mut skip = f.start_skip(len as u64);
        skip.last_cr = bytes.last() == Some(&b'\r');
        f.consumed += len as u64;
        f.skipping = Some(skip);
        false
    }

    /// The first `len` bytes of `block`, lent out as `Bytes`.
    fn lend(&self, block: Vec<u8>, len: usize) -> Bytes {
        Bytes::from_owner(Lent {
            block,
            len,
            pool: Arc::clone(&self.pool),
        })
    }

    /// Gives back the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Iterator for LineReader<R> {
    type Item = io::Result<Frame>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

/// Frames `reader` and runs `parse` on every frame off the calling thread,
/// then `each` on the calling thread, in stream order, until the end or until
/// `each` returns false. Returns the stream position reached: the end of the
/// input when `each` took every frame (a byte order mark with no line after
/// it included), else the end of the last frame handed to `each`.
///
/// The frames go in chunks of 512 to [`parse_workers`] threads, each to the
/// first worker with room in its queue; when every worker is busy, the
/// framing thread parses the chunk itself. The caller's thread takes the
/// parsed chunks back in order. On a machine of two cores that is three
/// threads: one reads and frames, and parses what the worker cannot keep up
/// with, a second parses, and the caller's consumes, so parsing uses the
/// core the caller leaves idle. Handing chunks out in turn instead (every
/// other chunk to the framing thread, as this did until 2026-11-29) left
/// the framing thread, which also reads, with the most work: `validate` of
/// 1 GiB kept 1.70 to 1.85 cores busy, and 1.90 to 1.94 this way.
///
/// Memory: a chunk ends at 512 lines or 256 KiB, and the chunks on their
/// way to `each` hold at most 16 MiB of lines in all (a byte budget, which
/// the framing thread waits on), plus the chunk being framed: whatever the
/// lines' length, and however slow `each` is. That is room for 64 chunks of
/// short lines, so that the framing thread runs on while the caller's
/// thread stalls for a while. A read error ends the run and is returned.
///
/// ```
/// use syncbatch::frame::{for_each_parsed, Framer};
///
/// let input = "a\nbb\nccc\n".repeat(1000);
/// let mut lengths = Vec::new();
/// let end = for_each_parsed(input.as_bytes(), Framer::new(), |f| f.len(), |_, len| {
///     lengths.push(len);
///     true
/// })?;
/// assert_eq!(lengths.len(), 3000);
/// assert_eq!(&lengths[..3], &[1, 2, 3]);
/// assert_eq!(end, input.len() as u64);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn for_each_parsed<R, T, P, F>(
    reader: R,
    framer: Framer,
    parse: P,
    mut each: F,
) -> io::Result<u64>
where
    R: Read + Send,
    T: Send,
    P: Fn(&Frame) -> T + Sync,
    F: FnMut(Frame, T) -> bool,
{
    for_each_parsed_with(
        parse_workers(),
        reader,
        framer,
        parse,
        |frame, parsed, _| each(frame, parsed),
    )
}

/// How many threads [`for_each_parsed`] starts to parse beside the framing
/// one: one fewer than the cores this process may use, at least 1 and at
/// most 7. Beyond that the caller's thread (and, for `split`, the writer)
/// sets the pace, and each worker holds a few chunks of lines in memory.
pub fn parse_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .clamp(1, 7)
}

/// Offers `item` to each queue in turn, from `first` on: the index of the
/// one that took it, or the item back when every queue is full; `None` when
/// a queue's receiver is gone.
fn offer<C>(
    queues: &[std::sync::mpsc::SyncSender<C>],
    first: usize,
    mut item: C,
) -> Option<Result<usize, C>> {
    use std::sync::mpsc::TrySendError;
    for i in 0..queues.len() {
        let k = (first + i) % queues.len();
        match queues[k].try_send(item) {
            Ok(()) => return Some(Ok(k)),
            Err(TrySendError::Full(back)) => item = back,
            Err(TrySendError::Disconnected(_)) => return None,
        }
    }
    Some(Err(item))
}

/// [`for_each_parsed`] with `workers` parsing threads (at least 1; give it
/// [`parse_workers`] to suit the machine), showing `each` also what `parse`
/// gave for the frames after the current one in its chunk (up to 511 of
/// them, none past a chunk's end), so that it can warm what they will
/// touch: see [`crate::ids::IdSet::warm`].
///
/// A chunk travels as its frames and, beside them, what `parse` gave for
/// each: the frames are never moved into pairs (which took about 2% of
/// `split`'s CPU time).
pub fn for_each_parsed_with<R, T, P, F>(
    workers: usize,
    reader: R,
    framer: Framer,
    parse: P,
    mut each: F,
) -> io::Result<u64>
where
    R: Read + Send,
    T: Send,
    P: Fn(&Frame) -> T + Sync,
    F: FnMut(Frame, T, &[T]) -> bool,
{
    use std::sync::atomic::Ordering;
    use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
    /// What the framing thread hands the caller for each chunk, in order:
    /// the chunk parsed on the framing thread, or word that worker `k` has
    /// it (each worker returns its chunks in the order it took them); the
    /// tokens of the byte budget it holds; and whether it is the last.
    struct Handoff<T> {
        chunk: Chunk<T>,
        tokens: usize,
        last: bool,
    }
    enum Chunk<T> {
        Parsed(Parsed<T>),
        AtWorker(usize),
    }
    /// A chunk's frames, and what `parse` gave for each.
    type Parsed<T> = (Vec<Frame>, Vec<T>);
    let parse_all = |frames: Vec<Frame>| -> Parsed<T> {
        let parsed = frames.iter().map(&parse).collect();
        (frames, parsed)
    };
    let parse_all = &parse_all;
    let workers = workers.max(1);
    // Every chunk holds a token for each `TOKEN_BYTES` of its lines from
    // the time it is framed until `each` has seen it, so at most
    // `BUDGET_TOKENS` of them are on their way, however long the lines.
    let (budget, budget_back) = sync_channel::<()>(BUDGET_TOKENS);
    let (to_caller, handoffs) = sync_channel::<io::Result<Handoff<T>>>(BUDGET_TOKENS);
    // Where the framer stood at the end of the input, set before the last
    // chunk is handed on (the channels order it before the caller's read).
    let input_end = std::sync::atomic::AtomicU64::new(0);
    let input_end = &input_end;
    std::thread::scope(|scope| {
        let mut to_workers: Vec<SyncSender<Vec<Frame>>> = Vec::with_capacity(workers);
        let mut from_workers: Vec<Receiver<Parsed<T>>> = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (to_worker, chunks) = sync_channel::<Vec<Frame>>(4);
            let (done, from_worker) = sync_channel::<Parsed<T>>(4);
            to_workers.push(to_worker);
            from_workers.push(from_worker);
            scope.spawn(move || {
                for frames in chunks {
                    if done.send(parse_all(frames)).is_err() {
                        return;
                    }
                }
            });
        }
        scope.spawn(move || {
            let mut lines = LineReader::with_framer(reader, framer);
            let mut next_worker = 0;
            loop {
                let (mut chunk, mut bytes) = (Vec::with_capacity(CHUNK_LINES), 0);
                let mut last = false;
                while chunk.len() < CHUNK_LINES && bytes < CHUNK_BYTES {
                    match lines.next_frame() {
                        Ok(Some(frame)) => {
                            // The bytes it holds (a line too long holds none).
                            if let Frame::Line(line) = &frame {
                                bytes += line.bytes().len();
                            }
                            chunk.push(frame);
                        }
                        Ok(None) => {
                            last = true;
                            input_end.store(lines.position(), Ordering::Relaxed);
                            break;
                        }
                        Err(e) => {
                            // If the caller is gone, no one needs the error.
                            let _ = to_caller.send(Err(e));
                            return;
                        }
                    }
                }
                // The chunk's share of the budget: this waits while the
                // chunks on their way hold it all.
                let tokens = bytes.div_ceil(TOKEN_BYTES).clamp(1, BUDGET_TOKENS);
                for _ in 0..tokens {
                    if budget.send(()).is_err() {
                        return;
                    }
                }
                // The first worker with room takes the chunk; when every
                // worker is busy, this thread parses it. So the framing
                // thread, which also reads and frames, parses only what the
                // workers cannot keep up with, and no core waits while
                // another has a backlog.
                let chunk = match offer(&to_workers, next_worker, chunk) {
                    Some(Ok(k)) => {
                        next_worker = k + 1;
                        Chunk::AtWorker(k)
                    }
                    Some(Err(chunk)) => Chunk::Parsed(parse_all(chunk)),
                    None => return,
                };
                let handoff = Handoff {
                    chunk,
                    tokens,
                    last,
                };
                // The last chunk may be empty: it tells the end.
                if to_caller.send(Ok(handoff)).is_err() || last {
                    return;
                }
            }
        });
        let mut position = 0;
        let mut result = Ok(());
        'chunks: loop {
            let Handoff {
                chunk,
                tokens,
                last,
            } = match handoffs.recv() {
                Ok(Ok(handoff)) => handoff,
                Ok(Err(e)) => {
                    result = Err(e);
                    break;
                }
                Err(_) => {
                    result = Err(io::Error::other("the framing thread stopped"));
                    break;
                }
            };
            let (frames, parsed) = match chunk {
                Chunk::Parsed(parsed) => parsed,
                Chunk::AtWorker(k) => match from_workers[k].recv() {
                    Ok(parsed) => parsed,
                    Err(_) => {
                        result = Err(io::Error::other("a parsing thread stopped"));
                        break;
                    }
                },
            };
            let mut parsed = parsed.into_iter();
            for frame in frames {
                let Some(item) = parsed.next() else { break };
                position = frame.end();
                if !each(frame, item, parsed.as_slice()) {
                    break 'chunks;
                }
            }
            // The chunk's lines are the caller's now (or dropped): its
            // tokens go back. They were sent before the chunk was.
            for _ in 0..tokens {
                let _ = budget_back.try_recv();
            }
            if last {
                position = position.max(input_end.load(Ordering::Relaxed));
                break;
            }
        }
        // Dropping the queues stops the other threads wherever they are.
        drop(handoffs);
        drop(budget_back);
        drop(from_workers);
        result.map(|()| position)
    })
}

/// The most lines in a chunk that [`for_each_parsed_with`] hands to a
/// parsing thread at once: few enough channel operations a line.
const CHUNK_LINES: usize = 512;

/// A chunk also ends once its lines reach this many bytes, so that long
/// lines travel a few at a time (512 lines of 400 bytes are 200 kB).
const CHUNK_BYTES: usize = 256 << 10;

/// The byte budget of [`for_each_parsed_with`]'s chunks on their way to
/// `each`: a token for each `TOKEN_BYTES` of a chunk's lines (at least one,
/// at most all of them), `BUDGET_TOKENS` tokens in all: 16 MiB of lines,
/// or 64 chunks of short ones. Before the budget, 16 chunks in order to
/// the caller (and 4 to and from each worker) bounded the lines by count
/// alone: 300 lines of 3.9 MB took 1.8 GB of memory in `validate`. And
/// the short queue was too short: whenever the caller's thread stalled
/// behind the writer or a growing id set, the framing thread, the busiest,
/// soon stopped too, and the two cores of a `split` of 1 GiB were 1.83 to
/// 1.85 busy; 1.96 to 1.98 with the budget (six alternating runs, 7.7% less
/// wall time).
const TOKEN_BYTES: usize = 256 << 10;
const BUDGET_TOKENS: usize = 64;

#[cfg(feature = "async")]
pub use self::async_io::{frame_stream, LineCodec};

#[cfg(feature = "async")]
mod async_io {
    use super::{Frame, Framer};
    use bytes::BytesMut;
    use std::io;
    use tokio::io::AsyncRead;
    use tokio_util::codec::{Decoder, FramedRead};

    /// The framer as a [`Decoder`], for [`FramedRead`]. Yields the same
    /// frames as [`super::LineReader`]; an over-long line is an item, never an
    /// `Err`, so the stream goes on after it.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use syncbatch::frame::{Frame, LineCodec};
    /// use tokio_util::codec::FramedRead;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut frames = FramedRead::new(&b"a\r\nb"[..], LineCodec::new());
    /// let first = frames.next().await.unwrap()?;
    /// assert!(first.crlf());
    /// assert!(matches!(frames.next().await.unwrap()?, Frame::Line(l) if l.bytes() == "b"));
    /// assert!(frames.next().await.is_none());
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    #[derive(Clone, Debug, Default)]
    pub struct LineCodec {
        framer: Framer,
    }

    impl LineCodec {
        /// A codec with the default maximum line length.
        pub fn new() -> Self {
            Self::default()
        }

        /// A codec driving the given framer.
        pub fn with_framer(framer: Framer) -> Self {
            LineCodec { framer }
        }

        /// The stream offset of the first byte not yet yielded (a byte order
        /// mark at the start counts as taken once it was seen). Read through
        /// [`FramedRead::decoder`] when the stream has ended, it is where the
        /// input ended.
        pub fn position(&self) -> u64 {
            self.framer.position()
        }
    }

    impl Decoder for LineCodec {
        type Item = Frame;
        type Error = io::Error;

        fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Frame>> {
            Ok(self.framer.decode(buf))
        }

        fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Frame>> {
            Ok(self.framer.decode_eof(buf))
        }
    }

    /// A `Stream` of the frames of an async reader, read 64 KiB at a time.
    pub fn frame_stream<R: AsyncRead>(reader: R, framer: Framer) -> FramedRead<R, LineCodec> {
        FramedRead::with_capacity(reader, LineCodec::with_framer(framer), 64 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn long_lines_are_items_with_their_length() {
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
    fn long_line_memory_is_bounded() {
        // 10 MB line through a 1 KB maximum, read 64 KB at a time: the block
        // never holds more than the maximum plus one read. `Zeros` keeps the
        // largest room it was asked to read into.
        struct Zeros(usize, usize, usize, usize);
        impl Read for Zeros {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.1 = self.1.max(buf.len());
                self.2 = self.2.max(self.3 + buf.len());
                let n = buf.len().min(self.0);
                buf[..n].fill(b'0');
                self.0 -= n;
                self.3 += n;
                Ok(n)
            }
        }
        let mut r =
            LineReader::with_framer(Zeros(10_000_000, 0, 0, 0), Framer::with_max_line(1000))
                .read_size(64 * 1024);
        let f = r.next_frame().unwrap().unwrap();
        assert!(matches!(f, Frame::TooLong(ref l) if l.len() == 10_000_000));
        assert!(r.next_frame().unwrap().is_none());
        let largest = r.into_inner().1;
        assert!(largest <= 1000 + 2 * 64 * 1024, "{largest}");
        // A line within the maximum grows the block, by doubling, to hold
        // it, but never past what it takes to tell the line is too long
        // (the bytes read so far and the room to read into are the block).
        let mut r =
            LineReader::with_framer(Zeros(3_000_000, 0, 0, 0), Framer::with_max_line(3_100_000))
                .read_size(64 * 1024);
        let f = r.next_frame().unwrap().unwrap();
        assert!(matches!(f, Frame::Line(ref l) if l.bytes().len() == 3_000_000));
        let block = r.into_inner().2;
        assert!((3_000_000..=3_100_005).contains(&block), "{block}");
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

    #[test]
    fn the_pipeline_keeps_order_with_any_number_of_workers() {
        for workers in 1..=5 {
            for lines in [0usize, 1, 511, 512, 513, 1024, 1025, 3000] {
                let input: String = (0..lines).map(|i| format!("{i}\n")).collect();
                let mut got = Vec::new();
                let mut aheads_ok = true;
                let end = for_each_parsed_with(
                    workers,
                    input.as_bytes(),
                    Framer::new(),
                    |f: &Frame| f.number(),
                    |frame, n, ahead| {
                        aheads_ok &= ahead.len() < 512
                            && ahead
                                .iter()
                                .enumerate()
                                .all(|(k, m)| *m == n + 1 + k as u64);
                        got.push((n, frame.number()));
                        true
                    },
                )
                .unwrap();
                let want: Vec<(u64, u64)> = (1..=lines as u64).map(|n| (n, n)).collect();
                assert_eq!(got, want, "{workers} workers, {lines} lines");
                assert_eq!(end, input.len() as u64);
                assert!(aheads_ok, "{workers} workers, {lines} lines");
            }
        }
        // A byte order mark alone makes no frame, but it was read.
        let end = for_each_parsed(&b"\xEF\xBB\xBF"[..], Framer::new(), |_| (), |_, _| true);
        assert_eq!(end.unwrap(), 3);
    }

    /// However long the lines and however slow the caller, the lines framed
    /// and not yet seen by `each` stay within the byte budget (and a chunk
    /// being framed): counted as `parse` sees them and as `each` does.
    /// Bounded by line count alone, as before, 16 chunks of 512 lines would
    /// have held all 80 MB of this input at once.
    #[test]
    fn long_lines_stay_within_the_byte_budget_however_slow_the_caller() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let line = [b'x'; 100_000];
        let mut input = Vec::new();
        for _ in 0..800 {
            input.extend_from_slice(&line);
            input.push(b'\n');
        }
        for workers in [1, 3] {
            let (framed, worst) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let mut seen = 0;
            for_each_parsed_with(
                workers,
                &input[..],
                Framer::new(),
                |f: &Frame| {
                    let now =
                        framed.fetch_add(f.len() as usize, Ordering::SeqCst) + f.len() as usize;
                    worst.fetch_max(now, Ordering::SeqCst);
                },
                |frame, (), _| {
                    framed.fetch_sub(frame.len() as usize, Ordering::SeqCst);
                    seen += 1;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    true
                },
            )
            .unwrap();
            assert_eq!(seen, 800);
            let bound = BUDGET_TOKENS * TOKEN_BYTES + CHUNK_BYTES + line.len();
            let worst = worst.load(Ordering::SeqCst);
            assert!(
                worst <= bound,
                "{workers} workers: {worst} bytes on their way"
            );
            // The pipeline did fill: the caller was the slow one.
            assert!(worst > bound / 4, "{workers} workers: only {worst} bytes");
        }
    }

    /// Chunks go to a worker with room, else the framing thread parses
    /// them, whichever chunk it is. Every odd chunk is slow here: handed out
    /// in turn, as before, they would all land on the same threads; handed
    /// to whoever has room, every thread parses some of them. The chunks
    /// finish out of order, and the caller still sees them in order.
    #[test]
    fn busy_workers_leave_chunks_to_the_framing_thread_in_order() {
        let input: String = (0..24_000).map(|i| format!("{i}\n")).collect();
        for workers in [1, 3] {
            let caller = std::thread::current().id();
            let mut slow_chunk_threads = std::collections::HashSet::new();
            let mut next = 1;
            let end = for_each_parsed_with(
                workers,
                input.as_bytes(),
                Framer::new(),
                |f: &Frame| {
                    let slow = ((f.number() - 1) / 512) % 2 == 1;
                    if slow {
                        std::thread::sleep(std::time::Duration::from_micros(20));
                    }
                    (f.number(), slow, std::thread::current().id())
                },
                |frame, (n, slow, thread), _| {
                    assert_eq!((frame.number(), n), (next, next));
                    next += 1;
                    if slow {
                        slow_chunk_threads.insert(thread);
                    }
                    true
                },
            )
            .unwrap();
            assert_eq!(next, 24_001);
            assert_eq!(end, input.len() as u64);
            assert!(!slow_chunk_threads.contains(&caller));
            // The framing thread and every worker.
            assert_eq!(slow_chunk_threads.len(), workers + 1, "{workers} workers");
        }
    }

    #[test]
    fn the_pipeline_stops_when_asked_and_on_read_errors() {
        let input: Vec<u8> = (0..5000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        for workers in 1..=4 {
            for stop_after in [1usize, 511, 512, 1500, 4999] {
                let mut seen = 0;
                let end = for_each_parsed_with(
                    workers,
                    &input[..],
                    Framer::new(),
                    |_| (),
                    |f, (), _| {
                        seen += 1;
                        assert_eq!(f.number(), seen as u64);
                        seen < stop_after
                    },
                )
                .unwrap();
                assert_eq!(seen, stop_after);
                let want = (0..stop_after)
                    .map(|i| format!("{i}\n").len())
                    .sum::<usize>();
                assert_eq!(end, want as u64);
            }
            // Good bytes, then an error: what came before arrives in order
            // (whole chunks only), then the error.
            struct Failing<'a>(&'a [u8]);
            impl Read for Failing<'_> {
                fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                    if self.0.is_empty() {
                        return Err(io::Error::other("disk on fire"));
                    }
                    let n = buf.len().min(self.0.len()).min(1000);
                    buf[..n].copy_from_slice(&self.0[..n]);
                    self.0 = &self.0[n..];
                    Ok(n)
                }
            }
            let mut seen = 0u64;
            let err = for_each_parsed_with(
                workers,
                Failing(&input),
                Framer::new(),
                |_| (),
                |f, (), _| {
                    seen += 1;
                    assert_eq!(f.number(), seen);
                    true
                },
            )
            .unwrap_err();
            assert_eq!(err.to_string(), "disk on fire");
            assert_eq!(seen % 512, 0);
            assert!(seen <= 5000);
        }
    }

    #[test]
    fn read_errors_are_returned() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let err = LineReader::new(Broken).next_frame().unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }
}
