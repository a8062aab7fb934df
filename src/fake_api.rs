//! A fake Sync Batch API (feature `fake-api`), in memory, on loopback
//! ports: for the tests, and for trying the tool without an account
//! (`cargo run --example fake_api -- --port 8787`).
//!
//! It implements Create Batch (multipart `input`, `webhook_url`,
//! `dry_run`), Get Batch, List Batches (with its filters) and List Models,
//! checks `x-api-key`, and serves each completed batch's results from a
//! second origin (the "storage") that its `outputUrl` redirects to, as the
//! real API does. Batches advance on a clock: `PENDING`, then `PROCESSING`
//! with moving metrics, then `COMPLETED` (or `FAILED`, on request); their
//! results are made from the uploaded lines. Faults are injected on request
//! ([`Fault`]), and every request is logged ([`FakeApi::log`]) with its
//! origin and whether it carried the key.
//!
//! ```
//! use syncbatch::fake_api::{FakeApi, FakeConfig};
//!
//! let fake = FakeApi::spawn(FakeConfig::default())?;
//! assert!(fake.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(fake.creates(), 0);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

use crate::api::{Batch, BatchStatus, Metrics};

/// How the fake behaves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FakeConfig {
    /// The key it takes.
    pub key: String,
    /// The API's port (0: any free one).
    pub port: u16,
    /// The storage's port (0: any free one).
    pub storage_port: u16,
    /// How long a batch stays `PENDING`.
    pub pending: Duration,
    /// How long it then stays `PROCESSING`.
    pub processing: Duration,
    /// The fake's own rate limit, requests a minute: requests closer than
    /// `60 / N` seconds apart draw a `429` (none by default).
    pub rate_limit: Option<u32>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            key: "sk-fake-key".into(),
            port: 0,
            storage_port: 0,
            pending: Duration::from_millis(300),
            processing: Duration::from_millis(700),
            rate_limit: None,
        }
    }
}

impl FakeConfig {
    /// The key it takes.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// The ports of the API and the storage (0: any free one).
    pub fn ports(mut self, api: u16, storage: u16) -> Self {
        self.port = api;
        self.storage_port = storage;
        self
    }

    /// How long batches stay pending, then processing.
    pub fn timing(mut self, pending: Duration, processing: Duration) -> Self {
        self.pending = pending;
        self.processing = processing;
        self
    }

    /// The fake's own rate limit, requests a minute.
    pub fn rate_limit(mut self, per_minute: Option<u32>) -> Self {
        self.rate_limit = per_minute;
        self
    }
}

/// A fault the fake plays once, on the next request it fits.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The next API request draws `429` with `retry-after-ms`.
    TooManyRequests {
        /// The wait the answer asks for.
        retry_after_ms: u64,
    },
    /// The next API request draws `500`.
    ServerError,
    /// The next create makes the batch, then answers `500`.
    CreateThenFail,
    /// The next create makes the batch, then drops the connection unanswered.
    CreateThenDrop,
    /// The next results download sends half the file and breaks off.
    CutDownload,
    /// The next results download answers `403` (an expired signed URL).
    ExpiredUrl,
    /// The next batch made fails as a whole.
    FailBatch,
}

/// Which server a request reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The API.
    Api,
    /// The storage the results redirect to.
    Storage,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Logged {
    /// When it came.
    pub at: Instant,
    /// Which server it reached.
    pub origin: Origin,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Whether it carried an `x-api-key` header (any value).
    pub keyed: bool,
    /// The status answered (0: none, the connection was dropped).
    pub status: u16,
}

struct FakeBatch {
    batch: Batch,
    made: Instant,
    ids: Vec<String>,
    fail: bool,
}

struct State {
    config: FakeConfig,
    batches: Vec<FakeBatch>,
    faults: VecDeque<Fault>,
    log: Vec<Logged>,
    last_api: Option<Instant>,
    api: SocketAddr,
    storage: SocketAddr,
}

