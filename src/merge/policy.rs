//! The duplicate policy (batch-format.md section 2): which of two result
//! lines for one request wins.

/// How a result's status counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusClass {
    /// `COMPLETED`.
    Completed,
    /// `FAILED`.
    Failed,
    /// `REJECTED`.
    Rejected,
    /// Anything else, kept verbatim (`CANCELED`, `TIMED_OUT`, `PENDING`, ...).
    Other,
}

impl StatusClass {
    /// The class of a status string.
    pub fn of(status: &str) -> StatusClass {
        match status {
            "COMPLETED" => StatusClass::Completed,
            "FAILED" => StatusClass::Failed,
            "REJECTED" => StatusClass::Rejected,
            _ => StatusClass::Other,
        }
    }
}

/// The winning result line so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Best {
    pub(super) file: u32,
    pub(super) offset: u64,
    pub(super) len: u32,
    pub(super) class: StatusClass,
    /// Milliseconds since the epoch; `i64::MIN` when missing.
    pub(super) time: i64,
}

impl Best {
    /// Whether `self` beats `other` by the policy (files and offsets grow
    /// in the order given, so they order ties).
    pub(super) fn beats(&self, other: &Best) -> bool {
        let done = |b: &Best| b.class == StatusClass::Completed;
        (done(self), self.time, self.file, self.offset)
            > (done(other), other.time, other.file, other.offset)
    }
}

/// An RFC 3339 time as milliseconds since the epoch.
pub(super) fn instant(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let b = |class, time, file, offset| Best {
            file,
            offset,
            len: 1,
            class,
            time,
        };
        use StatusClass::*;
        // COMPLETED beats anything else, whatever the times.
        assert!(b(Completed, 1, 0, 0).beats(&b(Failed, 9, 1, 9)));
        assert!(!b(Failed, 9, 1, 9).beats(&b(Completed, 1, 0, 0)));
        // Same class: the later time.
        assert!(b(Failed, 5, 0, 0).beats(&b(Other, 4, 1, 0)));
        // A missing time is the earliest.
        assert!(b(Failed, 0, 0, 0).beats(&b(Failed, i64::MIN, 1, 0)));
        // Ties: the later file, then the later line.
        assert!(b(Completed, 5, 1, 0).beats(&b(Completed, 5, 0, 9)));
        assert!(b(Completed, 5, 1, 7).beats(&b(Completed, 5, 1, 3)));
    }
}
