//! The least work any `split` of a file must do, done as fast as this
//! machine allows: a yardstick for `syncbatch split`, not a tool.
//!
//! ```text
//! cargo run --release --example split_floor -- CHECK INPUT OUTDIR
//! ```
//!
//! It reads INPUT, cuts it every 500 lines (no byte limit, no planner, no
//! request ids, no manifest, no staging and no renames), and has one worker
//! per core check each batch's lines, write it to `OUTDIR/b00001`, ... and
//! hash it with SHA-256 (as the manifest needs; sixteen batches at a time,
//! as `split` does: the same `sha256_many`). CHECK is what
//! the workers check in each line:
//!
//! - `none`: nothing; reading, hashing and writing alone;
//! - `syntax`: that it is one JSON value, with `serde_json` skipping it
//!   (`IgnoredAny`: no string is made, no rule looked at). Every validator
//!   built on `serde_json` does at least this much;
//! - `rules`: the validator's fast path:
//!   the rules of a clean line, but not the id set or the file rules.
//!
//! It stops at the first line that fails the check. `scripts/bench-split.sh`
//! runs it beside `syncbatch split` and GNU `split`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::de::IgnoredAny;
use syncbatch::frame::{Frame, Framer};
use syncbatch::internals::fast_path_clean;

const LINES_PER_BATCH: usize = 500;
const READ_SIZE: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq)]
enum Check {
    None,
    Syntax,
    Rules,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.first().map(String::as_str) {
        Some("none") => Check::None,
        Some("syntax") => Check::Syntax,
        Some("rules") => Check::Rules,
        _ => usage(),
    };
    let (Some(input), Some(out)) = (args.get(1), args.get(2)) else {
        usage()
    };
    if let Err(e) = run(check, input, PathBuf::from(out)) {
        eprintln!("split_floor: {e}");
        std::process::exit(2);
    }
}

fn usage() -> ! {
    eprintln!("usage: split_floor none|syntax|rules INPUT OUTDIR");
    std::process::exit(2);
}

fn run(check: Check, input: &str, out: PathBuf) -> io::Result<()> {
    fs::create_dir_all(&out)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (tx, rx) = sync_channel::<(usize, Bytes)>(2 * workers);
    let rx = Arc::new(Mutex::new(rx));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (rx, out) = (Arc::clone(&rx), &out);
                scope.spawn(move || work(check, &rx, out))
            })
            .collect();
        let read = cut(input, |n, batch| tx.send((n, batch)).is_ok());
        drop(tx);
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a worker panicked")))
            })
            .chain([read])
            .collect::<io::Result<Vec<()>>>()
            .map(drop)
    })
}

/// Reads `input` and hands out batches of whole lines (the last may be
/// short, and may lack its newline), numbered from 1.
fn cut(input: &str, mut send: impl FnMut(usize, Bytes) -> bool) -> io::Result<()> {
    let mut file = File::open(input)?;
    let mut buf: Vec<u8> = Vec::with_capacity(2 * READ_SIZE);
    let mut batch: Vec<u8> = Vec::new();
    let (mut lines, mut number) = (0usize, 0usize);
    loop {
        let old = buf.len();
        buf.resize(old + READ_SIZE, 0);
        let n = file.read(&mut buf[old..])?;
        buf.truncate(old + n);
        if n == 0 {
            break;
        }
        // Whole lines go into the batch a run at a time, not line by line.
        let (mut from, mut last) = (0, None);
        for at in memchr::memchr_iter(b'\n', &buf[old..]).map(|i| i + old) {
            lines += 1;
            last = Some(at);
            if lines % LINES_PER_BATCH == 0 {
                batch.extend_from_slice(&buf[from..=at]);
                from = at + 1;
                number += 1;
                if !send(number, Bytes::from(std::mem::take(&mut batch))) {
                    return Ok(());
                }
            }
        }
        if let Some(last) = last {
            batch.extend_from_slice(&buf[from..=last]);
            buf.drain(..=last);
        }
    }
    batch.extend_from_slice(&buf);
    if !batch.is_empty() {
        send(number + 1, Bytes::from(batch));
    }
    Ok(())
}

fn work(check: Check, rx: &Mutex<Receiver<(usize, Bytes)>>, out: &Path) -> io::Result<()> {
    use syncbatch::internals::{sha256_many, LANES};
    let mut unhashed: Vec<Bytes> = Vec::with_capacity(LANES);
    let hash = |unhashed: &mut Vec<Bytes>| {
        let slices: Vec<&[u8]> = unhashed.iter().map(|b| &b[..]).collect();
        std::hint::black_box(sha256_many(&slices));
        unhashed.clear();
    };
    loop {
        let next = rx.lock().map_err(|_| io::Error::other("lock"))?.recv();
        let Ok((number, batch)) = next else {
            hash(&mut unhashed);
            return Ok(());
        };
        for (i, frame) in Framer::new().frames(batch.clone()).enumerate() {
            let ok = match (check, &frame) {
                (Check::None, _) => true,
                (Check::Syntax, Frame::Line(line)) => {
                    serde_json::from_slice::<IgnoredAny>(line.bytes()).is_ok()
                }
                (Check::Rules, _) => fast_path_clean(&frame),
                (_, Frame::TooLong(_)) => false,
            };
            if !ok {
                let line = (number - 1) * LINES_PER_BATCH + i + 1;
                return Err(io::Error::other(format!("line {line} fails the check")));
            }
        }
        File::create(out.join(format!("b{number:05}")))?.write_all(&batch)?;
        unhashed.push(batch);
        if unhashed.len() == LANES {
            hash(&mut unhashed);
        }
    }
}
