//! syncbatch: validate, split and merge the JSON Lines files of the Sync Labs
//! lip-sync Batch API.
//!
//! A batch input file holds 20 to 500 requests, one JSON object a line, at
//! most 5 MB, each with a unique `request_id`, the `endpoint` `/v2/generate`
//! and a Generate API `payload`. This crate checks such files line by line,
//! in bounded memory, whatever their size.
//!
//! The stages, one module each:
//!
//! - [`frame`]: zero-copy line framing, blocking and async;
//! - [`validate`]: the incremental validator and its diagnostics;
//! - [`split`]: inputs of any size into compliant batch files, with the
//!   fewest batches a contiguous split allows;
//! - [`merge`]: result files joined back to the requests, in request order,
//!   with a retry set;
//! - [`api`]: typed Batch API objects (batch, statuses, output lines,
//!   webhook bodies and their signatures);
//! - [`ids`]: a compact set of request ids;
//! - [`generate`]: realistic records for tests and benches (feature `generate`);
//! - [`cookbook`]: the stages put together, as recipes.
//!
//! Each of these modules has a worked example in its documentation.
//!
//! # Example
//!
//! ```
//! use syncbatch::frame::LineReader;
//! use syncbatch::validate::{Code, Limits, Validator};
//!
//! let file = std::fs::File::open("examples/data/input.jsonl")?;
//! let mut validator = Validator::new(Limits::default());
//! let mut lines = LineReader::with_framer(file, validator.framer());
//! let mut diagnostics = Vec::new();
//! while let Some(frame) = lines.next_frame()? {
//!     validator.check(&frame, &mut diagnostics); // one line at a time, nothing kept
//! }
//! let summary = validator.finish(&mut diagnostics);
//! assert!(summary.valid && diagnostics.is_empty());
//! assert_eq!(summary.records, 20);
//!
//! // The same file cut short draws `too_few_records`.
//! let short = std::fs::read("examples/data/input.jsonl")?;
//! let report = syncbatch::validate::validate_reader(&short[..1000], Limits::default())?;
//! assert_eq!(report.diagnostics.last().unwrap().code, Code::TooFewRecords);
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod api;
#[cfg(feature = "generate")]
pub mod cookbook;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "generate")]
pub mod generate;
pub mod ids;
pub mod merge;
pub mod split;
pub mod validate;
