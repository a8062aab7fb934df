//! The `syncbatch` command line, thin over the library: see
//! `syncbatch::cli`.
//!
//! Exit codes, every subcommand: 0 success, 1 the input is not compliant,
//! 2 usage or I/O error; 130 after Ctrl-C or another termination signal.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(syncbatch::cli::main_from(std::env::args_os()))
}
