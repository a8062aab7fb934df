//! Diagnostics and summaries printed as the command line prints them: the
//! text format (with an excerpt of the line and a caret), JSON Lines, and
//! GitHub workflow annotations.
//!
//! Everything human-readable goes through [`printable`]: messages quote the
//! input, and a hostile file must not recolour, retitle or reorder a terminal.
//!
//! ```
//! use syncbatch::validate::report::{write_diagnostic, Format};
//! use syncbatch::validate::{validate_reader, Limits};
//!
//! // The id holds an escape sequence that would retitle a terminal.
//! let line = br#"{"request_id":"a\u001b]0;pwned\u0007","endpoint":"/v1","payload":{}}"#;
//! let report = validate_reader(&line[..], Limits::default())?;
//! let mut out = Vec::new();
//! for d in &report.diagnostics {
//!     write_diagnostic(&mut out, Format::Human, "in.jsonl", d, Some(&line[..]))?;
//! }
//! let text = String::from_utf8(out)?;
//! assert!(text.starts_with("in.jsonl:1:"));
//! assert!(text.contains(r"\u{1b}") && !text.contains('\u{1b}'));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use super::{Diagnostic, Summary};
use crate::util::count;

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Format {
    /// `FILE:LINE:COL: error[CODE]: MESSAGE`, the line's excerpt, a summary line.
    Human,
    /// JSON Lines: one object per diagnostic, then one summary object per file.
    Json,
    /// GitHub workflow annotations.
    Github,
}

/// Whether `c` must not reach a terminal as it is: control characters
/// (which can move the cursor, retitle the window or hide text), the
/// invisible marks that reorder text (bidirectional overrides and isolates),
/// and the Unicode line and paragraph separators.
pub fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` as it may be printed to a terminal: every [`unprintable`] character
/// written as an escape, `\u{1b}`. Borrowed when there is none (the common
/// case). Messages quote what the input holds (keys, model names, URLs), so
/// every human-readable output goes through this; JSON output escapes by
/// itself.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unprintable) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unprintable(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
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

/// Writes one diagnostic of `file` in `format`. `line` is the bytes of the
/// line it is on, for the human format's excerpt (none for file-level
/// diagnostics). Cost: formatting one line, plus a scan of the message for
/// characters to escape.
pub fn write_diagnostic(
    out: &mut dyn Write,
    format: Format,
    file: &str,
    d: &Diagnostic,
    line: Option<&[u8]>,
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
            if let (Some(line), Some(col)) = (line, d.column) {
                if !line.is_empty() {
                    let (text, caret) = excerpt(line, col.saturating_sub(1) as usize, 40);
                    writeln!(out, "    | {text}")?;
                    writeln!(out, "    | {}^", " ".repeat(caret))?;
                }
            }
            Ok(())
        }
    }
}

/// Writes the summary of `file` in `format`; `printed` diagnostics of its
/// errors and warnings were written, the rest are counted as not shown.
pub fn write_summary(
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
                "{file}: {}, {}, {}, {}: {verdict}{more}",
                count(s.records, "record", "records"),
                count(s.bytes, "byte", "bytes"),
                count(s.errors, "error", "errors"),
                count(s.warnings, "warning", "warnings"),
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
