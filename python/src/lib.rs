//! `syncbatch._native`: the Python bindings of the `syncbatch` crate. No
//! logic of their own: each function converts its arguments, calls the
//! library with the GIL released, and converts the answer (plain values,
//! dicts and lists; the `syncbatch` package wraps them in classes).
//!
//! - Long calls release the GIL and look for a pending signal (Ctrl-C)
//!   every 50 ms; one stops the call through the library's own stop, so
//!   nothing is left half-written, and the `KeyboardInterrupt` is raised.
//! - Errors are the package's exceptions (`syncbatch.errors`), with the
//!   library's position fields; a panic is caught and raised as
//!   `syncbatch.errors.Error`, never as a `PanicException`.

use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{json, Value};
use syncbatch::campaign::{Campaign, CampaignError, Note, Outcome, RunOptions, Settings, Watch};
use syncbatch::client::{Client as RustClient, ClientError, CreateOptions, Created, ListFilter};
use syncbatch::merge::{merge_files, MergeJob, RetryOptions, RetrySet};
use syncbatch::output::OutputFile;
use syncbatch::split::{DirSink, SplitOptions, Splitter};
use syncbatch::validate::{Diagnostic, Limits, Validator};
use syncbatch::{Error, ErrorKind, Input, Observer};

/// How often a long call looks for a pending signal.
const SIGNAL_EVERY: Duration = Duration::from_millis(50);

/// A Python exception of `syncbatch.errors` named `class`, with `fields`
/// set as attributes.
fn raise(py: Python<'_>, class: &str, message: &str, fields: Value) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let module = py.import("syncbatch.errors")?;
        let kwargs = PyDict::new(py);
        if let Value::Object(map) = fields {
            for (k, v) in map {
                kwargs.set_item(k, to_py(py, &v)?)?;
            }
        }
        let err = module.getattr(class)?.call((message,), Some(&kwargs))?;
        Ok(PyErr::from_value(err))
    })();
    made.unwrap_or_else(|e| e)
}

