//! The driver: runs the [`Core`] over the [`Client`] and the file stages
//! (split, download, merge, retry rounds), journaling every event before
//! acting on it. All it knows lives in `DIR/journal.jsonl`; a run that
//! stops anywhere (a crash, `kill -9`, a signal) resumes with
//! [`Campaign::open`] and [`Campaign::run`].
//!
//! The directory:
//!
//! ```text
//! DIR/journal.jsonl          the campaign's memory (no key in it)
//! DIR/batches/               round 1's batch files and manifest.json
//! DIR/results/<file>         each COMPLETED batch's results, written whole
//! DIR/merged.jsonl           the merge over every round
//! DIR/summary.json, DIR/unknown.jsonl, DIR/retry/
//! DIR/rounds/N/batches/      round N's batch files (the retry set of N-1)
//! DIR/rounds/N/results/
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::core::{Action, Core, Counts, Event, FileEntry, Finished, Millis, Seen, Stop};
use super::journal::{self, Header, Journal};
use crate::api::{Batch, BatchStatus};
use crate::client::{Client, ClientError, ClientErrorKind, CreateOptions, Created, ListFilter};
use crate::input::Input;
use crate::merge::{merge_files, MergeJob, MergeReport, MergeSummary, RetryOptions, RetrySet};
use crate::output::OutputFile;
use crate::validate::Limits;

/// The journal's name inside the campaign's directory.
pub const JOURNAL: &str = "journal.jsonl";

/// How long a batch the campaign created may answer `404` (not listed
/// yet, say) before the run stops and names it.
pub const VANISHED_GRACE: Millis = 5 * 60 * 1000;

/// How many times a results download cut short is fetched again.
pub const DOWNLOAD_ATTEMPTS: u32 = 5;

/// The campaign's options, recorded in the journal's header when it starts
/// and used on every resume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Settings {
    /// Most records in one batch file.
    pub max_records: u64,
    /// Fewest records in one batch file.
    pub min_records: u64,
    /// Most bytes in one batch file.
    pub max_bytes: u64,
    /// Batch file names: `<prefix>-00001.jsonl`.
    pub prefix: String,
    /// Invalid input records were skipped.
    pub skip_invalid: bool,
    /// Records with warnings were refused.
    pub deny_warnings: bool,
    /// Bare requests were wrapped.
    pub wrap: bool,
    /// The prefix of the ids `wrap` made.
    pub id_prefix: String,
    /// Sent with every create.
    pub webhook_url: Option<String>,
    /// At most this many batches created and not finished.
    pub max_in_flight: Option<usize>,
    /// Rounds of retries after the first.
    pub retry_rounds: u32,
    /// Any request not `COMPLETED` makes the run fail (exit 1).
    pub strict: bool,
}

impl Default for Settings {
    fn default() -> Self {
        let limits = Limits::default();
        Settings {
            max_records: limits.max_records,
            min_records: limits.min_records,
            max_bytes: limits.max_bytes,
            prefix: "batch".into(),
            skip_invalid: false,
            deny_warnings: false,
            wrap: false,
            id_prefix: "req-".into(),
            webhook_url: None,
            max_in_flight: None,
            retry_rounds: 0,
            strict: false,
        }
    }
}

impl Settings {
    /// The batch limits.
    pub fn limits(&self) -> Limits {
        Limits::default()
            .max_records(self.max_records)
            .min_records(self.min_records)
            .max_bytes(self.max_bytes)
    }
}

/// Why a campaign cannot go on.
#[derive(Debug)]
#[non_exhaustive]
pub enum CampaignError {
    /// The directory is not what the call needs (not a campaign, not
    /// empty, in use by another run), or an option clashes with the
    /// recorded ones.
    Usage(String),
    /// Reading or writing a file failed.
    Io(String, io::Error),
    /// The API failed in a way that is not retried (the key refused, a
    /// `4xx`), or the client gave up.
    Client(ClientError),
    /// The server refused a batch file (`400`, `413`, `422`); nothing more
    /// is created.
    Refused {
        /// The file, relative to the directory.
        file: String,
        /// The server's message.
        message: String,
    },
    /// Two or more batches could be the file's: settle it with
    /// [`Campaign::adopt`] or [`Campaign::create_anew`].
    Candidates {
        /// The file.
        file: String,
        /// The candidate batch ids.
        ids: Vec<String>,
    },
    /// The batch adopted for the file holds other requests.
    Foreign {
        /// The file.
        file: String,
        /// The batch.
        id: String,
    },
    /// A batch the campaign created answers `404` past the grace period.
    Vanished {
        /// The file.
        file: String,
        /// The batch.
        id: String,
    },
    /// A batch's results were cut short every time they were fetched.
    Download {
        /// The file.
        file: String,
        /// The batch.
        id: String,
        /// The last failure.
        error: ClientError,
    },
    /// The merge failed.
    Merge(crate::Error),
    /// Options given on a resume differ from the recorded ones: each
    /// option's name (a [`Settings`] field) and its recorded value.
    Options {
        /// The options that clash, with their recorded values.
        clashes: Vec<(String, serde_json::Value)>,
    },
    /// The inputs could not be split into batch files (invalid records
    /// without `skip_invalid`, no compliant split, ...): nothing was sent.
    Split(crate::Error),
    /// Stopped on request (a signal); the journal is consistent.
    Interrupted,
}

