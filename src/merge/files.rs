//! The whole merge of files in one call, as `syncbatch merge` runs it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{MergeSummary, Merger, Note, RetryOptions, RetrySet};
use crate::error::{Error, ErrorKind, Result};
use crate::input::Input;
use crate::observe::Observer;
use crate::output::{is_special, OutputFile};
use crate::split::DirSink;
use crate::validate::Limits;

/// What to merge, and where the outputs go. Outputs are [`OutputFile`]s,
/// made before the merge starts so that one that cannot be made fails
/// before any input is read.
///
/// ```
/// use syncbatch::merge::{merge_files, MergeJob, RetrySet};
/// use syncbatch::output::OutputFile;
/// use syncbatch::validate::Limits;
/// use syncbatch::Input;
///
/// let dir = std::env::temp_dir().join(format!("syncbatch-merge-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// std::fs::create_dir_all(&dir)?;
/// let request = |id: &str| format!(
///     "{{\"request_id\":\"{id}\",\"endpoint\":\"/v2/generate\",\"payload\":{{\"model\":\"lipsync-2\",\
///      \"input\":[{{\"type\":\"video\",\"url\":\"https://a.io/v.mp4\"}},{{\"type\":\"audio\",\"url\":\"https://a.io/a.wav\"}}]}}}}\n"
/// );
/// let requests = Input::from_bytes("in.jsonl", request("a") + &request("b"));
/// let results = Input::from_bytes(
///     "output.jsonl",
///     "{\"request_id\":\"a\",\"status\":\"FAILED\",\"error\":\"no face\",\"response\":null}\n",
/// );
/// let out = OutputFile::create(&dir.join("merged.jsonl"))?;
/// let job = MergeJob::new(vec![requests], vec![results], out)
///     .retry_dir(dir.join("retry"))
///     .limits(Limits::default().min_records(1));
/// let report = merge_files(job, ())?;
/// assert_eq!((report.summary.failed, report.summary.missing), (1, 1));
/// assert!(matches!(report.retry, Some(RetrySet::Batches { requests: 2, .. })));
/// assert_eq!(std::fs::read_to_string(dir.join("retry/batch-00001.jsonl"))?, request("a") + &request("b"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), syncbatch::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct MergeJob {
    /// The request inputs, in order: the order and the set of ids.
    pub requests: Vec<Input>,
    /// The result inputs, in any order.
    pub results: Vec<Input>,
    /// The merged lines.
    pub out: OutputFile,
    /// The figures as JSON, when wanted.
    pub summary: Option<OutputFile>,
    /// The result lines whose `request_id` is not among the requests.
    pub unknown: Option<OutputFile>,
    /// Where the retry set goes, when wanted (absent or empty, unless
    /// `retry.force`).
    pub retry_dir: Option<PathBuf>,
    /// How the retry set is written: its limits, names, and whether its
    /// directory may hold files already.
    pub retry: RetryOptions,
}

impl MergeJob {
    /// A merge of `requests` and `results` into `out`, with no other output.
    pub fn new(requests: Vec<Input>, results: Vec<Input>, out: OutputFile) -> MergeJob {
        MergeJob {
            requests,
            results,
            out,
            summary: None,
            unknown: None,
            retry_dir: None,
            retry: RetryOptions::default(),
        }
    }

    /// Also writes the figures as JSON.
    pub fn summary(mut self, out: OutputFile) -> MergeJob {
        self.summary = Some(out);
        self
    }

    /// Also writes the unknown result lines.
    pub fn unknown(mut self, out: OutputFile) -> MergeJob {
        self.unknown = Some(out);
        self
    }

    /// Also writes the retry set into `dir`.
    pub fn retry_dir(mut self, dir: impl Into<PathBuf>) -> MergeJob {
        self.retry_dir = Some(dir.into());
        self
    }

    /// The limits of the retry set's batch files.
    pub fn limits(mut self, limits: Limits) -> MergeJob {
        self.retry.limits = limits;
        self
    }

    /// How the retry set is written.
    pub fn retry_options(mut self, options: RetryOptions) -> MergeJob {
        self.retry = options;
        self
    }
}

/// What [`merge_files`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MergeReport {
    /// The figures.
    pub summary: MergeSummary,
    /// Problems with single lines (bad request lines, malformed results),
    /// the first 1000.
    pub notes: Vec<Note>,
    /// Notes beyond those.
    pub notes_dropped: u64,
    /// The retry set, when one was asked for.
    pub retry: Option<RetrySet>,
}

