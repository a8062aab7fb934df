//! Prints generated batch input lines (or bare Generate requests) to stdout.
//!
//! ```text
//! cargo run --example gen -- --records 500 --seed 1 > input.jsonl
//! cargo run --example gen -- --records 500 --seed 1 --invalid 0.1 > mixed.jsonl
//! cargo run --example gen -- --bytes 1073741824 --seed 1 > big.jsonl
//! # batch output files for the requests of a file: shuffled, spread over 20
//! # files, with duplicates, missing and unknown ids
//! cargo run --example gen -- --outputs-for input.jsonl --files 20 --out-dir results/
//! ```

use std::io::{self, BufWriter, Write};

use clap::Parser;
use syncbatch::generate::Generator;

/// Generate realistic Sync batch input lines, deterministic for a seed.
#[derive(Parser)]
struct Args {
    /// How many lines to print.
    #[arg(long, default_value_t = 500)]
    records: u64,
    /// Instead of --records: print lines until this many bytes are written.
    #[arg(long)]
    bytes: Option<u64>,
    /// Seed of the random generator: the same seed prints the same lines.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fraction (0 to 1) of lines made invalid, each in one way the spec lists.
    #[arg(long, default_value_t = 0.0)]
    invalid: f64,
    /// Print bare Generate requests (no request_id, no endpoint), for `split --wrap`.
    #[arg(long)]
    bare: bool,
    /// Prefix of the request ids.
    #[arg(long, default_value = "req-")]
    id_prefix: String,
    /// Instead: fabricate batch output files for the requests of this file.
    #[arg(long, value_name = "FILE")]
    outputs_for: Option<std::path::PathBuf>,
    /// With --outputs-for: how many output files.
    #[arg(long, default_value_t = 4)]
    files: usize,
    /// With --outputs-for: where to write output-00001.jsonl, ...
    #[arg(long, value_name = "DIR", default_value = ".")]
    out_dir: std::path::PathBuf,
    /// With --outputs-for: share of requests with a second result line.
    #[arg(long, default_value_t = 0.03)]
    duplicates: f64,
    /// With --outputs-for: share of requests with no result line.
    #[arg(long, default_value_t = 0.02)]
    missing: f64,
    /// With --outputs-for: unknown-id lines, as a share of requests.
    #[arg(long, default_value_t = 0.01)]
    unknown: f64,
}

#[derive(serde::Deserialize)]
struct IdOnly {
    request_id: String,
}

fn outputs(args: &Args, requests: &std::path::Path) -> io::Result<()> {
    use std::io::BufRead;
    let mut ids = Vec::new();
    for line in io::BufReader::new(std::fs::File::open(requests)?).lines() {
        let line = line?;
        if let Ok(r) = serde_json::from_str::<IdOnly>(&line) {
            ids.push(r.request_id);
        }
    }
    std::fs::create_dir_all(&args.out_dir)?;
    let mut files = (1..=args.files.max(1))
        .map(|i| {
            let path = args.out_dir.join(format!("output-{i:05}.jsonl"));
            Ok(BufWriter::with_capacity(
                16 * 1024,
                std::fs::File::create(path)?,
            ))
        })
        .collect::<io::Result<Vec<_>>>()?;
    let shape = syncbatch::generate::OutputShape {
        files: files.len(),
        duplicates: args.duplicates,
        missing: args.missing,
        unknown: args.unknown,
        ..Default::default()
    };
    let mut result = Ok(());
    syncbatch::generate::fabricate_outputs(&ids, args.seed, &shape, |file, line| {
        if result.is_ok() {
            result = files[file]
                .write_all(line)
                .and_then(|()| files[file].write_all(b"\n"));
        }
    });
    result?;
    for f in &mut files {
        f.flush()?;
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    if let Some(requests) = &args.outputs_for {
        return outputs(&args, requests);
    }
    let mut g = Generator::new(args.seed)
        .invalid_fraction(args.invalid)
        .id_prefix(&args.id_prefix);
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let mut line = Vec::with_capacity(1024);
    let (mut written, mut count) = (0u64, 0u64);
    loop {
        match args.bytes {
            Some(limit) if written >= limit => break,
            None if count >= args.records => break,
            _ => {}
        }
        line.clear();
        if args.bare {
            g.next_payload(&mut line);
        } else {
            g.next_record(&mut line);
        }
        out.write_all(&line)?;
        written += line.len() as u64;
        count += 1;
    }
    out.flush()
}
