//! `syncbatch validate [OPTIONS] [FILE]...`

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use syncbatch::frame::Frame;
use syncbatch::ids::{sample_lines, RoomHint};
pub use syncbatch::validate::report::{write_diagnostic, write_summary, Format};
use syncbatch::validate::{for_each_prechecked, Diagnostic, Limits, Summary, Validator};

use super::{open, progress, Progress, FAILURE, NOT_COMPLIANT, OK};

/// Check each file as one batch input file.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files to check; `-` or none reads standard input.
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Warnings make the file not valid.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Print at most N diagnostics per file (counting goes on).
    #[arg(long, value_name = "N")]
    pub max_errors: Option<u64>,
}

/// The batch limits, shared by validate, split and merge.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct LimitArgs {
    /// Most records in one batch file.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub max_records: u64,
    /// Fewest records in one batch file.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub min_records: u64,
    /// Most bytes in one batch file.
    #[arg(long, value_name = "N", default_value_t = 5_000_000)]
    pub max_bytes: u64,
}

impl LimitArgs {
    /// Why no batch file could meet these limits, as a usage error message;
    /// `None` when some could. Every subcommand refuses such limits up front
    /// (exit 2) rather than reporting every file, or every retry, as not
    /// compliant.
    pub fn contradiction(&self) -> Option<String> {
        if self.max_records == 0 {
            Some("--max-records must be at least 1".to_owned())
        } else if self.min_records > self.max_records {
            Some(format!(
                "--min-records is {} and --max-records {}: no batch file could meet both \
                 (lower --min-records too; its default is 20)",
                self.min_records, self.max_records
            ))
        } else {
            None
        }
    }

    /// The library's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_records: self.max_records,
            min_records: self.min_records,
            max_bytes: self.max_bytes,
        }
    }
}

/// Runs the subcommand; returns the exit status.
pub fn run(args: Args) -> u8 {
    if let Some(why) = args.limits.contradiction() {
        eprintln!("syncbatch: {why}");
        return FAILURE;
    }
    let files = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files.clone()
    };
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout);
    let mut status = OK;
    for path in &files {
        match validate_file(path, &args, &mut out) {
            Ok(summary) if summary.valid => {}
            Ok(_) => status = status.max(NOT_COMPLIANT),
            Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => return status,
            Err(Failure::Output(e)) => {
                eprintln!("syncbatch: cannot write the report: {e}");
                return FAILURE;
            }
            Err(Failure::Input(message)) => {
                let _ = out.flush();
                eprintln!("syncbatch: {message}");
                status = FAILURE;
            }
        }
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("syncbatch: cannot write the report: {e}");
            FAILURE
        }
        _ => status,
    }
}

enum Failure {
    /// The input could not be read: the message names the file.
    Input(String),
    /// The report could not be written.
    Output(io::Error),
}

fn validate_file(
    path: &std::path::Path,
    args: &Args,
    out: &mut impl Write,
) -> Result<Summary, Failure> {
    let input = open(path).map_err(Failure::Input)?;
    let name = input.name.clone();
    let bar = progress(input.size, &name);
    let reader = Progress {
        inner: input.reader,
        bar: bar.clone(),
    };
    let mut validator = Validator::new(args.limits.limits()).deny_warnings(args.deny_warnings);
    let framer = validator.framer();
    let mut diagnostics = Vec::new();
    let mut printed = 0u64;
    let limit = args.max_errors.unwrap_or(u64::MAX);
    let mut print =
        |diagnostics: &mut Vec<Diagnostic>, frame: Option<&Frame>, out: &mut dyn Write| {
            for d in diagnostics.drain(..) {
                if printed < limit {
                    printed += 1;
                    write_diagnostic(out, args.format, &name, &d, line_of(frame))?;
                }
            }
            Ok::<(), io::Error>(())
        };
    let mut output_error = None;
    let mut position = 0;
    // Room in the id set for the records a sample of the file promises.
    let room = input.size.and_then(|_| sample_lines(path));
    let mut room = room.map_or(RoomHint::new(input.size), RoomHint::sampled);
    let mut frames = 0u64;
    // Framing and the stateless checks run off this thread (one worker a core).
    let read = for_each_prechecked(reader, framer, |frame, pre, ahead| {
        position = frame.end();
        frames += 1;
        if let Some(n) = room.due(frames, position) {
            validator.reserve_ids(n);
        }
        validator.warm(ahead);
        validator.check_prechecked(&frame, pre, &mut diagnostics);
        if !diagnostics.is_empty() {
            if let Err(e) = bar.suspend(|| print(&mut diagnostics, Some(&frame), out)) {
                output_error = Some(e);
                return false;
            }
        }
        true
    });
    if let Some(e) = output_error {
        bar.finish_and_clear();
        return Err(Failure::Output(e));
    }
    let end = match read {
        Ok(end) => end,
        Err(e) => {
            bar.finish_and_clear();
            return Err(Failure::Input(format!(
                "{name}: read error after byte {position}: {e}"
            )));
        }
    };
    bar.finish_and_clear();
    validator.end_of_input(end, &mut diagnostics);
    let summary = validator.finish(&mut diagnostics);
    print(&mut diagnostics, None, out).map_err(Failure::Output)?;
    write_summary(out, args.format, &name, &summary, printed).map_err(Failure::Output)?;
    Ok(summary)
}

/// The bytes of a framed line, for a diagnostic's excerpt.
pub fn line_of(frame: Option<&Frame>) -> Option<&[u8]> {
    match frame {
        Some(Frame::Line(line)) => Some(line.bytes()),
        _ => None,
    }
}
