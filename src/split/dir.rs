//! The directory sink: batch files, `rejected.ndjson` and `manifest.json`,
//! written aside and moved into place only when the whole split succeeded.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use super::{batch_file_name, hash, Manifest, Record, Rejected, Sink};
use crate::error::Result;
use crate::output;

/// Batches waiting for the writer thread: a bound on memory (four batches,
/// at most 20 MB) that still lets validation run ahead of the disk. Two kept
/// the two cores of the benchmark machine 1.80 busy, four 1.87.
const QUEUE: usize = 4;

/// The writer hashes batch files in groups of up to [`hash::LANES`] files,
/// side by side ([`hash::sha256_many`]), and up to this many bytes: with
/// files of about 200 kB (500 records of 400 bytes) a full group is 3.4 MB;
/// with large records the byte bound keeps the group's buffer (kept between
/// groups) to about 8 MiB plus one batch.
const GROUP_BYTES: usize = 8 << 20;

type Job = (String, Vec<Record>);

/// The writer thread: its queue, and its answer (each batch's SHA-256, or the
/// first write error).
type Writer = (SyncSender<Job>, JoinHandle<io::Result<Vec<String>>>);

/// Writes batches into a directory.
///
/// Everything goes first to a hidden staging directory on the same file
/// system, so that moving it into place is an atomic `rename`. When the
/// output directory does not exist yet, the staging directory is its
/// sibling, `.<name>.syncbatch-staging-<pid>`, and [`Sink::commit`] renames
/// it to the output directory whole: the split appears at once, in one
/// call. Otherwise (an empty directory, or `force`) it is
/// `.syncbatch-staging-<pid>` inside the output directory, and `commit`
/// moves the files into place one by one, the manifest last. Batch files are
/// hashed and written by a background thread while the caller validates the
/// next records. [`Sink::abort`], or dropping the sink without committing,
/// removes the staging directory, so an error or an interruption never
/// leaves a half-written file under a final name.
#[derive(Debug)]
pub struct DirSink {
    dir: PathBuf,
    staging: PathBuf,
    prefix: String,
    force: bool,
    /// The refused lines, once the first comes (with `with_rejected`).
    rejected: Option<BufWriter<File>>,
    /// Refused lines are kept (`with_rejected`).
    keep_rejected: bool,
    written: Vec<String>,
    /// The output directory did not exist: an abort removes it again.
    created: bool,
    /// The staging directory becomes the output directory at the commit
    /// (which did not exist): one rename instead of one a file. Moving
    /// 5,056 files into place took 40 to 95 ms at the end of a split of
    /// 1 GiB, with both cores otherwise idle.
    whole: bool,
    /// Flush each file to disk before it is moved into place.
    sync: bool,
    writer: Option<Writer>,
    done: bool,
}

impl DirSink {
    /// Prepares `dir` (created if absent). Unless `force`, it must be absent
    /// or empty. `prefix` names the batch files: `<prefix>-00001.jsonl`.
    pub fn create(dir: &Path, prefix: &str, force: bool) -> Result<DirSink> {
        Ok(DirSink::prepare(dir, prefix, force)?)
    }

