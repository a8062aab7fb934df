//! `syncbatch split [OPTIONS] --out DIR INPUT...`

use std::io::{self, Write};
use std::path::PathBuf;

use syncbatch::ids::{sample_lines, RoomHint};
use syncbatch::split::{
    DirSink, DryRunSink, Sink, SplitError, SplitOptions, SplitSummary, Splitter,
};
use syncbatch::validate::report::count;
use syncbatch::validate::{for_each_prechecked, Severity};

use super::validate::{line_of, write_diagnostic, Format, LimitArgs};
use super::{interrupt, open, progress, FAILURE, NOT_COMPLIANT, OK};

/// Turn inputs of any size into compliant batch files.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input files, read in order as one stream of records; `-` or none
    /// reads standard input.
    pub inputs: Vec<PathBuf>,
    /// Output directory: absent or empty unless --force.
    #[arg(long, value_name = "DIR", required_unless_present = "dry_run")]
    pub out: Option<PathBuf>,
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
    #[arg(long, value_name = "PREFIX", default_value = "req-", requires = "wrap")]
    pub id_prefix: String,
    /// Write nothing: check and plan as usual, print the manifest a real run
    /// would write (hashes included) to stdout, and every refused line's
    /// errors to stderr. --out is not needed and not touched.
    #[arg(long)]
    pub dry_run: bool,
    /// How refused lines' errors are printed on stderr (as `validate` prints
    /// them).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Print at most N errors in all (counting goes on).
    #[arg(long, value_name = "N")]
    pub max_errors: Option<u64>,
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
    if let Some(c) = args.id_prefix.chars().find(|c| c.is_control()) {
        eprintln!(
            "syncbatch: --id-prefix holds the control character U+{:04X}: \
             every id made with it would be refused",
            u32::from(c)
        );
        return FAILURE;
    }
    if let Some(why) = args.limits.contradiction() {
        eprintln!("syncbatch: {why}");
        return FAILURE;
    }
    let options = SplitOptions {
        limits: args.limits.limits(),
        wrap: args.wrap,
        id_prefix: args.id_prefix.clone(),
        skip_invalid: args.skip_invalid,
    };
    let out = match (&args.out, args.dry_run) {
        (Some(out), false) => out.clone(),
        _ => return dry_run(&args, options),
    };
    // A signal stops the split at the next record, and the error path
    // removes what was set aside; one while it finishes waits for it.
    let cooperating = interrupt::Cooperating::begin();
    let made_out = !out.exists();
    let mut sink = match DirSink::create(&out, &args.prefix, args.force) {
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
    // Removed by the handler only if the process ends before the split
    // can clean up after itself (a second signal, or input that never comes).
    let staging = sink.staging().to_owned();
    interrupt::aside(&staging);
    if made_out {
        interrupt::aside_dir(&out);
    }
    let settle = || {
        interrupt::settled(&staging);
        interrupt::settled(&out);
    };
    let mut splitter = Splitter::new(options, sink);
    let fed = feed(&args, &mut splitter);
    if let Err(status) = fed {
        drop(splitter);
        settle();
        return status;
    }
    cooperating.finishing();
    let done = finish(splitter, |summary| {
        format!(
            "{} in {} in {} ({} dropped, {} rejected{})",
            count(summary.records, "record", "records"),
            count(summary.batches, "batch file", "batch files"),
            out.display(),
            count(summary.dropped_blank_lines, "blank line", "blank lines"),
            count(summary.rejected, "line", "lines"),
            if summary.warnings > 0 {
                format!(
                    ", {}: see `syncbatch validate`",
                    count(summary.warnings, "warning", "warnings")
                )
            } else {
                String::new()
            }
        )
    });
    settle();
    done.map_or_else(|status| status, |_| OK)
}

/// `--dry-run`: the split without a directory; the manifest to stdout.
fn dry_run(args: &Args, options: SplitOptions) -> u8 {
    let mut splitter = Splitter::new(options, DryRunSink::new(&args.prefix));
    if let Err(status) = feed(args, &mut splitter) {
        return status;
    }
    let done = finish(splitter, |summary| {
        format!(
            "dry run: {} would make {} ({} dropped, {} rejected); nothing written",
            count(summary.records, "record", "records"),
            count(summary.batches, "batch file", "batch files"),
            count(summary.dropped_blank_lines, "blank line", "blank lines"),
            count(summary.rejected, "line", "lines"),
        )
    });
    let manifest = match done {
        Ok(sink) => sink.manifest,
        Err(status) => return status,
    };
    let written = manifest
        .ok_or_else(|| io::Error::other("the split ended without a manifest"))
        .and_then(|m| io::stdout().lock().write_all(&m.to_json()));
    match written {
        Ok(()) => OK,
        Err(e) => {
            eprintln!("syncbatch: cannot print the manifest: {e}");
            FAILURE
        }
    }
}

