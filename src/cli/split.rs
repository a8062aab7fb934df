//! `syncbatch split [OPTIONS] --out DIR INPUT...`

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use crate::split::{DirSink, DryRunSink, SplitOptions, SplitSummary, Splitter};
use crate::validate::report::{write_diagnostic, Format};
use crate::validate::Diagnostic;
use crate::{Error, ErrorKind, Input, Observer};
use serde_json::json;

use super::{count, interrupt, open, progress, status_of, LimitArgs, FAILURE, OK};

/// Turn inputs of any size into compliant batch files.
#[derive(clap::Args, Debug)]
#[command(
    override_usage = "syncbatch split [OPTIONS] --out <DIR> [INPUT]...\n       \
                      syncbatch split [OPTIONS] --dry-run [INPUT]...",
    after_help = "\
Examples:
  syncbatch split --out batches/ requests.jsonl
  syncbatch split --out batches/ --skip-invalid --wrap bare-requests-*.jsonl

Exit codes: 0 split; 1 invalid records (without --skip-invalid) or no compliant
split; 2 usage or I/O error; 130 interrupted (nothing left half-written)."
)]
pub struct Args {
    /// Input files, read in order as one stream of records; `-` or none
    /// reads standard input.
    pub inputs: Vec<PathBuf>,
    /// Output directory (required unless --dry-run): absent or empty unless --force.
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
    /// Split the valid records; refused lines go to DIR/rejected.ndjson.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Refuse a record that draws a warning, as an invalid one.
    #[arg(long)]
    pub deny_warnings: bool,
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
    /// would write (hashes included) to stdout. --out is not needed and not
    /// touched.
    #[arg(long)]
    pub dry_run: bool,
    /// How diagnostics and the summary are printed on stderr: as `validate`
    /// prints them; `json` makes every line on stderr a JSON object, the
    /// last one `{"summary":{...}}`.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Print at most N diagnostics in all (counting goes on).
    #[arg(long, value_name = "N")]
    pub max_errors: Option<u64>,
}

/// Runs the subcommand; returns the exit status.
pub fn run(args: Args) -> u8 {
    if let Err(status) = check_names(&args.prefix, &args.id_prefix) {
        return status;
    }
    let limits = match args.limits.limits() {
        Ok(limits) => limits,
        Err(status) => return status,
    };
    let options = SplitOptions::new()
        .limits(limits)
        .wrap(args.wrap)
        .id_prefix(args.id_prefix.clone())
        .skip_invalid(args.skip_invalid)
        .deny_warnings(args.deny_warnings);
    let inputs = match open_all(&args.inputs) {
        Ok(inputs) => inputs,
        Err(status) => return status,
    };
    // A signal stops the split at the next records, and the library removes
    // what it set aside; one while it moves files into place waits for that.
    let cooperating = interrupt::Cooperating::begin();
    let mut shown = Shown::new(&args, &cooperating);
    let out = match (&args.out, args.dry_run) {
        (Some(out), false) => out.clone(),
        _ => {
            let done =
                Splitter::new(options, DryRunSink::new(&args.prefix)).run(inputs, &mut shown);
            return match done {
                Ok((summary, sink)) => {
                    shown.done(&summary, None);
                    let written = sink
                        .manifest
                        .ok_or_else(|| io::Error::other("the split ended without a manifest"))
                        .and_then(|m| io::stdout().lock().write_all(&m.to_json()));
                    match written {
                        Ok(()) => OK,
                        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => OK,
                        Err(e) => {
                            eprintln!("syncbatch: cannot print the manifest: {e}");
                            FAILURE
                        }
                    }
                }
                Err(e) => shown.failed(&e),
            };
        }
    };
    let sink = DirSink::create(&out, &args.prefix, args.force)
        .map(|s| s.sync(args.sync))
        .and_then(|s| {
            if args.skip_invalid {
                s.with_rejected()
            } else {
                Ok(s)
            }
        });
    let sink = match sink {
        Ok(sink) => sink,
        Err(e) => return shown.failed(&e),
    };
    match Splitter::new(options, sink).run(inputs, &mut shown) {
        Ok((summary, _)) => {
            shown.done(&summary, Some(&out));
            OK
        }
        Err(e) => shown.failed(&e),
    }
}

/// Refuses a `--prefix` that is no plain file name part and an
/// `--id-prefix` with a control character (exit 2).
pub(crate) fn check_names(prefix: &str, id_prefix: &str) -> Result<(), u8> {
    let valid_prefix =
        !prefix.is_empty() && !prefix.contains(['/', '\\']) && !prefix.starts_with('.');
    if !valid_prefix {
        eprintln!("syncbatch: --prefix must be a plain file name part, not {prefix:?}");
        return Err(FAILURE);
    }
    if let Some(c) = id_prefix.chars().find(|c| c.is_control()) {
        eprintln!(
            "syncbatch: --id-prefix holds the control character U+{:04X}: \
             every id made with it would be refused",
            u32::from(c)
        );
        return Err(FAILURE);
    }
    Ok(())
}

