//! Request spacing: no two requests of one client (and its clones) start
//! closer than `60 / N` seconds apart, N being the requests-per-minute
//! budget, so that the client never draws a `429` on its own.
//!
//! A slot is booked under a lock and waited for outside it, so requests
//! from several tasks start in the order they asked, each one interval
//! after the last. Ten lines of `tokio`, where a rate-limiting crate's
//! bursts would have to be turned off.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Limiter {
    interval: Duration,
    /// When the next request may start.
    next: Mutex<Option<Instant>>,
}

impl Limiter {
    /// At most `per_minute` requests a minute (at least 1): requests start
    /// `60 / per_minute` seconds apart, and 2% more, because the server
    /// counts arrivals, and a request that opens a new connection reaches it
    /// later than one on a pooled connection after it (seen here: 3 ms).
    pub(crate) fn per_minute(per_minute: u32) -> Limiter {
        Limiter {
            interval: (Duration::from_secs(60) / per_minute.max(1)).mul_f64(1.02),
            next: Mutex::new(None),
        }
    }

    /// The spacing between two requests.
    #[cfg(test)]
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// Counts a request as started now: the next one waits an interval.
    pub(crate) fn hold_off(&self) {
        if let Ok(mut next) = self.next.try_lock() {
            let now = Instant::now();
            *next = Some(next.map_or(now, |n| n.max(now)) + self.interval);
        }
    }

    /// Waits until a request may start, and books the next slot.
    pub(crate) async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + self.interval);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests from several tasks at once start in turn, each at least one
    /// interval after the last (on tokio's paused clock: no real waiting).
    #[tokio::test(start_paused = true)]
    async fn requests_start_one_interval_apart() {
        let limiter = std::sync::Arc::new(Limiter::per_minute(120));
        assert_eq!(limiter.interval(), Duration::from_millis(510));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                limiter.wait().await;
                Instant::now()
            }));
        }
        let mut starts = Vec::new();
        for t in tasks {
            starts.push(t.await.unwrap());
        }
        starts.sort();
        assert_eq!(starts[0], start);
        for pair in starts.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(500),
                "{starts:?}"
            );
        }
        // After a quiet spell the next request goes at once.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let before = Instant::now();
        limiter.wait().await;
        assert_eq!(Instant::now(), before);
        // Held off: the next waits a full interval, from now.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let before = Instant::now();
        limiter.hold_off();
        limiter.wait().await;
        assert_eq!(Instant::now() - before, Duration::from_millis(510));
    }
}
