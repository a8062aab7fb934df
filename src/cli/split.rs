//! `syncbatch split [OPTIONS] --out DIR INPUT...`

use std::io::{self, Write};
use std::path::PathBuf;

use syncbatch::split::{DirSink, SplitError, SplitOptions, Splitter};
use syncbatch::validate::{for_each_prechecked, Severity};

use super::validate::{write_diagnostic, Format, LimitArgs};
use super::{open, progress, FAILURE, NOT_COMPLIANT, OK};

/// Turn inputs of any size into compliant batch files.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input files, read in order as one stream of records; `-` is standard input.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Output directory: absent or empty unless --force.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Batch file names: PREFIX-00001.jsonl, ...
    #[arg(long, value_name = "NAME", default_value = "batch")]
    pub prefix: String,
    /// Write into a directory that is not empty (replacing an earlier split's files).
    #[arg(long)]
    pub force: bool,
    /// Split the valid records; refused lines go to DIR/rejected.jsonl.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Wrap bare Generate requests as {"request_id":"<ID-PREFIX><N>","endpoint":...,"payload":...}.
    #[arg(long)]
    pub wrap: bool,
    /// Flush every file to disk before moving it into place (survives a power cut; slower).
    #[arg(long)]
    pub sync: bool,
    /// Prefix of the ids --wrap makes.
    #[arg(long, value_name = "PREFIX", default_value = "req-")]
    pub id_prefix: String,
}

/// Runs the subcommand; returns the exit status.
pub fn run(args: Args) -> u8 {
    let valid_prefix = !args.prefix.is_empty()
        && !args.prefix.contains(['/', '\\'])
        && !args.prefix.starts_with('.');
    if !valid_prefix {
        eprintln!(
            "syncbatch: --prefix must be a plain file name part, not {:?}",
            args.prefix
        );
        return FAILURE;
    }
    if args.limits.max_records == 0 || args.limits.min_records > args.limits.max_records {
        eprintln!("syncbatch: need 1 <= --max-records and --min-records <= --max-records");
        return FAILURE;
    }
    let mut sink = match DirSink::create(&args.out, &args.prefix, args.force) {
        Ok(sink) => sink.sync(args.sync),
        Err(e) => {
            eprintln!("syncbatch: {e}");
            return FAILURE;
        }
    };
    if args.skip_invalid {
        sink = match sink.with_rejected() {
            Ok(sink) => sink,
            Err(e) => {
                eprintln!("syncbatch: {e}");
                return FAILURE;
            }
        };
    }
    let options = SplitOptions {
        limits: args.limits.limits(),
        wrap: args.wrap,
        id_prefix: args.id_prefix.clone(),
        skip_invalid: args.skip_invalid,
    };
    let mut splitter = Splitter::new(options, sink);
    let stderr = io::stderr();
    for path in &args.inputs {
        let input = match open(path) {
            Ok(input) => input,
            Err(message) => {
                eprintln!("syncbatch: {message}; nothing written");
                return FAILURE;
            }
        };
        let bar = progress(input.size, &input.name);
        let framer = args.limits.limits().framer();
        let name = input.name.clone();
        splitter.next_input(&name);
        let mut failure = None;
        let mut position = 0;
        let read = for_each_prechecked(input.reader, framer, |frame, pre, ahead| {
            position = frame.end();
            splitter.warm(ahead);
            match splitter.push_prechecked(frame, pre).map(|d| d.is_empty()) {
                Ok(false) if !args.skip_invalid => {
                    let mut err = stderr.lock();
                    let (diagnostics, frame) = splitter.last_invalid();
                    for d in diagnostics.iter().filter(|d| d.severity == Severity::Error) {
                        let _ = bar
                            .suspend(|| write_diagnostic(&mut err, Format::Human, &name, d, frame));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    failure = Some(e);
                    return false;
                }
            }
            if splitter.records_seen() % 1024 == 0 {
                bar.set_position(position);
                bar.set_message(format!("{name} {} records", splitter.records_seen()));
            }
            true
        });
        bar.finish_and_clear();
        if let Some(e) = failure {
            eprintln!("syncbatch: {e}; nothing written");
            return FAILURE;
        }
        if let Err(e) = read {
            eprintln!("syncbatch: {name}: read error after byte {position}: {e}; nothing written");
            return FAILURE;
        }
    }
    match splitter.finish() {
        Ok((summary, _)) => {
            let _ = writeln!(
                io::stderr(),
                "syncbatch: {} records in {} batch files in {} ({} blank lines dropped, {} lines rejected{})",
                summary.records,
                summary.batches,
                args.out.display(),
                summary.dropped_blank_lines,
                summary.rejected,
                if summary.warnings > 0 {
                    format!(", {} warnings: see `syncbatch validate`", summary.warnings)
                } else {
                    String::new()
                }
            );
            OK
        }
        Err(e @ SplitError::Io(..)) => {
            eprintln!("syncbatch: {e}");
            FAILURE
        }
        Err(e) => {
            eprintln!("syncbatch: {e}");
            NOT_COMPLIANT
        }
    }
}
