//! The Sync Batch API over HTTP (feature `client`): create a batch from a
//! file, get one, list them, download a batch's results, list the models.
//!
//! One [`Client`] holds one connection pool, one request limiter and one
//! retry policy, shared by its clones:
//!
//! - **Spacing**: no two requests start closer than `60 / N` seconds apart
//!   (N, the requests-per-minute budget, 60 unless set; and 2% more, so
//!   that the server, which counts arrivals, never sees them closer),
//!   redirect hops and retries included, so the client never draws a `429`
//!   on its own.
//! - **Retries**: a `429` waits as `retry-after-ms` /
//!   `retry-after` says (else backs off); a `GET` that meets a `5xx`, a
//!   `408`, a timeout or a lost connection backs off (1 s, doubling, at most
//!   60 s, jitter shortening a wait by at most half) and is sent again; a
//!   create that may have made a batch is never sent again: it fails with
//!   [`ClientErrorKind::MayHaveCreated`] instead.
//! - **The key** goes as `x-api-key` to the base URL's origin (scheme, host
//!   and port) only: redirects are followed by the client itself, and one
//!   to another origin (the results' storage) is sent without it. The key
//!   is in no `Debug`, log line or error message.
//!
//! ```no_run
//! use syncbatch::client::{Client, CreateOptions, Created};
//!
//! # async fn run() -> Result<(), syncbatch::client::ClientError> {
//! let client = Client::builder()
//!     .api_key(std::env::var("SYNC_API_KEY").unwrap_or_default())
//!     .rate_limit(60)
//!     .build()?;
//! let file = "batches/batch-00001.jsonl".as_ref();
//! let Created::Batch(created) = client.create_batch(file, &CreateOptions::default()).await? else {
//!     unreachable!("a dry run answers Created::DryRun");
//! };
//! let batch = client.get_batch(&created.id).await?;
//! let mut out = tokio::fs::File::create("output.jsonl").await.unwrap();
//! client.download_results(&batch, &mut out).await?;
//! # Ok(()) }
//! ```

mod error;
mod limiter;
pub(crate) mod policy;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Response, StatusCode, Url};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWrite, AsyncWriteExt};

pub use self::error::{ClientError, ClientErrorKind};
use self::limiter::Limiter;
use self::policy::{Method, Next, Outcome};
use crate::api::{ApiError, Batch, BatchStatus, DryRun};

/// The API's address unless set otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.sync.so";

/// An API key: shown as `ApiKey(***)`, never in full.
#[derive(Clone)]
struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Builds a [`Client`]: `Client::builder().api_key(..).base_url(..).rate_limit(..).build()`.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    key: Option<ApiKey>,
    base_url: String,
    rate_limit: u32,
    connect_timeout: Duration,
    read_timeout: Duration,
    attempts: Option<u32>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            rate_limit: 60,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            attempts: Some(8),
        }
    }
}

impl ClientBuilder {
    /// The API key, sent as `x-api-key` to the base URL's origin only.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(ApiKey(key.into()));
        self
    }

    /// The API's address (default `https://api.sync.so`); a path in it is
    /// kept as a prefix of `/v2/...`, and a trailing `/` makes no `//`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The requests-per-minute budget (default 60, the API's limit): no
    /// two requests start closer than `60 / n` seconds apart.
    pub fn rate_limit(mut self, per_minute: u32) -> Self {
        self.rate_limit = per_minute.max(1);
        self
    }

    /// How long to wait for a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for each read of an answer (default 120 s).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How many times a request is sent before a transient failure is
    /// given up on (default 8); `None` tries without end (a campaign that
    /// waits for a day).
    pub fn attempts(mut self, attempts: Option<u32>) -> Self {
        self.attempts = attempts.map(|n| n.max(1));
        self
    }

    /// The client. Fails when no key was given or the base URL is no
    /// absolute `http(s)` URL.
    pub fn build(self) -> Result<Client, ClientError> {
        let config = |m: String| ClientError::new(ClientErrorKind::Config, None, m);
        let key = self
            .key
            .filter(|k| !k.0.is_empty())
            .ok_or_else(|| config("no API key".into()))?;
        let mut base = Url::parse(&self.base_url).map_err(|e| {
            config(format!(
                "the base URL {:?} is not a URL: {e}",
                self.base_url
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(config(format!(
                "the base URL {:?} is not an absolute http(s) URL",
                self.base_url
            )));
        }
        // `join` keeps the base's path as a prefix only if it ends in `/`.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .user_agent(concat!("syncbatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(format!("cannot make the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                key,
                limiter: Limiter::per_minute(self.rate_limit),
                attempts: self.attempts,
                requests: AtomicU64::new(0),
                throttled: AtomicU64::new(0),
            }),
        })
    }
}

