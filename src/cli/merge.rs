//! `syncbatch merge [OPTIONS] --requests FILE... --results FILE... --out FILE`

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use syncbatch::merge::{spool, MergeSummary, Merger};
use syncbatch::split::{DirSink, SplitError, SplitOptions, Splitter};
use syncbatch::validate::report::count;

use super::validate::LimitArgs;
use super::{interrupt, open, printable, progress, FAILURE, NOT_COMPLIANT, OK};

/// Join batch output files back to the requests, keyed by request_id.
#[derive(clap::Args, Debug)]
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
    /// Write the requests not COMPLETED here as compliant batch files.
    #[arg(long, value_name = "DIR")]
    pub retry_dir: Option<PathBuf>,
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

/// An output file (`-`: standard output). A regular file (or a new one) is
/// written aside and renamed into place when done, so that it appears whole
/// or not at all, with the permissions of the file it replaces; a symbolic
/// link is followed, so that its target is replaced and the link kept.
/// Anything else that exists (`/dev/null`, a FIFO), and any path under `/dev` or `/proc`
/// (`/dev/stdout`, which may name a file the shell opened to append to), is
/// written to directly: renaming over it would replace the device or pipe
/// with a file.
struct Aside {
    path: PathBuf,
    /// The file written aside, when there is one.
    temp: Option<PathBuf>,
    out: Option<BufWriter<File>>,
}

impl Aside {
    fn create(path: &Path) -> io::Result<Aside> {
        let cannot = |what: &str, p: &Path, e: io::Error| {
            io::Error::new(e.kind(), format!("cannot {what} {}: {e}", p.display()))
        };
        if path.as_os_str() == "-" {
            // Standard output, through a handle of its own: a pipe, a file
            // or a socket alike, never reopened by name.
            let name = Path::new("<stdout>");
            let fd = io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| cannot("write", name, e))?;
            return Ok(Aside {
                path: name.to_owned(),
                temp: None,
                out: Some(BufWriter::with_capacity(256 * 1024, File::from(fd))),
            });
        }
        let target = match fs::canonicalize(path) {
            Ok(target) => target,
            Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_owned(),
            Err(e) => return Err(cannot("open", path, e)),
        };
        let existing = match fs::metadata(&target) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(cannot("open", path, e)),
        };
        let special = path.starts_with("/dev") || path.starts_with("/proc");
        if let Some(meta) = existing.as_ref().filter(|m| special || !m.is_file()) {
            if meta.is_dir() {
                let e = io::Error::new(io::ErrorKind::IsADirectory, "it is a directory");
                return Err(cannot("write", path, e));
            }
            // Appending: `/dev/stdout` reopens the shell's file at offset 0,
            // and `>>` means after what is there (after `>` it is empty).
            let file = fs::OpenOptions::new()
                .append(true)
                .open(&target)
                .map_err(|e| cannot("open", path, e))?;
            return Ok(Aside {
                path: path.to_owned(),
                temp: None,
                out: Some(BufWriter::with_capacity(256 * 1024, file)),
            });
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = target.with_file_name(format!(".{name}.syncbatch-{}", std::process::id()));
        let file = File::create(&temp).map_err(|e| cannot("create", path, e))?;
        interrupt::aside(&temp);
        let aside = Aside {
            path: target,
            temp: Some(temp),
            out: Some(BufWriter::with_capacity(256 * 1024, file)),
        };
        if let (Some(meta), Some(temp)) = (existing, &aside.temp) {
            fs::set_permissions(temp, meta.permissions()).map_err(|e| cannot("write", temp, e))?;
        }
        Ok(aside)
    }

    fn writer(&mut self) -> &mut BufWriter<File> {
        self.out.as_mut().expect("open until finished")
    }

    fn finish(mut self) -> io::Result<()> {
        let out = self.out.take().expect("open until finished");
        let cannot = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("cannot write {}: {e}", self.path.display()),
            )
        };
        out.into_inner().map_err(|e| cannot(e.into_error()))?;
        match &self.temp {
            Some(temp) => {
                let moved = fs::rename(temp, &self.path).map_err(cannot);
                if moved.is_ok() {
                    interrupt::settled(temp);
                }
                moved
            }
            None => Ok(()),
        }
    }
}

