//! syncbatch: the files of the Sync Labs lip-sync Batch API.
#![warn(missing_docs)]

pub mod frame;
#[cfg(feature = "generate")]
pub mod generate;
#[doc(hidden)]
pub mod fuzzing;