impl fmt::Display for CampaignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CampaignError::Usage(why) => f.write_str(why),
            CampaignError::Io(what, e) => write!(f, "{what}: {e}"),
            CampaignError::Client(e) => write!(f, "{e}"),
            CampaignError::Refused { file, message } => {
                write!(f, "the server refused {file}: {message}")
            }
            CampaignError::Candidates { file, ids } => write!(
                f,
                "{file}: its create may have made a batch, and {} batches could be it: {}",
                ids.len(),
                ids.join(", ")
            ),
            CampaignError::Foreign { file, id } => write!(
                f,
                "{file}: the batch adopted for it, {id}, holds other requests: it was \
                 someone else's"
            ),
            CampaignError::Vanished { file, id } => write!(
                f,
                "{file}: its batch {id} is not found (404) more than 5 minutes after its creation"
            ),
            CampaignError::Download { file, id, error } => write!(
                f,
                "{file}: the results of batch {id} could not be downloaded whole \
                 ({DOWNLOAD_ATTEMPTS} attempts): {error}"
            ),
            CampaignError::Merge(e) => write!(f, "the merge failed: {e}"),
            CampaignError::Split(e) => write!(f, "{e}; nothing was sent"),
            CampaignError::Options { clashes } => {
                let list: Vec<String> = clashes
                    .iter()
                    .map(|(name, was)| format!("{name} (recorded: {was})"))
                    .collect();
                write!(
                    f,
                    "the campaign was started with other options: {}; leave them out to keep \
                     the recorded ones",
                    list.join(", ")
                )
            }
            CampaignError::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for CampaignError {}

impl From<ClientError> for CampaignError {
    fn from(e: ClientError) -> Self {
        CampaignError::Client(e)
    }
}

/// What one invocation of [`Campaign::run`] does; none of it is recorded.
#[derive(Clone)]
#[non_exhaustive]
pub struct RunOptions {
    /// Time between polls while batches are watched.
    pub poll_interval: Duration,
    /// Return once every create that may be sent now is answered.
    pub no_wait: bool,
    /// Checked between steps and while waiting: `true` stops the run
    /// ([`CampaignError::Interrupted`]).
    pub stop: Arc<dyn Fn() -> bool + Send + Sync>,
    /// How long a batch of the campaign may answer `404` after its create
    /// before the run stops ([`VANISHED_GRACE`] unless set).
    pub vanished_grace: Duration,
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("poll_interval", &self.poll_interval)
            .field("no_wait", &self.no_wait)
            .field("vanished_grace", &self.vanished_grace)
            .finish_non_exhaustive()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            poll_interval: Duration::from_secs(60),
            no_wait: false,
            stop: Arc::new(|| false),
            vanished_grace: Duration::from_millis(VANISHED_GRACE as u64),
        }
    }
}

impl RunOptions {
    /// The defaults: a poll a minute, waiting to the end, never stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Time between polls.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// Return once the creates are sent.
    pub fn no_wait(mut self, yes: bool) -> Self {
        self.no_wait = yes;
        self
    }

    /// How long a batch of the campaign may answer `404` after its create.
    pub fn vanished_grace(mut self, grace: Duration) -> Self {
        self.vanished_grace = grace;
        self
    }

    /// Stops the run when `stop` says so.
    pub fn stop_when(mut self, stop: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.stop = Arc::new(stop);
        self
    }
}

/// How a run ended, when it did not fail.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Every round is merged: the figures of the last merge.
    Finished {
        /// The merge's figures.
        summary: MergeSummary,
        /// Requests that ended other than `COMPLETED`.
        not_completed: u64,
        /// Whether the campaign is strict (`not_completed > 0` is a failure).
        strict: bool,
    },
    /// `no_wait`: the creates that may be sent now are sent.
    Submitted {
        /// Batches created so far.
        created: usize,
        /// Batch files in all.
        files: usize,
    },
}

/// What a run tells as it goes, for people.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Note<'a> {
    /// `file`'s batch was created.
    Created {
        /// The file.
        file: &'a str,
        /// The batch.
        id: &'a str,
    },
    /// `file`'s create may have made a batch: looking for it.
    Ambiguous {
        /// The file.
        file: &'a str,
        /// What went wrong.
        error: &'a ClientError,
    },
    /// Reconciling found `file`'s batch.
    Adopted {
        /// The file.
        file: &'a str,
        /// The batch.
        id: &'a str,
    },
    /// A batch's status or metrics changed.
    Status {
        /// The file.
        file: &'a str,
        /// The batch.
        id: &'a str,
        /// Its status, as the API spells it.
        status: &'a str,
        /// Its generations by outcome, when known.
        counts: Option<Counts>,
    },
    /// `file`'s results are in (`bytes` long).
    Downloaded {
        /// The file.
        file: &'a str,
        /// The batch.
        id: &'a str,
        /// Its results' size.
        bytes: u64,
    },
    /// The merge over every round is written.
    Merged {
        /// The round it closes.
        round: u32,
        /// What it did.
        report: &'a MergeReport,
    },
    /// A retry round starts.
    Round {
        /// Its number.
        round: u32,
        /// Its batch files.
        files: usize,
        /// Its requests.
        requests: u64,
    },
    /// The requests left to retry cannot make a compliant batch.
    Undersized {
        /// How many.
        requests: u64,
        /// Where their lines are.
        path: &'a Path,
    },
    /// Between polls: the campaign's figures.
    Waiting(Progress),
}

/// The campaign's figures at a glance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Batch files, every round.
    pub files: usize,
    /// Batches created (bound).
    pub created: usize,
    /// Batches finished (`COMPLETED` or `FAILED`).
    pub finished: usize,
    /// Batches whose results are downloaded.
    pub downloaded: usize,
    /// Requests in all.
    pub records: u64,
    /// Generations done (succeeded or failed), from the batches' metrics.
    pub done: u64,
}

/// One batch file's row in [`Campaign::rows`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The batch file, relative to the directory.
    pub file: String,
    /// Its records.
    pub records: u64,
    /// Its batch, once created.
    pub id: Option<String>,
    /// Its batch's last status known, once created.
    pub status: Option<String>,
    /// Generations that succeeded.
    pub success: u64,
    /// Generations that failed.
    pub failed: u64,
    /// Generations not done.
    pub pending: u64,
    /// Whether its results are downloaded.
    pub downloaded: bool,
}

