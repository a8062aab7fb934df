//! The batch planner: record sizes in, batch boundaries out. No I/O.
//!
//! It finds a split of the records, in order, into as few batches as any
//! contiguous split allows, each within `max_records` and `max_bytes` and at
//! least `min_records`, while the records stream past.
//!
//! Dynamic programming over prefixes: `f(i)`, the fewest batches for the
//! first `i` records, is `1 + min f(j)` over the `j` a last batch `(j, i]` can
//! start from; that window only moves forward, so a monotonic queue keeps its
//! minimum in `O(1)` amortised per record. Ties go to the largest `j`, which
//! keeps early batches full (510 records under 500/20 make 490 + 20).
//!
//! Streaming: every future batch starts at one of the last `max_records`
//! positions, and within the last `max_bytes` bytes, so once the
//! back-pointer chains of all those positions meet at one position,
//! everything before it is decided for good and is handed out
//! ([`Planner::push`] returns it). Chains meet within a batch or two on real
//! inputs, so the planner, and the caller's buffer of undecided records, stay
//! about one or two batches long, in records and in bytes. The window is
//! bounded by bytes as well as by count, and checked every `max_records`
//! records or `max_bytes` bytes, so that a few huge records are decided as
//! soon as a few small ones would be.

use std::collections::VecDeque;
use std::fmt;

use crate::util::count;

/// The planner's limits: those of one batch file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanLimits {
    /// Most records in a batch (at least 1).
    pub max_records: u64,
    /// Fewest records in a batch.
    pub min_records: u64,
    /// Most bytes in a batch.
    pub max_bytes: u64,
}

/// Why no compliant split exists: each reason names the limit that binds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Infeasible {
    /// Fewer records than one batch needs.
    TooFewRecords {
        /// Records seen.
        records: u64,
        /// The minimum.
        min_records: u64,
    },
    /// Around this record, no run of `min_records` records fits in `max_bytes`
    /// (or a single record is over `max_bytes`).
    NoRunFits {
        /// 0-based index of the record where every split became impossible.
        record: u64,
        /// The fewest records a batch.
        min_records: u64,
        /// The most bytes a batch.
        max_bytes: u64,
    },
    /// The count of records alone forbids it: no number of batches of
    /// `min_records` to `max_records` records adds up to `records`.
    RecordCount {
        /// Records in all.
        records: u64,
        /// The fewest records a batch.
        min_records: u64,
        /// The most records a batch.
        max_records: u64,
    },
    /// The limits contradict each other: no batch holds at least
    /// `min_records` and at most `max_records` records.
    NoBatchSize {
        /// The minimum.
        min_records: u64,
        /// The maximum.
        max_records: u64,
    },
}

impl fmt::Display for Infeasible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Infeasible::TooFewRecords {
                records,
                min_records,
            } => write!(
                f,
                "{} in all; a batch needs at least {min_records}",
                count(*records, "valid record", "valid records")
            ),
            Infeasible::NoBatchSize {
                min_records,
                max_records,
            } => write!(
                f,
                "no batch can hold at least {min_records} and at most {max_records} records"
            ),
            Infeasible::NoRunFits {
                record,
                min_records,
                max_bytes,
            } => write!(
                f,
                "no compliant split: by valid record {}, no run of {} fits in the \
                 byte limit of {max_bytes} bytes a batch",
                record + 1,
                count(
                    *min_records,
                    "record (the minimum a batch)",
                    "records (the minimum a batch)"
                )
            ),
            Infeasible::RecordCount {
                records,
                min_records,
                max_records,
            } => {
                // The fewest batches that could hold them all, by count.
                let k = records.div_ceil(*max_records);
                write!(
                    f,
                    "{} cannot make batches of {min_records} to {max_records} records: \
                     {} at most {}, and {} at least {}",
                    count(*records, "valid record", "valid records"),
                    count(k - 1, "batch holds", "batches hold"),
                    (k - 1) * max_records,
                    count(k, "batch needs", "batches need"),
                    k * min_records
                )
            }
        }
    }
}

