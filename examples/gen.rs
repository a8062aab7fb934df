//! Prints generated batch input lines (or bare Generate requests) to stdout.
//!
//! ```text
//! cargo run --example gen -- --records 500 --seed 1 > input.jsonl
//! cargo run --example gen -- --records 500 --seed 1 --invalid 0.1 > mixed.jsonl
//! cargo run --example gen -- --bytes 1073741824 --seed 1 > big.jsonl
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
}

fn main() -> io::Result<()> {
    let args = Args::parse();
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
