//! Outputs that appear whole or not at all.
//!
//! [`OutputFile`] writes a file aside, under a hidden name in the same
//! directory, and renames it into place only when it is whole. Everything
//! this process has set aside and not yet moved into place (those files,
//! and [`DirSink`](crate::split::DirSink)'s staging directories) is listed,
//! so that a signal handler about to end the process can remove it first:
//! [`remove_set_aside`]. Dropping an unfinished output removes it too.
//!
//! ```
//! use std::io::Write;
//! use syncbatch::output::OutputFile;
//!
//! let dir = std::env::temp_dir().join(format!("syncbatch-output-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("merged.jsonl");
//! let mut out = OutputFile::create(&path)?;
//! out.write_all(b"{}\n")?;
//! assert!(!path.exists()); // still aside
//! out.finish()?;
//! assert_eq!(std::fs::read(&path)?, b"{}\n");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), syncbatch::Error>(())
//! ```

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, TryLockError};

use crate::error::{Error, Result};

/// What is set aside now, to remove if the process must end at once.
static ASIDE: Mutex<Vec<Aside>> = Mutex::new(Vec::new());

#[derive(PartialEq)]
enum Aside {
    /// A file, or a directory and all in it.
    Whole(PathBuf),
    /// A directory, only if it is empty by then.
    IfEmpty(PathBuf),
}

fn listed(aside: Aside) {
    if let Ok(mut list) = ASIDE.lock() {
        list.push(aside);
    }
}

/// Lists a file or directory (with all in it) set aside, to be removed by
/// [`remove_set_aside`].
pub(crate) fn set_aside(path: &Path) {
    listed(Aside::Whole(path.to_owned()));
}

/// Lists a directory this process made, to be removed by
/// [`remove_set_aside`] if it is empty by then.
pub(crate) fn made_dir(path: &Path) {
    listed(Aside::IfEmpty(path.to_owned()));
}

/// Takes `path` off the list: it was moved into place or removed.
pub(crate) fn settled(path: &Path) {
    if let Ok(mut list) = ASIDE.lock() {
        list.retain(|a| !matches!(a, Aside::Whole(p) | Aside::IfEmpty(p) if p == path));
    }
}

/// Removes every file and directory this process has set aside and not yet
/// moved into place or removed (and the output directories it made, if
/// they are empty by then): for a signal handler that is about to end the
/// process, where no destructor will run. Waits at most 100 ms for a thread
/// that is listing a path at that moment.
pub fn remove_set_aside() {
    let take = || match ASIDE.try_lock() {
        Ok(list) => Some(list),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    };
    let mut list = take();
    for _ in 0..100 {
        if list.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        list = take();
    }
    let all: Vec<&Aside> = list.iter().flat_map(|l| l.iter()).collect();
    // Files and trees first, then the directories that held them.
    for aside in &all {
        if let Aside::Whole(path) = aside {
            if path.is_dir() {
                let _ = fs::remove_dir_all(path);
            } else {
                let _ = fs::remove_file(path);
            }
        }
    }
    for aside in &all {
        if let Aside::IfEmpty(path) = aside {
            let _ = fs::remove_dir(path);
        }
    }
}

/// An output file that appears whole or not at all.
///
/// A regular file (or a new one) is written aside, as
/// `.<name>.syncbatch-<pid>` in the same directory, and renamed into place
/// by [`OutputFile::finish`], with the permissions of the file it replaces;
/// a symbolic link is followed, so that its target is replaced and the
/// link kept. Anything else that exists (`/dev/null`, a FIFO), and any path
/// under `/dev` or `/proc` (`/dev/stdout` may name a file the shell opened
/// to append to), is appended to directly: renaming over it would replace
/// the device or pipe with a file. Writes are buffered (256 KiB).
pub struct OutputFile {
    /// The path as given, for messages.
    path: PathBuf,
    /// Where it lands: the path resolved (links followed, the directory
    /// made canonical), so that two spellings of one file compare equal.
    target: PathBuf,
    /// The file written aside, when there is one.
    temp: Option<PathBuf>,
    out: Option<BufWriter<File>>,
}

