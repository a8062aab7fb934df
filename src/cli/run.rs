//! `syncbatch run` and `syncbatch status`: the campaign, over the library's
//! [`Campaign`].

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::campaign::driver::Row;
use crate::campaign::{Campaign, CampaignError, Note, Outcome, Progress, Settings, Watch};
use crate::merge::RetrySet;
use crate::validate::report::Format;
use serde_json::json;

use super::batch::{runtime, ApiArgs};
use super::{count, interrupt, merge, split, FAILURE, NOT_COMPLIANT, OK};

/// The whole workflow in one resumable command: split, submit, wait,
/// download, merge.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  export SYNC_API_KEY=...
  syncbatch run --dir campaign/ requests.jsonl      # start
  syncbatch run --dir campaign/                     # resume (after a crash, Ctrl-C, --no-wait)
  syncbatch run --dir campaign/ --retry-rounds 1    # one more round for what failed
  syncbatch status --dir campaign/

The campaign's options (split options, --webhook-url, --max-in-flight,
--retry-rounds, --strict) are recorded when it starts and hold on every resume.

Exit codes: 0 the merge is written (or, with --no-wait, the batches are
created); 1 invalid input, a batch file refused by the server, a dry run not
VALIDATED, or --strict with requests not COMPLETED; 2 usage, I/O, the key
refused, or a stop that needs you (candidates, a foreign or vanished batch);
130 interrupted (run it again to resume).")]
pub struct Args {
    /// Input files to split into the campaign's batch files (starts a
    /// campaign; DIR must be absent or empty). None: resume the campaign in DIR.
    pub inputs: Vec<PathBuf>,
    /// The campaign's directory: its journal, batches, results and merge.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Most records in one batch file [default: 500].
    #[arg(long, value_name = "N")]
    pub max_records: Option<u64>,
    /// Fewest records in one batch file [default: 20].
    #[arg(long, value_name = "N")]
    pub min_records: Option<u64>,
    /// Most bytes in one batch file [default: 5000000].
    #[arg(long, value_name = "N")]
    pub max_bytes: Option<u64>,
    /// Batch file names: PREFIX-00001.jsonl, ... [default: batch].
    #[arg(long, value_name = "NAME")]
    pub prefix: Option<String>,
    /// Split the valid records; refused lines go to DIR/batches/rejected.ndjson.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Refuse a record that draws a warning, as an invalid one.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Wrap bare Generate requests as {"request_id":"<ID-PREFIX><N>",...}.
    #[arg(long)]
    pub wrap: bool,
    /// Prefix of the ids --wrap makes [default: req-].
    #[arg(long, value_name = "PREFIX")]
    pub id_prefix: Option<String>,
    /// POSTed to by the API when each batch completes or fails.
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,
    /// At most N batches created and not yet finished [default: no cap].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_in_flight: Option<u64>,
    /// After the merge, submit what did not complete again, up to N more
    /// rounds [default: 0]; a resume may raise it.
    #[arg(long, value_name = "N")]
    pub retry_rounds: Option<u32>,
    /// Exit 1 when any request ends other than COMPLETED.
    #[arg(long)]
    pub strict: bool,
    /// Seconds between polls while batches are watched (fractions allowed).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub poll_interval: f64,
    /// Exit once the batches that may be created now are created; a later
    /// `run --dir DIR` waits and finishes.
    #[arg(long)]
    pub no_wait: bool,
    /// Create each batch with dry_run=true and report each file's answer;
    /// nothing is recorded, a later run submits for real.
    #[arg(long)]
    pub dry_run: bool,
    /// Settle a stop: FILE's batch is BATCH_ID (FILE relative to DIR, or its
    /// bare name when unique).
    #[arg(long, value_name = "FILE=BATCH_ID")]
    pub adopt: Vec<String>,
    /// Settle a stop: create FILE's batch anew.
    #[arg(long, value_name = "FILE")]
    pub create_anew: Vec<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// One look at a campaign.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  syncbatch status --dir campaign/
  syncbatch status --dir campaign/ --offline --format json

Exit codes: 0 shown; 2 usage, I/O, or the API failed.")]
pub struct StatusArgs {
    /// The campaign's directory.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// A table (human) or one JSON object a batch and a summary (json).
    #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
    pub format: StatusFormat,
    /// Call nothing (no key needed): show what the journal last recorded.
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// How `status` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFormat {
    /// A table.
    Human,
    /// JSON Lines.
    Json,
}

fn say(text: impl std::fmt::Display) {
    eprintln!("syncbatch: {text}");
}

/// The exit status of a campaign error, after saying it.
fn failed(e: &CampaignError) -> u8 {
    match e {
        CampaignError::Interrupted => {
            say("interrupted; the journal is consistent: run it again to resume");
            interrupt::INTERRUPTED
        }
        CampaignError::Refused { .. } => {
            say(format!("{e}; nothing more is created"));
            NOT_COMPLIANT
        }
        CampaignError::Candidates { file, ids } => {
            say(e);
            say(format!(
                "settle it with --adopt {file}={} (the one that holds this file's requests) \
                 or --create-anew {file}",
                ids.first().map(String::as_str).unwrap_or("BATCH_ID")
            ));
            FAILURE
        }
        CampaignError::Foreign { file, .. } => {
            say(e);
            say(format!(
                "its results are set aside; --create-anew {file} submits the file again"
            ));
            FAILURE
        }
        _ if interrupt::requested() => {
            say("interrupted; the journal is consistent: run it again to resume");
            interrupt::INTERRUPTED
        }
        _ => {
            say(e);
            FAILURE
        }
    }
}

/// The campaign options given on the command line, as [`Settings`] fields
/// (`retry_rounds` apart): what a new campaign records over the defaults,
/// and what a resume checks against the recorded ones.
fn given(args: &Args) -> serde_json::Map<String, serde_json::Value> {
    let mut given = serde_json::Map::new();
    let mut put = |name: &str, value: Option<serde_json::Value>| {
        if let Some(v) = value {
            given.insert(name.to_owned(), v);
        }
    };
    put("max_records", args.max_records.map(Into::into));
    put("min_records", args.min_records.map(Into::into));
    put("max_bytes", args.max_bytes.map(Into::into));
    put("prefix", args.prefix.clone().map(Into::into));
    put("skip_invalid", args.skip_invalid.then_some(true.into()));
    put("deny_warnings", args.deny_warnings.then_some(true.into()));
    put("wrap", args.wrap.then_some(true.into()));
    put("id_prefix", args.id_prefix.clone().map(Into::into));
    put("webhook_url", args.webhook_url.clone().map(Into::into));
    put("max_in_flight", args.max_in_flight.map(Into::into));
    put("strict", args.strict.then_some(true.into()));
    given
}

/// A new campaign's settings: the defaults, with what was given.
fn new_settings(args: &Args) -> Settings {
    let mut settings = serde_json::to_value(Settings::default()).unwrap_or_default();
    if let Some(map) = settings.as_object_mut() {
        map.extend(given(args));
        map.insert("retry_rounds".into(), args.retry_rounds.unwrap_or(0).into());
    }
    serde_json::from_value(settings).unwrap_or_default()
}

/// Runs `syncbatch run`.
pub fn run(args: Args) -> u8 {
    if !(args.poll_interval.is_finite() && args.poll_interval > 0.0) {
        say("--poll-interval must be a positive number of seconds");
        return FAILURE;
    }
    // The key is checked before anything is read or written.
    let client = match args.api.client() {
        Ok(client) => client,
        Err(status) => return status,
    };
    let cooperating = interrupt::Cooperating::begin();
    let campaign = if args.inputs.is_empty() {
        resume(&args)
    } else {
        start(&args, &cooperating)
    };
    let mut campaign = match campaign {
        Ok(campaign) => campaign,
        Err(status) => return status,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(status) => return status,
    };
    if args.dry_run {
        return dry_run(&campaign, &client, &runtime);
    }
    if campaign.is_finished() {
        say(format!(
            "the campaign in {} is finished: nothing sent",
            args.dir.display()
        ));
    }
    let options = crate::campaign::RunOptions::new()
        .poll_interval(Duration::from_secs_f64(args.poll_interval))
        .no_wait(args.no_wait)
        .stop_when(interrupt::requested);
    let mut shown = Shown::new();
    let outcome = runtime.block_on(campaign.run(&client, &options, &mut shown));
    shown.clear();
    drop(cooperating);
    match outcome {
        Ok(Outcome::Finished {
            summary,
            not_completed,
            strict,
        }) => {
            merge::print_table(&summary);
            say(format!(
                "merged into {}",
                args.dir.join("merged.jsonl").display()
            ));
            if strict && not_completed > 0 {
                say(format!(
                    "--strict: {} did not complete",
                    count(not_completed, "request", "requests")
                ));
                NOT_COMPLIANT
            } else {
                OK
            }
        }
        Ok(Outcome::Submitted { created, files }) => {
            say(format!(
                "{created} of {} created; `syncbatch run --dir {}` waits and finishes",
                count(files as u64, "batch file", "batch files"),
                args.dir.display()
            ));
            OK
        }
        Err(e) => failed(&e),
    }
}

/// Starts a campaign: DIR absent or empty, the inputs split into
/// DIR/batches exactly as `split` would, the options recorded.
fn start(args: &Args, cooperating: &interrupt::Cooperating) -> Result<Campaign, u8> {
    if !args.adopt.is_empty() || !args.create_anew.is_empty() {
        say("--adopt and --create-anew settle a campaign that stopped: give them without inputs");
        return Err(FAILURE);
    }
    let settings = new_settings(args);
    split::check_names(&settings.prefix, &settings.id_prefix)?;
    let inputs = split::open_all(&args.inputs)?;
    // Diagnostics as `split` prints them; the errors of refused lines go to
    // rejected.ndjson with --skip-invalid.
    let mut shown = split::Shown::with(Format::Human, !settings.skip_invalid, None, cooperating);
    match Campaign::create(&args.dir, inputs, settings, &mut shown) {
        Ok((campaign, summary)) => {
            shown.done(&summary, Some(&args.dir.join("batches")));
            Ok(campaign)
        }
        Err(CampaignError::Split(e)) => {
            let status = shown.failed(&e);
            if status == NOT_COMPLIANT {
                say("nothing was sent");
            }
            Err(status)
        }
        Err(e) => Err(failed(&e)),
    }
}

/// Opens the campaign in DIR to resume it, with the options given checked
/// against the recorded ones and the stops settled as asked.
fn resume(args: &Args) -> Result<Campaign, u8> {
    let mut campaign = Campaign::open(&args.dir).map_err(|e| failed(&e))?;
    let given = serde_json::Value::Object(given(args));
    if let Err(CampaignError::Options { clashes }) = campaign.check_settings(&given) {
        let flags: Vec<String> = clashes
            .iter()
            .map(|(name, was)| format!("--{} (recorded: {was})", name.replace('_', "-")))
            .collect();
        say(format!(
            "the campaign was started with other options: {}; leave them out to keep the \
             recorded ones",
            flags.join(", ")
        ));
        return Err(FAILURE);
    }
    if let Some(n) = args.retry_rounds {
        campaign.raise_retry_rounds(n).map_err(|e| failed(&e))?;
    }
    for settle in &args.adopt {
        let Some((file, id)) = settle
            .split_once('=')
            .filter(|(f, i)| !f.is_empty() && !i.is_empty())
        else {
            say(format!("--adopt {settle}: expected FILE=BATCH_ID"));
            return Err(FAILURE);
        };
        campaign.adopt(file, id).map_err(|e| failed(&e))?;
        say(format!("{file}: adopting batch {id}"));
    }
    for file in &args.create_anew {
        campaign.create_anew(file).map_err(|e| failed(&e))?;
        say(format!("{file}: to be created anew"));
    }
    Ok(campaign)
}

fn dry_run(
    campaign: &Campaign,
    client: &crate::client::Client,
    runtime: &tokio::runtime::Runtime,
) -> u8 {
    let answers = runtime.block_on(campaign.dry_run(client, &interrupt::requested));
    let answers = match answers {
        Ok(answers) => answers,
        Err(e) => return failed(&e),
    };
    let mut all = true;
    for (file, answer) in &answers {
        match answer {
            Ok(status) => {
                all &= status == "VALIDATED";
                say(format!("{file}: {status}"));
            }
            Err(e) => {
                all = false;
                say(format!("{file}: {e}"));
            }
        }
    }
    say(format!(
        "dry run: {} of {} VALIDATED; no batch was made or recorded",
        answers
            .iter()
            .filter(|(_, a)| matches!(a, Ok(s) if s == "VALIDATED"))
            .count(),
        count(answers.len() as u64, "batch file", "batch files"),
    ));
    if all {
        OK
    } else {
        NOT_COMPLIANT
    }
}

/// What a run shows: on a terminal, one progress line; otherwise one line
/// per event on stderr.
struct Shown {
    bar: Option<indicatif::ProgressBar>,
}

impl Shown {
    fn new() -> Self {
        let visible = io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = visible.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed_precise})")
            {
                bar.set_style(style);
            }
            bar.set_message("creating the batches");
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Shown { bar }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.suspend(|| say(&text)),
            None => say(text),
        }
    }

    fn progress(&self, p: &Progress) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "batches: {}/{} created, {} finished, {} downloaded; generations {}/{} done",
                p.created, p.files, p.finished, p.downloaded, p.done, p.records,
            ));
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Watch for Shown {
    fn note(&mut self, note: Note<'_>) {
        match note {
            Note::Created { file, id } => self.line(format!("{file}: created batch {id}")),
            Note::Ambiguous { file, error } => self.line(format!(
                "{file}: the create may have made a batch ({error}): looking for it before \
                 anything is sent again"
            )),
            Note::Adopted { file, id } => {
                self.line(format!("{file}: its create made batch {id}; adopted"))
            }
            Note::Status {
                file,
                id,
                status,
                counts,
            } => {
                let figures = counts
                    .map(|c| {
                        format!(
                            " ({} succeeded, {} failed, {} pending)",
                            c.success, c.failed, c.pending
                        )
                    })
                    .unwrap_or_default();
                if status == "FAILED" {
                    self.line(format!(
                        "{file}: batch {id} FAILED as a whole{figures}: its requests come out \
                         MISSING"
                    ));
                } else if self.bar.is_none() || status == "COMPLETED" {
                    self.line(format!("{file}: batch {id} {status}{figures}"));
                }
            }
            Note::Downloaded { file, id, bytes } => self.line(format!(
                "{file}: results of batch {id} downloaded ({bytes} bytes)"
            )),
            Note::Merged { round, report } => {
                let s = &report.summary;
                self.line(format!(
                    "round {round} merged: {} of {} completed",
                    s.completed,
                    count(s.requests, "request", "requests")
                ));
                if let Some(RetrySet::Batches { requests, split }) = &report.retry {
                    self.line(format!(
                        "{} to retry in {} in retry/",
                        count(*requests, "request", "requests"),
                        count(split.batches, "batch file", "batch files")
                    ));
                }
            }
            Note::Round {
                round,
                files,
                requests,
            } => self.line(format!(
                "round {round}: {} in {}",
                count(requests, "request", "requests"),
                count(files as u64, "batch file", "batch files")
            )),
            Note::Undersized { requests, path } => self.line(format!(
                "{} to retry cannot make a compliant batch: not submitted (they are in {})",
                count(requests, "request", "requests"),
                path.display()
            )),
            Note::Waiting(p) => self.progress(&p),
        }
    }
}