/// A running fake. Dropping it stops nothing: it serves until its runtime
/// ends (the process, for [`FakeApi::spawn`]).
#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    api: SocketAddr,
}

impl std::fmt::Debug for FakeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApi").field("api", &self.api).finish()
    }
}

impl FakeApi {
    /// Starts the fake on the current tokio runtime, on 127.0.0.1.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeApi> {
        let api = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let storage = TcpListener::bind(("127.0.0.1", config.storage_port)).await?;
        let state = Arc::new(Mutex::new(State {
            api: api.local_addr()?,
            storage: storage.local_addr()?,
            config,
            batches: Vec::new(),
            faults: VecDeque::new(),
            log: Vec::new(),
            last_api: None,
        }));
        let fake = FakeApi {
            api: api.local_addr()?,
            state: Arc::clone(&state),
        };
        for (listener, origin) in [(api, Origin::Api), (storage, Origin::Storage)] {
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let state = Arc::clone(&state);
                            async move { serve(state, origin, request).await }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        }
        Ok(fake)
    }

    /// Starts the fake on a runtime thread of its own, for blocking callers
    /// (tests that run the command line against it).
    pub fn spawn(config: FakeConfig) -> std::io::Result<FakeApi> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let _ = tx.send(FakeApi::start(config).await);
                std::future::pending::<()>().await
            });
        });
        rx.recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the fake's thread stopped")))
    }

    /// The API's base URL: `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// The key it takes.
    pub fn key(&self) -> String {
        self.lock().config.key.clone()
    }

    /// Plays `fault` on the next request it fits.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// Every request so far, in order.
    pub fn log(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// How many batches were made (dry runs not counted).
    pub fn creates(&self) -> usize {
        self.lock().batches.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).map_err(|e| match e {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("a header"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = json!({"statusCode": status.as_u16(), "message": message, "error": status.canonical_reason()});
    full(status, body.to_string())
}

/// One request, logged; `Err` drops the connection unanswered.
async fn serve(
    state: Arc<Mutex<State>>,
    origin: Origin,
    request: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let at = Instant::now();
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), |p| p.to_string());
    let keyed = request.headers().contains_key("x-api-key");
    // The whole request is read before any answer, as a server does, so
    // that an early answer (401, 429, 500) leaves the connection usable.
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let request = Request::from_parts(parts, body);
    let answer = match origin {
        Origin::Api => api(&state, request).await,
        Origin::Storage => Ok(storage(&state, &path)),
    };
    let status = answer.as_ref().map_or(0, |r| r.status().as_u16());
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    s.log.push(Logged {
        at,
        origin,
        method,
        path,
        keyed,
        status,
    });
    answer
}

/// Takes the first queued fault that `fits`.
fn take_fault(s: &mut State, fits: impl Fn(&Fault) -> bool) -> Option<Fault> {
    let i = s.faults.iter().position(fits)?;
    s.faults.remove(i)
}

async fn api(
    state: &Arc<Mutex<State>>,
    request: Request<Bytes>,
) -> Result<Response<Body>, std::io::Error> {
    // The fake's own controls, for a fake run as a process: its log, and
    // faults to play (`POST /_fake/fault?kind=429|500|create-then-fail|
    // create-then-drop|cut-download|expired-url|fail-batch`).
    if request.uri().path().starts_with("/_fake/") {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        let start = s.log.first().map(|l| l.at);
        return Ok(match (request.method().as_str(), request.uri().path()) {
            ("GET", "/_fake/log") => {
                let lines: String = s
                    .log
                    .iter()
                    .map(|l| {
                        let ms = start.map_or(0.0, |t| l.at.duration_since(t).as_secs_f64() * 1000.0);
                        format!(
                            "{}\n",
                            json!({"ms": ms, "origin": format!("{:?}", l.origin), "method": l.method,
                                   "path": l.path, "keyed": l.keyed, "status": l.status})
                        )
                    })
                    .collect();
                full(StatusCode::OK, lines)
            }
            ("POST", "/_fake/fault") => {
                let kind = request.uri().query().unwrap_or("").replace("kind=", "");
                let fault = match kind.as_str() {
                    "429" => Some(Fault::TooManyRequests {
                        retry_after_ms: 1000,
                    }),
                    "500" => Some(Fault::ServerError),
                    "create-then-fail" => Some(Fault::CreateThenFail),
                    "create-then-drop" => Some(Fault::CreateThenDrop),
                    "cut-download" => Some(Fault::CutDownload),
                    "expired-url" => Some(Fault::ExpiredUrl),
                    "fail-batch" => Some(Fault::FailBatch),
                    _ => None,
                };
                match fault {
                    Some(f) => {
                        s.faults.push_back(f);
                        full(StatusCode::OK, json!({"queued": kind}).to_string())
                    }
                    None => error(StatusCode::BAD_REQUEST, "unknown fault"),
                }
            }
            _ => error(StatusCode::NOT_FOUND, "no such control"),
        });
    }
    {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let key_ok = request
            .headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            == Some(s.config.key.as_str());
        if !key_ok {
            return Ok(error(
                StatusCode::UNAUTHORIZED,
                "invalid or missing API key",
            ));
        }
        if let Some(per_minute) = s.config.rate_limit {
            let spacing = Duration::from_secs(60) / per_minute.max(1);
            let early = s
                .last_api
                .is_some_and(|last| now.duration_since(last) < spacing);
            s.last_api = Some(now);
            if early {
                let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded");
                let wait = spacing.as_millis().to_string();
                r.headers_mut()
                    .insert("retry-after-ms", wait.parse().expect("a number"));
                return Ok(r);
            }
        }
        match take_fault(&mut s, |f| {
            matches!(f, Fault::TooManyRequests { .. } | Fault::ServerError)
        }) {
            Some(Fault::TooManyRequests { retry_after_ms }) => {
                let mut r = error(StatusCode::TOO_MANY_REQUESTS, "concurrency_limit_reached");
                let wait = retry_after_ms.to_string();
                r.headers_mut()
                    .insert("retry-after-ms", wait.parse().expect("a number"));
                return Ok(r);
            }
            Some(_) => return Ok(error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")),
            None => {}
        }
    }
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let method = request.method().clone();
    let s_batches = |f: &mut dyn FnMut(&mut State) -> Response<Body>| {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    };
    match (method.as_str(), path.trim_end_matches('/')) {
        ("POST", "/v2/batch") => create(state, request).await,
        ("GET", "/v2/batch") => Ok(s_batches(&mut |s| list(s, &query))),
        ("GET", "/v2/models") => Ok(full(
            StatusCode::OK,
            json!([
                {"id": "m1", "name": "lipsync-2", "type": "lipsync", "version": "2", "description": "", "deprecatedAt": null},
                {"id": "m2", "name": "lipsync-2-pro", "type": "lipsync", "version": "2", "description": "", "deprecatedAt": null},
                {"id": "m3", "name": "sync-3", "type": "lipsync", "version": "3", "description": "", "deprecatedAt": null},
                {"id": "m4", "name": "react-1", "type": "lipsync", "version": "1", "description": "", "deprecatedAt": null},
                {"id": "m5", "name": "lipsync-1.9.0-beta", "type": "lipsync", "version": "1.9", "description": "", "deprecatedAt": null},
                {"id": "m6", "name": "lipsync-3", "type": "lipsync", "version": "3", "description": "newer than the built-in list", "deprecatedAt": null}
            ])
            .to_string(),
        )),
        ("GET", p) => {
            let rest = p.strip_prefix("/v2/batch/").unwrap_or("");
            if let Some(id) = rest.strip_suffix("/result") {
                return Ok(s_batches(&mut |s| result_redirect(s, id)));
            }
            Ok(s_batches(&mut |s| match s.batches.iter().position(|b| b.batch.id == rest) {
                Some(i) => {
                    let batch = now_of(s, i);
                    full(StatusCode::OK, serde_json::to_string(&batch).expect("a batch"))
                }
                None => error(StatusCode::NOT_FOUND, "batch not found"),
            }))
        }
        _ => Ok(error(StatusCode::NOT_FOUND, "no such route")),
    }
}

/// The batch as it stands now, on the fake's clock.
fn now_of(s: &mut State, i: usize) -> Batch {
    let (pending, processing) = (s.config.pending, s.config.processing);
    let api = s.api;
    let b = &mut s.batches[i];
    let age = b.made.elapsed();
    let total = b.ids.len() as u64;
    let (status, done) = if age < pending {
        (BatchStatus::Pending, 0)
    } else if age < pending + processing {
        let part = (age - pending).as_secs_f64() / processing.as_secs_f64().max(1e-9);
        (BatchStatus::Processing, ((total as f64) * part) as u64)
    } else if b.fail {
        (BatchStatus::Failed, 0)
    } else {
        (BatchStatus::Completed, total)
    };
    let failed = done / 10;
    b.batch.status = status.clone();
    b.batch.metrics = Some(Metrics {
        total_generations: total,
        success_count: done - failed,
        failed_count: failed,
        pending_count: total - done,
    });
    b.batch.output_url = (status == BatchStatus::Completed)
        .then(|| format!("http://{api}/v2/batch/{}/result", b.batch.id));
    b.batch.clone()
}

fn list(s: &mut State, query: &str) -> Response<Body> {
    let filters: Vec<(String, String)> = url_pairs(query);
    let get = |k: &str| {
        filters
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let (status, after, before) = (get("status"), get("created_after"), get("created_before"));
    let mut out = Vec::new();
    for i in (0..s.batches.len()).rev() {
        let batch = now_of(s, i);
        let created = batch.created_at.clone().unwrap_or_default();
        let keep = status
            .as_deref()
            .is_none_or(|st| st == batch.status.as_str())
            && after
                .as_deref()
                .is_none_or(|t| instant(&created) > instant(t))
            && before
                .as_deref()
                .is_none_or(|t| instant(&created) < instant(t));
        if keep {
            out.push(batch);
        }
    }
    full(
        StatusCode::OK,
        serde_json::to_string(&out).expect("batches"),
    )
}

fn instant(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let mut out = Vec::new();
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The API's `outputUrl`: a redirect to the storage, as a signed URL.
fn result_redirect(s: &mut State, id: &str) -> Response<Body> {
    let Some(i) = s.batches.iter().position(|b| b.batch.id == id) else {
        return error(StatusCode::NOT_FOUND, "batch not found");
    };
    if now_of(s, i).status != BatchStatus::Completed {
        return error(StatusCode::NOT_FOUND, "no results yet");
    }
    let mut r = full(StatusCode::FOUND, "");
    let to = format!("http://{}/files/{id}.jsonl?signature=fake", s.storage);
    r.headers_mut()
        .insert("location", to.parse().expect("a URL"));
    r
}

/// The storage: a completed batch's results, made from its request ids.
fn storage(state: &Arc<Mutex<State>>, path: &str) -> Response<Body> {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let id = path
        .strip_prefix("/files/")
        .and_then(|p| p.split_once(".jsonl"))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_default();
    let Some(i) = s.batches.iter().position(|b| b.batch.id == id) else {
        return error(StatusCode::NOT_FOUND, "no such file");
    };
    if take_fault(&mut s, |f| *f == Fault::ExpiredUrl).is_some() {
        return error(StatusCode::FORBIDDEN, "signature expired");
    }
    let cut = take_fault(&mut s, |f| *f == Fault::CutDownload).is_some();
    let b = &s.batches[i];
    let mut body = Vec::new();
    let shape = crate::generate::OutputShape {
        files: 1,
        duplicates: 0.0,
        missing: 0.0,
        unknown: 0.0,
        camel_case: 0.0,
    };
    crate::generate::fabricate_outputs(&b.ids, i as u64 + 1, &shape, |_, line| {
        body.extend_from_slice(line);
        body.push(b'\n');
    });
    let len = body.len();
    let body = Bytes::from(body);
    // Cut short: half the file, then the connection breaks (a chunked
    // body that never ends properly).
    let stream_body: Body = if cut {
        // The error comes a moment after the data, once the head and the
        // first half are on the wire.
        let half = body.slice(..len / 2);
        let frames = futures::stream::unfold(0u8, move |step| {
            let half = half.clone();
            async move {
                match step {
                    0 => Some((Ok(hyper::body::Frame::data(half)), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Some((Err(std::io::Error::other("cut short on purpose")), 2))
                    }
                    _ => None,
                }
            }
        });
        BodyExt::boxed(http_body_util::StreamBody::new(frames))
    } else {
        Full::new(body).map_err(|e: Infallible| match e {}).boxed()
    };
    let mut r = Response::new(stream_body);
    if cut {
        return r;
    }
    r.headers_mut()
        .insert("content-length", len.to_string().parse().expect("a number"));
    r
}

/// Create Batch: the multipart form read, the batch made (or a dry run).
async fn create(
    state: &Arc<Mutex<State>>,
    request: Request<Bytes>,
) -> Result<Response<Body>, std::io::Error> {
    let boundary = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok());
    let Some(boundary) = boundary else {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "expected multipart/form-data",
        ));
    };
    let body = request.into_body();
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut form = multer::Multipart::new(body, boundary);
    let (mut input, mut webhook, mut dry_run) = (None, None, false);
    while let Ok(Some(field)) = form.next_field().await {
        match field.name().unwrap_or("") {
            "input" => input = field.bytes().await.ok(),
            "webhook_url" => webhook = field.text().await.ok(),
            "dry_run" => dry_run = field.text().await.ok().as_deref() == Some("true"),
            _ => {}
        }
    }
    let Some(input) = input else {
        return Ok(error(StatusCode::BAD_REQUEST, "no input file"));
    };
    let mut ids = Vec::new();
    for (n, line) in input.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let id = serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|v| {
                v.get("request_id")
                    .and_then(|i| i.as_str())
                    .map(str::to_owned)
            });
        match id {
            Some(id) => ids.push(id),
            None => {
                let message = format!("line {}: not a batch request line", n + 1);
                return Ok(error(StatusCode::BAD_REQUEST, &message));
            }
        }
    }
    if !(1..=500).contains(&ids.len()) {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "a batch holds 1 to 500 requests",
        ));
    }
    if dry_run {
        return Ok(full(
            StatusCode::OK,
            json!({"status": "VALIDATED"}).to_string(),
        ));
    }
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let fail = take_fault(&mut s, |f| *f == Fault::FailBatch).is_some();
    let created_at = time::OffsetDateTime::from(SystemTime::now())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let id = format!("batch_{:06}", s.batches.len() + 1);
    let batch = Batch {
        id: id.clone(),
        created_at: Some(created_at),
        status: BatchStatus::Pending,
        metrics: Some(Metrics {
            total_generations: ids.len() as u64,
            success_count: 0,
            failed_count: 0,
            pending_count: ids.len() as u64,
        }),
        webhook_url: webhook,
        output_url: None,
        options: Some(json!({})),
        extra: Default::default(),
    };
    s.batches.push(FakeBatch {
        batch: batch.clone(),
        made: Instant::now(),
        ids,
        fail,
    });
    match take_fault(&mut s, |f| {
        matches!(f, Fault::CreateThenFail | Fault::CreateThenDrop)
    }) {
        Some(Fault::CreateThenFail) => {
            Ok(error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
        }
        Some(_) => Err(std::io::Error::other("connection dropped on purpose")),
        None => Ok(full(
            StatusCode::CREATED,
            serde_json::to_string(&batch).expect("a batch"),
        )),
    }
}
