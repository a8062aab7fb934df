//! The framer against a naive reference, for any input and any cut into reads.

use std::io::{self, Read};

use futures::StreamExt;
use proptest::prelude::*;
use syncbatch::frame::{frame_stream, Frame, Framer, LineReader};

/// What one frame must look like: (number, offset, Ok(bytes) or Err(long len), crlf, bom, newline).
type Expected = (u64, u64, Result<Vec<u8>, u64>, bool, bool, bool);

/// The rules, spelled out the slow and obvious way: strip a leading BOM, split
/// on `\n`, drop the empty piece after a final `\n`, strip the `\r` of `\r\n`.
fn reference(input: &[u8], max: usize) -> Vec<Expected> {
    let (bom, body, mut offset) = match input.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => (true, rest, 3u64),
        None => (false, input, 0u64),
    };
    let mut pieces: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    let terminated_last = body.last() == Some(&b'\n') || body.is_empty();
    if terminated_last {
        pieces.pop();
    }
    let count = pieces.len();
    let mut out = Vec::new();
    for (i, piece) in pieces.into_iter().enumerate() {
        let has_newline = i + 1 < count || terminated_last;
        let crlf = has_newline && piece.last() == Some(&b'\r');
        let content = if crlf {
            &piece[..piece.len() - 1]
        } else {
            piece
        };
        let body = if content.len() > max {
            Err(content.len() as u64)
        } else {
            Ok(content.to_vec())
        };
        out.push((i as u64 + 1, offset, body, crlf, bom && i == 0, has_newline));
        offset += piece.len() as u64 + u64::from(has_newline);
    }
    out
}

fn describe(f: &Frame) -> Expected {
    match f {
        Frame::Line(l) => (
            l.number(),
            l.offset(),
            Ok(l.bytes().to_vec()),
            l.crlf(),
            l.bom(),
            l.newline(),
        ),
        Frame::TooLong(l) => (
            l.number(),
            l.offset(),
            Err(l.len()),
            l.crlf(),
            l.bom(),
            l.newline(),
        ),
    }
}

/// A reader that hands out its input in the given chunk sizes, cycling.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    i: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = self.sizes[self.i % self.sizes.len()].max(1);
        self.i += 1;
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Bytes rich in the characters that matter: `\n`, `\r`, BOM pieces, spaces.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => Just(b'\n'),
        3 => Just(b'\r'),
        2 => Just(0xEF),
        2 => Just(0xBB),
        2 => Just(0xBF),
        2 => Just(b' '),
        6 => any::<u8>(),
    ];
    (any::<bool>(), proptest::collection::vec(byte, 0..200)).prop_map(|(bom, mut v)| {
        if bom {
            v.splice(0..0, *b"\xEF\xBB\xBF");
        }
        v
    })
}

fn blocking(data: &[u8], max: usize, sizes: Vec<usize>, read_size: usize) -> Vec<Expected> {
    let reader = Chunked { data, sizes, i: 0 };
    LineReader::with_framer(reader, Framer::with_max_line(max))
        .read_size(read_size)
        .map(|f| describe(&f.unwrap()))
        .collect()
}

fn asynchronous(data: &[u8], max: usize, sizes: Vec<usize>) -> Vec<Expected> {
    let mut chunks = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        chunks.push(Ok::<_, io::Error>(bytes::Bytes::copy_from_slice(
            &rest[..n],
        )));
        rest = &rest[n..];
        i += 1;
    }
    let reader = tokio_util::io::StreamReader::new(futures::stream::iter(chunks));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        frame_stream(reader, Framer::with_max_line(max))
            .map(|f| describe(&f.unwrap()))
            .collect()
            .await
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn in_memory_matches_reference(data in input(), max in 0usize..40) {
        let got: Vec<Expected> = Framer::with_max_line(max)
            .frames(data.clone())
            .map(|f| describe(&f))
            .collect();
        prop_assert_eq!(got, reference(&data, max));
    }

    #[test]
    fn blocking_matches_reference_for_any_reads(
        data in input(),
        max in 0usize..40,
        sizes in proptest::collection::vec(1usize..9, 1..6),
        read_size in 1usize..16,
    ) {
        prop_assert_eq!(blocking(&data, max, sizes, read_size), reference(&data, max));
    }

    #[test]
    fn one_byte_reads_match_reference(data in input(), max in 0usize..40) {
        prop_assert_eq!(blocking(&data, max, vec![1], 1), reference(&data, max));
    }

    #[test]
    fn async_matches_reference_for_any_reads(
        data in input(),
        max in 0usize..40,
        sizes in proptest::collection::vec(1usize..9, 1..6),
    ) {
        prop_assert_eq!(asynchronous(&data, max, sizes), reference(&data, max));
    }
}

#[test]
fn reference_agrees_with_hand_written_cases() {
    // Guards the reference itself: a wrong reference would make the properties vacuous.
    let r = reference(b"\xEF\xBB\xBFab\r\n\ncd\r", 1);
    assert_eq!(
        r,
        vec![
            (1, 3, Err(2), true, true, true),
            (2, 7, Ok(vec![]), false, false, true),
            (3, 8, Err(3), false, false, false),
        ]
    );
}