impl Drop for Aside {
    fn drop(&mut self) {
        if let (Some(_), Some(temp)) = (&self.out, &self.temp) {
            let _ = fs::remove_file(temp);
            interrupt::settled(temp);
        }
    }
}

/// Runs the subcommand; returns the exit status.
pub fn run(args: Args) -> u8 {
    // The limits only shape the retry batches, but contradictory ones are a
    // mistake whether or not --retry-dir was given.
    if let Some(why) = args.limits.contradiction() {
        eprintln!("syncbatch: {why}");
        return FAILURE;
    }
    match merge(&args) {
        Ok(summary) => {
            let lax = summary.missing + summary.unknown + summary.malformed > 0;
            if args.strict && lax {
                eprintln!("syncbatch: --strict: missing, unknown or malformed results");
                NOT_COMPLIANT
            } else {
                OK
            }
        }
        Err(message) => {
            eprintln!("syncbatch: {message}");
            if interrupt::requested() {
                interrupt::INTERRUPTED
            } else {
                FAILURE
            }
        }
    }
}

/// An output that is also an input would replace the user's own requests or
/// downloaded results (they are read before the output is renamed into
/// place, so nothing would even fail), and two outputs on one path would
/// leave only the last: both refused, as usage errors. So is one file named
/// twice among the requests or among the results (`downloads/*.jsonl
/// downloads/output-1.jsonl`): every line of it would count twice, as
/// repeated requests or duplicate results. Inputs are compared by device and
/// inode, so another spelling or a link is caught.
fn refuse_clashing_paths(args: &Args) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| {
        fs::metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| (m.dev(), m.ino()))
    };
    let inputs: Vec<(&str, &Path, (u64, u64))> = args
        .requests
        .iter()
        .map(|r| ("--requests", r.as_path()))
        .chain(args.results.iter().map(|r| ("--results", r.as_path())))
        .filter_map(|(flag, p)| id(p).map(|i| (flag, p, i)))
        .collect();
    let mut seen = std::collections::HashMap::new();
    for &(flag, path, key) in &inputs {
        if let Some(first) = seen.insert((flag, key), path) {
            return Err(format!(
                "{flag} names one file twice ({} and {}): every line of it would count twice",
                first.display(),
                path.display()
            ));
        }
    }
    let outputs = [
        ("--out", Some(&args.out)),
        ("--unknown", args.unknown.as_ref()),
        ("--summary", args.summary.as_ref()),
    ];
    // Where each output will land: its directory resolved, so that two
    // spellings of one new file compare equal too.
    let landing = |p: &Path| -> Option<PathBuf> {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(fs::canonicalize(dir).ok()?.join(p.file_name()?))
    };
    let mut taken: Vec<(&str, &Path, PathBuf)> = Vec::new();
    for (flag, path) in outputs {
        let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
            continue;
        };
        if let Some(out) = id(path) {
            if let Some((input_flag, input, _)) = inputs.iter().find(|(_, _, i)| *i == out) {
                return Err(format!(
                    "{flag} {} is also an input ({input_flag} {}): refusing to overwrite it",
                    path.display(),
                    input.display()
                ));
            }
        }
        // Devices and pipes (`/dev/null` twice) are written to, not replaced.
        let special = path.starts_with("/dev")
            || path.starts_with("/proc")
            || fs::metadata(path).is_ok_and(|m| !m.is_file());
        let Some(at) = landing(path).filter(|_| !special) else {
            continue;
        };
        if let Some((other, other_path, _)) = taken.iter().find(|(_, _, t)| *t == at) {
            return Err(format!(
                "{flag} {} and {other} {} are the same file",
                path.display(),
                other_path.display()
            ));
        }
        taken.push((flag, path, at));
    }
    Ok(())
}

/// Merge keeps every result file open until it writes the merged file (the
/// winners are read again by offset), so it needs a file descriptor per
/// result file: 2,000 output files of a million requests are over the usual
/// soft limit of 1,024. Raises the soft limit on open files to the hard one
/// (or to what the system takes short of it), and returns the limit now in
/// force (`None`: unlimited).
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

