//! The campaign core against a simulated Sync API, over random
//! interleavings: creates answered, or failing after the batch was made
//! (the answer lost), or failing before; batches whose totals the list
//! shows late; other people's batches appearing in the same window, some
//! with the same record count; and crashes at any step (the core dropped,
//! the journal replayed). Whatever happens, every file ends with exactly
//! one batch made for it, bound to it, and nothing is lost; and at any
//! step, the journal replayed binds every file as the live core does.

use proptest::prelude::*;
use syncbatch::campaign::{replay, Action, Core, Event, FileEntry, Finished, Header, Seen, Stop};

const MINUTE: i64 = 60_000;

/// A batch on the simulated server.
#[derive(Clone, Debug)]
struct SimBatch {
    id: String,
    created_at: i64,
    total: u64,
    /// The campaign file it was made for; `None`: someone else's.
    ours: Option<usize>,
    /// The list shows its total only from then on (0 before, while pending).
    known_at: i64,
    finish_at: i64,
    failed: bool,
}

/// How a create goes, and what each step may meet.
#[derive(Clone, Debug)]
enum Create {
    Answered,
    LostAfterMade,
    FailedBeforeMade,
}

fn create() -> impl Strategy<Value = Create> {
    prop_oneof![
        4 => Just(Create::Answered),
        2 => Just(Create::LostAfterMade),
        2 => Just(Create::FailedBeforeMade),
    ]
}

#[derive(Clone, Debug)]
struct Script {
    records: Vec<u64>,
    creates: Vec<Create>,
    /// Per step: crash after it (drop the core, replay the journal).
    crashes: Vec<bool>,
    /// Someone else's batches: (minute made, total).
    foreign: Vec<(i64, u64)>,
    /// Per batch made: (minutes until its total shows, minutes until done, failed).
    timing: Vec<(i64, i64, bool)>,
    max_in_flight: Option<usize>,
    /// The files of a retry round started after the first merge (none:
    /// no second round).
    round2: Vec<u64>,
}

fn script() -> impl Strategy<Value = Script> {
    (
        proptest::collection::vec(prop_oneof![Just(20u64), Just(25u64), 20u64..500], 1..6),
        proptest::collection::vec(create(), 40),
        proptest::collection::vec(proptest::bool::weighted(0.08), 400),
        proptest::collection::vec(
            (0i64..120, prop_oneof![Just(20u64), Just(25u64), 20u64..500]),
            0..4,
        ),
        proptest::collection::vec((0i64..6, 1i64..40, proptest::bool::weighted(0.1)), 40),
        prop_oneof![Just(None), Just(Some(1usize)), Just(Some(2usize))],
        proptest::collection::vec(prop_oneof![Just(20u64), Just(25u64), 20u64..500], 0..3),
    )
        .prop_map(
            |(records, creates, crashes, foreign, timing, max_in_flight, round2)| Script {
                records,
                creates,
                crashes,
                foreign,
                timing,
                max_in_flight,
                round2,
            },
        )
}

struct Sim {
    batches: Vec<SimBatch>,
    now: i64,
}

impl Sim {
    fn make(&mut self, total: u64, ours: Option<usize>, timing: (i64, i64, bool)) -> String {
        let id = format!("batch_{:04}", self.batches.len() + 1);
        self.batches.push(SimBatch {
            id: id.clone(),
            created_at: self.now,
            total,
            ours,
            known_at: self.now + timing.0 * MINUTE,
            finish_at: self.now + timing.1 * MINUTE,
            failed: timing.2,
        });
        id
    }

    fn seen(&self, b: &SimBatch) -> Seen {
        let finished = (self.now >= b.finish_at).then_some(if b.failed {
            Finished::Failed
        } else {
            Finished::Completed
        });
        Seen {
            id: b.id.clone(),
            created_at: b.created_at,
            total: Some(if self.now >= b.known_at { b.total } else { 0 }),
            finished,
            status: None,
            counts: None,
        }
    }
}

