//! Frames a file (or standard input) and prints what it found: lines, blank
//! lines, over-long lines, bytes. Used to measure the framer's memory:
//!
//! ```text
//! /usr/bin/time -v cargo run --release --example frame -- big.jsonl
//! ```

use std::fs::File;
use std::io::{self, Read};

use syncbatch::frame::{Frame, LineReader};

fn main() -> io::Result<()> {
    let input: Box<dyn Read> = match std::env::args().nth(1) {
        Some(path) if path != "-" => Box::new(File::open(path)?),
        _ => Box::new(io::stdin().lock()),
    };
    let mut reader = LineReader::new(input);
    let (mut lines, mut blank, mut long, mut longest) = (0u64, 0u64, 0u64, 0u64);
    while let Some(frame) = reader.next_frame()? {
        lines += 1;
        match frame {
            Frame::Line(l) => blank += u64::from(l.is_blank()),
            Frame::TooLong(l) => {
                long += 1;
                longest = longest.max(l.len());
            }
        }
    }
    println!(
        "{lines} lines, {blank} blank, {long} over the maximum (longest {longest} bytes), {} bytes",
        reader.position()
    );
    Ok(())
}
