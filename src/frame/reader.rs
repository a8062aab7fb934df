//! The blocking front end: [`LineReader`] over any [`std::io::Read`].

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{Frame, Framer, Frames, BOM, DEFAULT_READ_SIZE};

/// Blocking front end: frames lines from any [`Read`].
///
/// Reads into blocks of [`DEFAULT_READ_SIZE`] bytes (or the size given to
/// [`LineReader::read_size`]) and frames the whole lines of each block as
/// [`Framer::frames`] frames a buffer in memory: each line is a slice of its
/// block, found 64 bytes at a time. Only the start of a line cut by the
/// block's end is copied, to the front of the next block. A block goes back
/// to the reader once the last line lent from it is dropped, and is read
/// into again: so it is neither zeroed nor faulted in anew (a fresh, zeroed
/// buffer a read costs about 2% of `split`'s CPU time in the zeroing alone).
///
/// Memory: the maximum line length plus one block, plus the blocks that the
/// lines the caller still holds were lent from (a held [`Line`](super::Line) keeps its
/// block), plus up to 64 blocks kept for reuse. Retries reads interrupted
/// by a signal. A block is framed once it is half full and holds a whole
/// line (or the input ends), so a pipe that delivers a little at a time is
/// framed in blocks, not in each read's worth.
#[derive(Debug)]
pub struct LineReader<R> {
    pub(super) inner: R,
    /// The framer, while no block is being framed.
    pub(super) framer: Framer,
    /// The whole lines of the last block read, being handed out.
    pub(super) current: Option<Frames>,
    /// The start of a line whose end is not read yet.
    pub(super) partial: Bytes,
    pub(super) pool: Arc<Pool>,
    pub(super) done: bool,
}

/// The blocks a [`LineReader`] reads into, kept for reuse once no line
/// holds them. Only blocks of the standard length come back.
pub(super) struct Pool {
    pub(super) block_len: usize,
    pub(super) free: Mutex<Vec<Vec<u8>>>,
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
pub(super) struct Lent {
    pub(super) block: Vec<u8>,
    pub(super) len: usize,
    pub(super) pool: Arc<Pool>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