/// Whatever shows the run's notes; `()` shows nothing.
pub trait Watch {
    /// Called for each note.
    fn note(&mut self, note: Note<'_>);
}

impl Watch for () {
    fn note(&mut self, _: Note<'_>) {}
}

impl<W: Watch + ?Sized> Watch for &mut W {
    fn note(&mut self, note: Note<'_>) {
        (**self).note(note)
    }
}

/// A campaign in its directory: the journal open (and locked against a
/// second run), its state replayed.
#[derive(Debug)]
pub struct Campaign {
    dir: PathBuf,
    journal: Option<Journal>,
    settings: Settings,
    core: Core,
    /// The last journaled view of each batch.
    seen: HashMap<String, Seen>,
    /// When each file's last create was sent.
    sent_at: HashMap<usize, Millis>,
    /// The last retry-rounds raise recorded.
    retry_rounds: u32,
    /// The last merge's requests not completed.
    not_completed: u64,
    /// Batches as the API last showed them, this run.
    batches: HashMap<String, Batch>,
    /// When a batch of ours first answered 404, this run.
    missing_since: HashMap<String, Millis>,
}

fn io_error(what: impl fmt::Display) -> impl FnOnce(io::Error) -> CampaignError {
    let what = what.to_string();
    move |e| CampaignError::Io(what, e)
}

/// Milliseconds since the epoch, now.
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

fn millis_to_rfc3339(at: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn rfc3339_to_millis(text: &str) -> Option<Millis> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as Millis)
}

/// A batch as the core sees it.
pub fn seen_of(batch: &Batch) -> Seen {
    let finished = match batch.status {
        BatchStatus::Completed => Some(Finished::Completed),
        BatchStatus::Failed => Some(Finished::Failed),
        _ => None,
    };
    Seen {
        id: batch.id.clone(),
        created_at: batch
            .created_at
            .as_deref()
            .and_then(rfc3339_to_millis)
            .unwrap_or(0),
        total: batch.metrics.as_ref().map(|m| m.total_generations),
        finished,
        status: Some(batch.status.as_str().to_owned()),
        counts: batch.metrics.as_ref().map(|m| Counts {
            success: m.success_count,
            failed: m.failed_count,
            pending: m.pending_count,
        }),
    }
}

/// The batch files a split wrote into `dir` (its `manifest.json`), as
/// paths relative to the campaign directory under `under`.
pub fn files_of_manifest(dir: &Path, under: &str) -> Result<Vec<FileEntry>, CampaignError> {
    let path = dir.join("manifest.json");
    let text = fs::read(&path).map_err(io_error(path.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        CampaignError::Io(path.display().to_string(), io::Error::other(e.to_string()))
    })?;
    let batches = value
        .get("batches")
        .and_then(|b| b.as_array())
        .ok_or_else(|| CampaignError::Usage(format!("{}: no batches", path.display())))?;
    batches
        .iter()
        .map(|b| {
            let file = b.get("file").and_then(|f| f.as_str());
            let records = b.get("records").and_then(|r| r.as_u64());
            match (file, records) {
                (Some(file), Some(records)) => Ok(FileEntry {
                    name: format!("{under}/{file}"),
                    records,
                }),
                _ => Err(CampaignError::Usage(format!(
                    "{}: a batch without file or records",
                    path.display()
                ))),
            }
        })
        .collect()
}

/// Where a batch file's results go: its `batches/` becomes `results/`.
pub fn results_path(name: &str) -> String {
    match name.rsplit_once('/') {
        Some((parent, file)) => {
            let parent = parent.strip_suffix("batches").unwrap_or(parent);
            format!("{parent}results/{file}")
        }
        None => format!("results/{name}"),
    }
}

impl Campaign {
    /// Starts a campaign in `dir` over the batch files `files` (paths
    /// relative to `dir`, already written), recording `settings` in a new
    /// journal. The journal must not exist.
    pub fn start(
        dir: &Path,
        files: Vec<FileEntry>,
        settings: Settings,
    ) -> Result<Campaign, CampaignError> {
        let header = Header {
            version: journal::VERSION,
            files,
            max_in_flight: settings.max_in_flight,
            options: serde_json::to_value(&settings)
                .map_err(|e| CampaignError::Usage(e.to_string()))?,
        };
        let path = dir.join(JOURNAL);
        let journal = Journal::create(&path, &header).map_err(io_error(path.display()))?;
        journal.lock().map_err(|_| in_use(dir))?;
        Ok(Campaign::from_parts(
            dir,
            Some(journal),
            &header,
            &[],
            settings,
        ))
    }

    /// Starts a campaign in `dir` (absent or empty) from `inputs`: splits
    /// them into `dir/batches/` as [`split`](crate::split::split) would with
    /// `settings` (`rejected.ndjson` beside them with `skip_invalid`; every
    /// file flushed to the disk), then records the campaign. An input that
    /// cannot be split leaves `dir` as it was found and sends nothing.
    /// `observer` sees the split's diagnostics and progress, and may stop
    /// it. Returns the campaign and what the split did.
    pub fn create(
        dir: &Path,
        inputs: Vec<Input>,
        settings: Settings,
        observer: impl crate::Observer,
    ) -> Result<(Campaign, crate::split::SplitSummary), CampaignError> {
        let empty = match fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(CampaignError::Io(dir.display().to_string(), e)),
        };
        if !empty {
            let hint = if dir.join(JOURNAL).exists() {
                " (it holds a campaign: leave the inputs out to resume it)"
            } else {
                ""
            };
            return Err(CampaignError::Usage(format!(
                "{} is not empty: a new campaign needs an absent or empty directory{hint}",
                dir.display()
            )));
        }
        settings.limits().check().map_err(CampaignError::Split)?;
        let existed = dir.exists();
        fs::create_dir_all(dir).map_err(io_error(dir.display()))?;
        let batches = dir.join("batches");
        let options = crate::split::SplitOptions::new()
            .limits(settings.limits())
            .wrap(settings.wrap)
            .id_prefix(settings.id_prefix.clone())
            .skip_invalid(settings.skip_invalid)
            .deny_warnings(settings.deny_warnings);
        let split = crate::split::DirSink::create(&batches, &settings.prefix, false)
            .map(|s| s.sync(true))
            .and_then(|s| {
                if settings.skip_invalid {
                    s.with_rejected()
                } else {
                    Ok(s)
                }
            })
            .and_then(|sink| crate::split::Splitter::new(options, sink).run(inputs, observer));
        let summary = match split {
            Ok((summary, _)) => summary,
            Err(e) => {
                let _ = fs::remove_dir(&batches);
                if !existed {
                    let _ = fs::remove_dir(dir);
                }
                return Err(CampaignError::Split(e));
            }
        };
        let files = files_of_manifest(&batches, "batches")?;
        Ok((Campaign::start(dir, files, settings)?, summary))
    }