/// A JSON value as Python objects.
fn to_py(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.into_pyobject(py)?.into_any().unbind(),
            (_, Some(i), _) => i.into_pyobject(py)?.into_any().unbind(),
            (_, _, Some(f)) => f.into_pyobject(py)?.into_any().unbind(),
            _ => py.None(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any().unbind(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// What the library's error becomes in Python.
fn library_error(py: Python<'_>, e: &Error, diagnostics: &[(String, Diagnostic)]) -> PyErr {
    let (class, kind) = match e.kind() {
        ErrorKind::InvalidRecords { .. } => ("ValidationError", "invalid_records"),
        ErrorKind::Infeasible(_) => ("ValidationError", "no_compliant_split"),
        ErrorKind::Limits(_) => ("UsageError", "limits"),
        ErrorKind::Conflict(_) => ("UsageError", "conflict"),
        ErrorKind::Io(_) => ("FileError", "io"),
        ErrorKind::Interrupted => return pyo3::exceptions::PyKeyboardInterrupt::new_err(()),
        _ => ("Error", "other"),
    };
    let position = e.position();
    raise(
        py,
        class,
        &e.to_string(),
        json!({
            "kind": kind,
            "file": position.map(|p| p.input.clone()),
            "line": position.map(|p| p.line).filter(|&l| l > 0),
            "byte": position.map(|p| p.byte),
            "diagnostics": diagnostics.iter().map(|(f, d)| diagnostic_json(f, d)).collect::<Vec<_>>(),
        }),
    )
}

fn client_error(py: Python<'_>, e: &ClientError) -> PyErr {
    raise(
        py,
        "ApiError",
        &e.to_string(),
        json!({
            "kind": format!("{:?}", e.kind()).to_lowercase(),
            "status": e.status(),
            "server_message": e.message(),
            "may_have_created": e.may_have_created(),
        }),
    )
}

fn campaign_error(
    py: Python<'_>,
    e: &CampaignError,
    diagnostics: &[(String, Diagnostic)],
) -> PyErr {
    let (kind, extra) = match e {
        CampaignError::Interrupted => {
            return pyo3::exceptions::PyKeyboardInterrupt::new_err(());
        }
        CampaignError::Split(inner) => return library_error(py, inner, diagnostics),
        CampaignError::Merge(inner) => return library_error(py, inner, diagnostics),
        CampaignError::Client(inner) => return client_error(py, inner),
        CampaignError::Usage(_) => ("usage", json!({})),
        CampaignError::Options { clashes } => (
            "usage",
            json!({"clashes": clashes.iter().map(|(k, _)| k).collect::<Vec<_>>()}),
        ),
        CampaignError::Io(_, _) => ("io", json!({})),
        CampaignError::Refused { file, message } => (
            "refused",
            json!({"batch_file": file, "server_message": message}),
        ),
        CampaignError::Candidates { file, ids } => {
            ("candidates", json!({"batch_file": file, "ids": ids}))
        }
        CampaignError::Foreign { file, id } => {
            ("foreign", json!({"batch_file": file, "ids": [id]}))
        }
        CampaignError::Vanished { file, id } => {
            ("vanished", json!({"batch_file": file, "ids": [id]}))
        }
        CampaignError::Download { file, id, .. } => {
            ("download", json!({"batch_file": file, "ids": [id]}))
        }
        _ => ("other", json!({})),
    };
    let class = match kind {
        "usage" => "UsageError",
        "io" => "FileError",
        _ => "CampaignError",
    };
    let mut fields = extra;
    fields["kind"] = json!(kind);
    raise(py, class, &e.to_string(), fields)
}

fn diagnostic_json(file: &str, d: &Diagnostic) -> Value {
    json!({
        "file": file,
        "code": d.code.as_str(),
        "severity": d.severity.as_str(),
        "line": d.line,
        "column": d.column,
        "byte": d.byte,
        "message": d.message,
        "request_id": d.request_id,
        "path": d.path,
    })
}

/// Runs `work` with the GIL released; a panic comes back as an error.
fn detached<T: Send>(py: Python<'_>, work: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| std::panic::catch_unwind(AssertUnwindSafe(work)))
        .map_err(|panic| {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".into());
            raise(
                py,
                "Error",
                &format!("internal error in syncbatch (a bug; please report it): {why}"),
                json!({"kind": "internal"}),
            )
        })
}

/// Looks for a pending signal at most every 50 ms, taking the GIL for it;
/// keeps the `KeyboardInterrupt` to raise once the library has stopped.
#[derive(Default)]
struct Signals {
    last: Option<Instant>,
    pending: Option<PyErr>,
}

impl Signals {
    /// Whether a signal came (the call should stop).
    fn came(&mut self) -> bool {
        if self.pending.is_some() {
            return true;
        }
        let now = Instant::now();
        if self.last.is_some_and(|t| now - t < SIGNAL_EVERY) {
            return false;
        }
        self.last = Some(now);
        if let Err(e) = Python::attach(|py| py.check_signals()) {
            self.pending = Some(e);
            return true;
        }
        false
    }
}

/// The observer of a file stage: keeps every diagnostic, reports progress
/// to an optional callable, and stops at a signal.
struct Watcher {
    diagnostics: Vec<(String, Diagnostic)>,
    progress: Option<Py<PyAny>>,
    last_progress: Option<Instant>,
    signals: Signals,
}

impl Watcher {
    fn new(progress: Option<Py<PyAny>>) -> Self {
        Watcher {
            diagnostics: Vec::new(),
            progress,
            last_progress: None,
            signals: Signals::default(),
        }
    }

    fn diagnostics_json(&self) -> Vec<Value> {
        self.diagnostics
            .iter()
            .map(|(f, d)| diagnostic_json(f, d))
            .collect()
    }
}

impl Observer for Watcher {
    fn diagnostic(&mut self, input: &str, d: &Diagnostic, _line: Option<&[u8]>) -> ControlFlow<()> {
        self.diagnostics.push((input.to_owned(), d.clone()));
        ControlFlow::Continue(())
    }

    fn progress(&mut self, input: &str, bytes: u64, records: u64) -> ControlFlow<()> {
        if self.signals.came() {
            return ControlFlow::Break(());
        }
        if let Some(callback) = &self.progress {
            let now = Instant::now();
            if self
                .last_progress
                .is_none_or(|t| now - t >= Duration::from_millis(100))
            {
                self.last_progress = Some(now);
                let failed = Python::attach(|py| callback.call1(py, (input, bytes, records)).err());
                if let Some(e) = failed {
                    self.signals.pending = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

fn limits(max_records: u64, min_records: u64, max_bytes: u64) -> Limits {
    Limits::default()
        .max_records(max_records)
        .min_records(min_records)
        .max_bytes(max_bytes)
}

fn open(path: &PathBuf) -> Result<Input, Error> {
    Input::open(path)
}

/// Validates one file (`path`) or bytes (`data`, named `name`): returns
/// (summary dict, list of diagnostic dicts).
#[pyfunction]
#[pyo3(signature = (path=None, data=None, name=None, *, max_records=500, min_records=20,
                    max_bytes=5_000_000, deny_warnings=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn validate(
    py: Python<'_>,
    path: Option<PathBuf>,
    data: Option<Vec<u8>>,
    name: Option<String>,
    max_records: u64,
    min_records: u64,
    max_bytes: u64,
    deny_warnings: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let mut watcher = Watcher::new(progress);
    let limits = limits(max_records, min_records, max_bytes);
    let result = detached(py, || {
        limits.check()?;
        let input = match (&path, data) {
            (Some(path), _) => open(path)?,
            (None, Some(bytes)) => {
                Input::from_bytes(name.unwrap_or_else(|| "<bytes>".into()), bytes)
            }
            (None, None) => Input::from_bytes("<bytes>", Vec::new()),
        };
        Validator::new(limits)
            .deny_warnings(deny_warnings)
            .run(input, &mut watcher)
    })?;
    if let Some(e) = watcher.signals.pending.take() {
        return Err(e);
    }
    let summary = result.map_err(|e| library_error(py, &e, &[]))?;
    let summary = json!({
        "records": summary.records,
        "bytes": summary.bytes,
        "errors": summary.errors,
        "warnings": summary.warnings,
        "valid": summary.valid,
    });
    Ok((
        to_py(py, &summary)?,
        to_py(py, &Value::Array(watcher.diagnostics_json()))?,
    ))
}

/// Splits `inputs` into compliant batch files in `out_dir`: returns the
/// split's figures; the manifest is `out_dir/manifest.json`.
#[pyfunction]
#[pyo3(signature = (inputs, out_dir, *, max_records=500, min_records=20, max_bytes=5_000_000,
                    skip_invalid=false, deny_warnings=false, wrap=false, id_prefix="req-".to_owned(),
                    prefix="batch".to_owned(), force=false, sync=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn split(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    out_dir: PathBuf,
    max_records: u64,
    min_records: u64,
    max_bytes: u64,
    skip_invalid: bool,
    deny_warnings: bool,
    wrap: bool,
    id_prefix: String,
    prefix: String,
    force: bool,
    sync: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let mut watcher = Watcher::new(progress);
    let options = SplitOptions::new()
        .limits(limits(max_records, min_records, max_bytes))
        .wrap(wrap)
        .id_prefix(id_prefix)
        .skip_invalid(skip_invalid)
        .deny_warnings(deny_warnings);
    let result = detached(py, || {
        let inputs = inputs.iter().map(open).collect::<Result<Vec<_>, _>>()?;
        let sink = DirSink::create(&out_dir, &prefix, force)?.sync(sync);
        let sink = if skip_invalid {
            sink.with_rejected()?
        } else {
            sink
        };
        Splitter::new(options, sink).run(inputs, &mut watcher)
    })?;
    if let Some(e) = watcher.signals.pending.take() {
        return Err(e);
    }
    let (summary, _) = result.map_err(|e| library_error(py, &e, &watcher.diagnostics))?;
    let summary = json!({
        "records": summary.records,
        "batches": summary.batches,
        "dropped_blank_lines": summary.dropped_blank_lines,
        "rejected": summary.rejected,
        "warnings": summary.warnings,
    });
    Ok((
        to_py(py, &summary)?,
        to_py(py, &Value::Array(watcher.diagnostics_json()))?,
    ))
}

/// Merges result files back to the requests: returns (summary dict, notes
/// list, retry dict or None).
#[pyfunction]
#[pyo3(signature = (requests, results, out, *, summary=None, unknown=None, retry_dir=None,
                    max_records=500, min_records=20, max_bytes=5_000_000, prefix="batch".to_owned(),
                    force=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn merge(
    py: Python<'_>,
    requests: Vec<PathBuf>,
    results: Vec<PathBuf>,
    out: PathBuf,
    summary: Option<PathBuf>,
    unknown: Option<PathBuf>,
    retry_dir: Option<PathBuf>,
    max_records: u64,
    min_records: u64,
    max_bytes: u64,
    prefix: String,
    force: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Py<PyAny>, Py<PyAny>, Py<PyAny>)> {
    let mut watcher = Watcher::new(progress);
    let result = detached(py, || {
        let output = |p: &PathBuf| OutputFile::create(p);
        let mut job = MergeJob::new(
            requests.iter().map(open).collect::<Result<Vec<_>, _>>()?,
            results.iter().map(open).collect::<Result<Vec<_>, _>>()?,
            output(&out)?,
        )
        .retry_options(
            RetryOptions::new()
                .limits(limits(max_records, min_records, max_bytes))
                .prefix(prefix)
                .force(force),
        );
        if let Some(p) = &summary {
            job = job.summary(output(p)?);
        }
        if let Some(p) = &unknown {
            job = job.unknown(output(p)?);
        }
        if let Some(dir) = &retry_dir {
            job = job.retry_dir(dir);
        }
        merge_files(job, &mut watcher)
    })?;
    if let Some(e) = watcher.signals.pending.take() {
        return Err(e);
    }
    let report = result.map_err(|e| library_error(py, &e, &[]))?;
    let figures = serde_json::to_value(&report.summary).unwrap_or(Value::Null);
    let notes: Vec<Value> = report
        .notes
        .iter()
        .map(|n| json!({"file": n.file, "line": n.line, "column": n.column, "message": n.message}))
        .collect();
    let retry = match &report.retry {
        Some(RetrySet::Nothing) => json!({"kind": "nothing", "requests": 0}),
        Some(RetrySet::Batches { requests, split }) => {
            json!({"kind": "batches", "requests": requests, "batches": split.batches})
        }
        Some(RetrySet::Undersized {
            requests,
            path,
            why,
        }) => json!({"kind": "undersized", "requests": requests,
                     "path": path.display().to_string(), "why": why.to_string()}),
        _ => Value::Null,
    };
    Ok((
        to_py(py, &figures)?,
        to_py(py, &Value::Array(notes))?,
        to_py(py, &retry)?,
    ))
}

/// Runs the `syncbatch` command line on `argv` (the program's name first)
/// in this process; returns its exit status.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> PyResult<u8> {
    detached(py, || syncbatch::cli::main_from(argv))
}

/// The tokio runtime a blocking call runs on.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs `future` to its end with the GIL released, unless a signal comes
/// first (then `KeyboardInterrupt`).
fn block_on<T: Send>(
    py: Python<'_>,
    rt: &tokio::runtime::Runtime,
    future: impl std::future::Future<Output = T> + Send,
) -> PyResult<T> {
    let signal: Arc<Mutex<Option<PyErr>>> = Arc::default();
    let seen = signal.clone();
    let done = detached(py, || {
        rt.block_on(async {
            let work = std::pin::pin!(future);
            let watch = std::pin::pin!(async {
                let mut signals = Signals::default();
                loop {
                    tokio::time::sleep(SIGNAL_EVERY).await;
                    if signals.came() {
                        *seen.lock().unwrap_or_else(|p| p.into_inner()) = signals.pending.take();
                        return;
                    }
                }
            });
            match futures::future::select(work, watch).await {
                futures::future::Either::Left((t, _)) => Some(t),
                futures::future::Either::Right(((), _)) => None,
            }
        })
    })?;
    match done {
        Some(t) => Ok(t),
        None => Err(signal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| pyo3::exceptions::PyKeyboardInterrupt::new_err(()))),
    }
}

fn build_client(
    py: Python<'_>,
    api_key: Option<String>,
    base_url: Option<String>,
    rate_limit: u32,
) -> PyResult<RustClient> {
    let key = api_key
        .or_else(|| std::env::var("SYNC_API_KEY").ok())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            raise(
                py,
                "UsageError",
                "no API key: pass api_key= or export SYNC_API_KEY",
                json!({"kind": "usage"}),
            )
        })?;
    let base = base_url
        .or_else(|| {
            std::env::var("SYNC_BASE_URL")
                .ok()
                .filter(|u| !u.is_empty())
        })
        .unwrap_or_else(|| syncbatch::client::DEFAULT_BASE_URL.to_owned());
    RustClient::builder()
        .api_key(key)
        .base_url(base)
        .rate_limit(rate_limit)
        .build()
        .map_err(|e| client_error(py, &e))
}

/// The Sync Batch API (see `syncbatch.Client`).
#[pyclass(module = "syncbatch._native")]
struct Client {
    inner: RustClient,
    rt: tokio::runtime::Runtime,
}

fn json_of<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    to_py(py, &serde_json::to_value(value).unwrap_or(Value::Null))
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (api_key=None, base_url=None, rate_limit=60))]
    fn new(
        py: Python<'_>,
        api_key: Option<String>,
        base_url: Option<String>,
        rate_limit: u32,
    ) -> PyResult<Self> {
        let inner = build_client(py, api_key, base_url, rate_limit)?;
        let rt =
            runtime().map_err(|e| raise(py, "Error", &e.to_string(), json!({"kind": "io"})))?;
        Ok(Client { inner, rt })
    }

    #[pyo3(signature = (path, *, dry_run=false, webhook_url=None))]
    fn create_batch(
        &self,
        py: Python<'_>,
        path: PathBuf,
        dry_run: bool,
        webhook_url: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let mut options = CreateOptions::default().dry_run(dry_run);
        if let Some(url) = webhook_url {
            options = options.webhook_url(url);
        }
        let answer = block_on(py, &self.rt, self.inner.create_batch(&path, &options))?;
        match answer.map_err(|e| client_error(py, &e))? {
            Created::Batch(batch) => json_of(py, &batch),
            Created::DryRun(answer) => json_of(py, &answer),
        }
    }

    fn get_batch(&self, py: Python<'_>, id: String) -> PyResult<Py<PyAny>> {
        let batch = block_on(py, &self.rt, self.inner.get_batch(&id))?;
        json_of(py, &batch.map_err(|e| client_error(py, &e))?)
    }

    #[pyo3(signature = (*, status=None, created_after=None, created_before=None))]
    fn list_batches(
        &self,
        py: Python<'_>,
        status: Option<String>,
        created_after: Option<String>,
        created_before: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let mut filter = ListFilter::default();
        if let Some(s) = status {
            filter = filter.status(s);
        }
        if let Some(t) = created_after {
            filter = filter.created_after(t);
        }
        if let Some(t) = created_before {
            filter = filter.created_before(t);
        }
        let batches = block_on(py, &self.rt, self.inner.list_batches(&filter))?;
        json_of(py, &batches.map_err(|e| client_error(py, &e))?)
    }

    fn list_models(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let models = block_on(py, &self.rt, self.inner.list_models())?;
        json_of(py, &models.map_err(|e| client_error(py, &e))?)
    }

    fn download_results(&self, py: Python<'_>, id: String, out: PathBuf) -> PyResult<u64> {
        let client = &self.inner;
        let done = block_on(py, &self.rt, async {
            let batch = client.get_batch(&id).await?;
            client.download_results_retrying(&batch, &out, 5).await
        })?;
        done.map_err(|e| client_error(py, &e))
    }
}

/// What a campaign run tells, to an optional callable: one dict a note.
struct Notes {
    callback: Option<Py<PyAny>>,
}

impl Watch for Notes {
    fn note(&mut self, note: Note<'_>) {
        let Some(callback) = &self.callback else {
            return;
        };
        let value = match note {
            Note::Created { file, id } => json!({"event": "created", "file": file, "id": id}),
            Note::Ambiguous { file, error } => {
                json!({"event": "ambiguous", "file": file, "message": error.to_string()})
            }
            Note::Adopted { file, id } => json!({"event": "adopted", "file": file, "id": id}),
            Note::Status {
                file,
                id,
                status,
                counts,
            } => json!({"event": "status", "file": file, "id": id, "status": status,
                        "counts": counts}),
            Note::Downloaded { file, id, bytes } => {
                json!({"event": "downloaded", "file": file, "id": id, "bytes": bytes})
            }
            Note::Merged { round, report } => {
                json!({"event": "merged", "round": round, "summary": report.summary})
            }
            Note::Round {
                round,
                files,
                requests,
            } => json!({"event": "round", "round": round, "files": files, "requests": requests}),
            Note::Undersized { requests, path } => json!({"event": "undersized",
                "requests": requests, "path": path.display().to_string()}),
            Note::Waiting(p) => json!({"event": "waiting", "progress": p}),
            _ => return,
        };
        Python::attach(|py| {
            if let Ok(obj) = to_py(py, &value) {
                let _ = callback.call1(py, (obj,));
            }
        });
    }
}

/// Starts (with `inputs`) or resumes the campaign in `dir` and runs it:
/// returns the outcome as a dict.
#[pyfunction]
#[pyo3(signature = (dir, inputs=None, *, settings=None, given=None, adopt=Vec::new(), create_anew=Vec::new(),
                    retry_rounds=None, api_key=None, base_url=None, rate_limit=60,
                    poll_interval=60.0, no_wait=false, on_event=None))]