    fn prepare(dir: &Path, prefix: &str, force: bool) -> io::Result<DirSink> {
        let mut created = false;
        let pid = std::process::id();
        match occupancy(dir)? {
            Occupancy::Absent => {
                if let Some(staging) = sibling_staging(dir, pid) {
                    return DirSink::create_whole(dir, staging, prefix);
                }
                fs::create_dir_all(dir).map_err(|e| annotate(e, "cannot create", dir))?;
                created = true;
            }
            Occupancy::Empty => {}
            Occupancy::Leftovers(leftovers) | Occupancy::Taken(leftovers) if force => {
                for name in leftovers {
                    let path = dir.join(name);
                    fs::remove_dir_all(&path).map_err(|e| annotate(e, "cannot clear", &path))?;
                }
            }
            refused => {
                let e = refused.error(dir);
                let hint = match refused {
                    Occupancy::Leftovers(_) => ", or give --force, which does",
                    _ => " (--force writes into it)",
                };
                return Err(io::Error::new(e.kind(), format!("{e}{hint}")));
            }
        }
        let staging = dir.join(format!(".syncbatch-staging-{pid}"));
        if let Err(e) = fresh_dir(&staging) {
            if created {
                let _ = fs::remove_dir(dir);
            }
            return Err(e);
        }
        output::set_aside(&staging);
        if created {
            output::made_dir(dir);
        }
        Ok(DirSink {
            dir: dir.to_owned(),
            staging,
            prefix: prefix.to_owned(),
            force,
            rejected: None,
            keep_rejected: false,
            written: Vec::new(),
            created,
            whole: false,
            sync: false,
            writer: None,
            done: false,
        })
    }

    /// For an absent `dir`: stages beside it, in `staging`, which the commit
    /// renames to `dir`. Clears first what killed splits into the same
    /// `dir` left there (nothing else ever has their names).
    fn create_whole(dir: &Path, staging: PathBuf, prefix: &str) -> io::Result<DirSink> {
        let parent = staging.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| annotate(e, "cannot create", parent))?;
        if let (Ok(entries), Some(ours)) = (fs::read_dir(parent), staging.file_name()) {
            let ours = ours.to_string_lossy();
            let stem = ours.trim_end_matches(|c: char| c.is_ascii_digit());
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                let dead = name
                    .strip_prefix(stem)
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| !process_alive(pid));
                if dead {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        fresh_dir(&staging)?;
        output::set_aside(&staging);
        Ok(DirSink {
            dir: dir.to_owned(),
            staging,
            prefix: prefix.to_owned(),
            force: false,
            rejected: None,
            keep_rejected: false,
            written: Vec::new(),
            created: false,
            whole: true,
            sync: false,
            writer: None,
            done: false,
        })
    }

    /// Whether `dir` can take a split without `force`: absent, or an empty
    /// directory. Creates nothing; the error says why not. For callers that
    /// want to refuse early, before any work: `create` checks again.
    pub fn check(dir: &Path) -> Result<()> {
        match occupancy(dir)? {
            Occupancy::Absent | Occupancy::Empty => Ok(()),
            refused => Err(refused.error(dir).into()),
        }
    }

    /// The hidden directory where files are written until the split
    /// succeeds: `.<name>.syncbatch-staging-<pid>` beside an output
    /// directory `<name>` that did not exist, else `.syncbatch-staging-<pid>`
    /// inside it.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// Flushes each file to the disk before moving it into place, and the
    /// directory after, so that even a power cut leaves either the whole split
    /// or none of it. Costs a disk flush per file (milliseconds each on a
    /// spinning or networked disk); without it, like `cp` or GNU `split`, a
    /// crash of the process still never leaves a partial file under a final
    /// name, but a crash of the machine may.
    pub fn sync(mut self, yes: bool) -> DirSink {
        self.sync = yes;
        self
    }

    /// Also write the refused lines to `rejected.ndjson` (`.ndjson`, so
    /// that `DIR/*.jsonl` is exactly the batch files), made only when a
    /// line is refused.
    pub fn with_rejected(mut self) -> Result<DirSink> {
        self.keep_rejected = true;
        Ok(self)
    }