/// A client of the Sync Batch API. See the [module docs](self). Cloning is
/// `O(1)` and shares the pool, the limiter and the counters.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    key: ApiKey,
    limiter: Limiter,
    attempts: Option<u32>,
    requests: AtomicU64,
    throttled: AtomicU64,
}

/// The options of a create.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CreateOptions {
    /// POSTed to when the batch completes or fails.
    pub webhook_url: Option<String>,
    /// Validate the file on the server without processing it.
    pub dry_run: bool,
}

impl CreateOptions {
    /// A webhook for the batch.
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    /// Whether it is a dry run.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }
}

/// What a create answered: the batch made, or a dry run's verdict.
#[derive(Clone, Debug, PartialEq)]
pub enum Created {
    /// The batch made.
    Batch(Batch),
    /// A dry run's answer (`{"status":"VALIDATED"}` when the file passed).
    DryRun(DryRun),
}

/// The filters of List Batches; all optional.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct ListFilter {
    /// Only batches in this status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only batches created after this time (ISO 8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_after: Option<String>,
    /// Only batches created before this time (ISO 8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_before: Option<String>,
}

impl ListFilter {
    /// Only batches in `status`.
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Only batches created after `time`.
    pub fn created_after(mut self, time: impl Into<String>) -> Self {
        self.created_after = Some(time.into());
        self
    }

    /// Only batches created before `time`.
    pub fn created_before(mut self, time: impl Into<String>) -> Self {
        self.created_before = Some(time.into());
        self
    }
}

/// A model of the Models API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    /// Its id.
    #[serde(default)]
    pub id: Option<String>,
    /// What a payload's `model` holds (`lipsync-2`).
    pub name: String,
    /// Its kind.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Its version.
    #[serde(default)]
    pub version: Option<String>,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// When it was deprecated, if it was.
    #[serde(default, rename = "deprecatedAt", alias = "deprecated_at")]
    pub deprecated_at: Option<String>,
}

/// A list answer: an array, or an object wrapping it under `data` or
/// `batches` (sync-api.md's policy).
#[derive(Deserialize)]
#[serde(untagged)]
enum Listed<T> {
    Bare(Vec<T>),
    Data { data: Vec<T> },
    Batches { batches: Vec<T> },
}

impl<T> Listed<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            Listed::Bare(v) | Listed::Data { data: v } | Listed::Batches { batches: v } => v,
        }
    }
}

/// A list answer's items (a bare array, or one wrapped under `data` or
/// `batches`), or why the body is not one. For the fuzz target too.
pub(crate) fn decode_list<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, String> {
    serde_json::from_slice::<Listed<T>>(body)
        .map(Listed::into_vec)
        .map_err(|e| e.to_string())
}

/// The message an error answer's body gives (the API's error object's, or
/// the body's start), for the fuzz target too.
pub(crate) fn error_message(status: u16, body: &[u8]) -> String {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    status_error(status, body, ClientErrorKind::Status)
        .message()
        .to_owned()
}

/// How many redirect hops a request may take.
const MAX_HOPS: usize = 10;

