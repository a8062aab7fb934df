//! The streaming planner against a brute-force dynamic program over small limits.

use proptest::prelude::*;
use syncbatch::split::plan::{PlanLimits, Planner};

/// The fewest batches of a contiguous split, by trying every last batch for
/// every prefix; `None` when there is none.
fn reference(sizes: &[u64], l: PlanLimits) -> Option<usize> {
    let n = sizes.len();
    let mut best: Vec<Option<usize>> = vec![None; n + 1];
    best[0] = Some(0);
    let prefix: Vec<u64> = std::iter::once(0)
        .chain(sizes.iter().scan(0, |acc, &s| {
            *acc += s;
            Some(*acc)
        }))
        .collect();
    for i in 1..=n {
        // Every start j; batches longer than max_records are rejected below.
        for j in 0..i {
            let count = (i - j) as u64;
            let bytes = prefix[i] - prefix[j];
            let fits =
                count <= l.max_records && count >= l.min_records.max(1) && bytes <= l.max_bytes;
            if let (true, Some(b)) = (fits, best[j]) {
                best[i] = Some(best[i].map_or(b + 1, |x: usize| x.min(b + 1)));
            }
        }
    }
    if (n as u64) < l.min_records {
        return None;
    }
    best[n]
}

fn run(sizes: &[u64], l: PlanLimits) -> Option<Vec<u64>> {
    let mut p = Planner::new(l);
    let mut ends = Vec::new();
    for &s in sizes {
        ends.extend(p.push(s));
    }
    ends.extend(p.finish().ok()?);
    Some(ends)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    #[test]
    fn planner_is_optimal_and_compliant(
        max_records in 1u64..8,
        min_frac in 0u64..8,
        max_bytes in 1u64..200,
        sizes in proptest::collection::vec(1u64..60, 0..80),
    ) {
        let l = PlanLimits { max_records, min_records: min_frac % (max_records + 1), max_bytes };
        let want = reference(&sizes, l);
        let got = run(&sizes, l);
        prop_assert_eq!(got.as_ref().map(|e| e.len()), want, "{:?} {:?}", l, got);
        if let Some(ends) = got {
            let mut start = 0usize;
            for &end in &ends {
                let end = end as usize;
                let batch = &sizes[start..end];
                prop_assert!(!batch.is_empty());
                prop_assert!(batch.len() as u64 <= l.max_records);
                prop_assert!(batch.len() as u64 >= l.min_records);
                prop_assert!(batch.iter().sum::<u64>() <= l.max_bytes);
                start = end;
            }
            prop_assert_eq!(start, sizes.len(), "batches cover every record in order");
        }
    }

    /// Long streams: the planner hands batches out as it goes, holding only a
    /// few batches' worth of records, and still matches the reference count.
    #[test]
    fn planner_streams_with_bounded_pending(
        max_records in 2u64..10,
        min_records in 1u64..4,
        sizes in proptest::collection::vec(1u64..30, 200..600),
    ) {
        let l = PlanLimits { max_records, min_records: min_records.min(max_records), max_bytes: 120 };
        let mut p = Planner::new(l);
        let mut ends = Vec::new();
        let mut worst = 0;
        for &s in &sizes {
            ends.extend(p.push(s));
            worst = worst.max(p.pending());
        }
        match p.finish() {
            Ok(rest) => {
                ends.extend(rest);
                prop_assert_eq!(Some(ends.len()), reference(&sizes, l));
                prop_assert!(worst <= 6 * l.max_records, "pending {} records", worst);
            }
            Err(_) => prop_assert_eq!(reference(&sizes, l), None),
        }
    }
}