fn merge(args: &Args) -> Result<MergeSummary, String> {
    let stdout_uses = [
        Some(&args.out),
        args.unknown.as_ref(),
        args.summary.as_ref(),
    ]
    .into_iter()
    .filter(|p| p.is_some_and(|p| p.as_os_str() == "-"))
    .count();
    if stdout_uses > 1 {
        return Err(
            "standard output (`-`) can take only one of --out, --unknown and --summary".into(),
        );
    }
    refuse_clashing_paths(args)?;
    // Refused now, not after the merged file is in place.
    if let Some(dir) = &args.retry_dir {
        DirSink::check(dir).map_err(|e| format!("--retry-dir: {e}"))?;
    }
    let stdin_uses = args.requests.iter().filter(|r| *r == "-").count()
        + args.results.iter().filter(|r| r.as_os_str() == "-").count();
    if stdin_uses > 1 {
        return Err("standard input (`-`) can be read only once: name it once among --requests and --results".into());
    }
    let open_files = raise_open_file_limit();
    // Every output is opened (aside) before any input is read: one that
    // cannot be made (a missing directory, no permission) fails now, not
    // after a long read, and never after another output is in place.
    let mut out = Aside::create(&args.out).map_err(|e| e.to_string())?;
    let mut unknown = match &args.unknown {
        Some(path) => Some(Aside::create(path).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut summary_out = match &args.summary {
        Some(path) => Some(Aside::create(path).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut merger = Merger::new();
    // One bar over every input's bytes, advanced a file at a time.
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let total: u64 = args
        .requests
        .iter()
        .map(|r| size(Path::new(r)))
        .sum::<u64>()
        + args.results.iter().map(|r| size(r)).sum::<u64>();
    let bar = progress(Some(total), "merge");
    // The retry set reads request lines again by offset: one that cannot be
    // read twice (standard input, a pipe) is copied to a temporary file.
    let mut spooled: Vec<(String, File)> = Vec::new();
    for path in &args.requests {
        let mut input = open(path)?;
        let failed = |e: io::Error| format!("{}: {e}", input.name);
        if args.retry_dir.is_some() && input.size.is_none() {
            let spool = spool(&mut input.reader).map_err(failed)?;
            let reader = spool.try_clone().map_err(failed)?;
            merger.add_requests(&input.name, reader).map_err(failed)?;
            spooled.push((input.name, spool));
        } else {
            merger
                .add_requests(&input.name, input.reader)
                .map_err(failed)?;
        }
        bar.inc(size(Path::new(path)));
    }
    for path in &args.results {
        let sink: &mut dyn Write = match unknown.as_mut() {
            Some(aside) => aside.writer(),
            None => &mut io::sink(),
        };
        if path.as_os_str() == "-" {
            super::note_terminal_stdin();
            merger
                .add_results_reader("<stdin>", io::stdin().lock(), sink)
                .map_err(|e| format!("<stdin>: {e}"))?;
            continue;
        }
        merger.add_results(path, sink).map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error()) {
                format!(
                    "{}: too many files open at once: merge keeps every result file open \
                     until it writes, and {} result files need more than the {} this process \
                     may open. Raise the limit (`ulimit -n`), or concatenate the result files \
                     in the same order, each ending with a newline, and merge that: it gives \
                     the same result.",
                    path.display(),
                    args.results.len(),
                    open_files.map_or("limited number".to_owned(), |n| n.to_string()),
                )
            } else {
                format!("{}: {e}", path.display())
            }
        })?;
        bar.inc(size(path));
    }
    bar.set_message("merge: writing");
    let summary = merger
        .write_merged(out.writer())
        .map_err(|e| format!("writing {}: {e}", out.path.display()))?;
    // The figures are written aside too, so that every output is whole
    // before the first one is moved into place.
    if let Some(aside) = summary_out.as_mut() {
        let mut text = serde_json::to_string_pretty(&summary).expect("figures serialise");
        text.push('\n');
        aside
            .writer()
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", aside.path.display()))?;
    }
    out.finish().map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    if let Some(aside) = unknown {
        aside.finish().map_err(|e| e.to_string())?;
    }
    if let Some(aside) = summary_out {
        aside.finish().map_err(|e| e.to_string())?;
    }
    for note in merger.notes() {
        eprintln!("syncbatch: {}", printable(&note.to_string()));
    }
    if merger.notes_dropped() > 0 {
        eprintln!(
            "syncbatch: ... and {} more",
            count(merger.notes_dropped(), "such line", "such lines")
        );
    }
    print_table(&summary);
    if let Some(dir) = &args.retry_dir {
        retry(&merger, dir, args, &spooled)?;
    }
    Ok(summary)
}

fn print_table(s: &MergeSummary) {
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
    ];
    let mut err = io::stderr().lock();
    for (name, n) in rows {
        let _ = writeln!(err, "{name:>12} {n:>10}");
    }
}