impl Client {
    /// A builder with the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The URL of an API path (`v2/batch`), under the base URL.
    fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.inner.base.join(path).map_err(|e| {
            ClientError::new(
                ClientErrorKind::Config,
                None,
                format!("bad path {path}: {e}"),
            )
        })
    }

    /// Requests sent so far (redirect hops and retries included), and the
    /// `429`s among their answers.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.inner.requests.load(Ordering::Relaxed),
            self.inner.throttled.load(Ordering::Relaxed),
        )
    }

    /// Counts a request as sent just now: the next one waits a full
    /// interval. For a process that takes over from another on the same key
    /// (a resume after a crash or `kill -9`), whose last request may have
    /// left a moment ago: the spacing holds across the two. `O(1)`.
    pub fn hold_off(&self) {
        self.inner.limiter.hold_off();
    }

    /// Whether `url` is on the API's own origin, where the key may go.
    fn same_origin(&self, url: &Url) -> bool {
        let base = &self.inner.base;
        url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
    }

    /// One request, spaced by the limiter, with the key only on the API's
    /// origin. Nothing is retried here.
    async fn once(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<reqwest::multipart::Form>,
    ) -> Result<Response, reqwest::Error> {
        self.inner.limiter.wait().await;
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let keyed = self.same_origin(&url);
        let mut request = self.inner.http.request(method, url);
        if keyed {
            request = request.header("x-api-key", &self.inner.key.0);
        }
        if let Some(form) = body {
            request = request.multipart(form);
        }
        request.send().await
    }

    /// A `GET` of `url`, following redirects, retried as the policy says.
    /// Answers `3xx` and non-success statuses other than transient ones
    /// are returned as they are, for the caller to read.
    async fn get(&self, url: Url) -> Result<Response, ClientError> {
        let mut attempt = 0u32;
        loop {
            let outcome = match self.follow(url.clone()).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status == 429 {
                        self.inner.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    let hint = hint(response.headers());
                    let outcome = Outcome::Status(status, hint);
                    match policy::next(Method::Get, &outcome, attempt, rand::random()) {
                        Next::Done => return Ok(response),
                        next => (next, outcome),
                    }
                }
                Err(e) => {
                    let outcome = transport(&e);
                    (
                        policy::next(Method::Get, &outcome, attempt, rand::random()),
                        outcome,
                    )
                }
            };
            self.retry_or_give_up(outcome, &mut attempt, &url).await?;
        }
    }

    /// Waits as `next` says, or gives up when the attempts are spent.
    async fn retry_or_give_up(
        &self,
        (next, outcome): (Next, Outcome),
        attempt: &mut u32,
        url: &Url,
    ) -> Result<(), ClientError> {
        let Next::Retry(wait) = next else {
            return Err(ClientError::new(
                ClientErrorKind::MayHaveCreated,
                status_of(&outcome),
                format!(
                    "{} failed ({}): the batch may have been made",
                    url.path(),
                    describe(&outcome)
                ),
            ));
        };
        *attempt += 1;
        if self.inner.attempts.is_some_and(|n| *attempt >= n) {
            return Err(ClientError::new(
                ClientErrorKind::GaveUp,
                status_of(&outcome),
                format!(
                    "{} {} after {} attempts",
                    url.path(),
                    describe(&outcome),
                    attempt
                ),
            ));
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// A `GET` that follows redirects itself (each hop spaced, the key only
    /// on the API's origin).
    async fn follow(&self, mut url: Url) -> Result<Response, reqwest::Error> {
        for _ in 0..MAX_HOPS {
            let response = self.once(reqwest::Method::GET, url.clone(), None).await?;
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok());
            match location {
                Some(next) if response.status().is_redirection() => url = next,
                _ => return Ok(response),
            }
        }
        self.once(reqwest::Method::GET, url, None).await
    }

    /// Reads a success as JSON, or turns an error status into its error.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        response: Response,
    ) -> Result<T, ClientError> {
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            ClientError::new(
                ClientErrorKind::GaveUp,
                Some(status.as_u16()),
                format!("reading the answer: {e}"),
            )
        })?;
        if !status.is_success() {
            return Err(status_error(status, &body, ClientErrorKind::Status));
        }
        serde_json::from_slice(&body).map_err(|e| {
            ClientError::new(
                ClientErrorKind::Decode,
                Some(status.as_u16()),
                format!("the answer is not what the API sends: {e}"),
            )
        })
    }

    /// Get Batch.
    pub async fn get_batch(&self, id: &str) -> Result<Batch, ClientError> {
        let url = self.url(&format!("v2/batch/{}", encode(id)))?;
        let response = self.get(url).await?;
        self.json(response).await
    }

    /// List Batches, newest first, with the filters given.
    pub async fn list_batches(&self, filter: &ListFilter) -> Result<Vec<Batch>, ClientError> {
        let mut url = self.url("v2/batch")?;
        {
            let mut query = url.query_pairs_mut();
            for (key, value) in [
                ("status", &filter.status),
                ("created_after", &filter.created_after),
                ("created_before", &filter.created_before),
            ] {
                if let Some(value) = value {
                    query.append_pair(key, value);
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let response = self.get(url).await?;
        Ok(self.json::<Listed<Batch>>(response).await?.into_vec())
    }

    /// List Models.
    pub async fn list_models(&self) -> Result<Vec<Model>, ClientError> {
        let response = self.get(self.url("v2/models")?).await?;
        Ok(self.json::<Listed<Model>>(response).await?.into_vec())
    }

    /// Create Batch: uploads `file` (streamed, never held whole) as the
    /// multipart part `input`, with `webhook_url` and `dry_run`. A `429`
    /// or a connection that could not be made is sent again (nothing was
    /// made); a `5xx`, `408`, timeout or lost connection is not: the error
    /// is [`ClientErrorKind::MayHaveCreated`]. `400`, `413` and `422` are
    /// [`ClientErrorKind::Refused`].
    pub async fn create_batch(
        &self,
        file: &Path,
        options: &CreateOptions,
    ) -> Result<Created, ClientError> {
        let url = self.url("v2/batch")?;
        let mut attempt = 0u32;
        loop {
            let form = form(file, options).await?;
            let outcome = match self
                .once(reqwest::Method::POST, url.clone(), Some(form))
                .await
            {
                Ok(response) => {
                    let status = response.status();
                    if status.as_u16() == 429 {
                        self.inner.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    let outcome = Outcome::Status(status.as_u16(), hint(response.headers()));
                    match policy::next(Method::Create, &outcome, attempt, rand::random()) {
                        Next::Done => return self.created(response, options).await,
                        next => (next, outcome),
                    }
                }
                Err(e) => {
                    let outcome = transport(&e);
                    (
                        policy::next(Method::Create, &outcome, attempt, rand::random()),
                        outcome,
                    )
                }
            };
            self.retry_or_give_up(outcome, &mut attempt, &url).await?;
        }
    }

    async fn created(
        &self,
        response: Response,
        options: &CreateOptions,
    ) -> Result<Created, ClientError> {
        let status = response.status();
        if matches!(status.as_u16(), 400 | 413 | 422) {
            let body = response.bytes().await.unwrap_or_default();
            return Err(status_error(status, &body, ClientErrorKind::Refused));
        }
        if options.dry_run {
            let value: serde_json::Value = self.json(response).await?;
            if let Ok(batch) = serde_json::from_value::<Batch>(value.clone()) {
                if batch.status != BatchStatus::Validated {
                    return Ok(Created::Batch(batch));
                }
            }
            let dry: DryRun = serde_json::from_value(value).map_err(|e| {
                ClientError::new(
                    ClientErrorKind::Decode,
                    Some(status.as_u16()),
                    e.to_string(),
                )
            })?;
            return Ok(Created::DryRun(dry));
        }
        self.json(response).await.map(Created::Batch)
    }

    /// Downloads the results of a `COMPLETED` batch from its `outputUrl`
    /// (following its redirect to the storage, without the key there) and
    /// streams them into `out`; returns the bytes written. A `403` or `404`
    /// from the storage (an expired signed URL) is met by asking the
    /// `outputUrl` again. A transfer cut short (fewer bytes than its
    /// `Content-Length`, or a broken chunked body) is
    /// [`ClientErrorKind::CutShort`]: what was written is partial, and the
    /// caller starts again. Memory: one network buffer.
    pub async fn download_results(
        &self,
        batch: &Batch,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<u64, ClientError> {
        if batch.status != BatchStatus::Completed {
            return Err(ClientError::new(
                ClientErrorKind::Status,
                None,
                format!(
                    "batch {} is {}, not COMPLETED: no results yet",
                    batch.id, batch.status
                ),
            ));
        }
        let output = batch.output_url.as_deref().ok_or_else(|| {
            ClientError::new(
                ClientErrorKind::Decode,
                None,
                format!("batch {} has no outputUrl", batch.id),
            )
        })?;
        let url = self.inner.base.join(output).map_err(|e| {
            ClientError::new(
                ClientErrorKind::Decode,
                None,
                format!("outputUrl {output:?}: {e}"),
            )
        })?;
        let mut attempt = 0u32;
        let response = loop {
            let response = self.get(url.clone()).await?;
            let status = response.status();
            // An expired signed URL on the storage: ask the API again.
            let stale = matches!(status.as_u16(), 403 | 404) && !self.same_origin(response.url());
            if !stale {
                break response;
            }
            let outcome = Outcome::Status(503, None);
            self.retry_or_give_up(
                (
                    policy::next(Method::Get, &outcome, attempt, rand::random()),
                    outcome,
                ),
                &mut attempt,
                &url,
            )
            .await?;
        };
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            return Err(status_error(status, &body, ClientErrorKind::Status));
        }
        let expected = response.content_length();
        let io = |e: std::io::Error| {
            ClientError::new(
                ClientErrorKind::Io,
                None,
                format!("writing the results: {e}"),
            )
        };
        let mut written = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                ClientError::new(
                    ClientErrorKind::CutShort,
                    Some(status.as_u16()),
                    format!("the download broke off after {written} bytes: {e}"),
                )
            })?;
            out.write_all(&chunk).await.map_err(io)?;
            written += chunk.len() as u64;
        }
        out.flush().await.map_err(io)?;
        if expected.is_some_and(|n| n != written) {
            return Err(ClientError::new(
                ClientErrorKind::CutShort,
                Some(status.as_u16()),
                format!(
                    "the download ended after {written} of {} bytes",
                    expected.unwrap_or(0)
                ),
            ));
        }
        Ok(written)
    }
}

