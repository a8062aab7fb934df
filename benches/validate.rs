//! Criterion group `validate`: checking generated valid records.
//!
//! The validator (framing, every rule, id uniqueness) against a baseline that
//! splits lines with memchr, parses each into a `serde_json::Value` and checks
//! only the envelope fields and id uniqueness. A third entry is a floor, not
//! a contender: serde_json checking only the syntax of each line
//! (`IgnoredAny`, nothing kept, no rule), what any serde_json-based
//! validator spends before its first rule.

use std::collections::HashSet;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::Value;
use syncbatch::frame::Framer;
use syncbatch::validate::{Limits, Validator};

const RECORDS: usize = 100_000;

fn limits() -> Limits {
    // One file of any size: the count and byte limits are out of the way.
    Limits::new()
        .max_records(u64::MAX)
        .min_records(0)
        .max_bytes(u64::MAX)
}

fn baseline(data: &[u8]) -> usize {
    let mut ids = HashSet::new();
    let mut bad = 0;
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let ok = match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(m)) => {
                let id_ok = match m.get("request_id") {
                    Some(Value::String(id)) => ids.insert(id.clone()),
                    _ => false,
                };
                id_ok
                    && m.get("endpoint").and_then(Value::as_str) == Some("/v2/generate")
                    && m.get("payload").is_some_and(Value::is_object)
            }
            _ => false,
        };
        bad += usize::from(!ok);
    }
    bad
}

/// The lines of `data` that are not JSON, checked by serde_json for syntax
/// only. UTF-8 is checked a line at a time first, then serde_json reads a
/// `&str`, the cheapest way through it (the validator's too).
fn syntax_only(data: &[u8]) -> usize {
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter(|l| {
            std::str::from_utf8(l).map_or(true, |l| {
                serde_json::from_str::<serde::de::IgnoredAny>(l).is_err()
            })
        })
        .count()
}

fn validate(c: &mut Criterion) {
    let data = syncbatch::generate::records(1, RECORDS);
    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("syncbatch Validator (all rules)", |b| {
        b.iter_batched(
            || data.clone(),
            |buf| {
                let mut v = Validator::new(limits());
                let mut out = Vec::new();
                let mut frames = Framer::new().frames(buf);
                for frame in frames.by_ref() {
                    v.check(&frame, &mut out);
                }
                let end = frames.position();
                v.finish(end, &mut out);
                assert!(out.is_empty());
                // The buffer is freed outside the timing, as the setup made it outside.
                (out.len(), frames)
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("baseline serde_json::Value (envelope only)", |b| {
        b.iter(|| assert_eq!(baseline(black_box(&data)), 0))
    });
    group.bench_function("floor: serde_json syntax only (IgnoredAny)", |b| {
        b.iter(|| assert_eq!(syntax_only(black_box(&data)), 0))
    });
    group.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