    /// Opens the campaign in `dir` to run it: reads its journal back
    /// (dropping a last line cut short) and locks it, so that a second run
    /// in the same directory stops at once.
    pub fn open(dir: &Path) -> Result<Campaign, CampaignError> {
        let path = dir.join(JOURNAL);
        if !path.exists() {
            return Err(not_a_campaign(dir));
        }
        let (journal, header, events) = Journal::open(&path).map_err(io_error(path.display()))?;
        journal.lock().map_err(|_| in_use(dir))?;
        let settings = settings_of(&header)?;
        Ok(Campaign::from_parts(
            dir,
            Some(journal),
            &header,
            &events,
            settings,
        ))
    }

    /// Reads the campaign in `dir` without taking it: for a look while a
    /// run may be going on. [`Campaign::run`] refuses it.
    pub fn read(dir: &Path) -> Result<Campaign, CampaignError> {
        let path = dir.join(JOURNAL);
        if !path.exists() {
            return Err(not_a_campaign(dir));
        }
        let (header, events) = Journal::read(&path).map_err(io_error(path.display()))?;
        let settings = settings_of(&header)?;
        Ok(Campaign::from_parts(dir, None, &header, &events, settings))
    }

    fn from_parts(
        dir: &Path,
        journal: Option<Journal>,
        header: &Header,
        events: &[Event],
        settings: Settings,
    ) -> Campaign {
        let mut campaign = Campaign {
            dir: dir.to_owned(),
            journal,
            retry_rounds: settings.retry_rounds,
            settings,
            core: journal::replay(header, events),
            seen: HashMap::new(),
            sent_at: HashMap::new(),
            not_completed: 0,
            batches: HashMap::new(),
            missing_since: HashMap::new(),
        };
        for event in events {
            campaign.remember(event);
        }
        campaign
    }

    /// What the driver keeps from an event besides the core's state.
    fn remember(&mut self, event: &Event) {
        match event {
            Event::CreateSent { file, at } => {
                self.sent_at.insert(*file, *at);
            }
            Event::Listed { batches, .. } => {
                for b in batches {
                    self.seen.insert(b.id.clone(), b.clone());
                }
            }
            Event::Got { batch } => {
                self.seen.insert(batch.id.clone(), batch.clone());
            }
            Event::RetryRounds { n } => self.retry_rounds = *n,
            Event::Merged { not_completed, .. } => self.not_completed = *not_completed,
            _ => {}
        }
    }

    /// The campaign's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options recorded at its start (retry rounds as last raised).
    pub fn settings(&self) -> Settings {
        Settings {
            retry_rounds: self.retry_rounds,
            ..self.settings.clone()
        }
    }

    /// The state, as the journal has it.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Records and applies `event`: journaled (and flushed) first.
    fn record(&mut self, event: Event) -> Result<(), CampaignError> {
        let journal = self.journal.as_mut().ok_or_else(|| {
            CampaignError::Usage("the campaign was opened to read, not to run".into())
        })?;
        journal
            .append(&event)
            .map_err(io_error(self.dir.join(JOURNAL).display()))?;
        self.core.apply(&event);
        self.remember(&event);
        Ok(())
    }