/// Merges files in one call: refuses an output that is also an input, two
/// outputs on one file and one file given twice among the requests or
/// among the results (every line of it would count twice), a retry
/// directory that is not empty (unless `force`), and request and result
/// files that look swapped ([`Merger::looks_swapped`]); then reads the
/// requests and the results,
/// writes the merged lines, the unknown lines and the figures, moves every
/// output into place once all are whole, and writes the retry set.
/// `observer` is told as each input is read and done, and may stop the run
/// between inputs or during the retry split; an error leaves no output
/// under its final name (outputs already in place when the retry set fails
/// stay, whole).
///
/// Memory: an index of about 60 bytes a request, never the result bytes;
/// every result input stays open until the merged file is written.
pub fn merge_files(job: MergeJob, mut observer: impl Observer) -> Result<MergeReport> {
    job.retry.limits.check()?;
    refuse_clashes(&job)?;
    if let Some(dir) = job.retry_dir.as_ref().filter(|_| !job.retry.force) {
        DirSink::check(dir)?;
    }
    let MergeJob {
        requests,
        results,
        mut out,
        summary: mut summary_out,
        mut unknown,
        retry_dir,
        retry: retry_options,
    } = job;
    let mut merger = Merger::new().keep_requests(retry_dir.is_some());
    let stop = || Error::new(ErrorKind::Interrupted);
    for input in requests {
        let (name, size) = (input.name().to_owned(), input.size());
        observer.input_started(&name, size);
        merger.add_requests(input)?;
        observer.input_done(&name, size.unwrap_or(0));
        if observer
            .progress(&name, 0, merger.requests.len() as u64)
            .is_break()
        {
            return Err(stop());
        }
    }
    for input in results {
        let (name, size) = (input.name().to_owned(), input.size());
        observer.input_started(&name, size);
        let sink: &mut dyn Write = match unknown.as_mut() {
            Some(file) => file,
            None => &mut io::sink(),
        };
        merger.add_results(input, sink)?;
        observer.input_done(&name, size.unwrap_or(0));
        if observer
            .progress(&name, 0, merger.requests.len() as u64)
            .is_break()
        {
            return Err(stop());
        }
    }
    if let Some(why) = merger.looks_swapped() {
        return Err(Error::new(ErrorKind::Conflict(why)));
    }
    let summary = merger
        .write_merged(&mut out)
        .map_err(|e| Error::io(format!("cannot write {}", out.path().display()), e))?;
    // The figures are written aside too, so that every output is whole
    // before the first one is moved into place.
    if let Some(file) = summary_out.as_mut() {
        let mut text = serde_json::to_vec_pretty(&summary).map_err(io::Error::from)?;
        text.push(b'\n');
        file.write_all(&text)
            .map_err(|e| Error::io(format!("cannot write {}", file.path().display()), e))?;
    }
    observer.committing();
    out.finish()?;
    if let Some(file) = unknown {
        file.finish()?;
    }
    if let Some(file) = summary_out {
        file.finish()?;
    }
    let retry = match &retry_dir {
        Some(dir) => Some(merger.write_retry_set(dir, &retry_options, &mut observer)?),
        None => None,
    };
    Ok(MergeReport {
        summary,
        notes: merger.notes().to_vec(),
        notes_dropped: merger.notes_dropped(),
        retry,
    })
}

/// What identifies a file, whatever the path that names it: device and
/// inode on Unix, the canonical path elsewhere.
fn identity(path: &Path) -> Option<(u64, u64, PathBuf)> {
    let meta = fs::metadata(path).ok().filter(|m| m.is_file())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino(), PathBuf::new()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Some((0, 0, fs::canonicalize(path).ok()?))
    }
}

/// An output that is also an input would replace the user's own requests or
/// downloaded results (they are read before the output is moved into place,
/// so nothing would even fail), and two outputs on one path would leave only
/// the last: both refused. So is one file given twice among the requests or
/// among the results.
fn refuse_clashes(job: &MergeJob) -> Result<()> {
    let conflict = |why: String| Err(Error::new(ErrorKind::Conflict(why)));
    let inputs: Vec<(&str, &Input, (u64, u64, PathBuf))> = job
        .requests
        .iter()
        .map(|i| ("requests", i))
        .chain(job.results.iter().map(|i| ("results", i)))
        .filter_map(|(role, i)| identity(i.path()?).map(|id| (role, i, id)))
        .collect();
    for (k, (role, input, id)) in inputs.iter().enumerate() {
        if let Some((_, first, _)) = inputs[..k].iter().find(|(r, _, i)| r == role && i == id) {
            return conflict(format!(
                "the {role} name one file twice ({} and {}): every line of it would count twice",
                first.name(),
                input.name()
            ));
        }
    }
    let outputs = [
        ("merged output", Some(&job.out)),
        ("unknown lines' output", job.unknown.as_ref()),
        ("summary", job.summary.as_ref()),
    ];
    let mut taken: Vec<(&str, &Path, &Path)> = Vec::new();
    for (role, out) in outputs {
        let Some(out) = out else {
            continue;
        };
        let (path, target) = (out.path(), out.target());
        if let Some(id) = identity(target) {
            if let Some((input_role, input, _)) = inputs.iter().find(|(_, _, i)| *i == id) {
                return conflict(format!(
                    "the {role} {} is also an input (among the {input_role}, {}): refusing to \
                     overwrite it",
                    path.display(),
                    input.name()
                ));
            }
        }
        // Devices and pipes (`/dev/null` twice) are written to, not replaced.
        if is_special(path) || out.is_direct() {
            continue;
        }
        if let Some((other, other_path, _)) = taken.iter().find(|(_, _, t)| *t == target) {
            return conflict(format!(
                "the {role} {} and the {other} {} are the same file",
                path.display(),
                other_path.display()
            ));
        }
        taken.push((role, path, target));
    }
    Ok(())
}
