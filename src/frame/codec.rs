//! The async front end (feature `async`): [`LineCodec`] and [`frame_stream`].

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