/// Reads every input into the splitter, reporting invalid lines (unless
/// they are skipped into a rejected file). On failure, the exit status.
fn feed<S: Sink>(args: &Args, splitter: &mut Splitter<S>) -> Result<(), u8> {
    let report_invalid = !args.skip_invalid || args.dry_run;
    let stderr = io::stderr();
    let mut allowed = args.max_errors.unwrap_or(u64::MAX);
    let mut hidden = 0u64;
    let stdin = [PathBuf::from("-")];
    let inputs = if args.inputs.is_empty() {
        &stdin[..]
    } else {
        &args.inputs[..]
    };
    // Room in the id set for the records the inputs promise, when every
    // input is a file: from windows across each, else from the first MiB
    // and the inputs' size (the bytes of the inputs before this one count).
    let is_file = |p: &PathBuf| p.as_os_str() != "-";
    let sampled: Option<u64> = inputs
        .iter()
        .map(|p| is_file(p).then(|| sample_lines(p)).flatten())
        .sum();
    let mut room = sampled.map_or_else(
        || {
            let total = inputs.iter().map(|p| {
                let meta = std::fs::metadata(p).ok();
                meta.filter(|m| is_file(p) && m.is_file()).map(|m| m.len())
            });
            RoomHint::new(total.sum())
        },
        RoomHint::sampled,
    );
    let mut before = 0u64;
    for path in inputs {
        let input = match open(path) {
            Ok(input) => input,
            Err(message) => {
                eprintln!("syncbatch: {message}; nothing written");
                return Err(FAILURE);
            }
        };
        let bar = progress(input.size, &input.name);
        let framer = args.limits.limits().framer();
        let name = input.name.clone();
        splitter.next_input(&name);
        let mut failure = None;
        let mut position = 0;
        let read = for_each_prechecked(input.reader, framer, |frame, pre, ahead| {
            if interrupt::requested() {
                return false;
            }
            position = frame.end();
            if let Some(n) = room.due(splitter.records_seen(), before + position) {
                splitter.reserve_ids(n);
            }
            splitter.warm(ahead);
            match splitter.push_prechecked(frame, pre).map(|d| d.is_empty()) {
                Ok(false) if report_invalid => {
                    let mut err = stderr.lock();
                    let (diagnostics, frame) = splitter.last_invalid();
                    for d in diagnostics.iter().filter(|d| d.severity == Severity::Error) {
                        if allowed == 0 {
                            hidden += 1;
                            continue;
                        }
                        allowed -= 1;
                        let _ = bar.suspend(|| {
                            write_diagnostic(&mut err, args.format, &name, d, line_of(frame))
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    failure = Some(e);
                    return false;
                }
            }
            if splitter.records_seen().is_multiple_of(1024) {
                bar.set_position(position);
                bar.set_message(format!("{name} {} records", splitter.records_seen()));
            }
            true
        });
        bar.finish_and_clear();
        if interrupt::requested() {
            eprintln!("syncbatch: interrupted; nothing written");
            return Err(interrupt::INTERRUPTED);
        }
        if let Some(e) = failure {
            eprintln!("syncbatch: {e}; nothing written");
            return Err(FAILURE);
        }
        match read {
            Ok(end) => {
                splitter.end_of_input(end);
                before += end;
            }
            Err(e) => {
                eprintln!(
                    "syncbatch: {name}: read error after byte {position}: {e}; nothing written"
                );
                return Err(FAILURE);
            }
        }
    }
    if hidden > 0 {
        eprintln!(
            "syncbatch: {} not shown (--max-errors)",
            count(hidden, "more error", "more errors")
        );
    }
    Ok(())
}

/// Ends the split: says `summary` on stderr and gives back the sink, or
/// says why it failed and gives the exit status.
fn finish<S: Sink>(
    splitter: Splitter<S>,
    summary: impl FnOnce(&SplitSummary) -> String,
) -> Result<S, u8> {
    match splitter.finish() {
        Ok((done, sink)) => {
            let _ = writeln!(io::stderr(), "syncbatch: {}", summary(&done));
            Ok(sink)
        }
        Err(e @ SplitError::Io(..)) => {
            eprintln!("syncbatch: {e}");
            Err(FAILURE)
        }
        Err(e) => {
            eprintln!("syncbatch: {e}");
            Err(NOT_COMPLIANT)
        }
    }
}