#[allow(clippy::too_many_arguments)]
fn run(
    py: Python<'_>,
    dir: PathBuf,
    inputs: Option<Vec<PathBuf>>,
    settings: Option<String>,
    given: Option<String>,
    adopt: Vec<(String, String)>,
    create_anew: Vec<String>,
    retry_rounds: Option<u32>,
    api_key: Option<String>,
    base_url: Option<String>,
    rate_limit: u32,
    poll_interval: f64,
    no_wait: bool,
    on_event: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let client = build_client(py, api_key, base_url, rate_limit)?;
    let rt = runtime().map_err(|e| raise(py, "Error", &e.to_string(), json!({"kind": "io"})))?;
    let usage = |py: Python<'_>, m: String| raise(py, "UsageError", &m, json!({"kind": "usage"}));
    if !(poll_interval.is_finite() && poll_interval > 0.0) {
        return Err(usage(
            py,
            "poll_interval must be a positive number of seconds".into(),
        ));
    }
    let mut watcher = Watcher::new(None);
    let opened = match inputs {
        Some(inputs) => {
            let settings: Settings = match settings {
                Some(text) => {
                    serde_json::from_str(&text).map_err(|e| usage(py, format!("settings: {e}")))?
                }
                None => Settings::default(),
            };
            detached(py, || {
                let inputs = inputs
                    .iter()
                    .map(open)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(CampaignError::Split)?;
                Campaign::create(&dir, inputs, settings, &mut watcher).map(|(c, _)| c)
            })?
        }
        None => detached(py, || Campaign::open(&dir))?,
    };
    if let Some(e) = watcher.signals.pending.take() {
        return Err(e);
    }
    let mut campaign = opened.map_err(|e| campaign_error(py, &e, &watcher.diagnostics))?;
    let settle = (|| {
        if let Some(text) = given {
            let given: Value = serde_json::from_str(&text)
                .map_err(|e| CampaignError::Usage(format!("options: {e}")))?;
            campaign.check_settings(&given)?;
        }
        if let Some(n) = retry_rounds {
            campaign.raise_retry_rounds(n)?;
        }
        for (file, id) in &adopt {
            campaign.adopt(file, id)?;
        }
        for file in &create_anew {
            campaign.create_anew(file)?;
        }
        Ok::<(), CampaignError>(())
    })();
    settle.map_err(|e| campaign_error(py, &e, &[]))?;
    let stop: Arc<Mutex<Signals>> = Arc::default();
    let stop_seen = stop.clone();
    let options = RunOptions::new()
        .poll_interval(Duration::from_secs_f64(poll_interval))
        .no_wait(no_wait)
        .stop_when(move || stop_seen.lock().unwrap_or_else(|p| p.into_inner()).came());
    let mut notes = Notes { callback: on_event };
    let outcome = detached(py, || {
        rt.block_on(campaign.run(&client, &options, &mut notes))
    })?;
    if let Some(e) = stop
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pending
        .take()
    {
        return Err(e);
    }
    let value = match outcome.map_err(|e| campaign_error(py, &e, &[]))? {
        Outcome::Finished {
            summary,
            not_completed,
            strict,
        } => json!({"finished": true, "summary": summary, "not_completed": not_completed,
                    "strict": strict}),
        Outcome::Submitted { created, files } => {
            json!({"finished": false, "created": created, "files": files})
        }
        _ => Value::Null,
    };
    to_py(py, &value)
}

