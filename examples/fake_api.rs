//! A fake Sync Batch API on this machine, for trying the tool without an
//! account. It prints the base URL and key to use, then serves until
//! stopped:
//!
//! ```text
//! cargo run --example fake_api -- --port 8787
//! export SYNC_BASE_URL=http://127.0.0.1:8787 SYNC_API_KEY=sk-fake-key
//! syncbatch batch create batches/batch-00001.jsonl
//! ```
//!
//! Faults are played on request: `curl -X POST
//! 'http://127.0.0.1:8787/_fake/fault?kind=429'` (or `500`,
//! `create-then-fail`, `create-then-drop`, `cut-download`, `expired-url`,
//! `fail-batch`); `curl http://127.0.0.1:8787/_fake/log` lists the requests
//! it received (time in ms since the first, origin, path, whether it carried
//! the key, status).

use std::time::Duration;

use clap::Parser;
use syncbatch::fake_api::{FakeApi, FakeConfig};

/// A fake Sync Batch API on 127.0.0.1.
#[derive(Parser)]
struct Args {
    /// The API's port (0: any free one).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// The port of the storage that results redirect to (0: any free one).
    #[arg(long, default_value_t = 0)]
    storage_port: u16,
    /// The API key it takes.
    #[arg(long, default_value = "sk-fake-key")]
    key: String,
    /// Milliseconds a batch stays PENDING.
    #[arg(long, default_value_t = 2000)]
    pending_ms: u64,
    /// Milliseconds a batch then stays PROCESSING.
    #[arg(long, default_value_t = 8000)]
    processing_ms: u64,
    /// Answer 429 to requests closer than 60/N seconds apart.
    #[arg(long)]
    rate_limit: Option<u32>,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let config = FakeConfig::default()
        .key(args.key)
        .ports(args.port, args.storage_port)
        .timing(
            Duration::from_millis(args.pending_ms),
            Duration::from_millis(args.processing_ms),
        )
        .rate_limit(args.rate_limit);
    let fake = FakeApi::spawn(config)?;
    println!(
        "export SYNC_BASE_URL={} SYNC_API_KEY={}",
        fake.base_url(),
        fake.key()
    );
    loop {
        std::thread::park();
    }
}
