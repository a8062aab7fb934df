//! `syncbatch validate [OPTIONS] [FILE]...`

use std::io::{self, BufWriter, Write};

use clap::ValueEnum;
use serde::Serialize;
use syncbatch::frame::Frame;
use syncbatch::validate::{for_each_prechecked, Diagnostic, Limits, Summary, Validator};

use super::{open, printable, progress, unprintable, Progress, FAILURE, NOT_COMPLIANT, OK};

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `FILE:LINE:COL: error[CODE]: MESSAGE`, the line's excerpt, a summary line.
    Human,
    /// JSON Lines: one object per diagnostic, then one summary object per file.
    Json,
    /// GitHub workflow annotations.
    Github,
}

/// Check each file as one batch input file.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files to check; `-` or none reads standard input.
    pub files: Vec<String>,
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
    let files = if args.files.is_empty() {
        vec!["-".to_owned()]
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

fn validate_file(path: &str, args: &Args, out: &mut impl Write) -> Result<Summary, Failure> {
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
                    write_diagnostic(out, args.format, &name, &d, frame)?;
                }
            }
            Ok::<(), io::Error>(())
        };
    let mut output_error = None;
    let mut position = 0;
    // Framing and the stateless checks run off this thread (one worker a core).
    let read = for_each_prechecked(reader, framer, |frame, pre, ahead| {
        position = frame.end();
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
    if let Err(e) = read {
        bar.finish_and_clear();
        return Err(Failure::Input(format!(
            "{name}: read error after byte {position}: {e}"
        )));
    }
    bar.finish_and_clear();
    let summary = validator.finish(&mut diagnostics);
    print(&mut diagnostics, None, out).map_err(Failure::Output)?;
    write_summary(out, args.format, &name, &summary, printed).map_err(Failure::Output)?;
    Ok(summary)
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    line: Option<u64>,
    column: Option<u64>,
    byte: Option<u64>,
    severity: &'static str,
    code: &'static str,
    message: &'a str,
    request_id: Option<&'a str>,
    path: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    file: &'a str,
    summary: &'a SummaryFields,
}

#[derive(Serialize)]
struct SummaryFields {
    records: u64,
    bytes: u64,
    errors: u64,
    warnings: u64,
    valid: bool,
}

pub(crate) fn write_diagnostic(
    out: &mut dyn Write,
    format: Format,
    file: &str,
    d: &Diagnostic,
    frame: Option<&Frame>,
) -> io::Result<()> {
    match format {
        Format::Json => {
            let record = JsonDiagnostic {
                file,
                line: d.line,
                column: d.column,
                byte: d.byte,
                severity: d.severity.as_str(),
                code: d.code.as_str(),
                message: &d.message,
                request_id: d.request_id.as_deref(),
                path: d.path.as_deref(),
            };
            serde_json::to_writer(&mut *out, &record)?;
            writeln!(out)
        }
        Format::Github => {
            write!(
                out,
                "::{} file={}",
                d.severity.as_str(),
                escape_property(&printable(file))
            )?;
            if let Some(line) = d.line {
                write!(out, ",line={line}")?;
            }
            if let Some(col) = d.column {
                write!(out, ",col={col}")?;
            }
            let mut message = format!("[{}] {}", d.code, d.message);
            if let Some(id) = &d.request_id {
                message.push_str(&format!(" (request_id {id})"));
            }
            writeln!(out, "::{}", escape_data(&printable(&message)))
        }
        Format::Human => {
            write!(out, "{}:", printable(file))?;
            if let Some(line) = d.line {
                write!(out, "{line}:")?;
                if let Some(col) = d.column {
                    write!(out, "{col}:")?;
                }
            }
            let message = printable(&d.message);
            write!(out, " {}[{}]: {message}", d.severity.as_str(), d.code)?;
            let path = d.path.as_deref().map(printable);
            match (&d.request_id, path) {
                (Some(id), Some(path)) => write!(out, " (request_id {id:?}, at {path})")?,
                (Some(id), None) => write!(out, " (request_id {id:?})")?,
                (None, Some(path)) => write!(out, " (at {path})")?,
                (None, None) => {}
            }
            writeln!(out)?;
            if let (Some(Frame::Line(line)), Some(col)) = (frame, d.column) {
                if !line.bytes().is_empty() {
                    let (text, caret) = excerpt(line.bytes(), col as usize - 1, 40);
                    writeln!(out, "    | {text}")?;
                    writeln!(out, "    | {}^", " ".repeat(caret))?;
                }
            }
            Ok(())
        }
    }
}

fn write_summary(
    out: &mut dyn Write,
    format: Format,
    file: &str,
    s: &Summary,
    printed: u64,
) -> io::Result<()> {
    let hidden = (s.errors + s.warnings).saturating_sub(printed);
    match format {
        Format::Json => {
            let fields = SummaryFields {
                records: s.records,
                bytes: s.bytes,
                errors: s.errors,
                warnings: s.warnings,
                valid: s.valid,
            };
            serde_json::to_writer(
                &mut *out,
                &JsonSummary {
                    file,
                    summary: &fields,
                },
            )?;
            writeln!(out)
        }
        Format::Github | Format::Human => {
            let verdict = if s.valid { "valid" } else { "NOT VALID" };
            let more = if hidden > 0 {
                format!(" ({hidden} not shown: --max-errors)")
            } else {
                String::new()
            };
            let file = printable(file);
            let line = format!(
                "{file}: {} records, {} bytes, {} errors, {} warnings: {verdict}{more}",
                s.records, s.bytes, s.errors, s.warnings
            );
            if format == Format::Github {
                let level = if s.valid { "notice" } else { "error" };
                writeln!(
                    out,
                    "::{level} file={}::{}",
                    escape_property(&file),
                    escape_data(&line)
                )
            } else {
                writeln!(out, "{line}")
            }
        }
    }
}

/// Up to `radius` bytes either side of `at`, on character boundaries, as
/// printable text; and the caret's column in that text.
fn excerpt(line: &[u8], at: usize, radius: usize) -> (String, usize) {
    let at = at.min(line.len());
    let boundary = |mut i: usize| {
        while i > 0 && i < line.len() && line[i] & 0xC0 == 0x80 {
            i -= 1;
        }
        i
    };
    let at = boundary(at);
    let start = boundary(at.saturating_sub(radius));
    let end = boundary((at + radius).min(line.len()));
    let end = if at + radius >= line.len() {
        line.len()
    } else {
        end
    };
    let printable = |bytes: &[u8]| -> String {
        String::from_utf8_lossy(bytes)
            .chars()
            .map(|c| if unprintable(c) { '\u{FFFD}' } else { c })
            .collect()
    };
    let lead = if start > 0 { "…" } else { "" };
    let before = printable(&line[start..at]);
    let caret = lead.chars().count() + before.chars().count();
    let tail = if end < line.len() { "…" } else { "" };
    (
        format!("{lead}{before}{}{tail}", printable(&line[at..end])),
        caret,
    )
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_trims_long_lines_on_char_boundaries() {
        let line = "é".repeat(100);
        let (text, caret) = excerpt(line.as_bytes(), 101, 10);
        assert!(text.starts_with('…') && text.ends_with('…'), "{text}");
        assert!(!text.contains('\u{FFFD}'));
        assert_eq!(text.chars().nth(caret), Some('é'));
        let (text, caret) = excerpt(b"{\"a\":1}", 0, 40);
        assert_eq!((text.as_str(), caret), ("{\"a\":1}", 0));
    }
}
