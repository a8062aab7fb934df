//! The retry set: the original lines of every request not `COMPLETED`,
//! read again by their offsets and split into compliant batch files.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::policy::StatusClass;
use super::Merger;
use crate::error::{Error, ErrorKind, Result};
use crate::input::{Again, Input};
use crate::observe::Observer;
use crate::output::OutputFile;
use crate::split::plan::Infeasible;
use crate::split::{DirSink, SplitOptions, SplitSummary, Splitter};
use crate::validate::Limits;

/// What [`Merger::write_retry_set`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetrySet {
    /// Every request completed: nothing was written.
    Nothing,
    /// The requests to retry, split into compliant batch files.
    Batches {
        /// Requests to retry.
        requests: u64,
        /// What the split did.
        split: SplitSummary,
    },
    /// The requests to retry cannot make a compliant batch (fewer than the
    /// minimum, say): their lines were written whole to `path`, to send
    /// another way or with later retries.
    Undersized {
        /// Requests to retry.
        requests: u64,
        /// The file that holds them.
        path: PathBuf,
        /// Why no batch could be made.
        why: Infeasible,
    },
}

/// The name of the file a retry set too small for a batch goes to.
pub const UNDERSIZED: &str = "retry-undersized.jsonl";

impl Merger {
    /// The requests not `COMPLETED` (failed, rejected, other, missing), in
    /// request order, as (request file name as given to
    /// [`Merger::add_requests`], byte offset, length of the line without its
    /// terminator): where their original lines stand.
    /// [`Merger::write_retry_set`] reads them back. `O(requests)`.
    pub fn retry_lines(&self) -> impl Iterator<Item = (&str, u64, u32)> + '_ {
        self.requests
            .iter()
            .filter(|r| !matches!(r.best, Some(b) if b.class == StatusClass::Completed))
            .map(|r| {
                (
                    self.request_files[r.file as usize].name.as_str(),
                    r.offset,
                    r.len,
                )
            })
    }

    /// Writes the retry set into `dir` (absent or empty): the original
    /// request lines of every request not `COMPLETED`, in request order,
    /// split into compliant batch files exactly as
    /// [`split`](crate::split::split) would with `limits` (files appear
    /// whole, with their manifest); when they cannot make a compliant batch,
    /// they go whole to `dir/retry-undersized.jsonl`. Call it after
    /// [`Merger::write_merged`]; the merger must have been made with
    /// [`Merger::keep_requests`] unless every request input was a file or
    /// bytes in memory. `observer` sees the split's progress and may stop
    /// it. Cost: one read of each line to retry, by its offset, and a split.
    pub fn write_retry_set(
        &self,
        dir: &Path,
        limits: Limits,
        observer: impl Observer,
    ) -> Result<RetrySet> {
        limits.check()?;
        let requests = self.retry_lines().count() as u64;
        if requests == 0 {
            return Ok(RetrySet::Nothing);
        }
        let sink = DirSink::create(dir, "batch", false)?.with_rejected()?;
        let options = SplitOptions::new().limits(limits).skip_invalid(true);
        let lines = Input::from_reader("retry", self.retry_reader()?);
        match Splitter::new(options, sink).run([lines], observer) {
            Ok((split, _)) => Ok(RetrySet::Batches { requests, split }),
            Err(e) => match e.into_kind() {
                ErrorKind::Infeasible(why) => {
                    fs::create_dir_all(dir)
                        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
                    let path = dir.join(UNDERSIZED);
                    let mut out = OutputFile::create(&path)?;
                    io::copy(&mut self.retry_reader()?, &mut out)
                        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
                    out.finish()?;
                    Ok(RetrySet::Undersized {
                        requests,
                        path,
                        why,
                    })
                }
                kind => Err(Error::new(kind)),
            },
        }
    }

    /// The lines to retry, each with its `\n`, as one stream.
    fn retry_reader(&self) -> Result<RetryLines> {
        let mut sources = Vec::with_capacity(self.request_files.len());
        for file in &self.request_files {
            let source = match &file.again {
                Some(Again::Path(path)) => {
                    Some(Source::File(File::open(path).map_err(|e| {
                        Error::io(format!("{}: cannot open", file.name), e)
                    })?))
                }
                Some(Again::File(spooled)) => Some(Source::File(
                    spooled
                        .try_clone()
                        .map_err(|e| Error::io(file.name.clone(), e))?,
                )),
                Some(Again::Bytes(bytes)) => Some(Source::Bytes(bytes.clone())),
                None => None,
            };
            sources.push(source);
        }
        let lines: Vec<(u32, u64, u32)> = self
            .requests
            .iter()
            .filter(|r| !matches!(r.best, Some(b) if b.class == StatusClass::Completed))
            .map(|r| (r.file, r.offset, r.len))
            .collect();
        if let Some(&(file, ..)) = lines.iter().find(|(f, ..)| sources[*f as usize].is_none()) {
            let name = &self.request_files[file as usize].name;
            return Err(Error::new(ErrorKind::Conflict(format!(
                "{name} cannot be read again for the retry set: make the merger with \
                 keep_requests(true)"
            ))));
        }
        let names = self.request_files.iter().map(|f| f.name.clone()).collect();
        Ok(RetryLines {
            sources,
            names,
            lines: lines.into_iter(),
            buf: Vec::new(),
            pos: 0,
        })
    }
}

/// Where the lines of one request input are read again.
enum Source {
    File(File),
    Bytes(Bytes),
}

/// Streams the original request lines to retry, each with its `\n`.
struct RetryLines {
    sources: Vec<Option<Source>>,
    names: Vec<String>,
    lines: std::vec::IntoIter<(u32, u64, u32)>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for RetryLines {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            let Some((file, offset, len)) = self.lines.next() else {
                return Ok(0);
            };
            let name = &self.names[file as usize];
            let again = |e: io::Error| io::Error::new(e.kind(), format!("{name}: read again: {e}"));
            self.buf.resize(len as usize, 0);
            match &self.sources[file as usize] {
                Some(Source::File(f)) => {
                    crate::util::read_exact_at(f, &mut self.buf, offset).map_err(again)?
                }
                Some(Source::Bytes(b)) => {
                    let line = usize::try_from(offset)
                        .ok()
                        .and_then(|at| b.get(at..at + len as usize))
                        .ok_or_else(|| again(io::ErrorKind::UnexpectedEof.into()))?;
                    self.buf.copy_from_slice(line);
                }
                None => return Err(again(io::ErrorKind::NotFound.into())),
            }
            self.buf.push(b'\n');
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
