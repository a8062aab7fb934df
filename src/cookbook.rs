//! Recipes for the library, each a whole program that `cargo test` runs.
//!
//! The module examples show each stage alone; these show stages put
//! together the way a tool that links this crate would.
//!
//! # Send batches somewhere else than a directory
//!
//! [`Splitter`](crate::split::Splitter) hands each batch to a
//! [`Sink`](crate::split::Sink) as soon as the planner has decided it, so an
//! uploader can start on the first batch while the rest of the input is still
//! being read. The sink says what the batch is called and, at the end, gives
//! the SHA-256 of each batch for the manifest. A split that fails calls
//! `abort`: whatever the sink started must be undone there.
//!
//! ```
//! use std::io;
//! use syncbatch::split::{batch_file_name, sha256_hex, split};
//! use syncbatch::split::{Manifest, Record, Rejected, Sink, SplitOptions};
//! use syncbatch::validate::{validate_reader, Limits};
//! use syncbatch::Input;
//!
//! /// Keeps each batch file's bytes, as an uploader would send them.
//! #[derive(Default)]
//! struct Uploads {
//!     files: Vec<(String, Vec<u8>)>,
//!     hashes: Vec<String>,
//!     manifest: Option<Manifest>,
//! }
//!
//! impl Sink for Uploads {
//!     fn batch(&mut self, index: usize, records: Vec<Record>) -> io::Result<String> {
//!         let name = batch_file_name("batch", index);
//!         self.hashes.push(sha256_hex(&records));
//!         let mut body = Vec::new();
//!         for r in &records {
//!             body.extend_from_slice(&r.bytes);
//!             body.push(b'\n');
//!         }
//!         self.files.push((name.clone(), body)); // start the upload here
//!         Ok(name)
//!     }
//!     fn reject(&mut self, _line: &Rejected) -> io::Result<()> {
//!         Ok(()) // only called with `skip_invalid`
//!     }
//!     fn finish_batches(&mut self) -> io::Result<Vec<String>> {
//!         Ok(std::mem::take(&mut self.hashes)) // wait for the uploads here
//!     }
//!     fn commit(&mut self, manifest: &Manifest) -> io::Result<()> {
//!         self.manifest = Some(manifest.clone());
//!         Ok(())
//!     }
//!     fn abort(&mut self) {
//!         self.files.clear(); // delete what was uploaded
//!     }
//! }
//!
//! let input = Input::from_bytes("input.jsonl", syncbatch::generate::records(7, 1200));
//! let (summary, uploads) = split([input], SplitOptions::default(), Uploads::default())?;
//! assert_eq!(summary.batches, 3);
//! for (name, body) in &uploads.files {
//!     let report = validate_reader(&body[..], Limits::default())?;
//!     assert!(report.summary.valid, "{name}");
//! }
//! let manifest = uploads.manifest.expect("committed");
//! assert_eq!(manifest.batches[0].file, "batch-00001.jsonl");
//! assert_eq!(manifest.records, 1200);
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Write batch files and read the manifest back
//!
//! [`DirSink`](crate::split::DirSink) is what `syncbatch split --out DIR`
//! uses: files are written aside and appear, with `manifest.json`, only when
//! the whole split succeeded.
//!
//! ```
//! use syncbatch::split::{split, DirSink, SplitOptions};
//! use syncbatch::Input;
//!
//! let dir = std::env::temp_dir().join(format!("syncbatch-cookbook-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let input = Input::from_bytes("input.jsonl", syncbatch::generate::records(7, 1200));
//! split([input], SplitOptions::default(), DirSink::create(&dir, "batch", false)?)?;
//! let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)?;
//! let batches = manifest["batches"].as_array().unwrap();
//! assert_eq!(batches.len(), 3);
//! let first = std::fs::read(dir.join(batches[0]["file"].as_str().unwrap()))?;
//! assert_eq!(first.len() as u64, batches[0]["bytes"].as_u64().unwrap());
//! # std::fs::remove_dir_all(&dir)?;
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A retry set after a merge
//!
//! [`Merger::write_retry_set`](crate::merge::Merger::write_retry_set) reads
//! the original line of every request that did not complete again, by its
//! offset, and splits those lines into compliant batch files, exactly as
//! `syncbatch merge --retry-dir` does; when too few are left for a batch,
//! they go whole to `retry-undersized.ndjson`.
//!
//! ```
//! use syncbatch::merge::{Merger, RetryOptions, RetrySet};
//! use syncbatch::validate::Limits;
//! use syncbatch::Input;
//!
//! let dir = std::env::temp_dir().join(format!("syncbatch-cookbook-retry-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let requests = syncbatch::generate::records(3, 3);
//! let lines: Vec<&str> = std::str::from_utf8(&requests)?.lines().collect();
//! let id = |line: &str| serde_json::from_str::<serde_json::Value>(line).unwrap()["request_id"].clone();
//! let results = format!(
//!     "{}\n{}\n",
//!     serde_json::json!({"request_id": id(lines[0]), "status": "COMPLETED", "error": null, "response": {}}),
//!     serde_json::json!({"request_id": id(lines[1]), "status": "FAILED", "error": "bad video", "response": null}),
//! );
//! let mut merger = Merger::new();
//! merger.add_requests(Input::from_bytes("batch-00001.jsonl", requests.clone()))?;
//! merger.add_results(Input::from_bytes("output.jsonl", results), &mut std::io::sink())?;
//! let summary = merger.write_merged(&mut std::io::sink())?;
//! assert_eq!((summary.completed, summary.failed, summary.missing), (1, 1, 1));
//!
//! // The two requests left are too few for a batch of at least 20 ...
//! let retry = merger.write_retry_set(&dir.join("retry"), &RetryOptions::new(), ())?;
//! assert!(matches!(retry, RetrySet::Undersized { requests: 2, .. }));
//! let undersized = std::fs::read_to_string(dir.join("retry/retry-undersized.ndjson"))?;
//! assert_eq!(undersized, format!("{}\n{}\n", lines[1], lines[2]));
//!
//! // ... and make one batch when a batch may hold a single request.
//! let options = RetryOptions::new().limits(Limits::default().min_records(1));
//! let retry = merger.write_retry_set(&dir.join("retry-2"), &options, ())?;
//! assert!(matches!(retry, RetrySet::Batches { requests: 2, .. }));
//! assert_eq!(std::fs::read_to_string(dir.join("retry-2/batch-00001.jsonl"))?, undersized);
//! # std::fs::remove_dir_all(&dir)?;
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
