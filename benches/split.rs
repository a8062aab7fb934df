//! Criterion group `split`: splitting 100,000 generated records into batches.
//!
//! The splitter (framing, full validation, optimal planning, SHA-256 of each
//! batch into a sink that discards the bytes) beside a baseline that only
//! frames with memchr and cuts greedily by count and bytes, with no
//! validation, no minimum and no hashing: the floor.
//!
//! Criterion group `sha256`: the hashes of 16 batch files of about 212 kB
//! (what `split`'s writer hashes at once), side by side with
//! `split::hash::sha256_many` (AVX-512 where the CPU has it) against one
//! after another with the `sha2` crate.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use syncbatch::split::{DryRunSink, SplitOptions};
use syncbatch::Input;

fn greedy(data: &[u8]) -> usize {
    let (mut batches, mut count, mut bytes, mut start) = (0, 0u64, 0u64, 0usize);
    for end in memchr::memchr_iter(b'\n', data) {
        let len = (end + 1 - start) as u64;
        if count == 500 || bytes + len > 5_000_000 {
            batches += 1;
            count = 0;
            bytes = 0;
        }
        count += 1;
        bytes += len;
        start = end + 1;
    }
    batches + usize::from(count > 0)
}

fn split(c: &mut Criterion) {
    let data = bytes::Bytes::from(syncbatch::generate::records(1, 100_000));
    let mut group = c.benchmark_group("split");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("syncbatch Splitter (validate + plan + sha256)", |b| {
        b.iter(|| {
            let input = Input::from_bytes("bench", black_box(data.clone()));
            let sink = DryRunSink::new("batch");
            let (summary, _) =
                syncbatch::split::split([input], SplitOptions::default(), sink).unwrap();
            assert_eq!(summary.records, 100_000);
            summary.batches
        })
    });
    group.bench_function("baseline greedy cut (no validation)", |b| {
        b.iter(|| assert_eq!(greedy(black_box(&data)), 200))
    });
    group.finish();
}

fn sha256(c: &mut Criterion) {
    use syncbatch::internals::{sha256, sha256_many, LANES};
    let files: Vec<Vec<u8>> = (0..LANES)
        .map(|m| {
            let len = 212_000 + 300 * m;
            (0..len).map(|i| (i * (m + 3)) as u8).collect()
        })
        .collect();
    let slices: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
    let mut group = c.benchmark_group("sha256");
    group.throughput(Throughput::Bytes(
        slices.iter().map(|f| f.len() as u64).sum(),
    ));
    group.bench_function("sha256_many (16 files side by side)", |b| {
        b.iter(|| sha256_many(black_box(&slices)))
    });
    group.bench_function("sha2, one file after another", |b| {
        b.iter(|| {
            black_box(&slices)
                .iter()
                .map(|f| sha256(f))
                .collect::<Vec<_>>()
        })
    });
    group.finish();
}

criterion_group!(benches, split, sha256);
criterion_main!(benches);