const NONE: u32 = u32::MAX;

/// Per position `i` (records `0..i` placed): the fewest batches and the start
/// of the last one.
#[derive(Clone, Copy, Debug)]
struct Cell {
    batches: u32,
    back: u64,
    /// Bytes of records `0..i`.
    prefix: u64,
}

/// The streaming planner. See the [module docs](self).
///
/// ```
/// use syncbatch::split::plan::{PlanLimits, Planner};
///
/// let mut p = Planner::new(PlanLimits { max_records: 500, min_records: 20, max_bytes: 5_000_000 });
/// let mut ends = Vec::new();
/// for _ in 0..510 {
///     ends.extend(p.push(300));
/// }
/// ends.extend(p.finish()?);
/// assert_eq!(ends, [490, 510]); // not 500 + 10
/// # Ok::<(), syncbatch::split::plan::Infeasible>(())
/// ```
#[derive(Debug)]
pub struct Planner {
    limits: PlanLimits,
    /// Cells for positions `base..=n`, from `cells[head]` on: a `Vec` read
    /// past a moving head, not a `VecDeque`, whose indexing (several times a
    /// record) cost a third of the planner's instructions. The dead front is
    /// dropped once it outgrows the live part, so memory stays bounded.
    cells: Vec<Cell>,
    head: usize,
    base: u64,
    /// Records pushed.
    n: u64,
    /// Candidate starts, increasing in position and strictly in batches.
    queue: VecDeque<u64>,
    /// Next position to enter the candidate window.
    next_candidate: u64,
    /// Lowest start the byte limit allows for the last batch.
    low: u64,
    /// The position up to which batches were handed out.
    committed: u64,
    /// Records and bytes pushed since the last [`Planner::commit`].
    since_check: u64,
    bytes_since_check: u64,
    /// The latest position with a valid split of everything before it.
    last_reachable: u64,
    dead_at: Option<u64>,
}

impl Planner {
    /// A planner for these limits. `max_records` below 1 is taken as 1.
    pub fn new(limits: PlanLimits) -> Self {
        let limits = PlanLimits {
            max_records: limits.max_records.max(1),
            ..limits
        };
        let cells = vec![Cell {
            batches: 0,
            back: 0,
            prefix: 0,
        }];
        Planner {
            limits,
            cells,
            head: 0,
            base: 0,
            n: 0,
            queue: VecDeque::new(),
            next_candidate: 0,
            low: 0,
            committed: 0,
            since_check: 0,
            bytes_since_check: 0,
            last_reachable: 0,
            dead_at: None,
        }
    }

    fn cell(&self, pos: u64) -> Cell {
        self.cells[self.head + (pos - self.base) as usize]
    }

    /// Whether no split can exist any more, whatever follows: the last record
    /// pushed made it so.
    pub fn is_dead(&self) -> bool {
        self.dead_at.is_some()
    }

    /// Records pushed so far.
    pub fn records(&self) -> u64 {
        self.n
    }

    /// How many records are pushed but not yet handed out in a batch: what
    /// the caller must hold.
    pub fn pending(&self) -> u64 {
        self.n - self.committed
    }

