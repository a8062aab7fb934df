//! Criterion group `merge`: 20,000 requests, results in 8 shuffled files.
//!
//! The merger (index, policy, winners read again, bytes copied) beside a
//! baseline that parses every result line into a `serde_json::Value`, keeps
//! the best per id in a `HashMap` by the same policy, and writes the merged
//! lines with `serde_json` (what a quick script does, in Rust).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use syncbatch::generate::{fabricate_outputs, OutputShape};
use syncbatch::merge::Merger;
use syncbatch::Input;

const REQUESTS: usize = 20_000;

fn inputs() -> (Vec<u8>, Vec<PathBuf>, Vec<String>) {
    let requests = syncbatch::generate::records(1, REQUESTS);
    let ids: Vec<String> = (1..=REQUESTS).map(|i| format!("req-{i}")).collect();
    let dir = std::env::temp_dir().join(format!("syncbatch-bench-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bodies = vec![Vec::new(); 8];
    let shape = OutputShape {
        files: 8,
        ..Default::default()
    };
    fabricate_outputs(&ids, 2, &shape, |f, line| {
        bodies[f].extend_from_slice(line);
        bodies[f].push(b'\n');
    });
    let paths: Vec<PathBuf> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let path = dir.join(format!("output-{i}.jsonl"));
            std::fs::write(&path, body).unwrap();
            path
        })
        .collect();
    (requests, paths, ids)
}

/// (COMPLETED, updated_at, file, line): the policy's order.
type Rank = (bool, String, usize, usize);

fn baseline(requests: &[u8], paths: &[PathBuf]) -> usize {
    let order: Vec<String> = requests
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<Value>(l).unwrap()["request_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut best: HashMap<String, (Rank, Value)> = HashMap::new();
    for (f, path) in paths.iter().enumerate() {
        let body = std::fs::read(path).unwrap();
        for (n, line) in body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let Ok(v) = serde_json::from_slice::<Value>(line) else {
                continue;
            };
            let Some(id) = v
                .get("request_id")
                .or(v.get("requestId"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let time = v
                .get("updated_at")
                .or(v.get("updatedAt"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let key = (v["status"] == "COMPLETED", time, f, n);
            if best.get(id).is_none_or(|(old, _)| key > *old) {
                best.insert(id.to_owned(), (key, v));
            }
        }
    }
    let mut out = Vec::new();
    for id in &order {
        let v = best.get(id).map(|(_, v)| v);
        let line = json!({"request_id": id, "status": v.map(|v| v["status"].clone()), "error": v.map(|v| v["error"].clone()),
            "response": v.map(|v| v["response"].clone()), "updated_at": v.map(|v| v["updated_at"].clone())});
        serde_json::to_writer(&mut out, &line).unwrap();
        out.push(b'\n');
    }
    out.len()
}

fn merge(c: &mut Criterion) {
    let (requests, paths, _) = inputs();
    let requests = bytes::Bytes::from(requests);
    let bytes: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let mut group = c.benchmark_group("merge");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    group.bench_function("syncbatch Merger", |b| {
        b.iter(|| {
            let mut m = Merger::new();
            let input = Input::from_bytes("requests.jsonl", black_box(requests.clone()));
            m.add_requests(input).unwrap();
            for p in &paths {
                m.add_results(Input::open(p).unwrap(), &mut std::io::sink())
                    .unwrap();
            }
            let mut out = Vec::with_capacity(16 << 20);
            m.write_merged(&mut out).unwrap();
            out.len()
        })
    });
    group.bench_function("baseline serde_json::Value + HashMap", |b| {
        b.iter(|| baseline(black_box(&requests), &paths))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(paths[0].parent().unwrap());
}

criterion_group!(benches, merge);
criterion_main!(benches);