impl Client {
    /// [`Client::download_results`] into the file at `path`, written aside
    /// (`.<name>.syncbatch-<pid>` in the same directory, listed for
    /// [`remove_set_aside`](crate::output::remove_set_aside)) and renamed
    /// into place only once whole: a download cut short leaves nothing
    /// under `path`. Returns the bytes written. Memory: one network buffer.
    pub async fn download_results_to(
        &self,
        batch: &Batch,
        path: &Path,
    ) -> Result<u64, ClientError> {
        let io = |what: &str, e: std::io::Error| {
            ClientError::new(
                ClientErrorKind::Io,
                None,
                format!("cannot {what} {}: {e}", path.display()),
            )
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "results.jsonl".into());
        let temp = path.with_file_name(format!(".{name}.syncbatch-{}", std::process::id()));
        let mut file = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| io("create", e))?;
        crate::output::set_aside(&temp);
        let result = async {
            let n = self.download_results(batch, &mut file).await?;
            file.sync_data().await.map_err(|e| io("write", e))?;
            drop(file);
            // Whole also means the last line ends with `\n` or parses: a
            // body that stopped in the middle of a line, whatever its
            // length said, is fetched again.
            if !ends_whole(&temp).await.map_err(|e| io("read", e))? {
                return Err(ClientError::new(
                    ClientErrorKind::CutShort,
                    None,
                    format!(
                        "the results of batch {} end in the middle of a line",
                        batch.id
                    ),
                ));
            }
            tokio::fs::rename(&temp, path)
                .await
                .map_err(|e| io("write", e))?;
            Ok(n)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        crate::output::settled(&temp);
        result
    }
}

