//! `syncbatch batch create|get|list|download` and `syncbatch models`: the
//! Batch API, one call each, over the library's client.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::api::BatchStatus;
use crate::client::{Client, ClientError, ClientErrorKind, CreateOptions, Created, ListFilter};
use crate::validate::{validate_path, Limits};

use super::{LimitArgs, FAILURE, NOT_COMPLIANT, OK};

/// Where the API is and how fast to call it; the key comes from
/// `SYNC_API_KEY`.
#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    /// The API's base URL (default: $SYNC_BASE_URL, else https://api.sync.so).
    #[arg(long, value_name = "URL", global = true)]
    pub base_url: Option<String>,
    /// Requests per minute: no two requests start closer than 60/N seconds apart.
    #[arg(long, value_name = "N", default_value_t = 60, global = true)]
    pub rate_limit: u32,
}

impl ApiArgs {
    /// The client, or exit 2 with a message naming what is missing. The
    /// key is checked before anything is read or written.
    pub fn client(&self) -> Result<Client, u8> {
        let key = std::env::var("SYNC_API_KEY").unwrap_or_default();
        if key.is_empty() {
            eprintln!("syncbatch: SYNC_API_KEY is not set: export your API key as SYNC_API_KEY");
            return Err(FAILURE);
        }
        let base = self
            .base_url
            .clone()
            .or_else(|| {
                std::env::var("SYNC_BASE_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
            })
            .unwrap_or_else(|| crate::client::DEFAULT_BASE_URL.to_owned());
        Client::builder()
            .api_key(key)
            .base_url(base)
            .rate_limit(self.rate_limit)
            .build()
            .map_err(|e| {
                eprintln!("syncbatch: {e}");
                FAILURE
            })
    }
}

/// Talk to the Sync Batch API.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  export SYNC_API_KEY=...
  syncbatch batch create batches/batch-00001.jsonl
  syncbatch batch get batch_abc123
  syncbatch batch list --status COMPLETED
  syncbatch batch download batch_abc123 --out results/batch-00001.jsonl

Exit codes: 0 done; 1 the file is not compliant or was refused, a batch not
COMPLETED, or no such batch; 2 usage, I/O, the key refused, or a create that
may have made a batch (not sent again).")]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// The batch subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Validate FILE, upload it, print the batch (or the dry run's answer).
    Create {
        /// The batch file.
        file: PathBuf,
        /// Validate on the server without processing.
        #[arg(long)]
        dry_run: bool,
        /// POSTed to when the batch completes or fails.
        #[arg(long, value_name = "URL")]
        webhook_url: Option<String>,
        /// Upload without validating locally first.
        #[arg(long)]
        no_validate: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Print a batch as one JSON line.
    Get {
        /// The batch id.
        id: String,
    },
    /// Print the batches, newest first, one JSON line each.
    List {
        /// Only batches in this status.
        #[arg(long, value_name = "S")]
        status: Option<String>,
        /// Only batches created after this time (ISO 8601).
        #[arg(long, value_name = "T")]
        created_after: Option<String>,
        /// Only batches created before this time (ISO 8601).
        #[arg(long, value_name = "T")]
        created_before: Option<String>,
    },
    /// Download a COMPLETED batch's results (written aside, then renamed).
    Download {
        /// The batch id.
        id: String,
        /// Where the results go (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Print the models the API offers, one JSON line each.
#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
}

/// A runtime on this thread for the API calls.
pub fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("syncbatch: cannot start the runtime: {e}");
            FAILURE
        })
}

/// Prints `value` as one JSON line on stdout; a closed pipe is no error.
fn print_line(value: &impl serde::Serialize) -> u8 {
    let mut out = io::stdout().lock();
    let written = serde_json::to_writer(&mut out, value)
        .map_err(io::Error::from)
        .and_then(|()| writeln!(out));
    match written {
        Ok(()) => OK,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => OK,
        Err(e) => {
            eprintln!("syncbatch: cannot write: {e}");
            FAILURE
        }
    }
}

/// The exit status of a client error, after saying it.
fn failed(e: &ClientError) -> u8 {
    eprintln!("syncbatch: {e}");
    match e.kind() {
        ClientErrorKind::Refused => NOT_COMPLIANT,
        _ => FAILURE,
    }
}