/// The rows of the campaign in `dir` (one dict a batch file), after one
/// look at the API unless `offline`.
#[pyfunction]
#[pyo3(signature = (dir, *, offline=false, api_key=None, base_url=None, rate_limit=60))]
fn status(
    py: Python<'_>,
    dir: PathBuf,
    offline: bool,
    api_key: Option<String>,
    base_url: Option<String>,
    rate_limit: u32,
) -> PyResult<Py<PyAny>> {
    let mut campaign = Campaign::read(&dir).map_err(|e| campaign_error(py, &e, &[]))?;
    if !offline {
        let client = build_client(py, api_key, base_url, rate_limit)?;
        let rt =
            runtime().map_err(|e| raise(py, "Error", &e.to_string(), json!({"kind": "io"})))?;
        let looked = block_on(py, &rt, campaign.look(&client))?;
        looked.map_err(|e| campaign_error(py, &e, &[]))?;
    }
    json_of(
        py,
        &json!({"rows": campaign.rows(), "settings": campaign.settings(),
                        "finished": campaign.is_finished()}),
    )
}

/// A fake Sync API on a loopback port, for tests and for trying the
/// campaign without an account.
#[pyclass(module = "syncbatch._native")]
struct FakeApi {
    inner: syncbatch::fake_api::FakeApi,
}

