//! The campaign as a state machine with no I/O: events in, the next action
//! out (the quinn-proto pattern). The driver sends what [`Core::next`]
//! asks for, and hands back what came of it with [`Core::apply`]; every
//! event is journaled before the driver acts on it, so replaying the
//! journal into a fresh core yields the same state, whatever happened
//! between (a crash, `kill -9`, a power cut, a lost answer).
//!
//! Exactly one batch per file (sync-api.md section 4): creates go one at a
//! time, each recorded ([`Event::CreateSent`]) before it is sent. A create
//! answered with a batch binds it to its file. A create that failed in a way
//! that may have made a batch ([`Event::CreateAmbiguous`]), or that was
//! recorded as sent and never answered (a crash), is reconciled: the
//! batches made since five minutes before the attempt are listed, and the
//! one no other file claims whose total is the file's record count is
//! adopted; a candidate whose total is not known yet is listed again, for
//! up to ten minutes; only when there is none is the file created again;
//! with two or more, the campaign stops and names them, never guessing.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, on the driver's clock.
pub type Millis = i64;

/// How far back from an ambiguous create the reconciliation looks, for
/// clock skew between this machine and the server.
pub const SKEW: Millis = 5 * 60 * 1000;

/// How long a candidate whose total is not known yet is waited for.
pub const UNKNOWN_TOTAL_GRACE: Millis = 10 * 60 * 1000;

/// One batch file of the campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its path relative to the campaign's directory.
    pub name: String,
    /// Its records: what its batch's `totalGenerations` must be.
    pub records: u64,
}

/// A batch's generations by outcome, from its `metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Generations that succeeded.
    pub success: u64,
    /// Generations that failed.
    pub failed: u64,
    /// Generations not done yet.
    pub pending: u64,
}

/// A batch as a list or get answer shows it, as far as the core cares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The batch id.
    pub id: String,
    /// When it was made, on the server's clock.
    pub created_at: Millis,
    /// Its `metrics.totalGenerations`, when known (`None` or 0 while pending
    /// counts as not known).
    pub total: Option<u64>,
    /// Whether it finished (`COMPLETED` or `FAILED`), and how.
    pub finished: Option<Finished>,
    /// Its status as the API spelled it (for people; the core reads
    /// `finished`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Its generations by outcome, when the answer had metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
}

/// How a batch finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Finished {
    /// `COMPLETED`: it has results.
    Completed,
    /// `FAILED` as a whole: no results; its requests come out `MISSING`.
    Failed,
}

/// What happened, as the driver reports it (and the journal keeps it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A create of `file` is about to be sent (journaled first).
    CreateSent {
        /// The file's index.
        file: usize,
        /// When.
        at: Millis,
    },
    /// The create of `file` answered with batch `id`.
    Created {
        /// The file's index.
        file: usize,
        /// The batch made.
        id: String,
    },
    /// The create of `file` failed and may have made a batch.
    CreateAmbiguous {
        /// The file's index.
        file: usize,
    },
    /// The server refused the file (`400`, `413`, `422`): the campaign stops.
    CreateRefused {
        /// The file's index.
        file: usize,
        /// The server's message.
        message: String,
    },
    /// A List Batches answer, asked at `at`.
    Listed {
        /// The batches it showed.
        batches: Vec<Seen>,
        /// When it was asked.
        at: Millis,
    },
    /// A Get Batch answer.
    Got {
        /// The batch.
        batch: Seen,
    },
    /// The results of `file`'s batch are downloaded whole; `matches` says
    /// whether their request ids are the file's (an adopted batch may be
    /// someone else's).
    Downloaded {
        /// The file's index.
        file: usize,
        /// Whether the results' request ids are the file's.
        matches: bool,
    },
    /// The user settles a stop: `file` is batch `id`'s.
    Adopt {
        /// The file's index.
        file: usize,
        /// The batch.
        id: String,
    },
    /// The user settles a stop: `file` is to be created anew.
    CreateAnew {
        /// The file's index.
        file: usize,
    },
    /// The merge over every file so far is written; `not_completed`
    /// requests ended other than `COMPLETED`.
    Merged {
        /// The round it closes (1 for the first).
        round: u32,
        /// Requests not `COMPLETED` (failed, rejected, missing, ...).
        not_completed: u64,
    },
    /// A retry round starts: its batch files join the campaign.
    Round {
        /// Its number (2 for the first retry).
        round: u32,
        /// Its batch files, in order.
        files: Vec<FileEntry>,
    },
    /// A resume raised the campaign's retry rounds to `n` (the core does not
    /// read it; the driver does).
    RetryRounds {
        /// The rounds of retries allowed now.
        n: u32,
    },
}

