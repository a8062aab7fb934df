//! What to do after an answer or a failure: the retry policy of the client,
//! with no I/O, so that it is tested as a table.
//!
//! - `429`: wait as `retry-after-ms` / `retry-after` (seconds or an HTTP
//!   date) says, else back off; then send again (nothing was created).
//! - `5xx`, `408`, a timeout or a lost connection: a `GET` backs off and is
//!   sent again; a create is not (it may have made a batch), and says so.
//! - A refused connection: nothing reached the server, so any request is
//!   sent again after a back-off.
//! - Anything else in `4xx`: a final answer.

use std::time::{Duration, SystemTime};

/// What kind of request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// A read: safe to send again.
    Get,
    /// A create: never sent again once it may have made a batch.
    Create,
}

/// How a request ended, as far as the policy cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An HTTP status, with the retry hint of its headers when it had one.
    Status(u16, Option<Duration>),
    /// The connection was refused or could not be made: nothing was sent.
    NotSent,
    /// A timeout, or the connection lost after the request went out.
    Lost,
}

/// What to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// The answer stands (a success, or a final error).
    Done,
    /// Send the same request again after this wait.
    Retry(Duration),
    /// A create may have made a batch: do not send it again.
    MayHaveCreated,
}

/// The first back-off, and the longest.
pub(crate) const BACKOFF_START: Duration = Duration::from_secs(1);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The back-off before attempt `attempt` (0-based retries so far): 1 s,
/// doubling, at most 60 s, shortened by up to half by `jitter` (0 to 1).
pub(crate) fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = BACKOFF_START
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(BACKOFF_MAX);
    base.mul_f64(1.0 - 0.5 * jitter.clamp(0.0, 1.0))
}

/// What to do after `outcome` of a `method` request, on its `attempt`th
/// retry (0 on the first answer), with `jitter` in 0 to 1.
pub(crate) fn next(method: Method, outcome: &Outcome, attempt: u32, jitter: f64) -> Next {
    let back_off = Next::Retry(backoff(attempt, jitter));
    match (method, outcome) {
        (_, Outcome::Status(429, hint)) => match hint {
            Some(wait) => Next::Retry(*wait),
            None => back_off,
        },
        (_, Outcome::NotSent) => back_off,
        (Method::Get, Outcome::Lost) => back_off,
        (Method::Get, Outcome::Status(status, _)) if *status == 408 || *status >= 500 => back_off,
        (Method::Create, Outcome::Lost) => Next::MayHaveCreated,
        (Method::Create, Outcome::Status(status, _)) if *status == 408 || *status >= 500 => {
            Next::MayHaveCreated
        }
        _ => Next::Done,
    }
}

/// The wait a `retry-after-ms` or `retry-after` header asks for: whole or
/// fractional milliseconds, seconds, or an HTTP date (`now` for its
/// distance). `None` when neither is there or readable; an HTTP date in the
/// past is no wait.
pub(crate) fn retry_after(
    ms: Option<&str>,
    after: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    let longest = BACKOFF_MAX * 10;
    if let Some(ms) = ms.and_then(|v| v.trim().parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            // Capped before it becomes a Duration: a huge hint would not fit.
            return Some(Duration::from_secs_f64(
                (ms / 1000.0).min(longest.as_secs_f64()),
            ));
        }
    }
    let after = after?.trim();
    if let Ok(secs) = after.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(BACKOFF_MAX * 10));
    }
    let at = httpdate::parse_http_date(after).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or_default()
            .min(BACKOFF_MAX * 10),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    /// Every outcome, for both methods, on a first and a later attempt.
    #[test]
    fn the_retry_classification_as_a_table() {
        use Method::{Create, Get};
        use Next::{Done, MayHaveCreated, Retry};
        let hint = Some(S(7));
        let table: &[(Method, Outcome, Next)] = &[
            (Get, Outcome::Status(200, None), Done),
            (Create, Outcome::Status(201, None), Done),
            (Get, Outcome::Status(404, None), Done),
            (Get, Outcome::Status(401, None), Done),
            (Get, Outcome::Status(402, None), Done),
            (Get, Outcome::Status(403, None), Done),
            (Create, Outcome::Status(400, None), Done),
            (Create, Outcome::Status(413, None), Done),
            (Create, Outcome::Status(422, None), Done),
            (Get, Outcome::Status(429, hint), Retry(S(7))),
            (Create, Outcome::Status(429, hint), Retry(S(7))),
            (Create, Outcome::Status(429, None), Retry(S(1))),
            (Get, Outcome::Status(500, None), Retry(S(1))),
            (Get, Outcome::Status(503, hint), Retry(S(1))),
            (Get, Outcome::Status(408, None), Retry(S(1))),
            (Get, Outcome::Lost, Retry(S(1))),
            (Get, Outcome::NotSent, Retry(S(1))),
            (Create, Outcome::NotSent, Retry(S(1))),
            (Create, Outcome::Lost, MayHaveCreated),
            (Create, Outcome::Status(500, None), MayHaveCreated),
            (Create, Outcome::Status(502, None), MayHaveCreated),
            (Create, Outcome::Status(408, None), MayHaveCreated),
        ];
        for (method, outcome, want) in table {
            assert_eq!(
                &next(*method, outcome, 0, 0.0),
                want,
                "{method:?} {outcome:?}"
            );
        }
        // Later attempts double, up to a minute.
        assert_eq!(next(Get, &Outcome::Lost, 3, 0.0), Retry(S(8)));
        assert_eq!(next(Get, &Outcome::Lost, 30, 0.0), Retry(S(60)));
    }

    proptest::proptest! {
        /// Jitter never shortens a wait by more than half, nor lengthens it.
        #[test]
        fn jitter_keeps_the_wait_between_half_and_whole(attempt in 0u32..40, jitter in 0.0f64..=1.0) {
            let base = backoff(attempt, 0.0);
            let got = backoff(attempt, jitter);
            proptest::prop_assert!(got <= base && got * 2 >= base);
            proptest::prop_assert!(base >= BACKOFF_START && base <= BACKOFF_MAX);
        }
    }

    #[test]
    fn retry_hints_in_every_spelling() {
        let now = SystemTime::UNIX_EPOCH + S(1_700_000_000);
        assert_eq!(
            retry_after(Some("1500"), None, now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(Some("2.5"), Some("9"), now),
            Some(Duration::from_micros(2500))
        );
        assert_eq!(retry_after(None, Some("3"), now), Some(S(3)));
        let later = httpdate::fmt_http_date(now + S(42));
        assert_eq!(retry_after(None, Some(&later), now), Some(S(42)));
        let earlier = httpdate::fmt_http_date(now - S(42));
        assert_eq!(retry_after(None, Some(&earlier), now), Some(S(0)));
        assert_eq!(retry_after(Some("soon"), Some("whenever"), now), None);
        assert_eq!(retry_after(None, None, now), None);
        assert_eq!(retry_after(Some("-5"), None, now), None);
        // Found by the fuzzer: a hint too large for a Duration is capped,
        // never a panic.
        assert_eq!(retry_after(Some("1022e20"), None, now), Some(S(600)));
        assert_eq!(retry_after(None, Some("99999999999999999999"), now), None);
    }
}
