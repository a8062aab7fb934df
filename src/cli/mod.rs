//! The `syncbatch` command line (feature `cli`): argument parsing, progress
//! display and output formats; the work itself is one library call each.
//! The binary and the Python package both run it through [`main_from`].
#![allow(missing_docs)]
// The doc comments of the argument structs are the `--help` texts, written
// for a terminal (`<N>`, bare URLs), not for rustdoc.
#![allow(
    rustdoc::broken_intra_doc_links,
    rustdoc::bare_urls,
    rustdoc::invalid_html_tags
)]

pub mod batch;
pub mod interrupt;
pub mod merge;
pub mod run;
pub mod split;
pub mod validate;

use std::io::{self, IsTerminal};
use std::path::Path;

use clap::{CommandFactory, Parser, Subcommand};

use crate::validate::Limits;
use crate::{Error, ErrorKind, Input};

/// Exit status: success.
pub const OK: u8 = 0;
/// Exit status: the input is not compliant.
pub const NOT_COMPLIANT: u8 = 1;
/// Exit status: usage or I/O error.
pub const FAILURE: u8 = 2;

/// The exit status for a library error.
pub fn status_of(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::Interrupted => interrupt::INTERRUPTED,
        _ if interrupt::requested() => interrupt::INTERRUPTED,
        _ if e.is_input_error() => NOT_COMPLIANT,
        _ => FAILURE,
    }
}

/// Opens a named input: `-` is standard input.
pub fn open(path: &Path) -> Result<Input, Error> {
    if path.as_os_str() == "-" {
        note_terminal_stdin();
        return Ok(Input::stdin());
    }
    Input::open(path)
}

/// Says on stderr that standard input is about to be read from the
/// terminal: run without a FILE by mistake, the program would otherwise wait
/// in silence.
pub fn note_terminal_stdin() {
    if io::stdin().is_terminal() {
        eprintln!(
            "syncbatch: reading standard input from the terminal; end it with Ctrl-D \
             (or name a FILE)"
        );
    }
}

pub use crate::validate::report::printable;

/// `n` and its noun, singular for one.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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
    /// The library's limits, or a usage error (exit 2) when no batch file
    /// could meet them: every subcommand refuses such limits up front rather
    /// than reporting every file, or every retry, as not compliant.
    pub fn limits(&self) -> Result<Limits, u8> {
        let limits = Limits::default()
            .max_records(self.max_records)
            .min_records(self.min_records)
            .max_bytes(self.max_bytes);
        limits.check().map_err(|e| {
            eprintln!("syncbatch: --max-records / --min-records: {e}");
            FAILURE
        })?;
        Ok(limits)
    }
}

/// A byte progress bar on stderr when it is a terminal (and not in CI);
/// hidden otherwise.
pub fn progress(len: Option<u64>, what: &str) -> indicatif::ProgressBar {
    let visible = io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    if !visible {
        return indicatif::ProgressBar::hidden();
    }
    // A pipe has no length: a spinner with the bytes read so far, not a
    // bar stuck at "0 B/0 B".
    let (bar, template) = match len {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {msg} {bytes} {binary_bytes_per_sec} {elapsed}",
        ),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Validate, split and merge the JSON Lines files of the Sync Labs lip-sync Batch API.
#[derive(Parser)]
#[command(name = "syncbatch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check each file as one batch input file, with line-precise diagnostics.
    Validate(validate::Args),
    /// Turn inputs of any size into compliant batch files.
    Split(split::Args),
    /// Join batch output files back to the requests, in request order.
    Merge(merge::Args),
    /// Talk to the Sync Batch API: create, get, list, download.
    Batch(batch::Args),
    /// List the models the API offers.
    Models(batch::ModelsArgs),
    /// The whole workflow in one resumable command: split, submit, wait, download, merge.
    Run(run::Args),
    /// One look at a campaign that `run` started.
    Status(run::StatusArgs),
    /// Print a shell completion script to stdout, e.g.
    /// `syncbatch completions bash > ~/.local/share/bash-completion/completions/syncbatch`.
    Completions {
        /// The shell: bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
}

/// Writes the completion script for `shell`; a write error (a closed pipe,
/// a full disk) is an I/O error, exit 2.
fn completions(shell: clap_complete::Shell) -> u8 {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "syncbatch", &mut script);
    match std::io::Write::write_all(&mut std::io::stdout().lock(), &script) {
        Ok(()) => OK,
        Err(e) => {
            eprintln!("syncbatch: cannot write the completion script: {e}");
            FAILURE
        }
    }
}

/// Runs the command line on `args` (the program's name first, as
/// `std::env::args_os` gives them) and returns the exit status. Installs
/// the handler of Ctrl-C and `SIGTERM` (see [`interrupt`]).
pub fn main_from<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's help and version are successes; anything else is usage.
            return if e.use_stderr() { FAILURE } else { OK };
        }
    };
    interrupt::install();
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Split(args) => split::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Batch(args) => batch::run(args),
        Command::Models(args) => batch::models(args),
        Command::Run(args) => run::run(args),
        Command::Status(args) => run::status(args),
        Command::Completions { shell } => completions(shell),
    }
}
