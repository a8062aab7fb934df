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
use crate::split::{remove_previous, DirSink, SplitOptions, SplitSummary, Splitter, UNDERSIZED};
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

/// How to write a retry set: the limits and names of its batch files,
/// and whether its directory may hold files already.
///
/// ```
/// use syncbatch::merge::RetryOptions;
/// use syncbatch::validate::Limits;
///
/// let options = RetryOptions::new().limits(Limits::default().min_records(1)).force(true);
/// assert_eq!(options.prefix, "batch");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RetryOptions {
    /// The limits of its batch files.
    pub limits: Limits,
    /// Its batch files' names: `<prefix>-00001.jsonl`, ...
    pub prefix: String,
    /// Write into a directory that is not empty, replacing what an earlier
    /// retry set (or split) wrote there.
    pub force: bool,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            limits: Limits::default(),
            prefix: "batch".into(),
            force: false,
        }
    }
}

impl RetryOptions {
    /// The default limits, `batch-00001.jsonl`, ..., an absent or empty
    /// directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The limits of its batch files.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Its batch files' names.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Whether the directory may hold files already.
    pub fn force(mut self, yes: bool) -> Self {
        self.force = yes;
        self
    }
}

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

    /// Writes the retry set into `dir` (absent or empty, unless
    /// `options.force`): the original request lines of every request not
    /// `COMPLETED`, in request order, split into compliant batch files
    /// exactly as [`split`](crate::split::split) would (files appear whole,
    /// with their manifest, whose inputs are the request files the lines
    /// come from); when they cannot make a compliant batch, they go whole to
    /// `dir/retry-undersized.ndjson` instead. Call it after
    /// [`Merger::write_merged`]; the merger must have been made with
    /// [`Merger::keep_requests`] unless every request input was a file or
    /// bytes in memory. `observer` sees the split's progress and may stop
    /// it. Cost: one read of each line to retry, by its offset, and a split.
    pub fn write_retry_set(
        &self,
        dir: &Path,
        options: &RetryOptions,
        observer: impl Observer,
    ) -> Result<RetrySet> {
        options.limits.check()?;
        let requests = self.retry_lines().count() as u64;
        if requests == 0 {
            return Ok(RetrySet::Nothing);
        }
        let sink = DirSink::create(dir, &options.prefix, options.force)?.with_rejected()?;
        let split = SplitOptions::new()
            .limits(options.limits)
            .skip_invalid(true);
        let inputs = self.retry_inputs()?;
        match Splitter::new(split, sink).run(inputs, observer) {
            Ok((split, _)) => Ok(RetrySet::Batches { requests, split }),
            Err(e) => match e.into_kind() {
                ErrorKind::Infeasible(why) => {
                    let path = self.write_undersized(dir, options)?;
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

    /// Writes every line to retry to `dir/retry-undersized.ndjson`,
    /// replacing (with `force`) what an earlier retry set wrote there.
    fn write_undersized(&self, dir: &Path, options: &RetryOptions) -> Result<PathBuf> {
        let cannot =
            |what: &str, e: io::Error| Error::io(format!("cannot {what} {}", dir.display()), e);
        fs::create_dir_all(dir).map_err(|e| cannot("create", e))?;
        let path = dir.join(UNDERSIZED);
        let mut out = OutputFile::create(&path)?;
        for input in self.retry_inputs()? {
            io::copy(&mut input.into_reader(), &mut out)
                .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        }
        if options.force {
            remove_previous(dir, &options.prefix, &[UNDERSIZED.to_owned()])
                .map_err(|e| cannot("clear", e))?;
        }
        out.finish()?;
        Ok(path)
    }

    /// The lines to retry, each with its `\n`: one input for each request
    /// file that has some, named as that file.
    fn retry_inputs(&self) -> Result<Vec<Input>> {
        let reader = self.retry_reader()?;
        let mut by_file: Vec<(u32, Vec<LineAt>)> = Vec::new();
        for line in reader.lines {
            match by_file.last_mut() {
                Some((file, lines)) if *file == line.0 => lines.push(line),
                _ => by_file.push((line.0, vec![line])),
            }
        }
        let sources = std::sync::Arc::new(reader.sources);
        Ok(by_file
            .into_iter()
            .map(|(file, lines)| {
                let name = self.request_files[file as usize].name.clone();
                let lines = RetryLines {
                    sources: std::sync::Arc::clone(&sources),
                    names: reader.names.clone(),
                    lines: lines.into_iter(),
                    buf: Vec::new(),
                    pos: 0,
                };
                Input::from_reader(name, lines)
            })
            .collect())
    }

    /// Where every line to retry stands, and how to read each request file
    /// again.
    fn retry_reader(&self) -> Result<RetryPlan> {
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
        let lines: Vec<LineAt> = self
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
        Ok(RetryPlan {
            sources,
            names,
            lines,
        })
    }
}

/// Where a line to retry stands: its request file, offset and length.
type LineAt = (u32, u64, u32);

/// The lines to retry, and how to read them.
struct RetryPlan {
    sources: Vec<Option<Source>>,
    names: std::sync::Arc<[String]>,
    lines: Vec<LineAt>,
}

/// Where the lines of one request input are read again.
enum Source {
    File(File),
    Bytes(Bytes),
}

/// Streams the original request lines to retry, each with its `\n`.
struct RetryLines {
    sources: std::sync::Arc<Vec<Option<Source>>>,
    names: std::sync::Arc<[String]>,
    lines: std::vec::IntoIter<LineAt>,
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