#[pymethods]
impl FakeApi {
    #[new]
    #[pyo3(signature = (*, pending_ms=100, processing_ms=300))]
    fn new(py: Python<'_>, pending_ms: u64, processing_ms: u64) -> PyResult<Self> {
        let config = syncbatch::fake_api::FakeConfig::default().timing(
            Duration::from_millis(pending_ms),
            Duration::from_millis(processing_ms),
        );
        let inner = syncbatch::fake_api::FakeApi::spawn(config)
            .map_err(|e| raise(py, "FileError", &e.to_string(), json!({"kind": "io"})))?;
        Ok(FakeApi { inner })
    }

    #[getter]
    fn base_url(&self) -> String {
        self.inner.base_url()
    }

    #[getter]
    fn key(&self) -> String {
        self.inner.key()
    }

    /// Batches made so far (dry runs not counted).
    fn creates(&self) -> usize {
        self.inner.creates()
    }

    /// Plays a fault on the next request it fits: `429`, `500`,
    /// `create-then-fail`, `create-then-drop`, `cut-download`,
    /// `expired-url`, `fail-batch`.
    fn inject(&self, py: Python<'_>, kind: &str) -> PyResult<()> {
        use syncbatch::fake_api::Fault;
        let fault = match kind {
            "429" => Fault::TooManyRequests {
                retry_after_ms: 200,
            },
            "500" => Fault::ServerError,
            "create-then-fail" => Fault::CreateThenFail,
            "create-then-drop" => Fault::CreateThenDrop,
            "cut-download" => Fault::CutDownload,
            "expired-url" => Fault::ExpiredUrl,
            "fail-batch" => Fault::FailBatch,
            other => {
                return Err(raise(
                    py,
                    "UsageError",
                    &format!("no such fault: {other}"),
                    json!({"kind": "usage"}),
                ))
            }
        };
        self.inner.inject(fault);
        Ok(())
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(split, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(status, m)?)?;
    m.add_class::<Client>()?;
    m.add_class::<FakeApi>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