impl Client {
    /// The batches that a create of a file of `records` records, attempted
    /// at `attempt`, may have made: those listed as made since five minutes
    /// before it (for clock skew) whose total is `records`, or not known
    /// yet (none, or 0 while pending). For a create that failed with
    /// [`ClientErrorKind::MayHaveCreated`]: never create again before
    /// looking. One List Batches call.
    pub async fn candidates(
        &self,
        attempt: SystemTime,
        records: u64,
    ) -> Result<Vec<Batch>, ClientError> {
        let since = attempt
            .checked_sub(Duration::from_secs(300))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let since = time::OffsetDateTime::from(since)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let batches = self
            .list_batches(&ListFilter::default().created_after(since))
            .await?;
        Ok(batches
            .into_iter()
            .filter(|b| {
                b.metrics
                    .as_ref()
                    .is_none_or(|m| m.total_generations == records || m.total_generations == 0)
            })
            .collect())
    }

    /// [`Client::download_results_to`], fetching a transfer cut short
    /// again, whole, up to `attempts` times in all, with a back-off of
    /// 1 s, 2 s, ... between them.
    pub async fn download_results_retrying(
        &self,
        batch: &Batch,
        path: &Path,
        attempts: u32,
    ) -> Result<u64, ClientError> {
        let mut tried = 0;
        loop {
            tried += 1;
            match self.download_results_to(batch, path).await {
                Err(e) if e.kind() == ClientErrorKind::CutShort && tried < attempts.max(1) => {
                    tokio::time::sleep(Duration::from_secs(u64::from(tried))).await;
                }
                done => return done,
            }
        }
    }
}

/// Whether the file at `path` ends with a whole line: one byte read in the
/// usual case (it ends with `\n`); the whole file only when it does not.
async fn ends_whole(path: &Path) -> std::io::Result<bool> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    if len == 0 {
        return Ok(true);
    }
    file.seek(std::io::SeekFrom::Start(len - 1)).await?;
    let mut last = [0u8];
    file.read_exact(&mut last).await?;
    if last[0] == b'\n' {
        return Ok(true);
    }
    Ok(last_line_whole(&tokio::fs::read(path).await?))
}

