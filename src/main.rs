//! The `syncbatch` command line, thin over the library.
//!
//! Exit codes, every subcommand: 0 success, 1 the input is not compliant,
//! 2 usage or I/O error; 130 after Ctrl-C or another termination signal.

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

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
    Validate(cli::validate::Args),
    /// Turn inputs of any size into compliant batch files.
    Split(cli::split::Args),
    /// Join batch output files back to the requests, in request order.
    Merge(cli::merge::Args),
    /// Talk to the Sync Batch API: create, get, list, download.
    Batch(cli::batch::Args),
    /// List the models the API offers.
    Models(cli::batch::ModelsArgs),
    /// The whole workflow in one resumable command: split, submit, wait, download, merge.
    Run(cli::run::Args),
    /// One look at a campaign that `run` started.
    Status(cli::run::StatusArgs),
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
        Ok(()) => cli::OK,
        Err(e) => {
            eprintln!("syncbatch: cannot write the completion script: {e}");
            cli::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's help and version are successes; anything else is usage.
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    cli::interrupt::install();
    let status = match cli.command {
        Command::Validate(args) => cli::validate::run(args),
        Command::Split(args) => cli::split::run(args),
        Command::Merge(args) => cli::merge::run(args),
        Command::Batch(args) => cli::batch::run(args),
        Command::Models(args) => cli::batch::models(args),
        Command::Run(args) => cli::run::run(args),
        Command::Status(args) => cli::run::status(args),
        Command::Completions { shell } => completions(shell),
    };
    ExitCode::from(status)
}
