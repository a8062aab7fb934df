//! Ctrl-C, `SIGTERM` and `SIGHUP`: stop without leaving anything behind.
//!
//! Outputs are written aside and moved into place only when whole, so a
//! signal never leaves a partial file under a final name; what it would leave
//! is the work set aside (a hidden staging directory, a hidden temporary
//! file). Two ways to clean that up:
//!
//! - Work that can stop at any record ([`Cooperating`]: split, merge) only
//!   notes the signal; its loop sees [`requested`], stops, and the
//!   usual error path removes what it set aside. A signal while it finishes
//!   ([`Cooperating::finishing`]: moving files into place) waits for that to
//!   end, so the output is whole or absent, never half there. If the process
//!   is still there 3 s after the signal and not finishing (a read that
//!   blocks on input that does not come, a terminal say), the handler cleans
//!   up as below.
//! - Otherwise the handler removes what was set aside (the library's
//!   `output::remove_set_aside`) and exits at once with [`INTERRUPTED`].
//!
//! A second signal exits at once either way.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Exit status after a signal: 128 + `SIGINT`, as shells report it.
pub const INTERRUPTED: u8 = 130;

static SIGNALLED: AtomicBool = AtomicBool::new(false);
static COOPERATING: AtomicUsize = AtomicUsize::new(0);
/// Cooperating work is moving its output into place.
static FINISHING: AtomicBool = AtomicBool::new(false);

/// Installs the handler. Without it, a signal kills the process as usual.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        let again = SIGNALLED.swap(true, Ordering::SeqCst);
        if !again && COOPERATING.load(Ordering::SeqCst) > 0 {
            // The work stops by itself at its next record and cleans up,
            // and the process ends; still here after that, it is waiting on
            // input that does not come (it cannot stop while a read blocks).
            for _ in 0..GRACE_MS / 10 {
                if FINISHING.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            if FINISHING.load(Ordering::SeqCst) {
                return;
            }
        }
        remove_aside();
        eprintln!("syncbatch: interrupted");
        std::process::exit(i32::from(INTERRUPTED));
    });
}

/// How long cooperating work has to stop by itself after a signal.
const GRACE_MS: u64 = 3000;

/// Whether a signal came: cooperating loops stop when it did.
pub fn requested() -> bool {
    SIGNALLED.load(Ordering::Relaxed)
}

/// While one is alive, a first signal only sets [`requested`].
pub struct Cooperating(());

impl Cooperating {
    /// Starts cooperating.
    pub fn begin() -> Cooperating {
        COOPERATING.fetch_add(1, Ordering::SeqCst);
        Cooperating(())
    }

    /// From now on a first signal waits until the work is done: it is
    /// moving its output into place.
    pub fn finishing(&self) {
        FINISHING.store(true, Ordering::SeqCst);
    }
}

impl Drop for Cooperating {
    fn drop(&mut self) {
        COOPERATING.fetch_sub(1, Ordering::SeqCst);
    }
}

fn remove_aside() {
    crate::output::remove_set_aside();
}