/// Opens every input before any is read: one that cannot be opened fails
/// the split at once.
pub(crate) fn open_all(paths: &[PathBuf]) -> Result<Vec<Input>, u8> {
    let stdin = [PathBuf::from("-")];
    let paths = if paths.is_empty() { &stdin[..] } else { paths };
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        eprintln!("syncbatch: standard input (`-`) can be read only once: name it once");
        return Err(FAILURE);
    }
    paths
        .iter()
        .map(|p| open(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            eprintln!("syncbatch: {e}; nothing written");
            FAILURE
        })
}

/// What a split shows as it goes: every diagnostic (the errors of refused
/// lines, unless they go to `rejected.ndjson`, and the warnings of kept
/// ones) in the chosen format, up to `--max-errors`; a progress bar; and,
/// at the end, the summary or the reason it failed. It stops at a signal.
pub(crate) struct Shown<'a> {
    format: Format,
    /// Whether the errors of refused lines are printed.
    errors: bool,
    left: u64,
    hidden: u64,
    bar: Option<indicatif::ProgressBar>,
    cooperating: &'a interrupt::Cooperating,
}

impl<'a> Shown<'a> {
    fn new(args: &Args, cooperating: &'a interrupt::Cooperating) -> Self {
        Shown::with(
            args.format,
            !args.skip_invalid || args.dry_run,
            args.max_errors,
            cooperating,
        )
    }

    /// Shows diagnostics in `format` (the errors of refused lines only
    /// when `errors`), at most `max_errors` of them.
    pub(crate) fn with(
        format: Format,
        errors: bool,
        max_errors: Option<u64>,
        cooperating: &'a interrupt::Cooperating,
    ) -> Self {
        Shown {
            format,
            errors,
            left: max_errors.unwrap_or(u64::MAX),
            hidden: 0,
            bar: None,
            cooperating,
        }
    }

    fn clear_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Prints one line on stderr: JSON as it is, other text through the
    /// human or GitHub format.
    fn say(&self, json: serde_json::Value, text: String) {
        let mut err = io::stderr().lock();
        let _ = match self.format {
            Format::Json => writeln!(err, "{json}"),
            Format::Human | Format::Github => writeln!(err, "syncbatch: {text}"),
        };
    }

    /// The summary of a split that succeeded (into `out`, or a dry run).
    pub(crate) fn done(&mut self, s: &SplitSummary, out: Option<&PathBuf>) {
        self.clear_bar();
        let figures = format!(
            "{} dropped, {} rejected, {}",
            count(s.dropped_blank_lines, "blank line", "blank lines"),
            count(s.rejected, "line", "lines"),
            count(s.warnings, "warning", "warnings")
        );
        let text = match out {
            Some(out) => format!(
                "{} in {} in {} ({figures})",
                count(s.records, "record", "records"),
                count(s.batches, "batch file", "batch files"),
                out.display(),
            ),
            None => format!(
                "dry run: {} would make {} ({figures}); nothing written",
                count(s.records, "record", "records"),
                count(s.batches, "batch file", "batch files"),
            ),
        };
        self.hidden_note();
        let json = json!({"summary": {
            "ok": true,
            "records": s.records,
            "batches": s.batches,
            "dropped_blank_lines": s.dropped_blank_lines,
            "rejected": s.rejected,
            "warnings": s.warnings,
            "not_shown": self.hidden,
            "out": out.map(|o| o.display().to_string()),
            "dry_run": out.is_none(),
        }});
        self.say(json, text);
    }

    /// Says why the split failed; the exit status.
    pub(crate) fn failed(&mut self, e: &Error) -> u8 {
        self.clear_bar();
        self.hidden_note();
        let text = match e.kind() {
            ErrorKind::Interrupted => "interrupted; nothing written".to_owned(),
            ErrorKind::InvalidRecords { .. } => {
                format!("{e} (--skip-invalid splits the valid ones)")
            }
            _ => e.to_string(),
        };
        let kind = match e.kind() {
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::InvalidRecords { .. } => "invalid_records",
            ErrorKind::Infeasible(_) => "no_compliant_split",
            ErrorKind::Io(_) => "io",
            _ => "usage",
        };
        let json = json!({"summary": {
            "ok": false,
            "error": kind,
            "message": e.to_string(),
            "not_shown": self.hidden,
        }});
        self.say(json, text);
        status_of(e)
    }

    /// In the text formats, how many diagnostics `--max-errors` held back.
    fn hidden_note(&self) {
        if self.hidden > 0 && self.format != Format::Json {
            eprintln!(
                "syncbatch: {} not shown (--max-errors)",
                count(self.hidden, "more diagnostic", "more diagnostics")
            );
        }
    }
}

impl Observer for Shown<'_> {
    fn input_started(&mut self, name: &str, size: Option<u64>) {
        self.clear_bar();
        self.bar = Some(progress(size, name));
    }

    fn diagnostic(&mut self, input: &str, d: &Diagnostic, line: Option<&[u8]>) -> ControlFlow<()> {
        let error = d.severity == crate::validate::Severity::Error;
        if error && !self.errors {
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
