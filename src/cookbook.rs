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
//! use syncbatch::split::{batch_file_name, sha256_hex};
//! use syncbatch::split::{Manifest, Record, Rejected, Sink, SplitOptions, Splitter};
//! use syncbatch::validate::{validate_reader, Limits};
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
//! let input = syncbatch::generate::records(7, 1200);
//! let mut splitter = Splitter::new(SplitOptions::default(), Uploads::default());
//! splitter.split_reader("input.jsonl", &input[..])?;
//! let (summary, uploads) = splitter.finish()?;
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
//! use syncbatch::split::{DirSink, SplitOptions, Splitter};
//!
//! let dir = std::env::temp_dir().join(format!("syncbatch-cookbook-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let input = syncbatch::generate::records(7, 1200);
//! let mut splitter = Splitter::new(SplitOptions::default(), DirSink::create(&dir, "batch", false)?);
//! splitter.split_reader("input.jsonl", &input[..])?;
//! splitter.finish()?;
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
//! [`Merger::retry_lines`](crate::merge::Merger::retry_lines) says where the
//! request line of every request that did not complete stands: the request
//! file's name as given, a byte offset and a length. Read those bytes back
//! and they are ready to split again; `syncbatch merge --retry-dir` does just
//! that.
//!
//! ```
//! use std::os::unix::fs::FileExt;
//! use syncbatch::merge::Merger;
//!
//! let dir = std::env::temp_dir().join(format!("syncbatch-cookbook-retry-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let requests = dir.join("batch-00001.jsonl");
//! std::fs::write(&requests, b"{\"request_id\":\"a\"}\n{\"request_id\":\"b\"}\n{\"request_id\":\"c\"}\n")?;
//! let results = dir.join("output.jsonl");
//! std::fs::write(&results, concat!(
//!     "{\"request_id\":\"a\",\"status\":\"COMPLETED\",\"error\":null,\"response\":{}}\n",
//!     "{\"request_id\":\"b\",\"status\":\"FAILED\",\"error\":\"bad video\",\"response\":null}\n",
//! ))?;
//!
//! let mut merger = Merger::new();
//! let name = requests.to_str().unwrap();
//! merger.add_requests(name, std::fs::File::open(&requests)?)?;
//! merger.add_results(&results, &mut std::io::sink())?;
//! let summary = merger.write_merged(&mut std::io::sink())?;
//! assert_eq!((summary.completed, summary.failed, summary.missing), (1, 1, 1));
//!
//! let mut retry = Vec::new();
//! for (file, offset, len) in merger.retry_lines() {
//!     let mut line = vec![0; len as usize];
//!     std::fs::File::open(file)?.read_exact_at(&mut line, offset)?;
//!     retry.push(String::from_utf8(line)?);
//! }
//! assert_eq!(retry, ["{\"request_id\":\"b\"}", "{\"request_id\":\"c\"}"]);
//! # std::fs::remove_dir_all(&dir)?;
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