impl std::fmt::Debug for OutputFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputFile")
            .field("path", &self.path)
            .field("temp", &self.temp)
            .finish()
    }
}

const BUFFER: usize = 256 * 1024;

impl OutputFile {
    /// Opens `path` for writing (aside, for a regular file). Fails at once
    /// when it cannot be made (a missing directory, no permission, a
    /// directory), so that a caller can open every output before it reads
    /// any input.
    pub fn create(path: &Path) -> Result<OutputFile> {
        let cannot = |what: &str, p: &Path, e: io::Error| {
            Error::io(format!("cannot {what} {}", p.display()), e)
        };
        let target = match fs::canonicalize(path) {
            Ok(target) => target,
            Err(e) if e.kind() == io::ErrorKind::NotFound => landing(path),
            Err(e) => return Err(cannot("open", path, e)),
        };
        let existing = match fs::metadata(&target) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(cannot("open", path, e)),
        };
        if let Some(meta) = existing
            .as_ref()
            .filter(|m| is_special(path) || !m.is_file())
        {
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
            let mut out = OutputFile::direct(path.to_owned(), file);
            out.target = target;
            return Ok(out);
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = target.with_file_name(format!(".{name}.syncbatch-{}", std::process::id()));
        let file = File::create(&temp).map_err(|e| cannot("create", path, e))?;
        set_aside(&temp);
        let out = OutputFile {
            path: path.to_owned(),
            target,
            temp: Some(temp),
            out: Some(BufWriter::with_capacity(BUFFER, file)),
        };
        if let (Some(meta), Some(temp)) = (existing, &out.temp) {
            fs::set_permissions(temp, meta.permissions()).map_err(|e| cannot("write", temp, e))?;
        }
        Ok(out)
    }

    /// Writes straight to `file` (standard output, say), named `name` in
    /// errors: nothing is set aside.
    pub fn direct(name: PathBuf, file: File) -> OutputFile {
        OutputFile {
            target: name.clone(),
            path: name,
            temp: None,
            out: Some(BufWriter::with_capacity(BUFFER, file)),
        }
    }

    /// Where it goes, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where it lands: links followed and the directory made canonical.
    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    /// Whether it is written in place (standard output, a device, a pipe).
    pub(crate) fn is_direct(&self) -> bool {
        self.temp.is_none()
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("the output was finished"))
    }

    /// Flushes it and moves it into place. An error names the file.
    pub fn finish(mut self) -> Result<()> {
        let cannot =
            |path: &Path, e: io::Error| Error::io(format!("cannot write {}", path.display()), e);
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        out.into_inner()
            .map_err(|e| cannot(&self.path, e.into_error()))?;
        if let Some(temp) = &self.temp {
            fs::rename(temp, &self.target).map_err(|e| cannot(&self.path, e))?;
            settled(temp);
        }
        Ok(())
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let (Some(_), Some(temp)) = (&self.out, &self.temp) {
            let _ = fs::remove_file(temp);
            settled(temp);
        }
    }
}

/// Where a file that does not exist yet at `path` lands: in its directory
/// made canonical (the path as given when the directory cannot be).
fn landing(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (fs::canonicalize(dir), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_owned(),
    }
}

/// Whether `path` is written to in place however it looks: a path under
/// `/dev` or `/proc`.
pub(crate) fn is_special(path: &Path) -> bool {
    path.starts_with("/dev") || path.starts_with("/proc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_output_leaves_nothing_and_a_finished_one_keeps_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut out = OutputFile::create(&path).unwrap();
        out.write_all(b"half").unwrap();
        drop(out);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        fs::write(&path, b"old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut out = OutputFile::create(&path).unwrap();
        out.write_all(b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"old");
        out.finish().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = OutputFile::create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("it is a directory"), "{err}");
    }
}
