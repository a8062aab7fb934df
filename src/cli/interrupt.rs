//! Ctrl-C, `SIGTERM` and `SIGHUP`: stop without leaving anything behind.
//!
//! Outputs are written aside and moved into place only when whole, so a
//! signal never leaves a partial file under a final name; what it would leave
//! is the work set aside (a hidden staging directory, a hidden temporary
//! file). Two ways to clean that up:
//!
//! - Work that can stop at any record ([`Cooperating`]: split, the retry
//!   set) only notes the signal; its loop sees [`requested`], stops, and the
//!   usual error path removes what it set aside. A signal while it finishes
//!   (moving files into place) waits for that to end, so the output is whole
//!   or absent, never half there.
//! - Otherwise the handler removes the files registered with [`aside`] and
//!   exits at once with [`INTERRUPTED`].
//!
//! A second signal exits at once either way.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, TryLockError};

/// Exit status after a signal: 128 + `SIGINT`, as shells report it.
pub const INTERRUPTED: u8 = 130;

static SIGNALLED: AtomicBool = AtomicBool::new(false);
static COOPERATING: AtomicUsize = AtomicUsize::new(0);
static ASIDE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs the handler. Without it, a signal kills the process as usual.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        let again = SIGNALLED.swap(true, Ordering::SeqCst);
        if again || COOPERATING.load(Ordering::SeqCst) == 0 {
            remove_aside();
            eprintln!("syncbatch: interrupted");
            std::process::exit(i32::from(INTERRUPTED));
        }
    });
}

/// Whether a signal came: cooperating loops stop when it did.
pub fn requested() -> bool {
    SIGNALLED.load(Ordering::Relaxed)
}

/// An error when a signal came (not `ErrorKind::Interrupted`, which readers
/// retry), for readers that should stop.
pub fn check() -> std::io::Result<()> {
    if requested() {
        return Err(std::io::Error::other("interrupted"));
    }
    Ok(())
}

/// While one is alive, a first signal only sets [`requested`].
pub struct Cooperating(());

impl Cooperating {
    /// Starts cooperating.
    pub fn begin() -> Cooperating {
        COOPERATING.fetch_add(1, Ordering::SeqCst);
        Cooperating(())
    }
}

impl Drop for Cooperating {
    fn drop(&mut self) {
        COOPERATING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Registers a temporary file or directory to remove if a signal ends the
/// process.
pub fn aside(path: &Path) {
    if let Ok(mut paths) = ASIDE.lock() {
        paths.push(path.to_owned());
    }
}

/// Forgets a temporary file: it was moved into place or removed.
pub fn settled(path: &Path) {
    if let Ok(mut paths) = ASIDE.lock() {
        paths.retain(|p| p != path);
    }
}

fn remove_aside() {
    // Registering holds the lock for a moment; wait for that, but not
    // forever (a thread could stop while holding it).
    let take = || match ASIDE.try_lock() {
        Ok(paths) => Some(paths),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    };
    let mut paths = take();
    for _ in 0..100 {
        if paths.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        paths = take();
    }
    for path in paths.iter().flat_map(|p| p.iter()) {
        if path.is_dir() {
            let _ = std::fs::remove_dir_all(path);
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
}