/// Runs a script to the end (a merge, a second round when the script has
/// one, its merge); returns the server's batches, the core and every
/// file's records.
fn run(script: &Script) -> Result<(Vec<SimBatch>, Core, Vec<u64>), TestCaseError> {
    let mut records = script.records.clone();
    let files: Vec<FileEntry> = script
        .records
        .iter()
        .enumerate()
        .map(|(i, &records)| FileEntry {
            name: format!("batches/batch-{:05}.jsonl", i + 1),
            records,
        })
        .collect();
    let header = Header {
        version: syncbatch::campaign::journal::VERSION,
        files: files.clone(),
        max_in_flight: script.max_in_flight,
        options: serde_json::Value::Null,
    };
    let mut journal: Vec<Event> = Vec::new();
    let mut core = Core::new(files, script.max_in_flight);
    let mut sim = Sim {
        batches: Vec::new(),
        now: 10 * MINUTE,
    };
    let (mut creates, mut timings) = (script.creates.iter().cycle(), script.timing.iter().cycle());
    let mut foreign = script.foreign.clone();
    // Journal first, then apply: what the driver does.
    let record = |journal: &mut Vec<Event>, core: &mut Core, e: Event| {
        journal.push(e.clone());
        core.apply(&e);
    };
    for step in 0..4000 {
        // Someone else's batches appear as time passes.
        foreign.retain(|&(minute, total)| {
            if sim.now >= minute * MINUTE {
                sim.make(total, None, (0, 1, false));
                false
            } else {
                true
            }
        });
        match core.next() {
            Action::Merge => {
                let round = core.round();
                record(
                    &mut journal,
                    &mut core,
                    Event::Merged {
                        round,
                        not_completed: 0,
                    },
                );
            }
            Action::Done => {
                if core.round() == 1 && !script.round2.is_empty() {
                    let files = script
                        .round2
                        .iter()
                        .enumerate()
                        .map(|(i, &records)| FileEntry {
                            name: format!("rounds/2/batches/batch-{:05}.jsonl", i + 1),
                            records,
                        })
                        .collect();
                    records.extend(&script.round2);
                    record(&mut journal, &mut core, Event::Round { round: 2, files });
                } else {
                    prop_assert_eq!(core.merged(), Some(core.round()));
                    return Ok((sim.batches, core, records));
                }
            }
            Action::Create { file } => {
                record(
                    &mut journal,
                    &mut core,
                    Event::CreateSent { file, at: sim.now },
                );
                let timing = *timings.next().unwrap();
                let records = records[file];
                let crash = script.crashes[step % script.crashes.len()];
                if crash {
                    // A crash while the create is in the air: the batch may
                    // or may not be made, and no answer reaches the journal.
                    if matches!(
                        creates.next().unwrap(),
                        Create::Answered | Create::LostAfterMade
                    ) {
                        sim.make(records, Some(file), timing);
                    }
                    core = replay(&header, &journal);
                    continue;
                }
                match creates.next().unwrap() {
                    Create::Answered => {
                        let id = sim.make(records, Some(file), timing);
                        record(&mut journal, &mut core, Event::Created { file, id });
                    }
                    Create::LostAfterMade => {
                        sim.make(records, Some(file), timing);
                        record(&mut journal, &mut core, Event::CreateAmbiguous { file });
                    }
                    Create::FailedBeforeMade => {
                        record(&mut journal, &mut core, Event::CreateAmbiguous { file });
                    }
                }
            }
            Action::List { since } => {
                let batches = sim
                    .batches
                    .iter()
                    .filter(|b| b.created_at > since)
                    .map(|b| sim.seen(b))
                    .collect();
                record(
                    &mut journal,
                    &mut core,
                    Event::Listed {
                        batches,
                        at: sim.now,
                    },
                );
            }
            Action::Get { id } => {
                let b = sim
                    .batches
                    .iter()
                    .find(|b| b.id == id)
                    .expect("a batch the core knows");
                let batch = sim.seen(b);
                record(&mut journal, &mut core, Event::Got { batch });
            }
            Action::Download { file, id } => {
                let b = sim
                    .batches
                    .iter()
                    .find(|b| b.id == id)
                    .expect("a batch the core knows");
                prop_assert!(
                    sim.now >= b.finish_at && !b.failed,
                    "download of an unfinished batch"
                );
                let matches = b.ours == Some(file);
                record(&mut journal, &mut core, Event::Downloaded { file, matches });
            }
            Action::Wait => {
                sim.now += MINUTE;
                core.poll();
            }
            Action::Stop(Stop::Candidates { file, ids }) => {
                // The user looks: theirs among the candidates is adopted,
                // else the file is created anew.
                prop_assert!(ids.len() >= 2);
                let mine = ids.iter().find(|id| {
                    sim.batches
                        .iter()
                        .any(|b| &b.id == *id && b.ours == Some(file))
                });
                let e = match mine {
                    Some(id) => Event::Adopt {
                        file,
                        id: id.clone(),
                    },
                    None => Event::CreateAnew { file },
                };
                record(&mut journal, &mut core, e);
            }
            Action::Stop(Stop::Foreign { file, id }) => {
                // The adopted batch was someone else's: it is not ours.
                prop_assert!(sim
                    .batches
                    .iter()
                    .any(|b| b.id == id && b.ours != Some(file)));
                record(&mut journal, &mut core, Event::CreateAnew { file });
            }
            Action::Stop(other) => return Err(TestCaseError::fail(format!("{other:?}"))),
        }
        if script.crashes[step % script.crashes.len()] {
            core = replay(&header, &journal);
        } else if step % 7 == 0 {
            // The journal is the campaign's only memory: replayed now, it
            // binds every file as the live core does.
            let replayed = replay(&header, &journal);
            for file in 0..records.len() {
                prop_assert_eq!(
                    replayed.batch_of(file),
                    core.batch_of(file),
                    "file {}",
                    file
                );
            }
        }
    }
    Err(TestCaseError::fail("no end within 4000 steps"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    #[test]
    fn every_file_ends_with_exactly_one_batch_of_its_own(script in script()) {
        let (batches, core, records) = run(&script)?;
        prop_assert_eq!(core.len(), script.records.len() + script.round2.len());
        for (file, _) in records.iter().enumerate() {
            let ours: Vec<&SimBatch> = batches.iter().filter(|b| b.ours == Some(file)).collect();
            prop_assert_eq!(ours.len(), 1, "file {} has {} batches: {:?}", file, ours.len(), ours);
            prop_assert_eq!(core.batch_of(file), Some(ours[0].id.as_str()));
        }
    }
}
