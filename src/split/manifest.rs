//! `manifest.json`: what a split wrote, with each batch's hash.

use serde::Serialize;

/// Pads the numbers of batch names made by [`batch_file_name`] to the width
/// of the count, when it passes five digits: `batch-00001.jsonl` … then
/// `batch-100000.jsonl` would not sort in batch order. Other names are kept.
pub(super) fn widen_batch_names(batches: &mut [BatchInfo]) {
    let width = batches.len().to_string().len();
    if width <= 5 {
        return;
    }
    for (i, batch) in batches.iter_mut().enumerate() {
        let number = i + 1;
        if let Some(prefix) = batch.file.strip_suffix(&format!("-{number:05}.jsonl")) {
            batch.file = format!("{prefix}-{number:0width$}.jsonl");
        }
    }
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Format version: 1.
    pub version: u32,
    /// The limits the batches meet.
    pub limits: ManifestLimits,
    /// The inputs, in order.
    pub inputs: Vec<InputInfo>,
    /// The batches, in order.
    pub batches: Vec<BatchInfo>,
    /// Records written.
    pub records: u64,
    /// Blank lines dropped.
    pub dropped_blank_lines: u64,
    /// Lines refused (with `skip_invalid`).
    pub rejected: u64,
}

impl Manifest {
    /// `manifest.json` as written: pretty JSON and a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(self).expect("a manifest is plain data");
        text.push(b'\n');
        text
    }
}

/// The limits, as the manifest spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ManifestLimits {
    /// Most records a batch.
    pub max_records: u64,
    /// Fewest records a batch.
    pub min_records: u64,
    /// Most bytes a batch.
    pub max_bytes: u64,
}

/// One input in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InputInfo {
    /// As given.
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// Its non-blank lines.
    pub records: u64,
}

/// One batch in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BatchInfo {
    /// File name, in the output directory.
    pub file: String,
    /// Records in it.
    pub records: u64,
    /// Its size, newlines included.
    pub bytes: u64,
    /// Its first record's id.
    pub first_request_id: String,
    /// Its last record's id.
    pub last_request_id: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}