/// Where one file stands, for people ([`Core::view`]).
#[derive(Clone, Copy, Debug)]
pub struct FileView<'a> {
    /// The file.
    pub entry: &'a FileEntry,
    /// Its round.
    pub round: u32,
    /// `ready`, `creating`, `reconciling`, `candidates`, `refused`,
    /// `foreign` or `created`.
    pub stage: &'static str,
    /// Its batch, once created (or the foreign one).
    pub id: Option<&'a str>,
    /// Whether its batch finished, and how.
    pub finished: Option<Finished>,
    /// Whether its results are downloaded.
    pub downloaded: bool,
}

/// What the driver should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create `file`'s batch: journal [`Event::CreateSent`] first.
    Create {
        /// The file's index.
        file: usize,
    },
    /// List the batches made since `since`.
    List {
        /// The lower bound, `created_after`.
        since: Millis,
    },
    /// Get batch `id` (the last list did not show it).
    Get {
        /// The batch id.
        id: String,
    },
    /// Download `file`'s batch `id`'s results.
    Download {
        /// The file's index.
        file: usize,
        /// The batch id.
        id: String,
    },
    /// Nothing to do before the next poll.
    Wait,
    /// Every file's batch finished and what had results is downloaded: merge.
    Merge,
    /// The merge over every file is written: the round is over (the driver
    /// starts another, or the campaign is done).
    Done,
    /// The campaign cannot go on without the user.
    Stop(Stop),
}

/// Why the campaign stops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Two or more batches could be `file`'s: the user names one
    /// ([`Event::Adopt`]) or asks for a new one ([`Event::CreateAnew`]).
    Candidates {
        /// The file's index.
        file: usize,
        /// The candidate batch ids.
        ids: Vec<String>,
    },
    /// The batch adopted for `file` holds someone else's requests: the user
    /// asks for a new one ([`Event::CreateAnew`]).
    Foreign {
        /// The file's index.
        file: usize,
        /// The batch.
        id: String,
    },
    /// The server refused `file`.
    Refused {
        /// The file's index.
        file: usize,
        /// The server's message.
        message: String,
    },
}

/// Where one file stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Not created.
    Ready,
    /// A create was sent at `at` and not answered (yet).
    Sent { at: Millis },
    /// A create may have made a batch: reconciling by listing.
    Reconciling {
        at: Millis,
        /// When a candidate of unknown total was first seen.
        unknown_since: Option<Millis>,
    },
    /// Two or more candidates: the user must settle it.
    Conflict { ids: Vec<String> },
    /// Refused by the server.
    Refused { message: String },
    /// The batch adopted holds someone else's requests.
    Foreign { id: String },
    /// Its batch.
    Bound {
        id: String,
        finished: Option<Finished>,
        downloaded: bool,
    },
}

/// The campaign's state. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Core {
    files: Vec<(FileEntry, State)>,
    /// At most this many batches created and not finished.
    max_in_flight: usize,
    /// When the first create was sent: lists look back from there.
    first_sent: Option<Millis>,
    /// Batches the last list did not show, to get one by one.
    unseen: Vec<String>,
    /// A list is due (every poll while batches are watched).
    list_due: bool,
    /// How many files the last merge covered, and the round it closed.
    merged: Option<(usize, u32)>,
    /// The round of each file (1 for the files the campaign started with).
    rounds: Vec<u32>,
}

impl Core {
    /// A campaign over `files`, with at most `max_in_flight` batches
    /// created and not finished (`None`: no cap).
    pub fn new(files: Vec<FileEntry>, max_in_flight: Option<usize>) -> Core {
        Core {
            rounds: vec![1; files.len()],
            files: files.into_iter().map(|f| (f, State::Ready)).collect(),
            max_in_flight: max_in_flight.unwrap_or(usize::MAX).max(1),
            first_sent: None,
            unseen: Vec::new(),
            list_due: false,
            merged: None,
        }
    }

