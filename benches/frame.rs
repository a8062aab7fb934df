//! Criterion group `frame`: framing 64 MiB of generated records.
//!
//! Side by side on the same buffer: the in-memory framer, the blocking
//! `LineReader`, the async codec driven directly, `BufRead::read_until` into a
//! new `Vec` per line, tokio-util's `LinesCodec`, and a bare `memchr_iter`
//! count of `\n` (the ceiling: no framing at all) and the search for each
//! `\n` position that every framer makes. Buffers made in a setup
//! are also freed outside the timing (returned from the routine): freeing
//! 64 MiB costs milliseconds here and is no part of framing.

use std::hint::black_box;
use std::io::BufRead;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use syncbatch::frame::{Frame, Framer, Frames, LineCodec, LineReader};
use tokio_util::codec::{Decoder, LinesCodec};

const SIZE: usize = 64 << 20;

/// The bytes of the lines among `frames`.
fn line_bytes(frames: &mut Frames) -> usize {
    frames
        .map(|f| match f {
            Frame::Line(l) => l.bytes().len(),
            Frame::TooLong(_) => 0,
        })
        .sum()
}

/// Where every `\n` of `data` is, folded into one number: the search a
/// framer must make, without framing. `memchr_iter(..).count()`, the ceiling
/// the issue names, takes memchr's counting routine, which tallies matches a
/// vector at a time and never stops at one; finding each position costs more.
fn newline_positions(data: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', data).fold(0, |acc, i| acc ^ i)
}

/// The bytes of `data`'s lines, read with `read_until` into a new `Vec` each.
fn read_until_total(data: &[u8]) -> usize {
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, data);
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).unwrap() == 0 {
            break;
        }
        total += line.len();
    }
    total
}

/// The bytes of `buf`'s lines as tokio-util's `LinesCodec` decodes them; the
/// buffer is handed back to be freed outside the timing.
fn lines_codec_total(mut buf: BytesMut) -> (usize, BytesMut) {
    let mut codec = LinesCodec::new();
    let mut total = 0usize;
    while let Some(line) = codec.decode_eof(&mut buf).unwrap() {
        total += line.len();
    }
    (total, buf)
}

fn frame(c: &mut Criterion) {
    let data = syncbatch::generate::records_of_size(1, SIZE);
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(20);

    group.bench_function("memchr_iter (ceiling)", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', black_box(&data)).count())
    });
    group.bench_function("memchr_iter positions", |b| {
        b.iter(|| newline_positions(black_box(&data)))
    });
    group.bench_function("syncbatch Framer::frames (in memory)", |b| {
        b.iter_batched(
            || data.clone(),
            |buf| {
                let mut frames = Framer::new().frames(buf);
                // The buffer is freed outside the timing, as the setup made it outside.
                (line_bytes(&mut frames), frames)
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("syncbatch LineReader (blocking reads)", |b| {
        b.iter(|| {
            let mut total = 0usize;
            for f in LineReader::new(black_box(&data[..])) {
                if let Frame::Line(l) = f.unwrap() {
                    total += l.bytes().len();
                }
            }
            total
        })
    });
    group.bench_function("syncbatch LineCodec (decoder)", |b| {
        b.iter_batched(
            || BytesMut::from(bytes::Bytes::from(data.clone())),
            |mut buf| {
                let mut codec = LineCodec::new();
                let mut total = 0usize;
                while let Some(f) = codec.decode_eof(&mut buf).unwrap() {
                    if let Frame::Line(l) = f {
                        total += l.bytes().len();
                    }
                }
                (total, buf)
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("BufRead::read_until (Vec per line)", |b| {
        b.iter(|| read_until_total(black_box(&data)))
    });
    group.bench_function("tokio-util LinesCodec", |b| {
        b.iter_batched(
            || BytesMut::from(bytes::Bytes::from(data.clone())),
            lines_codec_total,
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// The same contenders on 1 MiB, which stays in the cache between
/// iterations: what each costs when memory bandwidth is not the limit. On
/// 64 MiB the bare `memchr` scan is bound by reading memory, which caps every
/// framer's ratio to the others there.
fn frame_cached(c: &mut Criterion) {
    let data = syncbatch::generate::records_of_size(1, 1 << 20);
    let mut group = c.benchmark_group("frame-cached");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("memchr_iter (ceiling)", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', black_box(&data)).count())
    });
    group.bench_function("memchr_iter positions", |b| {
        b.iter(|| newline_positions(black_box(&data)))
    });
    // The framer slices a shared `Bytes` of the one buffer, as it would a
    // memory-mapped file; LinesCodec needs a `BytesMut` it can split, copied
    // just before each run so that it is in the cache too.
    let shared = bytes::Bytes::from(data.clone());
    group.bench_function("syncbatch Framer::frames (in memory)", |b| {
        b.iter(|| line_bytes(&mut Framer::new().frames(shared.clone())))
    });
    group.bench_function("BufRead::read_until (Vec per line)", |b| {
        b.iter(|| read_until_total(black_box(&data)))
    });
    group.bench_function("tokio-util LinesCodec", |b| {
        b.iter_batched(
            || BytesMut::from(bytes::Bytes::from(data.clone())),
            lines_codec_total,
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, frame, frame_cached);
criterion_main!(benches);
