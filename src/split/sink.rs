//! Where batches go: the [`Sink`] trait, the records it takes, and the
//! dry-run and in-memory sinks ([`DirSink`](super::DirSink) writes files).

use std::io;

use bytes::Bytes;
use serde::Serialize;

use super::Manifest;

/// One record on its way to a batch: its bytes as written (no newline), and
/// its request id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record's bytes, without `\n`.
    pub bytes: Bytes,
    pub(super) id: RecordId,
}

/// Where a record's request id is: most ids are written without escapes,
/// so they are found in the record's own bytes and cost nothing to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RecordId {
    /// Start and length of the id's text in the bytes.
    Span(u32, u32),
    Owned(Box<str>),
}

impl Record {
    /// A record of `bytes` with the request id `id`.
    pub fn new(bytes: Bytes, id: &str) -> Record {
        Record {
            bytes,
            id: RecordId::Owned(id.into()),
        }
    }

    /// Its request id.
    pub fn request_id(&self) -> &str {
        match &self.id {
            RecordId::Owned(id) => id,
            RecordId::Span(start, len) => {
                let range = *start as usize..*start as usize + *len as usize;
                // A span is only ever where `precheck` found the id, in
                // these bytes, as valid UTF-8.
                std::str::from_utf8(&self.bytes[range]).unwrap_or_default()
            }
        }
    }
}

/// A refused line, as `rejected.ndjson` holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// The input's name.
    pub file: String,
    /// 1-based line in that input.
    pub line: u64,
    /// The first error's code.
    pub code: &'static str,
    /// The first error's message.
    pub message: String,
    /// The line as text (lossy where not UTF-8); `None` for a line too long
    /// to keep.
    pub raw: Option<String>,
}

/// Where batches go.
pub trait Sink {
    /// Takes batch number `index` (1-based) and returns the file name it is
    /// known by. It may be written in the background: a write error can
    /// surface on a later call.
    fn batch(&mut self, index: usize, records: Vec<Record>) -> io::Result<String>;

    /// Takes a refused line (only with `skip_invalid`).
    fn reject(&mut self, rejected: &Rejected) -> io::Result<()>;

    /// Waits until every batch is written; returns each one's SHA-256 (hex),
    /// in order, or the first write error.
    fn finish_batches(&mut self) -> io::Result<Vec<String>>;

    /// Ends a successful split: the manifest, then the outputs are made final.
    fn commit(&mut self, manifest: &Manifest) -> io::Result<()>;

    /// Ends a failed split: nothing may be left under a final name.
    fn abort(&mut self);
}

/// The SHA-256 of a batch file's bytes (each record and its `\n`), hex.
pub fn sha256_hex(records: &[Record]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for r in records {
        h.update(&r.bytes);
        h.update(b"\n");
    }
    format!("{:x}", h.finalize())
}

/// The name of batch file number `index` (1-based): `<prefix>-00001.jsonl`.
///
/// A split of more than 99,999 batches renames them all at the end with as
/// many digits as the count needs (`<prefix>-000001.jsonl`, …), so that the
/// names still sort in batch order: the manifest given to [`Sink::commit`]
/// has the final names.
pub fn batch_file_name(prefix: &str, index: usize) -> String {
    format!("{prefix}-{index:05}.jsonl")
}

/// A sink that writes nothing: a dry run. It hashes each batch as
/// [`DirSink`](super::DirSink) would write it (on the calling thread: about 1 s a GiB with
/// SHA-NI) and keeps the manifest, so a dry run's manifest is the one a real
/// run would write. Memory: one name and one hash a batch.
#[derive(Debug)]
pub struct DryRunSink {
    prefix: String,
    hashes: Vec<String>,
    /// The manifest, once committed.
    pub manifest: Option<Manifest>,
}

impl DryRunSink {
    /// A dry run naming its batches `<prefix>-00001.jsonl`, ... as
    /// [`DirSink`](super::DirSink) does.
    pub fn new(prefix: &str) -> DryRunSink {
        DryRunSink {
            prefix: prefix.to_owned(),
            hashes: Vec::new(),
            manifest: None,
        }
    }
}

impl Sink for DryRunSink {
    fn batch(&mut self, index: usize, records: Vec<Record>) -> io::Result<String> {
        self.hashes.push(sha256_hex(&records));
        Ok(batch_file_name(&self.prefix, index))
    }

    fn reject(&mut self, _: &Rejected) -> io::Result<()> {
        Ok(())
    }

    fn finish_batches(&mut self) -> io::Result<Vec<String>> {
        Ok(std::mem::take(&mut self.hashes))
    }

    fn commit(&mut self, manifest: &Manifest) -> io::Result<()> {
        self.manifest = Some(manifest.clone());
        Ok(())
    }

    fn abort(&mut self) {
        self.hashes.clear();
    }
}

/// A sink that keeps batches in memory (tests, fuzzing, library users).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// Each batch's records, in order.
    pub batches: Vec<Vec<Record>>,
    /// Refused lines.
    pub rejected: Vec<Rejected>,
    /// The manifest, once committed.
    pub manifest: Option<Manifest>,
}

impl MemorySink {
    /// Batch `index` (0-based) as the bytes of its file: each record and
    /// its `\n`. `O(batch)`: one copy.
    ///
    /// ```
    /// use syncbatch::split::{split, MemorySink, SplitOptions};
    /// use syncbatch::validate::{validate_reader, Limits};
    /// use syncbatch::Input;
    ///
    /// let input = Input::open("examples/data/input.jsonl")?;
    /// let options = SplitOptions::new().limits(Limits::default().min_records(5).max_records(10));
    /// let (_, sink) = split([input], options, MemorySink::default())?;
    /// let file = sink.file(1).expect("a second batch");
    /// assert!(validate_reader(&file[..], Limits::default().min_records(5))?.summary.valid);
    /// assert!(sink.file(2).is_none());
    /// # Ok::<(), syncbatch::Error>(())
    /// ```
    pub fn file(&self, index: usize) -> Option<Vec<u8>> {
        let records = self.batches.get(index)?;
        let mut file = Vec::with_capacity(records.iter().map(|r| r.bytes.len() + 1).sum());
        for r in records {
            file.extend_from_slice(&r.bytes);
            file.push(b'\n');
        }
        Some(file)
    }
}

impl Sink for MemorySink {
    fn batch(&mut self, index: usize, records: Vec<Record>) -> io::Result<String> {
        self.batches.push(records);
        Ok(batch_file_name("batch", index))
    }

    fn reject(&mut self, rejected: &Rejected) -> io::Result<()> {
        self.rejected.push(rejected.clone());
        Ok(())
    }

    fn finish_batches(&mut self) -> io::Result<Vec<String>> {
        Ok(self.batches.iter().map(|b| sha256_hex(b)).collect())
    }

    fn commit(&mut self, manifest: &Manifest) -> io::Result<()> {
        self.manifest = Some(manifest.clone());
        Ok(())
    }

    fn abort(&mut self) {
        self.batches.clear();
        self.rejected.clear();
    }
}