    /// Adds the next record, `size` bytes as written (newline included).
    /// Returns the ends (exclusive record counts) of batches that are now
    /// decided, oldest first, often none. `O(1)` amortised, plus a walk of
    /// the chains once every `max_records` records or `max_bytes` bytes,
    /// whichever comes first (`O(max_records)` at most).
    pub fn push(&mut self, size: u64) -> Vec<u64> {
        if self.dead_at.is_some() {
            // No split exists any more: only the count matters now, and the
            // cells stop growing, so an impossible plan holds no memory per
            // record.
            self.n += 1;
            return Vec::new();
        }
        let l = self.limits;
        let prev = self.cell(self.n).prefix;
        self.n += 1;
        let i = self.n;
        let prefix = prev + size;
        // Starts j with i - j <= max_records and prefix(i) - prefix(j) <= max_bytes.
        self.low = self.low.max(i.saturating_sub(l.max_records));
        while self.low < i && prefix - self.cell(self.low).prefix > l.max_bytes {
            self.low += 1;
        }
        // Starts j <= i - min_records enter the window.
        let newest = i.checked_sub(l.min_records.max(1));
        if let Some(newest) = newest {
            while self.next_candidate <= newest {
                let j = self.next_candidate;
                self.next_candidate += 1;
                let b = self.cell(j).batches;
                if b == NONE {
                    continue;
                }
                while self
                    .queue
                    .back()
                    .is_some_and(|&k| self.cell(k).batches >= b)
                {
                    self.queue.pop_back();
                }
                self.queue.push_back(j);
            }
        }
        while self.queue.front().is_some_and(|&k| k < self.low) {
            self.queue.pop_front();
        }
        let cell = match (self.queue.front(), newest) {
            (Some(&j), Some(newest)) if j <= newest => Cell {
                batches: self.cell(j).batches + 1,
                back: j,
                prefix,
            },
            _ => Cell {
                batches: NONE,
                back: 0,
                prefix,
            },
        };
        self.cells.push(cell);
        self.check_dead();
        self.since_check += 1;
        self.bytes_since_check = self.bytes_since_check.saturating_add(size);
        if self.since_check >= l.max_records || self.bytes_since_check >= l.max_bytes {
            self.since_check = 0;
            self.bytes_since_check = 0;
            return self.commit();
        }
        Vec::new()
    }

    /// Notes when every position a future batch could start from is
    /// unreachable: then no split of any continuation exists.
    fn check_dead(&mut self) {
        if self.cell(self.n).batches != NONE {
            self.last_reachable = self.n;
        }
        // A future batch starts at or after both bounds of the current window.
        let from = (self.n + 1)
            .saturating_sub(self.limits.max_records)
            .max(self.low);
        if self.dead_at.is_none() && self.last_reachable < from {
            self.dead_at = Some(self.n - 1);
        }
    }

    /// Hands out the batches every possible future agrees on.
    fn commit(&mut self) -> Vec<u64> {
        if self.dead_at.is_some() {
            return Vec::new();
        }
        // A future batch starts at or after both bounds of the current
        // window (as in `check_dead`).
        let from = (self.n + 1)
            .saturating_sub(self.limits.max_records)
            .max(self.low)
            .max(self.base);
        // Where the chains of every reachable position in the window meet:
        // their common ancestor along the back links, folded one position at
        // a time (each fold walks only the few links down to the meeting
        // point so far).
        let mut meet = None;
        for p in from..=self.n {
            if self.cell(p).batches == NONE {
                continue;
            }
            meet = match meet {
                None => Some(p),
                Some(m) => match self.meeting(m, p) {
                    Some(both) => Some(both),
                    None => return Vec::new(),
                },
            };
        }
        let Some(meet) = meet else {
            return Vec::new();
        };
        if meet <= self.committed {
            return Vec::new();
        }
        let ends = self.chain(meet);
        self.committed = meet;
        self.forget_before(meet);
        ends
    }

    /// Where the chains from positions `a` and `b` meet (the later of them
    /// stepping back, one link at a time, until they stand on one position),
    /// or `None` if only at or before the committed position.
    fn meeting(&self, mut a: u64, mut b: u64) -> Option<u64> {
        while a != b {
            if a.max(b) <= self.committed {
                return None;
            }
            if a > b {
                a = self.cell(a).back;
            } else {
                b = self.cell(b).back;
            }
        }
        Some(a)
    }