    fn start_writer(&mut self) -> &SyncSender<Job> {
        let (staging, sync) = (self.staging.clone(), self.sync);
        let writer = self.writer.get_or_insert_with(|| {
            let (tx, rx) = sync_channel::<Job>(QUEUE);
            let handle = std::thread::spawn(move || {
                let mut hashes = Vec::new();
                // A group's files, one after another, and where each ends.
                let (mut group, mut ends) = (Vec::new(), Vec::new());
                loop {
                    group.clear();
                    ends.clear();
                    while ends.len() < hash::LANES && group.len() < GROUP_BYTES {
                        let Ok((name, records)) = rx.recv() else {
                            break;
                        };
                        // One batch's file, whole: one copy of each record,
                        // one write while the copy is in cache.
                        let start = group.len();
                        for r in &records {
                            group.extend_from_slice(&r.bytes);
                            group.push(b'\n');
                        }
                        // The read buffers the records pointed into can go now.
                        drop(records);
                        write_file(&staging.join(&name), sync, &group[start..])?;
                        ends.push(group.len());
                    }
                    if ends.is_empty() {
                        return Ok(hashes);
                    }
                    let starts = std::iter::once(0).chain(ends.iter().copied());
                    let files: Vec<&[u8]> = starts.zip(&ends).map(|(a, &b)| &group[a..b]).collect();
                    hashes.extend(hash::sha256_many(&files).iter().map(hash::to_hex));
                }
            });
            (tx, handle)
        });
        &writer.0
    }

    /// Stops the writer thread; its hashes, or its first error.
    fn join_writer(&mut self) -> io::Result<Vec<String>> {
        match self.writer.take() {
            None => Ok(Vec::new()),
            Some((tx, handle)) => {
                drop(tx);
                handle
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")))
            }
        }
    }

    /// With `force`: outputs of an earlier split that this one would not
    /// replace (`<prefix>-NNNNN.jsonl` beyond the new count, an old list of
    /// refused lines or undersized retry set, the manifest) are removed
    /// before the new ones land.
    fn remove_stale(&self, finals: &[String]) -> io::Result<()> {
        remove_previous(&self.dir, &self.prefix, finals)
    }
}

impl DirSink {
    /// The commit of a staging directory that becomes the output directory
    /// (which did not exist): widened batch names are given inside it, then
    /// one rename moves it into place. If the output directory appeared
    /// meanwhile, an empty one is replaced; one with files in it makes the
    /// rename fail, and nothing is written.
    fn commit_whole(&mut self, finals: &[(String, String)]) -> io::Result<()> {
        for (name, last) in finals.iter().filter(|(name, last)| name != last) {
            let to = self.staging.join(last);
            fs::rename(self.staging.join(name), &to)
                .map_err(|e| annotate(e, "cannot rename", &to))?;
        }
        fs::rename(&self.staging, &self.dir)
            .map_err(|e| annotate(e, "cannot move into place", &self.dir))?;
        self.done = true;
        output::settled(&self.staging);
        if self.sync {
            let parent = self.staging.parent().unwrap_or(Path::new("."));
            File::open(parent).and_then(|d| d.sync_all()).ok();
        }
        Ok(())
    }
}

/// The refused lines of a split with `skip_invalid`.
pub const REJECTED: &str = "rejected.ndjson";

/// A retry set too small for a compliant batch.
pub const UNDERSIZED: &str = "retry-undersized.ndjson";

/// Removes from `dir` what an earlier split or retry set wrote there and
/// `keep` does not name: batch files `<prefix>-NNNNN.jsonl`, the manifest,
/// the refused lines and an undersized retry set (and their names from
/// before they were `.ndjson`). Nothing else is touched.
pub(crate) fn remove_previous(dir: &Path, prefix: &str, keep: &[String]) -> io::Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| annotate(e, "cannot read", dir))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = matches!(
            name.as_str(),
            "manifest.json" | REJECTED | UNDERSIZED | "rejected.jsonl" | "retry-undersized.jsonl"
        ) || name
            .strip_prefix(&format!("{prefix}-"))
            .and_then(|rest| rest.strip_suffix(".jsonl"))
            .is_some_and(|n| n.len() >= 5 && n.bytes().all(|b| b.is_ascii_digit()));
        if ours && !keep.contains(&name) {
            fs::remove_file(entry.path())
                .map_err(|e| annotate(e, "cannot remove", &entry.path()))?;
        }
    }
    Ok(())
}