/// Runs `syncbatch status`.
pub fn status(args: StatusArgs) -> u8 {
    let campaign = if args.offline {
        Campaign::read(&args.dir)
    } else {
        let client = match args.api.client() {
            Ok(client) => client,
            Err(status) => return status,
        };
        let runtime = match runtime() {
            Ok(runtime) => runtime,
            Err(status) => return status,
        };
        Campaign::read(&args.dir).and_then(|mut c| {
            runtime.block_on(c.look(&client))?;
            Ok(c)
        })
    };
    let campaign = match campaign {
        Ok(c) => c,
        Err(e) => return failed(&e),
    };
    let rows = campaign.rows();
    let written = match args.format {
        StatusFormat::Json => print_json(&rows),
        StatusFormat::Human => print_table(&rows, campaign.dir()),
    };
    match written {
        Ok(()) => OK,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => OK,
        Err(e) => {
            say(format!("cannot write: {e}"));
            FAILURE
        }
    }
}

fn sum(rows: &[Row], field: impl Fn(&Row) -> u64) -> u64 {
    rows.iter().fold(0, |n, r| n.saturating_add(field(r)))
}

fn totals(rows: &[Row]) -> serde_json::Value {
    let finished = |r: &&Row| matches!(r.status.as_deref(), Some("COMPLETED" | "FAILED"));
    json!({
        "batches": rows.len(),
        "records": sum(rows, |r| r.records),
        "created": rows.iter().filter(|r| r.id.is_some() && r.status.as_deref() != Some("FOREIGN")).count(),
        "finished": rows.iter().filter(finished).count(),
        "downloaded": rows.iter().filter(|r| r.downloaded).count(),
        "success": sum(rows, |r| r.success),
        "failed": sum(rows, |r| r.failed),
        "pending": sum(rows, |r| r.pending),
    })
}