    /// Batch ends from the committed position up to `end`, oldest first.
    fn chain(&self, end: u64) -> Vec<u64> {
        let mut ends = Vec::new();
        let mut p = end;
        while p > self.committed {
            ends.push(p);
            p = self.cell(p).back;
        }
        debug_assert_eq!(p, self.committed);
        ends.reverse();
        ends
    }

    fn forget_before(&mut self, pos: u64) {
        // Positions before `pos` are no start any more; the window starts at
        // or after `low`, which may still be below `pos` only if `pos` is
        // itself the only reachable start there.
        let keep_from = pos.min(self.low).min(self.next_candidate);
        let keep_from = keep_from.max(self.base);
        // Never drop a position a queue entry, `low` or a pending candidate uses.
        let keep_from = self.queue.front().map_or(keep_from, |&q| keep_from.min(q));
        if self.base < keep_from {
            self.head += (keep_from - self.base) as usize;
            self.base = keep_from;
            if self.head > self.cells.len() - self.head {
                self.cells.drain(..self.head);
                self.head = 0;
            }
        }
    }

    /// Ends the input: the remaining batch ends, or why no split exists.
    pub fn finish(mut self) -> Result<Vec<u64>, Infeasible> {
        if self.limits.min_records > self.limits.max_records {
            return Err(Infeasible::NoBatchSize {
                min_records: self.limits.min_records,
                max_records: self.limits.max_records,
            });
        }
        if self.n < self.limits.min_records {
            return Err(Infeasible::TooFewRecords {
                records: self.n,
                min_records: self.limits.min_records,
            });
        }
        if self.n == 0 {
            return Ok(Vec::new());
        }
        let l = self.limits;
        let no_run = |record| Infeasible::NoRunFits {
            record,
            min_records: l.min_records,
            max_bytes: l.max_bytes,
        };
        if let Some(record) = self.dead_at {
            return Err(no_run(record));
        }
        if self.cell(self.n).batches == NONE {
            // The fewest batches the count allows, and whether that many
            // can hold enough: if not, the count binds, not the bytes.
            let k = self.n.div_ceil(l.max_records);
            if k.saturating_mul(l.min_records) > self.n {
                return Err(Infeasible::RecordCount {
                    records: self.n,
                    min_records: l.min_records,
                    max_records: l.max_records,
                });
            }
            return Err(no_run(self.n - 1));
        }
        let ends = self.chain(self.n);
        self.committed = self.n;
        Ok(ends)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each reason names the limit that binds, with the numbers: the count
    /// (30 records, batches of 20 to 25: one holds 25, two need 40), or the
    /// bytes (a run of the minimum too large), never the other.
    #[test]
    fn the_reason_names_the_limit_that_binds() {
        let l = PlanLimits {
            max_records: 25,
            min_records: 20,
            max_bytes: 5_000_000,
        };
        let err = plan(&[100; 30], l).unwrap_err();
        assert_eq!(
            err,
            Infeasible::RecordCount {
                records: 30,
                min_records: 20,
                max_records: 25
            }
        );
        assert_eq!(
            err.to_string(),
            "30 valid records cannot make batches of 20 to 25 records: 1 batch holds at most \
             25, and 2 batches need at least 40"
        );
        // Enough records by count, but 20 of them never fit in 1,000 bytes.
        let l = PlanLimits {
            max_bytes: 1000,
            ..l
        };
        let err = plan(&[100; 30], l).unwrap_err();
        assert!(
            matches!(
                err,
                Infeasible::NoRunFits {
                    max_bytes: 1000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(
                "no run of 20 records (the minimum a batch) fits in the byte limit of 1000 bytes"
            ),
            "{err}"
        );
        // 45 records make two batches (25 + 20 or so): no error.
        let l = PlanLimits {
            max_bytes: 5_000_000,
            ..l
        };
        assert_eq!(plan(&[100; 45], l).unwrap().len(), 2);
    }

    fn plan(sizes: &[u64], l: PlanLimits) -> Result<Vec<u64>, Infeasible> {
        let mut p = Planner::new(l);
        let mut ends = Vec::new();
        for (i, &s) in sizes.iter().enumerate() {
            ends.extend(p.push(s));
            assert!(
                p.pending() <= 3 * l.max_records + 1,
                "pending {}",
                p.pending()
            );
            // Undecided records hold a few batches' bytes at most, however
            // large they are (while a split is still possible).
            let pending = p.pending() as usize;
            let bytes: u64 = sizes[i + 1 - pending..=i].iter().sum();
            let largest = sizes[..=i].iter().max().copied().unwrap_or(0);
            assert!(
                p.is_dead() || bytes <= 3 * l.max_bytes + largest,
                "{pending} records of {bytes} bytes pending"
            );
        }
        ends.extend(p.finish()?);
        Ok(ends)
    }

    const API: PlanLimits = PlanLimits {
        max_records: 500,
        min_records: 20,
        max_bytes: 5_000_000,
    };

    fn counts(ends: &[u64]) -> Vec<u64> {
        let mut prev = 0;
        ends.iter()
            .map(|&e| {
                let c = e - prev;
                prev = e;
                c
            })
            .collect()
    }

    #[test]
    fn contradictory_limits_say_so() {
        let l = PlanLimits {
            max_records: 10,
            min_records: 30,
            max_bytes: 5_000_000,
        };
        for n in [0, 5, 100] {
            let mut p = Planner::new(l);
            let handed_out: Vec<u64> = (0..n).flat_map(|_| p.push(400)).collect();
            assert!(handed_out.is_empty());
            assert_eq!(
                p.finish(),
                Err(Infeasible::NoBatchSize {
                    min_records: 30,
                    max_records: 10
                }),
                "{n} records"
            );
        }
    }

    #[test]
    fn exact_record_counts() {
        let cases: &[(u64, &[u64])] = &[
            (20, &[20]),
            (500, &[500]),
            (501, &[481, 20]),
            (510, &[490, 20]),
            (1000, &[500, 500]),
            (1001, &[500, 481, 20]),
            (100_000, &[500; 200]),
        ];
        for &(n, want) in cases {
            let ends = plan(&vec![400; n as usize], API).unwrap();
            assert_eq!(counts(&ends), want, "{n} records");
        }
        assert_eq!(
            plan(&[400; 19], API),
            Err(Infeasible::TooFewRecords {
                records: 19,
                min_records: 20
            })
        );
    }

    #[test]
    fn large_records_are_handed_out_as_they_come() {
        // Records of 4 MB: one a batch. Each is decided a record or two
        // later, not `max_records` (2 GB) later; `plan` checks the bytes.
        let l = PlanLimits {
            min_records: 1,
            ..API
        };
        let mut p = Planner::new(l);
        for _ in 0..1000 {
            p.push(4_000_000);
            assert!(p.pending() <= 3, "pending {}", p.pending());
        }
        assert_eq!(counts(&plan(&[4_000_000; 1000], l).unwrap()), [1; 1000]);
        // Mixed: small records, then large ones, then small again.
        let mut sizes = vec![400u64; 3000];
        sizes.extend([3_000_000; 50]);
        sizes.extend([400; 3000]);
        let ends = plan(&sizes, l).unwrap();
        assert_eq!(ends.last(), Some(&6050));
    }

    #[test]
    fn byte_limit_forces_batches() {
        // Records of 100 KB: 50 fit in 5 MB; 110 make 50 + 40 + 20, not 50 + 50 + 10.
        let ends = plan(&[100_000; 110], API).unwrap();
        assert_eq!(counts(&ends), [50, 40, 20]);
        // A record over the limit makes any split impossible.
        assert!(matches!(
            plan(
                &[10, 6_000_000, 10],
                PlanLimits {
                    min_records: 1,
                    ..API
                }
            ),
            Err(Infeasible::NoRunFits { .. })
        ));
    }
}
