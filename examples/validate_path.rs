//! The library alone, validating files with the one call the command line
//! makes: `Validator::run` over `Input::open`, counting the diagnostics
//! instead of printing them. Prints each file's figures and the wall time,
//! for timing beside `syncbatch validate` on the same file.
//!
//! ```text
//! cargo run --release --example validate_path -- big.jsonl
//! ```

use std::ops::ControlFlow;
use std::time::Instant;

use syncbatch::validate::{Diagnostic, Limits, Validator};
use syncbatch::{Input, Observer};

/// Counts the diagnostics it is shown.
#[derive(Default)]
struct Count(u64);

impl Observer for Count {
    fn diagnostic(&mut self, _: &str, _: &Diagnostic, _: Option<&[u8]>) -> ControlFlow<()> {
        self.0 += 1;
        ControlFlow::Continue(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        return Err("usage: validate_path FILE...".into());
    }
    for path in paths {
        let start = Instant::now();
        let mut count = Count::default();
        let summary = Validator::new(Limits::default()).run(Input::open(&path)?, &mut count)?;
        println!(
            "{path}: {} records, {} bytes, {} diagnostics, valid: {}; {:.3} s",
            summary.records,
            summary.bytes,
            count.0,
            summary.valid,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