/// Runs `syncbatch batch ...`.
pub fn run(args: Args) -> u8 {
    let client = match args.api.client() {
        Ok(client) => client,
        Err(status) => return status,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(status) => return status,
    };
    runtime.block_on(async move {
        match args.command {
            Command::Create {
                file,
                dry_run,
                webhook_url,
                no_validate,
                limits,
            } => create(&client, &file, dry_run, webhook_url, no_validate, limits).await,
            Command::Get { id } => match client.get_batch(&id).await {
                Ok(batch) => print_line(&batch),
                Err(e) if e.status() == Some(404) => {
                    eprintln!("syncbatch: no such batch: {id}");
                    NOT_COMPLIANT
                }
                Err(e) => failed(&e),
            },
            Command::List {
                status,
                created_after,
                created_before,
            } => {
                let filter = ListFilter {
                    status,
                    created_after,
                    created_before,
                };
                match client.list_batches(&filter).await {
                    Ok(batches) => batches.iter().map(print_line).max().unwrap_or(OK),
                    Err(e) => failed(&e),
                }
            }
            Command::Download { id, out } => download(&client, &id, &out).await,
        }
    })
}

/// Runs `syncbatch models`.
pub fn models(args: ModelsArgs) -> u8 {
    let client = match args.api.client() {
        Ok(client) => client,
        Err(status) => return status,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(status) => return status,
    };
    match runtime.block_on(client.list_models()) {
        Ok(models) => models.iter().map(print_line).max().unwrap_or(OK),
        Err(e) => failed(&e),
    }
}

async fn create(
    client: &Client,
    file: &Path,
    dry_run: bool,
    webhook_url: Option<String>,
    no_validate: bool,
    limits: LimitArgs,
) -> u8 {
    let limits = match limits.limits() {
        Ok(limits) => limits,
        Err(status) => return status,
    };
    let records = match check(file, limits, no_validate) {
        Ok(records) => records,
        Err(status) => return status,
    };
    let mut options = CreateOptions::default().dry_run(dry_run);
    options.webhook_url = webhook_url;
    let attempt = SystemTime::now();
    match client.create_batch(file, &options).await {
        Ok(Created::Batch(batch)) => print_line(&batch),
        Ok(Created::DryRun(answer)) => print_line(&answer),
        Err(e) if e.may_have_created() => {
            eprintln!("syncbatch: {e}; it is not sent again");
            let candidates = candidates(client, attempt, records).await;
            match candidates {
                Ok(ids) if ids.is_empty() => eprintln!(
                    "syncbatch: no batch of {records} records was made since then that the API \
                     lists now; check again with `syncbatch batch list` before creating anew"
                ),
                Ok(ids) => eprintln!(
                    "syncbatch: batches of {records} records made since the attempt: {} \
                     (check whether one of them is this file's before creating anew)",
                    ids.join(", ")
                ),
                Err(e) => eprintln!("syncbatch: and listing the batches to check failed: {e}"),
            }
            FAILURE
        }
        Err(e) => failed(&e),
    }
}

/// The file's record count, after validating it as `validate` does (not
/// compliant: exit 1, nothing sent).
fn check(file: &Path, limits: Limits, no_validate: bool) -> Result<u64, u8> {
    let report = validate_path(file, limits).map_err(|e| {
        eprintln!("syncbatch: {e}");
        FAILURE
    })?;
    if !no_validate && !report.summary.valid {
        let name = file.display().to_string();
        let mut err = io::stderr().lock();
        for d in &report.diagnostics {
            let _ = crate::validate::report::write_diagnostic(
                &mut err,
                crate::validate::report::Format::Human,
                &name,
                d,
                None,
            );
        }
        let _ = writeln!(
            err,
            "syncbatch: {name} is not a compliant batch file: nothing sent"
        );
        return Err(NOT_COMPLIANT);
    }
    Ok(report.summary.records)
}

/// The ids of the batches a create attempted at `attempt` may have made.
async fn candidates(
    client: &Client,
    attempt: SystemTime,
    records: u64,
) -> Result<Vec<String>, ClientError> {
    let batches = client.candidates(attempt, records).await?;
    Ok(batches.into_iter().map(|b| b.id).collect())
}

async fn download(client: &Client, id: &str, out: &Path) -> u8 {
    let batch = match client.get_batch(id).await {
        Ok(batch) => batch,
        Err(e) if e.status() == Some(404) => {
            eprintln!("syncbatch: no such batch: {id}");
            return NOT_COMPLIANT;
        }
        Err(e) => return failed(&e),
    };
    if batch.status != BatchStatus::Completed {
        eprintln!(
            "syncbatch: batch {id} is {}, not COMPLETED: no results yet",
            batch.status
        );
        return NOT_COMPLIANT;
    }
    if out.as_os_str() == "-" {
        let mut stdout = tokio::io::stdout();
        return match client.download_results(&batch, &mut stdout).await {
            Ok(_) => OK,
            Err(e) => failed(&e),
        };
    }
    // A cut-short download is fetched again, whole, up to five times.
    match client.download_results_retrying(&batch, out, 5).await {
        Ok(_) => OK,
        Err(e) => failed(&e),
    }
}