fn print_json(rows: &[Row]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for r in rows {
        serde_json::to_writer(&mut out, r)?;
        writeln!(out)?;
    }
    serde_json::to_writer(&mut out, &json!({ "summary": totals(rows) }))?;
    writeln!(out)?;
    out.flush()
}

fn print_table(rows: &[Row], _dir: &Path) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let width = rows.iter().map(|r| r.file.len()).max().unwrap_or(4).max(5);
    let id_width = rows
        .iter()
        .filter_map(|r| r.id.as_ref().map(String::len))
        .max()
        .unwrap_or(2)
        .max(2);
    writeln!(
        out,
        "{:<width$}  {:>7}  {:<id_width$}  {:<12}  {:>7}  {:>7}  {:>7}  downloaded",
        "file", "records", "id", "status", "success", "failed", "pending"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<width$}  {:>7}  {:<id_width$}  {:<12}  {:>7}  {:>7}  {:>7}  {}",
            r.file,
            r.records,
            r.id.as_deref().unwrap_or("-"),
            r.status.as_deref().unwrap_or("-"),
            r.success,
            r.failed,
            r.pending,
            if r.downloaded { "yes" } else { "no" }
        )?;
    }
    let t = totals(rows);
    let n = |k: &str| t[k].as_u64().unwrap_or(0);
    writeln!(
        out,
        "{:<width$}  {:>7}  {:<id_width$}  {:<12}  {:>7}  {:>7}  {:>7}  {}",
        format!("total ({} batches)", n("batches")),
        n("records"),
        format!("{} created", n("created")),
        format!("{} finished", n("finished")),
        n("success"),
        n("failed"),
        n("pending"),
        n("downloaded")
    )?;
    out.flush()
}
