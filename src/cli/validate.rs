//! `syncbatch validate [OPTIONS] [FILE]...`

use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use crate::validate::report::{write_diagnostic, write_summary, Format};
use crate::validate::{Diagnostic, Validator};
use crate::{ErrorKind, Observer};

use super::{open, progress, status_of, LimitArgs, FAILURE, NOT_COMPLIANT, OK};

/// Check each file as one batch input file.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  syncbatch validate input.jsonl
  syncbatch validate --format json batches/*.jsonl > diagnostics.jsonl

Exit codes: 0 every file valid; 1 a file not compliant (or, with --deny-warnings,
with warnings); 2 usage or I/O error; 130 interrupted.")]
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
    /// Check model names against the API's live list (GET /v2/models)
    /// instead of the built-in one, when SYNC_API_KEY is set.
    #[arg(long)]
    pub models_from_api: bool,
    #[command(flatten)]
    pub api: super::batch::ApiArgs,
}

/// Runs the subcommand; returns the exit status.
pub fn run(args: Args) -> u8 {
    let limits = match args.limits.limits() {
        Ok(limits) => limits,
        Err(status) => return status,
    };
    let files = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files.clone()
    };
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        eprintln!("syncbatch: standard input (`-`) can be read only once: name it once");
        return FAILURE;
    }
    let models = match live_models(&args) {
        Ok(models) => models,
        Err(status) => return status,
    };
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let mut status = OK;
    for path in &files {
        let input = match open(path) {
            Ok(input) => input,
            Err(e) => {
                let _ = out.flush();
                eprintln!("syncbatch: {e}");
                status = FAILURE;
                continue;
            }
        };
        let name = input.name().to_owned();
        let mut printer = Printer {
            out: &mut out,
            format: args.format,
            left: args.max_errors.unwrap_or(u64::MAX),
            printed: 0,
            failed: None,
            bar: progress(input.size(), &name),
        };
        let mut validator = Validator::new(limits).deny_warnings(args.deny_warnings);
        if let Some(models) = &models {
            validator = validator.models(models.clone());
        }
        let result = validator.run(input, &mut printer);
        printer.bar.finish_and_clear();
        let (printed, failed) = (printer.printed, printer.failed.take());
        let written = match (result, failed) {
            (_, Some(e)) => Err(e),
            (Ok(summary), None) => {
                if !summary.valid {
                    status = status.max(NOT_COMPLIANT);
                }
                write_summary(&mut out, args.format, &name, &summary, printed)
            }
            (Err(e), None) if matches!(e.kind(), ErrorKind::Io(_)) => {
                let _ = out.flush();
                eprintln!("syncbatch: {e}");
                status = FAILURE;
                Ok(())
            }
            (Err(e), None) => {
                let _ = out.flush();
                eprintln!("syncbatch: {e}");
                return status_of(&e);
            }
        };
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return status,
            Err(e) => {
                eprintln!("syncbatch: cannot write the report: {e}");
                return FAILURE;
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

/// With `--models-from-api` and a key, the API's model names.
fn live_models(args: &Args) -> Result<Option<Vec<String>>, u8> {
    if !args.models_from_api {
        return Ok(None);
    }
    if std::env::var("SYNC_API_KEY").unwrap_or_default().is_empty() {
        eprintln!(
            "syncbatch: --models-from-api: SYNC_API_KEY is not set; checking models against \
             the built-in list"
        );
        return Ok(None);
    }
    let client = args.api.client()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("syncbatch: cannot start the runtime: {e}");
            FAILURE
        })?;
    match runtime.block_on(client.list_models()) {
        Ok(models) => Ok(Some(models.into_iter().map(|m| m.name).collect())),
        Err(e) => {
            eprintln!("syncbatch: --models-from-api: {e}");
            Err(FAILURE)
        }
    }
}

/// Prints each diagnostic as it comes, up to `--max-errors`, and moves the
/// progress bar.
struct Printer<'a, W: Write> {
    out: &'a mut W,
    format: Format,
    left: u64,
    printed: u64,
    /// The report could not be written: the run stops.
    failed: Option<io::Error>,
    bar: indicatif::ProgressBar,
}

impl<W: Write> Observer for Printer<'_, W> {
    fn diagnostic(&mut self, input: &str, d: &Diagnostic, line: Option<&[u8]>) -> ControlFlow<()> {
        if self.left == 0 {
            return ControlFlow::Continue(());
        }
        self.left -= 1;
        self.printed += 1;
        let (out, format) = (&mut *self.out, self.format);
        match self
            .bar
            .suspend(|| write_diagnostic(out, format, input, d, line))
        {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.failed = Some(e);
                ControlFlow::Break(())
            }
        }
    }

    fn progress(&mut self, _: &str, bytes: u64, _: u64) -> ControlFlow<()> {
        self.bar.set_position(bytes);
        ControlFlow::Continue(())
    }
}