/// Streams the original request lines to retry, each with its `\n`.
struct RetryLines {
    files: Vec<(String, File)>,
    lines: std::vec::IntoIter<(usize, u64, u32)>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for RetryLines {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        interrupt::check()?;
        if self.pos == self.buf.len() {
            let Some((file, offset, len)) = self.lines.next() else {
                return Ok(0);
            };
            let (name, f) = &self.files[file];
            self.buf.resize(len as usize, 0);
            f.read_exact_at(&mut self.buf, offset)
                .map_err(|e| io::Error::new(e.kind(), format!("{name}: read again: {e}")))?;
            self.buf.push(b'\n');
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Writes the retry set; `spooled` holds the copies of request inputs that
/// could not be read twice, by name.
fn retry(
    merger: &Merger,
    dir: &Path,
    args: &Args,
    spooled: &[(String, File)],
) -> Result<(), String> {
    let mut names: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for (name, offset, len) in merger.retry_lines() {
        let file = match names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                names.push(name.to_owned());
                names.len() - 1
            }
        };
        lines.push((file, offset, len));
    }
    let to_retry = lines.len() as u64;
    if to_retry == 0 {
        eprintln!("syncbatch: every request COMPLETED: nothing to retry");
        return Ok(());
    }
    let open_all = || -> Result<RetryLines, String> {
        let files = names
            .iter()
            .map(|n| {
                match spooled.iter().find(|(name, _)| name == n) {
                    Some((_, file)) => file.try_clone(),
                    None => File::open(n),
                }
                .map(|f| (n.clone(), f))
                .map_err(|e| format!("{n}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RetryLines {
            files,
            lines: lines.clone().into_iter(),
            buf: Vec::new(),
            pos: 0,
        })
    };
    // The retry split stops at a signal and removes what it set aside.
    let cooperating = interrupt::Cooperating::begin();
    let sink = DirSink::create(dir, "batch", false)
        .and_then(DirSink::with_rejected)
        .map_err(|e| e.to_string())?;
    let options = SplitOptions {
        limits: args.limits.limits(),
        skip_invalid: true,
        ..SplitOptions::default()
    };
    let mut splitter = Splitter::new(options, sink);
    splitter
        .split_reader("retry", open_all()?)
        .map_err(|e| format!("retry set: {e}"))?;
    cooperating.finishing();
    match splitter.finish() {
        Ok((summary, _)) => {
            eprintln!(
                "syncbatch: {} to retry in {} in {}",
                count(summary.records, "request", "requests"),
                count(summary.batches, "batch file", "batch files"),
                dir.display()
            );
            Ok(())
        }
        Err(SplitError::Infeasible(why, _)) => {
            // No compliant batch can hold them: they go aside, whole.
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let path = dir.join("retry-undersized.jsonl");
            let mut out = Aside::create(&path).map_err(|e| e.to_string())?;
            io::copy(&mut open_all()?, out.writer())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            out.finish().map_err(|e| e.to_string())?;
            eprintln!(
                "syncbatch: {} to retry cannot make a compliant batch ({why}): \
                 written to {} to send another way or with later retries",
                count(to_retry, "request", "requests"),
                path.display()
            );
            Ok(())
        }
        Err(e) => Err(format!("retry set: {e}")),
    }
}
