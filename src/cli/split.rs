//! `syncbatch split [OPTIONS] --out DIR INPUT...`

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use syncbatch::split::{DirSink, DryRunSink, SplitOptions, SplitSummary, Splitter};
use syncbatch::validate::report::{write_diagnostic, Format};
use syncbatch::validate::{Diagnostic, Severity};
use syncbatch::{ErrorKind, Input, Observer};

use super::{count, interrupt, open, progress, status_of, LimitArgs, FAILURE, OK};

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
    let limits = match args.limits.limits() {
        Ok(limits) => limits,
        Err(status) => return status,
    };
    let options = SplitOptions::new()
        .limits(limits)
        .wrap(args.wrap)
        .id_prefix(args.id_prefix.clone())
        .skip_invalid(args.skip_invalid);
    let inputs = match open_all(&args.inputs) {
        Ok(inputs) => inputs,
        Err(status) => return status,
    };
    let out = match (&args.out, args.dry_run) {
        (Some(out), false) => out.clone(),
        _ => return dry_run(&args, options, inputs),
    };
    // A signal stops the split at the next records, and the library removes
    // what it set aside; one while it moves files into place waits for that.
    let cooperating = interrupt::Cooperating::begin();
    let sink = DirSink::create(&out, &args.prefix, args.force).map(|s| s.sync(args.sync));
    let sink = match sink.and_then(|s| {
        if args.skip_invalid {
            s.with_rejected()
        } else {
            Ok(s)
        }
    }) {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("syncbatch: {e}");
            return FAILURE;
        }
    };
    let mut shown = Shown::new(&args, &cooperating);
    let done = Splitter::new(options, sink).run(inputs, &mut shown);
    shown.end();
    match done {
        Ok((summary, _)) => {
            let warnings = if summary.warnings > 0 {
                format!(
                    ", {}: see `syncbatch validate`",
                    count(summary.warnings, "warning", "warnings")
                )
            } else {
                String::new()
            };
            eprintln!(
                "syncbatch: {} in {} in {} ({}{warnings})",
                count(summary.records, "record", "records"),
                count(summary.batches, "batch file", "batch files"),
                out.display(),
                dropped(&summary),
            );
            OK
        }
        Err(e) => failed(&e),
    }
}

/// Says why the split failed; the exit status.
fn failed(e: &syncbatch::Error) -> u8 {
    match e.kind() {
        ErrorKind::Interrupted => eprintln!("syncbatch: interrupted; nothing written"),
        ErrorKind::InvalidRecords { .. } => {
            eprintln!("syncbatch: {e} (--skip-invalid splits the valid ones)")
        }
        _ => eprintln!("syncbatch: {e}"),
    }
    status_of(e)
}

fn dropped(summary: &SplitSummary) -> String {
    format!(
        "{} dropped, {} rejected",
        count(summary.dropped_blank_lines, "blank line", "blank lines"),
        count(summary.rejected, "line", "lines")
    )
}

/// Opens every input before any is read: one that cannot be opened fails
/// the split at once.
fn open_all(paths: &[PathBuf]) -> Result<Vec<Input>, u8> {
    let stdin = [PathBuf::from("-")];
    let paths = if paths.is_empty() { &stdin[..] } else { paths };
    paths
        .iter()
        .map(|p| open(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            eprintln!("syncbatch: {e}; nothing written");
            FAILURE
        })
}

/// `--dry-run`: the split without a directory; the manifest to stdout.
fn dry_run(args: &Args, options: SplitOptions, inputs: Vec<Input>) -> u8 {
    let cooperating = interrupt::Cooperating::begin();
    let mut shown = Shown::new(args, &cooperating);
    let done = Splitter::new(options, DryRunSink::new(&args.prefix)).run(inputs, &mut shown);
    shown.end();
    let (summary, sink) = match done {
        Ok(done) => done,
        Err(e) => return failed(&e),
    };
    eprintln!(
        "syncbatch: dry run: {} would make {} ({}); nothing written",
        count(summary.records, "record", "records"),
        count(summary.batches, "batch file", "batch files"),
        dropped(&summary),
    );
    let written = sink
        .manifest
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

/// What a split shows as it goes: the errors of refused lines (unless they
/// go to `rejected.jsonl`), up to `--max-errors`, and a progress bar; and
/// it stops at a signal.
struct Shown<'a> {
    format: Format,
    report: bool,
    left: u64,
    hidden: u64,
    bar: Option<indicatif::ProgressBar>,
    cooperating: &'a interrupt::Cooperating,
}

impl<'a> Shown<'a> {
    fn new(args: &Args, cooperating: &'a interrupt::Cooperating) -> Self {
        Shown {
            format: args.format,
            report: !args.skip_invalid || args.dry_run,
            left: args.max_errors.unwrap_or(u64::MAX),
            hidden: 0,
            bar: None,
            cooperating,
        }
    }

    fn end(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.hidden > 0 {
            eprintln!(
                "syncbatch: {} not shown (--max-errors)",
                count(self.hidden, "more error", "more errors")
            );
        }
    }
}

impl Observer for Shown<'_> {
    fn input_started(&mut self, name: &str, size: Option<u64>) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.bar = Some(progress(size, name));
    }

    fn diagnostic(&mut self, input: &str, d: &Diagnostic, line: Option<&[u8]>) -> ControlFlow<()> {
        if !self.report || d.severity != Severity::Error {
            return ControlFlow::Continue(());
        }
        if self.left == 0 {
            self.hidden += 1;
            return ControlFlow::Continue(());
        }
        self.left -= 1;
        let format = self.format;
        let write = || write_diagnostic(&mut io::stderr().lock(), format, input, d, line);
        let _ = match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        };
        ControlFlow::Continue(())
    }

    fn progress(&mut self, input: &str, bytes: u64, records: u64) -> ControlFlow<()> {
        if interrupt::requested() {
            return ControlFlow::Break(());
        }
        if let Some(bar) = self.bar.as_ref().filter(|_| records.is_multiple_of(1024)) {
            bar.set_position(bytes);
            bar.set_message(format!("{input} {records} records"));
        }
        ControlFlow::Continue(())
    }

    fn committing(&mut self) {
        self.cooperating.finishing();
    }
}
