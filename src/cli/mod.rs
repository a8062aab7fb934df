//! Subcommands: argument parsing, files, and output formats. The work itself
//! is the library's.

pub mod interrupt;
pub mod merge;
pub mod split;
pub mod validate;

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::Path;

/// Exit status: success.
pub const OK: u8 = 0;
/// Exit status: the input is not compliant.
pub const NOT_COMPLIANT: u8 = 1;
/// Exit status: usage or I/O error.
pub const FAILURE: u8 = 2;

/// An input named on the command line: `-` is standard input.
pub struct Input {
    /// The name to print.
    pub name: String,
    /// The opened reader.
    pub reader: Box<dyn Read + Send>,
    /// The size, when it is a file.
    pub size: Option<u64>,
}

/// Opens a named input; the error names the file.
pub fn open(path: &Path) -> Result<Input, String> {
    if path.as_os_str() == "-" {
        note_terminal_stdin();
        return Ok(Input {
            name: "<stdin>".into(),
            reader: Box::new(io::stdin()),
            size: None,
        });
    }
    // A name need not be UTF-8 (on Unix); it is shown, and written in
    // reports, with U+FFFD for the bytes that are not.
    let name = path.to_string_lossy().into_owned();
    let file = File::open(path).map_err(|e| format!("{name}: cannot open: {e}"))?;
    let meta = file.metadata().ok();
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(format!("{name}: a directory, not an input file"));
    }
    let size = meta.filter(|m| m.is_file()).map(|m| m.len());
    Ok(Input {
        name,
        reader: Box::new(file),
        size,
    })
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

pub use syncbatch::validate::report::printable;

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

/// A reader that advances a progress bar as it is read.
pub struct Progress<R> {
    /// The reader.
    pub inner: R,
    /// The bar.
    pub bar: indicatif::ProgressBar,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}
