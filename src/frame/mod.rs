//! Zero-copy line framing: bytes in, numbered lines out.
//!
//! The logic lives once, in [`Framer`], a push core with no I/O: hand it a
//! [`BytesMut`](bytes::BytesMut) holding whatever has been read so far and it splits whole lines
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

#[cfg(feature = "async")]
mod codec;
mod framer;
mod line;
mod reader;
mod scan;

#[cfg(feature = "async")]
pub use self::codec::{frame_stream, LineCodec};
pub use self::framer::{Framer, Frames};
pub use self::line::{Frame, Line, LongLine};
pub use self::reader::LineReader;

/// The default longest line, in bytes without its terminator: 5,000,000, the
/// batch file size limit (a longer line can never fit in a batch).
pub const DEFAULT_MAX_LINE: usize = 5_000_000;

/// The default size of one read in [`LineReader`]: 256 KiB.
pub const DEFAULT_READ_SIZE: usize = 256 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";