    /// The index of the file named `name`: its path relative to the
    /// directory, or its bare name when that is unique.
    pub fn file_index(&self, name: &str) -> Result<usize, CampaignError> {
        let files: Vec<&FileEntry> = self.core.files().collect();
        if let Some(i) = files.iter().position(|f| f.name == name) {
            return Ok(i);
        }
        let bare: Vec<usize> = files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name.rsplit('/').next() == Some(name))
            .map(|(i, _)| i)
            .collect();
        match bare[..] {
            [i] => Ok(i),
            [] => Err(CampaignError::Usage(format!(
                "{name} is not a batch file of this campaign"
            ))),
            _ => Err(CampaignError::Usage(format!(
                "{name} names {} batch files: give its path relative to the directory",
                bare.len()
            ))),
        }
    }

    /// Settles a stop: `file` is batch `id`'s (its results are checked
    /// against the file's request ids once downloaded).
    pub fn adopt(&mut self, file: &str, id: &str) -> Result<(), CampaignError> {
        let file = self.file_index(file)?;
        self.record(Event::Adopt {
            file,
            id: id.to_owned(),
        })
    }

    /// Settles a stop: `file` is created anew.
    pub fn create_anew(&mut self, file: &str) -> Result<(), CampaignError> {
        let file = self.file_index(file)?;
        self.record(Event::CreateAnew { file })
    }

    /// Checks options given again on a resume against the recorded ones:
    /// `given` is a JSON object of [`Settings`] fields (`retry_rounds`
    /// aside: [`Campaign::raise_retry_rounds`]); a value other than the
    /// recorded one is [`CampaignError::Options`], naming each clash with the
    /// recorded value. An option left out keeps its recorded value.
    pub fn check_settings(&self, given: &serde_json::Value) -> Result<(), CampaignError> {
        let recorded = serde_json::to_value(self.settings()).unwrap_or_default();
        let clashes: Vec<(String, serde_json::Value)> = given
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str() != "retry_rounds")
            .filter(|(k, v)| recorded.get(k.as_str()) != Some(*v))
            .map(|(k, _)| {
                let was = recorded.get(k.as_str()).cloned();
                (k.clone(), was.unwrap_or(serde_json::Value::Null))
            })
            .collect();
        if clashes.is_empty() {
            Ok(())
        } else {
            Err(CampaignError::Options { clashes })
        }
    }

    /// Raises the rounds of retries (recorded); lowering is refused.
    pub fn raise_retry_rounds(&mut self, n: u32) -> Result<(), CampaignError> {
        if n < self.retry_rounds {
            return Err(CampaignError::Usage(format!(
                "--retry-rounds {n}: the campaign has {} already; a resume may only raise it",
                self.retry_rounds
            )));
        }
        if n > self.retry_rounds {
            self.record(Event::RetryRounds { n })?;
        }
        Ok(())
    }

    fn name(&self, file: usize) -> String {
        self.core
            .files()
            .nth(file)
            .map(|f| f.name.clone())
            .unwrap_or_default()
    }

    /// The campaign's figures, as the journal (and this run) has them.
    pub fn progress(&self) -> Progress {
        let mut p = Progress {
            files: self.core.len(),
            ..Progress::default()
        };
        for i in 0..self.core.len() {
            let Some(v) = self.core.view(i) else { continue };
            p.records = p.records.saturating_add(v.entry.records);
            if let Some(id) = v.id.filter(|_| v.stage == "created") {
                p.created += 1;
                p.finished += usize::from(v.finished.is_some());
                p.downloaded += usize::from(v.downloaded);
                if let Some(c) = self.seen.get(id).and_then(|s| s.counts) {
                    p.done = p.done.saturating_add(c.success.saturating_add(c.failed));
                }
            }
        }
        p
    }

    /// One row a batch file, every round, as the journal (and this run)
    /// has them.
    pub fn rows(&self) -> Vec<Row> {
        (0..self.core.len())
            .filter_map(|i| self.core.view(i))
            .map(|v| {
                let seen = v.id.and_then(|id| self.seen.get(id));
                let counts = seen.and_then(|s| s.counts).unwrap_or_default();
                let status = match (v.id, seen.and_then(|s| s.status.clone())) {
                    (Some(_), Some(status)) => Some(status),
                    (Some(_), None) if v.stage == "created" => Some("PENDING".to_owned()),
                    _ if v.stage == "created" || v.stage == "ready" => None,
                    _ => Some(v.stage.to_uppercase()),
                };
                Row {
                    file: v.entry.name.clone(),
                    records: v.entry.records,
                    id: v.id.map(str::to_owned),
                    status,
                    success: counts.success,
                    failed: counts.failed,
                    pending: if v.id.is_some() && seen.and_then(|s| s.counts).is_none() {
                        v.entry.records
                    } else {
                        counts.pending
                    },
                    downloaded: v.downloaded,
                }
            })
            .collect()
    }

    /// One look at the API for the unfinished batches (one List Batches,
    /// then Get Batch for those it misses), taken into [`Campaign::rows`]
    /// for this value only: nothing is journaled.
    pub async fn look(&mut self, client: &Client) -> Result<(), CampaignError> {
        let watched: Vec<String> = (0..self.core.len())
            .filter_map(|i| self.core.view(i))
            .filter(|v| v.stage == "created" && v.finished.is_none())
            .filter_map(|v| v.id.map(str::to_owned))
            .collect();
        if watched.is_empty() {
            return Ok(());
        }
        let since =
            (self.sent_at.values().min().copied().unwrap_or(0)).saturating_sub(super::core::SKEW);
        let mut found = HashSet::new();
        if watched.len() > 1 {
            let listed = client
                .list_batches(&ListFilter::default().created_after(millis_to_rfc3339(since)))
                .await?;
            for b in listed.iter().filter(|b| watched.contains(&b.id)) {
                found.insert(b.id.clone());
                self.seen.insert(b.id.clone(), seen_of(b));
            }
        }
        for id in watched.iter().filter(|id| !found.contains(*id)) {
            match client.get_batch(id).await {
                Ok(b) => {
                    self.seen.insert(b.id.clone(), seen_of(&b));
                }
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Whether every round is merged and no further round is due.
    pub fn is_finished(&self) -> bool {
        self.core.merged().is_some() && self.next_round().is_none()
    }

    /// The round to start after the last merge, if one is due: the
    /// retry set has batch files and rounds are left.
    fn next_round(&self) -> Option<u32> {
        let merged = self.core.merged()?;
        if merged > self.retry_rounds {
            return None;
        }
        let manifest = self.dir.join("retry").join("manifest.json");
        manifest.exists().then_some(merged.saturating_add(1))
    }

    /// The outcome of a finished campaign, from its last merge.
    pub fn outcome(&self) -> Result<Outcome, CampaignError> {
        let path = self.dir.join("summary.json");
        let text = fs::read(&path).map_err(io_error(path.display()))?;
        let summary: MergeSummary = serde_json::from_slice(&text).map_err(|e| {
            CampaignError::Io(path.display().to_string(), io::Error::other(e.to_string()))
        })?;
        Ok(Outcome::Finished {
            summary,
            not_completed: self.not_completed,
            strict: self.settings.strict,
        })
    }

    /// Creates each batch file not created yet with `dry_run=true` (the
    /// server validates it and makes nothing), going on through every file;
    /// returns each file's answer: its status (`VALIDATED`) or the error.
    /// Nothing is journaled.
    pub async fn dry_run(
        &self,
        client: &Client,
        stop: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Vec<(String, Result<String, ClientError>)>, CampaignError> {
        let mut options = CreateOptions::default().dry_run(true);
        options.webhook_url = self.settings.webhook_url.clone();
        let mut answers = Vec::new();
        for i in 0..self.core.len() {
            let Some(v) = self.core.view(i).filter(|v| v.stage == "ready") else {
                continue;
            };
            if stop() {
                return Err(CampaignError::Interrupted);
            }
            let path = self.dir.join(&v.entry.name);
            let answer = match client.create_batch(&path, &options).await {
                Ok(Created::DryRun(d)) => Ok(d.status.as_str().to_owned()),
                Ok(Created::Batch(b)) => Ok(b.status.as_str().to_owned()),
                Err(e) => Err(e),
            };
            answers.push((v.entry.name.clone(), answer));
        }
        Ok(answers)
    }

    /// Runs the campaign from where its journal stands to the end (or,
    /// with `no_wait`, until the creates that may be sent now are sent):
    /// create, watch, download, merge, retry rounds. Every event is
    /// journaled before the run acts on it; an error leaves the journal
    /// consistent, and a later `run` resumes.
    pub async fn run(
        &mut self,
        client: &Client,
        options: &RunOptions,
        mut watch: impl Watch,
    ) -> Result<Outcome, CampaignError> {
        if self.journal.is_none() {
            return Err(CampaignError::Usage(
                "the campaign was opened to read, not to run".into(),
            ));
        }
        // A resume looks at the batches at once rather than after a poll,
        // but a full interval after whatever the run before sent last.
        client.hold_off();
        self.core.poll();
        loop {
            if (options.stop)() {
                return Err(CampaignError::Interrupted);
            }
            let action = self.core.next();
            match action {
                Action::Create { file } => self.send_create(client, file, &mut watch).await?,
                Action::List { since } => {
                    let listed = self
                        .interruptible(
                            options,
                            client.list_batches(
                                &ListFilter::default().created_after(millis_to_rfc3339(since)),
                            ),
                        )
                        .await??;
                    self.listed(listed, &mut watch)?;
                }
                Action::Get { id } => {
                    let got = self.interruptible(options, client.get_batch(&id)).await?;
                    self.got(&id, got, options, &mut watch)?;
                }
                Action::Download { file, id } => {
                    self.download(client, options, file, &id, &mut watch)
                        .await?
                }
                Action::Wait => {
                    if options.no_wait && self.core.creates_settled() {
                        return Ok(Outcome::Submitted {
                            created: self.progress().created,
                            files: self.core.len(),
                        });
                    }
                    watch.note(Note::Waiting(self.progress()));
                    self.sleep(options).await?;
                    self.core.poll();
                }
                Action::Merge => self.merge(&mut watch)?,
                Action::Done => match self.next_round() {
                    Some(round) => self.start_round(round, &mut watch)?,
                    None => return self.outcome(),
                },
                Action::Stop(stop) => return Err(self.stopped(stop)),
            }
        }
    }

    fn stopped(&self, stop: Stop) -> CampaignError {
        match stop {
            Stop::Candidates { file, ids } => CampaignError::Candidates {
                file: self.name(file),
                ids,
            },
            Stop::Foreign { file, id } => CampaignError::Foreign {
                file: self.name(file),
                id,
            },
            Stop::Refused { file, message } => CampaignError::Refused {
                file: self.name(file),
                message,
            },
        }
    }

    /// Awaits `work`, unless a stop is asked for first.
    async fn interruptible<T>(
        &self,
        options: &RunOptions,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, CampaignError> {
        let mut work = std::pin::pin!(work);
        loop {
            let tick = std::pin::pin!(tokio::time::sleep(Duration::from_millis(100)));
            match futures::future::select(work.as_mut(), tick).await {
                futures::future::Either::Left((done, _)) => return Ok(done),
                futures::future::Either::Right(((), _)) => {
                    if (options.stop)() {
                        return Err(CampaignError::Interrupted);
                    }
                }
            }
        }
    }

    async fn sleep(&self, options: &RunOptions) -> Result<(), CampaignError> {
        self.interruptible(options, tokio::time::sleep(options.poll_interval))
            .await
    }

    async fn send_create(
        &mut self,
        client: &Client,
        file: usize,
        watch: &mut impl Watch,
    ) -> Result<(), CampaignError> {
        let name = self.name(file);
        let path = self.dir.join(&name);
        if !path.is_file() {
            return Err(CampaignError::Usage(format!(
                "{}: the batch file is gone; the campaign cannot go on without it",
                path.display()
            )));
        }
        self.record(Event::CreateSent {
            file,
            at: now_millis(),
        })?;
        let options = CreateOptions {
            webhook_url: self.settings.webhook_url.clone(),
            ..CreateOptions::default()
        };
        // Not interruptible: the answer is worth waiting for (a create is
        // never sent again by the client, so it ends soon).
        match client.create_batch(&path, &options).await {
            Ok(Created::Batch(batch)) => {
                self.record(Event::Created {
                    file,
                    id: batch.id.clone(),
                })?;
                watch.note(Note::Created {
                    file: &name,
                    id: &batch.id,
                });
                self.batches.insert(batch.id.clone(), batch);
                Ok(())
            }
            Ok(Created::DryRun(_)) => Err(CampaignError::Client(ClientError::new(
                ClientErrorKind::Decode,
                None,
                String::from("a create answered as a dry run"),
            ))),
            Err(e) if e.may_have_created() => {
                watch.note(Note::Ambiguous {
                    file: &name,
                    error: &e,
                });
                self.record(Event::CreateAmbiguous { file })
            }
            Err(e) if e.kind() == ClientErrorKind::Refused => {
                self.record(Event::CreateRefused {
                    file,
                    message: e.message().to_owned(),
                })?;
                Err(CampaignError::Refused {
                    file: name,
                    message: e.message().to_owned(),
                })
            }
            // Nothing was made (a 4xx, the key refused): the create stays
            // recorded as sent, so a resume looks before creating again.
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a create is being reconciled (lists then matter whole).
    fn reconciling(&self) -> bool {
        (0..self.core.len()).any(|i| self.core.view(i).is_some_and(|v| v.stage == "reconciling"))
    }

    /// The batches of a list answer that matter to the core: ours, and,
    /// while a create is being reconciled, the others (candidates).
    fn relevant(&self, listed: &[Batch], reconciling: bool) -> Vec<Seen> {
        let ours: HashSet<&str> = (0..self.core.len())
            .filter_map(|i| self.core.view(i).and_then(|v| v.id))
            .collect();
        listed
            .iter()
            .filter(|b| reconciling || ours.contains(b.id.as_str()))
            .map(seen_of)
            .collect()
    }

    fn listed(&mut self, listed: Vec<Batch>, watch: &mut impl Watch) -> Result<(), CampaignError> {
        let reconciling = self.reconciling();
        let batches = self.relevant(&listed, reconciling);
        let changed = batches.iter().any(|b| self.seen.get(&b.id) != Some(b));
        for b in listed {
            self.batches.insert(b.id.clone(), b);
        }
        let event = Event::Listed {
            batches,
            at: now_millis(),
        };
        if reconciling || changed {
            self.record_and_tell(event, watch)
        } else {
            // Nothing new: the core only learns which batches were shown.
            self.core.apply(&event);
            Ok(())
        }
    }

    /// Records an answer and notes what it changed (adoptions, statuses).
    fn record_and_tell(
        &mut self,
        event: Event,
        watch: &mut impl Watch,
    ) -> Result<(), CampaignError> {
        let bound_before: Vec<Option<String>> = (0..self.core.len())
            .map(|i| self.core.batch_of(i).map(str::to_owned))
            .collect();
        let old = self.seen.clone();
        self.record(event.clone())?;
        self.tell(&bound_before, &old, &event, watch);
        Ok(())
    }

    fn got(
        &mut self,
        id: &str,
        got: Result<Batch, ClientError>,
        options: &RunOptions,
        watch: &mut impl Watch,
    ) -> Result<(), CampaignError> {
        match got {
            Ok(batch) => {
                let seen = seen_of(&batch);
                self.batches.insert(batch.id.clone(), batch);
                let unchanged = self.seen.get(&seen.id) == Some(&seen);
                let event = Event::Got { batch: seen };
                if unchanged {
                    self.core.apply(&event);
                    return Ok(());
                }
                self.record_and_tell(event, watch)
            }
            Err(e) if e.status() == Some(404) => {
                let file = (0..self.core.len()).find(|&i| self.core.batch_of(i) == Some(id));
                let now = now_millis();
                let first = *self.missing_since.entry(id.to_owned()).or_insert(now);
                let since = file
                    .and_then(|f| self.sent_at.get(&f).copied())
                    .unwrap_or(first);
                if now.saturating_sub(since) > options.vanished_grace.as_millis() as Millis {
                    return Err(CampaignError::Vanished {
                        file: file.map(|f| self.name(f)).unwrap_or_default(),
                        id: id.to_owned(),
                    });
                }
                // Waited on as a transient: not asked again before the next poll.
                self.core.apply(&Event::Got {
                    batch: Seen {
                        id: id.to_owned(),
                        created_at: 0,
                        total: None,
                        finished: None,
                        status: None,
                        counts: None,
                    },
                });
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Notes what an answer changed: adoptions and statuses.
    fn tell(
        &self,
        bound_before: &[Option<String>],
        old: &HashMap<String, Seen>,
        event: &Event,
        watch: &mut impl Watch,
    ) {
        let shown: Vec<&Seen> = match event {
            Event::Listed { batches, .. } => batches.iter().collect(),
            Event::Got { batch } => vec![batch],
            _ => Vec::new(),
        };
        for i in 0..self.core.len() {
            let Some(id) = self.core.batch_of(i) else {
                continue;
            };
            let name = self.name(i);
            if bound_before.get(i).and_then(|b| b.as_deref()) != Some(id) {
                watch.note(Note::Adopted { file: &name, id });
            }
            if let Some(s) = shown.iter().find(|s| s.id == id) {
                if old.get(id) != Some(*s) {
                    watch.note(Note::Status {
                        file: &name,
                        id,
                        status: s.status.as_deref().unwrap_or("?"),
                        counts: s.counts,
                    });
                }
            }
        }
    }

    async fn download(
        &mut self,
        client: &Client,
        options: &RunOptions,
        file: usize,
        id: &str,
        watch: &mut impl Watch,
    ) -> Result<(), CampaignError> {
        let name = self.name(file);
        let batch = match self.batches.get(id) {
            Some(b) if b.status == BatchStatus::Completed && b.output_url.is_some() => b.clone(),
            _ => {
                let b = self.interruptible(options, client.get_batch(id)).await??;
                self.batches.insert(b.id.clone(), b.clone());
                b
            }
        };
        let target = self.dir.join(results_path(&name));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent.display()))?;
        }
        let bytes = match self
            .interruptible(
                options,
                client.download_results_retrying(&batch, &target, DOWNLOAD_ATTEMPTS),
            )
            .await?
        {
            Ok(n) => n,
            Err(e) if e.kind() == ClientErrorKind::CutShort => {
                return Err(CampaignError::Download {
                    file: name,
                    id: id.to_owned(),
                    error: e,
                })
            }
            Err(e) => return Err(e.into()),
        };
        let matches = ids_match(&self.dir.join(&name), &target).map_err(io_error(format!(
            "{} against {}",
            target.display(),
            name
        )))?;
        self.record(Event::Downloaded { file, matches })?;
        if matches {
            watch.note(Note::Downloaded {
                file: &name,
                id,
                bytes,
            });
        } else {
            // Someone else's results stay out of the merge.
            let _ = fs::remove_file(&target);
        }
        Ok(())
    }

    /// The merge over every round, written as `syncbatch merge` would.
    fn merge(&mut self, watch: &mut impl Watch) -> Result<(), CampaignError> {
        let round = self.core.round();
        let mut requests = Vec::new();
        let mut results = Vec::new();
        for i in 0..self.core.len() {
            let Some(v) = self.core.view(i) else { continue };
            let path = self.dir.join(&v.entry.name);
            if v.round == 1 {
                requests.push(Input::open(&path).map_err(CampaignError::Merge)?);
            }
            if v.downloaded {
                let results_file = self.dir.join(results_path(&v.entry.name));
                results.push(Input::open(&results_file).map_err(CampaignError::Merge)?);
            }
        }
        let output =
            |name: &str| OutputFile::create(&self.dir.join(name)).map_err(CampaignError::Merge);
        let retry_dir = self.dir.join("retry");
        if retry_dir.exists() {
            fs::remove_dir_all(&retry_dir).map_err(io_error(retry_dir.display()))?;
        }
        let job = MergeJob::new(requests, results, output("merged.jsonl")?)
            .summary(output("summary.json")?)
            .unknown(output("unknown.jsonl")?)
            .retry_dir(&retry_dir)
            .retry_options(
                RetryOptions::new()
                    .limits(self.settings.limits())
                    .prefix(self.settings.prefix.clone()),
            );
        let report = merge_files(job, ()).map_err(CampaignError::Merge)?;
        let s = &report.summary;
        let not_completed = s.requests.saturating_sub(s.completed);
        watch.note(Note::Merged {
            round,
            report: &report,
        });
        if let Some(RetrySet::Undersized { requests, path, .. }) = &report.retry {
            watch.note(Note::Undersized {
                requests: *requests,
                path,
            });
        }
        self.record(Event::Merged {
            round,
            not_completed,
        })
    }

    /// Starts round `round` over the retry set: its files are copied to
    /// `rounds/N/batches/` (whole, then renamed), then recorded.
    fn start_round(&mut self, round: u32, watch: &mut impl Watch) -> Result<(), CampaignError> {
        let retry = self.dir.join("retry");
        let base = self.dir.join("rounds").join(round.to_string());
        // Not recorded yet, so nothing of it was sent: made afresh.
        if base.exists() {
            fs::remove_dir_all(&base).map_err(io_error(base.display()))?;
        }
        let staging = self.dir.join("rounds").join(format!(".{round}.partial"));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_error(staging.display()))?;
        }
        let batches = staging.join("batches");
        fs::create_dir_all(&batches).map_err(io_error(batches.display()))?;
        for entry in fs::read_dir(&retry).map_err(io_error(retry.display()))? {
            let entry = entry.map_err(io_error(retry.display()))?;
            let to = batches.join(entry.file_name());
            fs::copy(entry.path(), &to).map_err(io_error(to.display()))?;
            File::open(&to)
                .and_then(|f| f.sync_all())
                .map_err(io_error(to.display()))?;
        }
        fs::rename(&staging, &base).map_err(io_error(base.display()))?;
        let files = files_of_manifest(&base.join("batches"), &format!("rounds/{round}/batches"))?;
        let requests = files.iter().map(|f| f.records).sum();
        watch.note(Note::Round {
            round,
            files: files.len(),
            requests,
        });
        self.record(Event::Round { round, files })
    }
}

fn settings_of(header: &Header) -> Result<Settings, CampaignError> {
    serde_json::from_value(header.options.clone())
        .map_err(|e| CampaignError::Usage(format!("the journal's options cannot be read: {e}")))
}

fn not_a_campaign(dir: &Path) -> CampaignError {
    CampaignError::Usage(format!(
        "{} holds no campaign ({JOURNAL} is missing): give the input files to start one",
        dir.display()
    ))
}

fn in_use(dir: &Path) -> CampaignError {
    CampaignError::Usage(format!(
        "another run is going on in {} (its journal is locked)",
        dir.display()
    ))
}

/// Whether the results at `results` are the batch file `batch`'s: every
/// result line's `request_id` is one of the file's, and at least one is
/// (when there are results).
pub fn ids_match(batch: &Path, results: &Path) -> io::Result<bool> {
    #[derive(Deserialize)]
    struct Id {
        request_id: Option<String>,
    }
    let ids_of = |path: &Path| -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        for line in BufReader::new(File::open(path)?).split(b'\n') {
            let line = line?;
            if let Ok(Id {
                request_id: Some(id),
            }) = serde_json::from_slice(&line)
            {
                ids.push(id);
            }
        }
        Ok(ids)
    };
    let ours: HashSet<String> = ids_of(batch)?.into_iter().collect();
    let theirs = ids_of(results)?;
    Ok(theirs.iter().all(|id| ours.contains(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any status but `COMPLETED` and `FAILED`, known or not, is waited on
    /// and shown as the API spells it.
    #[test]
    fn unknown_statuses_are_waited_on_and_kept() {
        let batch: Batch = serde_json::from_str(
            r#"{"id":"b1","createdAt":"2026-12-03T10:00:00.250Z","status":"QUEUED_FOR_GPU",
                "metrics":{"totalGenerations":20,"successCount":1,"failedCount":2,"pendingCount":17}}"#,
        )
        .unwrap();
        let seen = seen_of(&batch);
        assert_eq!(seen.finished, None);
        assert_eq!(seen.status.as_deref(), Some("QUEUED_FOR_GPU"));
        assert_eq!(seen.total, Some(20));
        assert_eq!(
            seen.counts,
            Some(Counts {
                success: 1,
                failed: 2,
                pending: 17
            })
        );
        assert_eq!(seen.created_at, 1_796_292_000_250);
        for (status, finished) in [
            ("COMPLETED", Some(Finished::Completed)),
            ("FAILED", Some(Finished::Failed)),
            ("PROCESSING", None),
            ("JOBS_CREATED", None),
        ] {
            let batch: Batch =
                serde_json::from_value(serde_json::json!({"id": "b", "status": status})).unwrap();
            assert_eq!(seen_of(&batch).finished, finished, "{status}");
        }
    }

    #[test]
    fn results_go_beside_their_round() {
        assert_eq!(
            results_path("batches/batch-00001.jsonl"),
            "results/batch-00001.jsonl"
        );
        assert_eq!(
            results_path("rounds/2/batches/batch-00003.jsonl"),
            "rounds/2/results/batch-00003.jsonl"
        );
        assert_eq!(results_path("odd.jsonl"), "results/odd.jsonl");
        assert_eq!(
            millis_to_rfc3339(1_796_292_000_250),
            "2026-12-03T10:00:00.25Z"
        );
        assert_eq!(
            rfc3339_to_millis("2026-12-03T10:00:00.25Z"),
            Some(1_796_292_000_250)
        );
    }

    #[test]
    fn request_ids_are_checked_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let batch = dir.path().join("b.jsonl");
        let results = dir.path().join("r.jsonl");
        fs::write(&batch, "{\"request_id\":\"a\"}\n{\"request_id\":\"b\"}\n").unwrap();
        fs::write(
            &results,
            "{\"request_id\":\"b\",\"status\":\"COMPLETED\"}\nnot json\n",
        )
        .unwrap();
        assert!(ids_match(&batch, &results).unwrap());
        fs::write(&results, "{\"request_id\":\"b\"}\n{\"request_id\":\"z\"}\n").unwrap();
        assert!(!ids_match(&batch, &results).unwrap());
    }
}