    /// The files, in order.
    pub fn files(&self) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().map(|(f, _)| f)
    }

    /// The batch bound to `file`, if any.
    pub fn batch_of(&self, file: usize) -> Option<&str> {
        match &self.files.get(file)?.1 {
            State::Bound { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The batches bound and not finished: those a poll watches.
    fn watched(&self) -> impl Iterator<Item = String> + '_ {
        self.files.iter().filter_map(|(_, s)| match s {
            State::Bound {
                id, finished: None, ..
            } => Some(id.clone()),
            _ => None,
        })
    }

    /// A poll is due: the next [`Core::next`] lists the batches again.
    pub fn poll(&mut self) {
        if self.first_sent.is_none() {
            // No create was ever sent (every batch adopted by hand): there
            // is no time to list from, so the batches are got one by one.
            self.unseen = self.watched().collect();
            return;
        }
        self.list_due = true;
    }

    /// Takes what happened into the state. Replaying the journal's events
    /// in order into [`Core::new`] yields the same state.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::CreateSent { file, at } => {
                self.first_sent.get_or_insert(*at);
                self.set(*file, State::Sent { at: *at });
            }
            Event::Created { file, id } => self.bind(*file, id.clone()),
            Event::CreateAmbiguous { file } => {
                if let Some(State::Sent { at }) = self.state(*file).cloned() {
                    self.set(
                        *file,
                        State::Reconciling {
                            at,
                            unknown_since: None,
                        },
                    );
                    self.list_due = true;
                }
            }
            Event::CreateRefused { file, message } => self.set(
                *file,
                State::Refused {
                    message: message.clone(),
                },
            ),
            Event::Listed { batches, at } => {
                self.list_due = false;
                // A list is asked while a create is in the air only after a
                // resume turned it into a reconciliation: replaying the
                // journal, the same holds here (the resume left no event).
                self.resume();
                self.list_due = false;
                self.reconcile(batches, *at);
                self.update(batches);
                // Bound batches the list did not show are got one by one.
                self.unseen = self
                    .watched()
                    .filter(|id| !batches.iter().any(|b| &b.id == id))
                    .collect();
            }
            Event::Got { batch } => {
                self.unseen.retain(|id| id != &batch.id);
                self.update(std::slice::from_ref(batch));
            }
            Event::Downloaded { file, matches } => {
                let state = self.files.get_mut(*file).map(|f| &mut f.1);
                if let Some(State::Bound { id, downloaded, .. }) = state {
                    if *matches {
                        *downloaded = true;
                    } else {
                        let id = id.clone();
                        self.set(*file, State::Foreign { id });
                    }
                }
            }
            Event::Adopt { file, id } => self.bind(*file, id.clone()),
            Event::CreateAnew { file } => self.set(*file, State::Ready),
            Event::Merged { round, .. } => self.merged = Some((self.files.len(), *round)),
            Event::Round { round, files } => {
                for f in files {
                    self.files.push((f.clone(), State::Ready));
                    self.rounds.push(*round);
                }
            }
            Event::RetryRounds { .. } => {}
        }
    }

    /// The next action. A create that was recorded as sent and not
    /// answered is, on resume, reconciled like an ambiguous one: call
    /// [`Core::resume`] once after replaying the journal. `O(files)`.
    pub fn next(&self) -> Action {
        if let Some((file, ids)) = self
            .files
            .iter()
            .enumerate()
            .find_map(|(i, (_, s))| match s {
                State::Conflict { ids } => Some((i, ids.clone())),
                _ => None,
            })
        {
            return Action::Stop(Stop::Candidates { file, ids });
        }
        if let Some(stop) = self
            .files
            .iter()
            .enumerate()
            .find_map(|(i, (_, s))| match s {
                State::Refused { message } => Some(Stop::Refused {
                    file: i,
                    message: message.clone(),
                }),
                State::Foreign { id } => Some(Stop::Foreign {
                    file: i,
                    id: id.clone(),
                }),
                _ => None,
            })
        {
            return Action::Stop(stop);
        }
        // A reconciliation settles first: lists, from five minutes before
        // its attempt, each time one is due.
        if let Some(at) = self
            .files
            .iter()
            .filter_map(|(_, s)| match s {
                State::Reconciling { at, .. } => Some(*at),
                _ => None,
            })
            .min()
        {
            return if self.list_due {
                Action::List {
                    since: at.saturating_sub(SKEW),
                }
            } else {
                Action::Wait
            };
        }
        // A create is in the air: nothing else is created meanwhile.
        if self
            .files
            .iter()
            .any(|(_, s)| matches!(s, State::Sent { .. }))
        {
            return Action::Wait;
        }
        for (i, (_, s)) in self.files.iter().enumerate() {
            if let State::Bound {
                id,
                finished: Some(Finished::Completed),
                downloaded: false,
            } = s
            {
                return Action::Download {
                    file: i,
                    id: id.clone(),
                };
            }
        }
        let in_flight = self
            .files
            .iter()
            .filter(|(_, s)| matches!(s, State::Bound { finished: None, .. }))
            .count();
        if in_flight < self.max_in_flight {
            if let Some(file) = self.files.iter().position(|(_, s)| *s == State::Ready) {
                return Action::Create { file };
            }
        }
        if let Some(id) = self.unseen.first() {
            return Action::Get { id: id.clone() };
        }
        if in_flight > 0 {
            return match (self.list_due, self.first_sent) {
                (true, Some(first)) => Action::List {
                    since: first.saturating_sub(SKEW),
                },
                _ => Action::Wait,
            };
        }
        if self.files.iter().all(|(_, s)| {
            matches!(
                s,
                State::Bound {
                    finished: Some(_),
                    ..
                }
            )
        }) {
            return match self.merged {
                Some((n, _)) if n == self.files.len() => Action::Done,
                _ => Action::Merge,
            };
        }
        Action::Wait
    }

    /// Whether every create that may be sent now has been answered: no
    /// create in the air or being reconciled, and no file waiting that the
    /// in-flight cap lets through (what `--no-wait` waits for).
    pub fn creates_settled(&self) -> bool {
        let busy = self
            .files
            .iter()
            .any(|(_, s)| matches!(s, State::Sent { .. } | State::Reconciling { .. }));
        let in_flight = self
            .files
            .iter()
            .filter(|(_, s)| matches!(s, State::Bound { finished: None, .. }))
            .count();
        let ready = self.files.iter().any(|(_, s)| *s == State::Ready);
        !busy && (!ready || in_flight >= self.max_in_flight)
    }

    /// The round of `file` (1 for the files the campaign started with).
    pub fn round_of(&self, file: usize) -> u32 {
        self.rounds.get(file).copied().unwrap_or(1)
    }

    /// The last round that began (1 until a retry round starts).
    pub fn round(&self) -> u32 {
        self.rounds.iter().copied().max().unwrap_or(1)
    }

    /// The round the last merge closed, if the merge covers every file.
    pub fn merged(&self) -> Option<u32> {
        self.merged
            .filter(|(n, _)| *n == self.files.len())
            .map(|(_, r)| r)
    }

    /// Where `file` stands, for people.
    pub fn view(&self, file: usize) -> Option<FileView<'_>> {
        let (entry, state) = self.files.get(file)?;
        let (stage, id, finished, downloaded) = match state {
            State::Ready => ("ready", None, None, false),
            State::Sent { .. } => ("creating", None, None, false),
            State::Reconciling { .. } => ("reconciling", None, None, false),
            State::Conflict { .. } => ("candidates", None, None, false),
            State::Refused { .. } => ("refused", None, None, false),
            State::Foreign { id } => ("foreign", Some(id.as_str()), None, false),
            State::Bound {
                id,
                finished,
                downloaded,
            } => ("created", Some(id.as_str()), *finished, *downloaded),
        };
        Some(FileView {
            entry,
            round: self.round_of(file),
            stage,
            id,
            finished,
            downloaded,
        })
    }

    /// The number of files, every round.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the campaign has no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// After replaying a journal: a create recorded as sent and never
    /// answered may have made a batch, so it is reconciled.
    pub fn resume(&mut self) {
        for (_, s) in &mut self.files {
            if let State::Sent { at } = *s {
                *s = State::Reconciling {
                    at,
                    unknown_since: None,
                };
                self.list_due = true;
            }
        }
    }

    fn state(&self, file: usize) -> Option<&State> {
        self.files.get(file).map(|f| &f.1)
    }

    fn set(&mut self, file: usize, state: State) {
        if let Some(f) = self.files.get_mut(file) {
            f.1 = state;
        }
    }

    fn bind(&mut self, file: usize, id: String) {
        self.set(
            file,
            State::Bound {
                id,
                finished: None,
                downloaded: false,
            },
        );
    }

    /// Batches claimed by some file.
    fn claimed(&self, id: &str) -> bool {
        self.files
            .iter()
            .any(|(_, s)| matches!(s, State::Bound { id: bound, .. } if bound == id))
    }

    /// Settles the reconciling files a list answers.
    fn reconcile(&mut self, batches: &[Seen], now: Millis) {
        for i in 0..self.files.len() {
            let State::Reconciling { at, unknown_since } = self.files[i].1.clone() else {
                continue;
            };
            let records = self.files[i].0.records;
            let recent: Vec<&Seen> = batches
                .iter()
                .filter(|b| b.created_at >= at.saturating_sub(SKEW) && !self.claimed(&b.id))
                .collect();
            let matching: Vec<String> = recent
                .iter()
                .filter(|b| b.total == Some(records))
                .map(|b| b.id.clone())
                .collect();
            let unknown = recent.iter().any(|b| matches!(b.total, None | Some(0)));
            let waited_out =
                unknown_since.is_some_and(|t| now.saturating_sub(t) > UNKNOWN_TOTAL_GRACE);
            self.files[i].1 = match (matching.len(), unknown && !waited_out) {
                (0, false) => State::Ready,
                (1, false) => State::Bound {
                    id: matching[0].clone(),
                    finished: None,
                    downloaded: false,
                },
                (n, false) if n >= 2 => State::Conflict { ids: matching },
                _ => State::Reconciling {
                    at,
                    unknown_since: unknown_since.or(Some(now)),
                },
            };
        }
    }

    /// Takes the statuses of bound batches from an answer.
    fn update(&mut self, batches: &[Seen]) {
        for (_, s) in &mut self.files {
            if let State::Bound { id, finished, .. } = s {
                if let Some(b) = batches.iter().find(|b| &b.id == id) {
                    if b.finished.is_some() {
                        *finished = b.finished;
                    }
                }
            }
        }
    }
}