/// What an output directory holds.
enum Occupancy {
    Absent,
    Empty,
    /// Only the staging directories of killed splits, by name.
    Leftovers(Vec<String>),
    /// Other files, and these staging directories of killed splits.
    Taken(Vec<String>),
}

impl Occupancy {
    /// Why a directory so occupied is refused, without `--force`.
    fn error(&self, dir: &Path) -> io::Error {
        let why = match self {
            Occupancy::Leftovers(names) => format!(
                "{} holds only {}, set aside by a split that was killed; remove it",
                dir.display(),
                names.join(", ")
            ),
            _ => format!("{} is not empty", dir.display()),
        };
        io::Error::new(io::ErrorKind::AlreadyExists, why)
    }
}

fn occupancy(dir: &Path) -> io::Result<Occupancy> {
    match fs::read_dir(dir) {
        Ok(entries) => {
            let names: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            let leftovers: Vec<String> = names
                .iter()
                .filter(|n| leftover_of_dead_run(n))
                .cloned()
                .collect();
            Ok(if names.is_empty() {
                Occupancy::Empty
            } else if leftovers.len() == names.len() {
                Occupancy::Leftovers(leftovers)
            } else {
                Occupancy::Taken(leftovers)
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Occupancy::Absent),
        Err(e) => {
            let why = format!("{}: not usable as the output directory: {e}", dir.display());
            Err(io::Error::new(e.kind(), why))
        }
    }
}

/// Whether `name` is the staging directory of a split whose process is gone
/// (killed before it could clean up). A live one, another split writing
/// into the same directory, is left alone.
fn leftover_of_dead_run(name: &str) -> bool {
    name.strip_prefix(".syncbatch-staging-")
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|pid| !process_alive(pid))
}

/// Whether process `pid` is this one or still running. Without `/proc` to
/// ask (not Linux), every process counts as running: nothing is taken for
/// a dead run's.
fn process_alive(pid: u32) -> bool {
    pid == std::process::id()
        || !Path::new("/proc/self").exists()
        || Path::new("/proc").join(pid.to_string()).exists()
}

/// Where an absent output directory is staged: beside it, hidden, on the
/// same file system. `None` for a path with no last component to name it
/// by (`..`, `/`), which is staged inside instead.
fn sibling_staging(dir: &Path, pid: u32) -> Option<PathBuf> {
    let name = dir.file_name()?;
    let mut staged = std::ffi::OsString::from(".");
    staged.push(name);
    staged.push(format!(".syncbatch-staging-{pid}"));
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    Some(parent.unwrap_or(Path::new(".")).join(staged))
}

/// Makes `path` an empty directory (removing one a process of the same id
/// left, before a reboot).
fn fresh_dir(path: &Path) -> io::Result<()> {
    if path.exists() {
        fs::remove_dir_all(path).map_err(|e| annotate(e, "cannot clear", path))?;
    }
    fs::create_dir(path).map_err(|e| annotate(e, "cannot create", path))
}

/// Writes one file whole, flushed to disk when `sync`.
fn write_file(path: &Path, sync: bool, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path).map_err(|e| annotate(e, "cannot create", path))?;
    file.write_all(bytes)
        .map_err(|e| annotate(e, "cannot write", path))?;
    if sync {
        file.sync_all()
            .map_err(|e| annotate(e, "cannot write", path))?;
    }
    Ok(())
}

fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl Sink for DirSink {
    fn batch(&mut self, index: usize, records: Vec<Record>) -> io::Result<String> {
        let name = batch_file_name(&self.prefix, index);
        if self.start_writer().send((name.clone(), records)).is_err() {
            // The writer stopped: it failed, and says why.
            return Err(self
                .join_writer()
                .err()
                .unwrap_or_else(|| io::Error::other("the writer thread stopped")));
        }
        self.written.push(name.clone());
        Ok(name)
    }

    fn reject(&mut self, rejected: &Rejected) -> io::Result<()> {
        let path = self.staging.join(REJECTED);
        if self.keep_rejected && self.rejected.is_none() {
            let file = File::create(&path).map_err(|e| annotate(e, "cannot create", &path))?;
            self.rejected = Some(BufWriter::new(file));
            self.written.push(REJECTED.into());
        }
        if let Some(out) = self.rejected.as_mut() {
            serde_json::to_writer(&mut *out, rejected)
                .map_err(io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| annotate(e, "cannot write", &path))?;
        }
        Ok(())
    }

    fn finish_batches(&mut self) -> io::Result<Vec<String>> {
        self.join_writer()
    }

    fn commit(&mut self, manifest: &Manifest) -> io::Result<()> {
        if let Some(out) = self.rejected.take() {
            let path = self.staging.join(REJECTED);
            let file = out
                .into_inner()
                .map_err(|e| annotate(e.into_error(), "cannot write", &path))?;
            if self.sync {
                file.sync_all()
                    .map_err(|e| annotate(e, "cannot write", &path))?;
            }
        }
        let text = manifest.to_json();
        write_file(&self.staging.join("manifest.json"), self.sync, &text)?;
        // Each staged file and its final name: the manifest's, which differs
        // from the staged one when the batch numbers were widened.
        let mut finals: Vec<(String, String)> = Vec::new();
        for name in &self.written {
            let index = name
                .strip_prefix(&format!("{}-", self.prefix))
                .and_then(|rest| rest.strip_suffix(".jsonl"))
                .and_then(|n| n.parse::<usize>().ok());
            let last = match index.and_then(|i| manifest.batches.get(i.checked_sub(1)?)) {
                Some(batch) if *name == batch_file_name(&self.prefix, index.unwrap_or(0)) => {
                    batch.file.clone()
                }
                _ => name.clone(),
            };
            if last.is_empty() || last.contains(['/', '\\']) || last.starts_with('.') {
                return Err(io::Error::other(format!(
                    "the manifest names a batch {last:?}, not a plain file name"
                )));
            }
            finals.push((name.clone(), last));
        }
        if self.whole {
            return self.commit_whole(&finals);
        }
        if self.force {
            // An old manifest goes now too: until the new one lands last,
            // no manifest says the directory holds a whole split.
            let names: Vec<String> = finals.iter().map(|(_, to)| to.clone()).collect();
            self.remove_stale(&names)?;
        }
        finals.push(("manifest.json".into(), "manifest.json".into()));
        // The manifest goes last: its presence says the split is whole.
        let mut moved = Vec::new();
        for (name, last) in &finals {
            let from = self.staging.join(name);
            let to = self.dir.join(last);
            if let Err(e) = fs::rename(&from, &to) {
                // Take back what was moved: all or nothing.
                for path in moved {
                    let _ = fs::remove_file(path);
                }
                return Err(annotate(e, "cannot move into place", &to));
            }
            moved.push(to);
        }
        self.done = true;
        output::settled(&self.staging);
        output::settled(&self.dir);
        fs::remove_dir(&self.staging).map_err(|e| annotate(e, "cannot remove", &self.staging))?;
        if self.sync {
            File::open(&self.dir).and_then(|d| d.sync_all()).ok();
        }
        Ok(())
    }

    fn abort(&mut self) {
        let _ = self.join_writer();
        if !self.done {
            let _ = fs::remove_dir_all(&self.staging);
            if self.created {
                // Only if still empty: never remove what someone else put there.
                let _ = fs::remove_dir(&self.dir);
            }
            self.done = true;
            output::settled(&self.staging);
            output::settled(&self.dir);
        }
    }
}

impl Drop for DirSink {
    fn drop(&mut self) {
        self.abort();
    }
}
