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
//! - `client`: the Batch API over HTTP, rate-limited, retried, with the key
//!   sent to the API's origin only (feature `client`);
//! - [`campaign`]: the whole workflow, resumable: a state machine with no
//!   I/O, its journal, and a driver over the client and the stages
//!   (`campaign::Campaign`, feature `client`);
//! - [`ids`]: a compact set of request ids;
//! - [`output`]: outputs that appear whole or not at all;
//! - [`generate`]: realistic records for tests and benches (feature `generate`);
//! - [`cookbook`]: the stages put together, as recipes.
//!
//! Each of these modules has a worked example in its documentation. Across
//! them: an [`Input`] names what is read, an [`Observer`] watches a long run
//! (diagnostics as found, progress, a way to stop it), and every file stage
//! fails with one [`Error`], whose [`ErrorKind`] says what went wrong and
//! whose [`Position`] says where.
//!
//! # Example
//!
//! ```
//! use syncbatch::split::{split, MemorySink, SplitOptions};
//! use syncbatch::validate::{validate_path, Code, Limits};
//! use syncbatch::Input;
//!
//! // One call validates a file at full speed.
//! let report = validate_path("examples/data/input.jsonl", Limits::default())?;
//! assert!(report.summary.valid && report.diagnostics.is_empty());
//! assert_eq!(report.summary.records, 20);
//!
//! // The same file cut short draws `too_few_records`.
//! let short = std::fs::read("examples/data/input.jsonl")?;
//! let report = syncbatch::validate::validate_reader(&short[..1000], Limits::default())?;
//! assert_eq!(report.diagnostics.last().unwrap().code, Code::TooFewRecords);
//!
//! // One call splits any number of inputs into compliant batches.
//! let input = Input::open("examples/data/input.jsonl")?;
//! let options = SplitOptions::new().limits(Limits::default().min_records(5).max_records(8));
//! let (summary, sink) = split([input], options, MemorySink::default())?;
//! assert_eq!((summary.records, summary.batches), (20, 3));
//! assert_eq!(sink.batches.iter().map(Vec::len).collect::<Vec<_>>(), [8, 7, 5]);
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod api;
pub mod campaign;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "generate")]
pub mod cookbook;
mod cpu;
mod error;
#[cfg(feature = "fake-api")]
pub mod fake_api;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "generate")]
pub mod generate;
pub mod ids;
mod input;
pub mod merge;
mod observe;
pub mod output;
mod pipeline;
pub mod split;
mod util;
pub mod validate;

pub use self::error::{Error, ErrorKind, Position, Result};

/// Speed plumbing for the crate's own benches, examples and fuzz targets:
/// not part of the API, and free to change at any time.
#[doc(hidden)]
pub mod internals {
    pub use crate::split::hash::{sha256, sha256_many, to_hex, Hash, LANES};

    /// Whether the validator's fast path finds the line clean (a valid
    /// record but for the uniqueness of its id).
    pub fn fast_path_clean(frame: &crate::frame::Frame) -> bool {
        matches!(
            crate::validate::precheck(frame),
            crate::validate::Precheck::Clean { .. }
        )
    }
}
pub use self::input::Input;
pub use self::observe::{Collect, Observer, PROGRESS_EVERY};
