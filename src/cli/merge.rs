//! `syncbatch merge [OPTIONS] --requests FILE... --results FILE... --out FILE`

use std::fs::File;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::merge::{merge_files, MergeJob, MergeSummary, RetryOptions, RetrySet};
use crate::output::OutputFile;
use crate::{Error, Input, Observer};

use super::{count, interrupt, open, printable, progress, status_of, LimitArgs, FAILURE};
use super::{NOT_COMPLIANT, OK};

/// Join batch output files back to the requests, keyed by request_id.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  syncbatch merge --requests batches/*.jsonl --results downloads/*.jsonl --out merged.jsonl
  syncbatch merge --requests batches/*.jsonl --results downloads/*.jsonl \\
      --out merged.jsonl --summary summary.json --unknown unknown.jsonl --retry-dir retry/

Exit codes: 0 merged; 1 with --strict, something missing, unknown or malformed;
2 usage or I/O error (including request and result files that look swapped);
130 interrupted (nothing left half-written).")]
pub struct Args {
    /// Batch input files (or original inputs carrying their ids): the order and the set of ids.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub requests: Vec<PathBuf>,
    /// output.jsonl files, any number, in any order (`-`: standard input,
    /// copied to a temporary file first, as is any pipe).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub results: Vec<PathBuf>,
    /// The merged file: one line per request, in request order (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the figures as JSON here (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Write the requests not COMPLETED here as compliant batch files (DIR
    /// absent or empty unless --force; too few for a batch go to
    /// DIR/retry-undersized.ndjson).
    #[arg(long, value_name = "DIR")]
    pub retry_dir: Option<PathBuf>,
    /// Write the retry set into a --retry-dir that is not empty, replacing
    /// an earlier retry set there (to run a merge again).
    #[arg(long, requires = "retry_dir")]
    pub force: bool,
    /// Write result lines whose request_id is not among the requests here
    /// (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub unknown: Option<PathBuf>,
    /// Exit 1 when anything is missing, unknown or malformed.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Runs the subcommand; returns the exit status.
pub fn run(args: Args) -> u8 {
    // The limits only shape the retry batches, but contradictory ones are a
    // mistake whether or not --retry-dir was given.
    let limits = match args.limits.limits() {
        Ok(limits) => limits,
        Err(status) => return status,
    };
    let stdout_uses = [
        Some(&args.out),
        args.unknown.as_ref(),
        args.summary.as_ref(),
    ]
    .into_iter()
    .filter(|p| p.is_some_and(|p| p.as_os_str() == "-"))
    .count();
    if stdout_uses > 1 {
        eprintln!(
            "syncbatch: standard output (`-`) can take only one of --out, --unknown and --summary"
        );
        return FAILURE;
    }
    let stdin_uses = args
        .requests
        .iter()
        .chain(&args.results)
        .filter(|p| p.as_os_str() == "-")
        .count();
    if stdin_uses > 1 {
        eprintln!(
            "syncbatch: standard input (`-`) can be read only once: name it once among \
             --requests and --results"
        );
        return FAILURE;
    }
    let cooperating = interrupt::Cooperating::begin();
    let job = match job(&args, limits) {
        Ok(job) => job,
        Err(message) => {
            eprintln!("syncbatch: {message}");
            return FAILURE;
        }
    };
    let mut shown = Shown {
        bar: progress(Some(job_bytes(&job)), "merge"),
        cooperating: &cooperating,
    };
    let report = merge_files(job, &mut shown);
    shown.bar.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        // A closed pipe (`--out - | head`) ends the merge quietly, as Unix
        // tools do.
        Err(e) if is_broken_pipe(&e) => return OK,
        Err(e) => {
            let hint = match e.kind() {
                crate::ErrorKind::Io(io) if io.kind() == io::ErrorKind::AlreadyExists => {
                    " (--force replaces an earlier retry set there)"
                }
                crate::ErrorKind::Conflict(why) if why.contains("look swapped") => {
                    " (give the batch input files to --requests and the downloaded \
                     output files to --results)"
                }
                _ => "",
            };
            eprintln!("syncbatch: {e}{hint}");
            return status_of(&e);
        }
    };
    for note in &report.notes {
        eprintln!("syncbatch: {}", printable(&note.to_string()));
    }
    if report.notes_dropped > 0 {
        eprintln!(
            "syncbatch: ... and {} more",
            count(report.notes_dropped, "such line", "such lines")
        );
    }
    print_table(&report.summary);
    match (&report.retry, &args.retry_dir) {
        (Some(RetrySet::Nothing), _) => {
            eprintln!("syncbatch: every request COMPLETED: nothing to retry")
        }
        (Some(RetrySet::Batches { split, .. }), Some(dir)) => eprintln!(
            "syncbatch: {} to retry in {} in {}",
            count(split.records, "request", "requests"),
            count(split.batches, "batch file", "batch files"),
            dir.display()
        ),
        (
            Some(RetrySet::Undersized {
                requests,
                path,
                why,
            }),
            _,
        ) => eprintln!(
            "syncbatch: {} to retry cannot make a compliant batch ({why}): written to {} to \
             send another way or with later retries",
            count(*requests, "request", "requests"),
            path.display()
        ),
        _ => {}
    }
    let s = &report.summary;
    if args.strict && s.missing + s.unknown + s.malformed > 0 {
        eprintln!("syncbatch: --strict: missing, unknown or malformed results");
        NOT_COMPLIANT
    } else {
        OK
    }
}

/// The outputs, made first (aside), then the inputs, opened in order.
fn job(args: &Args, limits: crate::validate::Limits) -> Result<MergeJob, String> {
    let output = |path: &Path| -> Result<OutputFile, String> {
        if path.as_os_str() == "-" {
            // Standard output, through a handle of its own: a pipe, a file
            // or a socket alike, never reopened by name.
            return stdout_file()
                .map(|f| OutputFile::direct(PathBuf::from("<stdout>"), f))
                .map_err(|e| format!("cannot write <stdout>: {e}"));
        }
        OutputFile::create(path).map_err(|e| e.to_string())
    };
    let out = output(&args.out)?;
    let unknown = args.unknown.as_deref().map(output).transpose()?;
    let summary = args.summary.as_deref().map(output).transpose()?;
    let open_files = raise_open_file_limit();
    let requests = args
        .requests
        .iter()
        .map(|p| open(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let results = args
        .results
        .iter()
        .map(|p| open(p).map_err(|e| too_many_open(e, p, args.results.len(), open_files)))
        .collect::<Result<Vec<_>, _>>()?;
    let retry = RetryOptions::new().limits(limits).force(args.force);
    let mut job = MergeJob::new(requests, results, out).retry_options(retry);
    if let Some(file) = unknown {
        job = job.unknown(file);
    }
    if let Some(file) = summary {
        job = job.summary(file);
    }
    if let Some(dir) = &args.retry_dir {
        job = job.retry_dir(dir);
    }
    Ok(job)
}

/// Whether writing failed because the reader of a pipe went away.
fn is_broken_pipe(e: &Error) -> bool {
    matches!(e.kind(), crate::ErrorKind::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
}

fn job_bytes(job: &MergeJob) -> u64 {
    job.requests
        .iter()
        .chain(&job.results)
        .filter_map(Input::size)
        .sum()
}

/// The error of an input that could not be opened, with what to do when
/// the process ran out of file descriptors.
fn too_many_open(e: Error, path: &Path, files: usize, limit: Option<u64>) -> String {
    let emfile = matches!(e.kind(), crate::ErrorKind::Io(io) if is_emfile(io));
    if !emfile {
        return e.to_string();
    }
    format!(
        "{}: too many files open at once: merge keeps every result file open until it \
         writes, and {files} result files need more than the {} this process may open. Raise \
         the limit (`ulimit -n`), or concatenate the result files in the same order, each \
         ending with a newline, and merge that: it gives the same result.",
        path.display(),
        limit.map_or("limited number".to_owned(), |n| n.to_string()),
    )
}

#[cfg(unix)]
fn is_emfile(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error())
}

#[cfg(not(unix))]
fn is_emfile(_: &io::Error) -> bool {
    false
}

/// A handle of its own on standard output.
#[cfg(unix)]
fn stdout_file() -> io::Result<File> {
    use std::os::fd::AsFd;
    Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?))
}

#[cfg(windows)]
fn stdout_file() -> io::Result<File> {
    use std::os::windows::io::AsHandle;
    Ok(File::from(io::stdout().as_handle().try_clone_to_owned()?))
}

/// Merge keeps every result file open until it writes the merged file (the
/// winners are read again by offset), so it needs a file descriptor per
/// result file: 2,000 output files of a million requests are over the usual
/// soft limit of 1,024. Raises the soft limit on open files to the hard one
/// (or to what the system takes short of it), and returns the limit now in
/// force (`None`: unlimited).
#[cfg(unix)]
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let wanted = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, wanted).is_err() {
            // Some systems take no "unlimited" soft limit (macOS caps it at
            // OPEN_MAX): try a high finite one.
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(limit.maximum.unwrap_or(u64::MAX).min(10_240)),
                    maximum: limit.maximum,
                },
            );
        }
    }
    getrlimit(Resource::Nofile).current
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Option<u64> {
    None
}

/// Moves the bar as each input is read, and stops at a signal.
struct Shown<'a> {
    bar: indicatif::ProgressBar,
    cooperating: &'a interrupt::Cooperating,
}

impl Observer for Shown<'_> {
    fn input_done(&mut self, _: &str, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn progress(&mut self, _: &str, _: u64, _: u64) -> ControlFlow<()> {
        if interrupt::requested() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn committing(&mut self) {
        self.bar.set_message("merge: writing");
        self.cooperating.finishing();
    }
}

/// The merge's figures as a table on stderr.
pub fn print_table(s: &MergeSummary) {
    let rows = [
        ("requests", s.requests),
        ("completed", s.completed),
        ("failed", s.failed),
        ("rejected", s.rejected),
        ("other", s.other),
        ("missing", s.missing),
        ("duplicates", s.duplicates),
        ("unknown", s.unknown),
        ("malformed", s.malformed),
        ("skipped", s.skipped),
    ];
    let mut err = io::stderr().lock();
    for (name, n) in rows {
        let _ = writeln!(err, "{name:>12} {n:>10}");
    }
}