/// Whether `text`'s last line is whole: it ends with `\n`, or what follows
/// the last `\n` is one JSON value.
pub(crate) fn last_line_whole(text: &[u8]) -> bool {
    if text.is_empty() || text.ends_with(b"\n") {
        return true;
    }
    let start = memchr::memrchr(b'\n', text).map_or(0, |i| i + 1);
    serde_json::from_slice::<serde::de::IgnoredAny>(&text[start..]).is_ok()
}

/// The multipart body of a create, the file streamed from disk.
async fn form(
    file: &Path,
    options: &CreateOptions,
) -> Result<reqwest::multipart::Form, ClientError> {
    let io = |e: std::io::Error| {
        ClientError::new(
            ClientErrorKind::Io,
            None,
            format!("{}: {e}", file.display()),
        )
    };
    let handle = tokio::fs::File::open(file).await.map_err(io)?;
    let len = handle.metadata().await.map_err(io)?.len();
    let stream = tokio_util::io::ReaderStream::new(handle);
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input.jsonl".into());
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
            .file_name(name)
            .mime_str("application/jsonl")
            .map_err(|e| ClientError::new(ClientErrorKind::Config, None, e.to_string()))?;
    let mut form = reqwest::multipart::Form::new().part("input", part);
    if let Some(url) = &options.webhook_url {
        form = form.text("webhook_url", url.clone());
    }
    if options.dry_run {
        form = form.text("dry_run", "true");
    }
    Ok(form)
}

/// The wait a response's retry headers ask for.
fn hint(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    policy::retry_after(get("retry-after-ms"), get("retry-after"), SystemTime::now())
}

/// What a transport error means to the policy: a connection never made
/// sent nothing; anything else may have reached the server.
fn transport(e: &reqwest::Error) -> Outcome {
    if e.is_connect() {
        Outcome::NotSent
    } else {
        Outcome::Lost
    }
}

fn status_of(outcome: &Outcome) -> Option<u16> {
    match outcome {
        Outcome::Status(s, _) => Some(*s),
        _ => None,
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Status(s, _) => format!("answered {s}"),
        Outcome::NotSent => "could not connect".into(),
        Outcome::Lost => "timed out or lost its connection".into(),
    }
}

/// The error of an error status, with the server's message when its body
/// is the API's error object.
fn status_error(status: StatusCode, body: &[u8], kind: ClientErrorKind) -> ClientError {
    let message = serde_json::from_slice::<ApiError>(body)
        .ok()
        .map(|e| e.message_text())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)])
                .trim()
                .to_owned();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                text
            }
        });
    ClientError::new(kind, Some(status.as_u16()), message)
}

/// `id` as one path segment.
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_line_is_whole_when_it_ends_or_parses() {
        assert!(last_line_whole(b""));
        assert!(last_line_whole(b"{\"a\":1}\n"));
        assert!(last_line_whole(b"{\"a\":1}\n{\"b\":2}"));
        assert!(last_line_whole(b"{\"b\":2}\r"));
        assert!(!last_line_whole(b"{\"a\":1}\n{\"b\":"));
        assert!(!last_line_whole(b"{\"a\""));
    }

    /// A path in the base URL is kept as a prefix, and a trailing `/`
    /// makes no `//`.
    #[test]
    fn paths_join_under_the_base_url() {
        for (base, want) in [
            ("https://api.sync.so", "https://api.sync.so/v2/batch"),
            ("https://api.sync.so/", "https://api.sync.so/v2/batch"),
            (
                "http://127.0.0.1:8787/proxy",
                "http://127.0.0.1:8787/proxy/v2/batch",
            ),
            (
                "http://127.0.0.1:8787/proxy/",
                "http://127.0.0.1:8787/proxy/v2/batch",
            ),
        ] {
            let client = Client::builder()
                .api_key("k")
                .base_url(base)
                .build()
                .unwrap();
            assert_eq!(client.url("v2/batch").unwrap().as_str(), want, "{base}");
        }
        for bad in ["ftp://x", "not a url", "/relative"] {
            let err = Client::builder()
                .api_key("k")
                .base_url(bad)
                .build()
                .unwrap_err();
            assert_eq!(err.kind(), ClientErrorKind::Config, "{bad}");
        }
        let err = Client::builder()
            .base_url("https://a.io")
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), "no API key");
        let client = Client::builder().api_key("sk-secret").build().unwrap();
        assert!(!format!("{client:?}").contains("sk-secret"));
    }
}
