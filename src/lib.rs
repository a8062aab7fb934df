//! syncbatch: the files of the Sync Labs lip-sync Batch API.
#![warn(missing_docs)]

pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "generate")]
pub mod generate;
pub mod ids;
pub mod validate;
