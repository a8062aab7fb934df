//! Typed Batch API objects, for tools that talk to the API, and webhook
//! signature checks.
//!
//! Every object accepts both spellings the documentation uses (`created_at`
//! and `createdAt`, `success_count` and `successCount`, ...), keeps status
//! values it does not know as they are, and keeps fields it does not know in
//! `extra`, so a round trip loses nothing: parsing what an object writes
//! gives it back equal (numbers are doubles: digits beyond a double's
//! precision are not kept, but the value survives any number of round
//! trips; the `api` fuzz target checks both).
//!
//! ```
//! use syncbatch::api::{Batch, BatchStatus};
//!
//! let body = r#"{"id":"batch_abc123","createdAt":"2024-01-15T10:30:00Z","status":"COMPLETED",
//!   "webhookUrl":"https://example.com/hook","metrics":{"totalGenerations":5,"successCount":4,
//!   "failedCount":1,"pendingCount":0},"options":{},"outputUrl":"https://api.sync.so/v2/batches/batch_abc123/result"}"#;
//! let batch: Batch = serde_json::from_str(body)?;
//! assert_eq!(batch.status, BatchStatus::Completed);
//! assert_eq!(batch.metrics.unwrap().success_count, 4);
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

macro_rules! status {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "`.")]
                $variant,
            )*
            /// A value this crate does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value as the API spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok($name::from(s.as_ref()))
            }
        }
    };
}

status!(
    /// A batch's status.
    BatchStatus {
        Pending = "PENDING",
        JobsCreated = "JOBS_CREATED",
        Processing = "PROCESSING",
        Completed = "COMPLETED",
        Failed = "FAILED",
        Validated = "VALIDATED",
    }
);

status!(
    /// A generation's status (in a Generate response or a batch output line).
    GenerationStatus {
        Pending = "PENDING",
        Processing = "PROCESSING",
        Completed = "COMPLETED",
        Failed = "FAILED",
        Rejected = "REJECTED",
        Canceled = "CANCELED",
        TimedOut = "TIMED_OUT",
    }
);

/// A batch's counts.
///
/// Written as the API spells it (`totalGenerations`, ...); read in that
/// spelling or in snake case.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// Generations in the batch.
    #[serde(alias = "total_generations", default)]
    pub total_generations: u64,
    /// Generations that succeeded.
    #[serde(alias = "success_count", default)]
    pub success_count: u64,
    /// Generations that failed.
    #[serde(alias = "failed_count", default)]
    pub failed_count: u64,
    /// Generations still pending.
    #[serde(alias = "pending_count", default)]
    pub pending_count: u64,
}

/// A batch (Get Batch, List Batches, and the batch webhook's body).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// `batch_...`.
    pub id: String,
    /// When it was created (RFC 3339).
    #[serde(alias = "createdAt", default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Its status.
    pub status: BatchStatus,
    /// Its counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// Where the batch webhook goes.
    #[serde(
        rename = "webhookUrl",
        alias = "webhook_url",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub webhook_url: Option<String>,
    /// The results' URL: empty until done; it answers a redirect to the JSONL.
    #[serde(
        rename = "outputUrl",
        alias = "output_url",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub output_url: Option<String>,
    /// Options as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The body of the batch webhook: a [`Batch`].
pub type BatchWebhook = Batch;

/// The answer to a dry run: `{"status": "VALIDATED"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DryRun {
    /// `VALIDATED` when the file passed.
    pub status: BatchStatus,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A Generate API response (also the `response` of a batch output line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateResponse {
    /// The generation's id.
    pub id: String,
    /// When it was created.
    #[serde(alias = "created_at", default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Its status.
    pub status: GenerationStatus,
    /// The model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The inputs as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// The options as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
    /// The segments as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Value>,
    /// Where the result is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_url: Option<String>,
    /// Its length, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_duration: Option<f64>,
    /// Per-segment results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_output_url: Option<Value>,
    /// The generation's webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What went wrong, as a code (`generation_timeout`, ...).
    #[serde(
        rename = "error_code",
        alias = "errorCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_code: Option<String>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The `error` of a batch output line: an object, or a bare string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OutputError {
    /// `{"code": ..., "message": ...}`.
    Object {
        /// The code.
        #[serde(default)]
        code: Option<String>,
        /// The message.
        #[serde(default)]
        message: Option<String>,
        /// Fields this crate does not know.
        #[serde(flatten)]
        extra: BTreeMap<String, Value>,
    },
    /// A bare string.
    Text(String),
}

/// One line of a batch's `output.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputLine {
    /// The request's id.
    #[serde(alias = "requestId")]
    pub request_id: String,
    /// `/v2/generate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The request's payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Its status.
    pub status: GenerationStatus,
    /// What went wrong, if anything.
    #[serde(default)]
    pub error: Option<OutputError>,
    /// The Generate response.
    #[serde(default)]
    pub response: Option<GenerateResponse>,
    /// When it last changed.
    #[serde(alias = "updatedAt", default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The body of an API error (400, 401, 402, 429, 500, ...):
/// `{"statusCode", "errorCode", "message", "error"}`. `message` may be one
/// string or a list of them (a request that failed validation), so it is
/// kept as it came; [`ApiError::message_text`] reads either.
///
/// ```
/// use syncbatch::api::ApiError;
///
/// let body = r#"{"statusCode":429,"errorCode":"concurrency_limit_reached","message":"Too many batches","error":"Too Many Requests"}"#;
/// let e: ApiError = serde_json::from_str(body)?;
/// assert!(e.is_retryable());
/// assert_eq!(e.to_string(), "429 concurrency_limit_reached: Too many batches");
/// let bad: ApiError = serde_json::from_str(r#"{"statusCode":400,"message":["a","b"],"error":"Bad Request"}"#)?;
/// assert!(!bad.is_retryable());
/// assert_eq!(bad.message_text(), "a; b");
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// The HTTP status the body repeats.
    #[serde(
        rename = "statusCode",
        alias = "status_code",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_code: Option<u16>,
    /// What went wrong, as a code (`concurrency_limit_reached`,
    /// `rate_limit_exceeded`, ...).
    #[serde(
        rename = "errorCode",
        alias = "error_code",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_code: Option<String>,
    /// What went wrong: a string or a list of strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    /// The status's name (`Bad Request`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Fields this crate does not know.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ApiError {
    /// Whether the same request can succeed later unchanged: too many
    /// batches at once or too many requests (429, `concurrency_limit_reached`,
    /// `rate_limit_exceeded`) and server errors (5xx). Plan and credit
    /// errors (402) and bad requests are not.
    pub fn is_retryable(&self) -> bool {
        matches!(self.status_code, Some(429 | 500..=599))
            || matches!(
                self.error_code.as_deref(),
                Some("concurrency_limit_reached" | "rate_limit_exceeded")
            )
    }

    /// The message as text: a list is joined with `"; "`, anything else
    /// (a number, an object) is written as JSON, a missing one is empty.
    pub fn message_text(&self) -> String {
        match &self.message {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("; "),
            Some(other) => other.to_string(),
        }
    }
}

impl fmt::Display for ApiError {
    /// `STATUS CODE: MESSAGE`, with whichever parts the body has.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut head = Vec::new();
        if let Some(status) = self.status_code {
            head.push(status.to_string());
        }
        if let Some(code) = self.error_code.as_ref().or(self.error.as_ref()) {
            head.push(code.clone());
        }
        let message = self.message_text();
        match (head.is_empty(), message.is_empty()) {
            (true, true) => f.write_str("an API error with no details"),
            (true, false) => f.write_str(&message),
            (false, true) => f.write_str(&head.join(" ")),
            (false, false) => write!(f, "{}: {message}", head.join(" ")),
        }
    }
}

impl std::error::Error for ApiError {}

/// Why a webhook signature was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookError {
    /// The header is not `t=<seconds>,v1=<hex>`.
    Malformed,
    /// The timestamp is further from now than the tolerance (seconds off).
    Stale(u64),
    /// No `v1` signature matches.
    Mismatch,
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookError::Malformed => f.write_str("Sync-Signature is not t=<seconds>,v1=<hex>"),
            WebhookError::Stale(off) => write!(f, "the signature's time is {off} s from now"),
            WebhookError::Mismatch => f.write_str("the signature does not match the body"),
        }
    }
}

impl std::error::Error for WebhookError {}

/// Checks a webhook's `Sync-Signature: t=<unix seconds>,v1=<hex>` header:
/// `v1` must be HMAC-SHA256(secret, `"<t>.<raw body>"`), compared in
/// constant time, and `t` within `tolerance` seconds of `now` (unix seconds).
/// Several `v1` values (a rotated secret) are each tried.
///
/// ```
/// use hmac::{Hmac, Mac};
/// use syncbatch::api::{verify_webhook, WebhookError};
///
/// let (secret, body, t) = (b"whsec_test", br#"{"id":"batch_1","status":"COMPLETED"}"#, 1_700_000_000u64);
/// let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
/// mac.update(format!("{t}.").as_bytes());
/// mac.update(body);
/// let header = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
/// assert_eq!(verify_webhook(secret, &header, body, t + 10, 300), Ok(()));
/// assert_eq!(verify_webhook(secret, &header, b"{}", t, 300), Err(WebhookError::Mismatch));
/// assert_eq!(verify_webhook(secret, &header, body, t + 301, 300), Err(WebhookError::Stale(301)));
/// ```
pub fn verify_webhook(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: u64,
    tolerance: u64,
) -> Result<(), WebhookError> {
    use hmac::{Hmac, Mac};
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            // The signed text is the timestamp as sent (`t=0042` signs "0042.").
            Some(("t", v)) => t = Some((v, v.parse::<u64>().map_err(|_| WebhookError::Malformed)?)),
            Some(("v1", v)) => {
                signatures.push(hex::decode(v).map_err(|_| WebhookError::Malformed)?)
            }
            Some(_) => {}
            None => return Err(WebhookError::Malformed),
        }
    }
    let (t_text, t) = t.ok_or(WebhookError::Malformed)?;
    if signatures.is_empty() {
        return Err(WebhookError::Malformed);
    }
    let off = now.abs_diff(t);
    if off > tolerance {
        return Err(WebhookError::Stale(off));
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t_text.as_bytes());
    mac.update(b".");
    mac.update(body);
    let matched = signatures
        .iter()
        .any(|sig| mac.clone().verify_slice(sig).is_ok());
    if matched {
        Ok(())
    } else {
        Err(WebhookError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_and_unknown_values_round_trip() {
        let snake = r#"{"id":"batch_1","created_at":"2024-01-15T10:30:00Z","status":"SOMETHING_NEW","metrics":{"total_generations":5,"success_count":4,"failed_count":1,"pending_count":0},"outputUrl":"","future":{"x":1}}"#;
        let b: Batch = serde_json::from_str(snake).unwrap();
        assert_eq!(b.status, BatchStatus::Other("SOMETHING_NEW".into()));
        assert_eq!(b.metrics.as_ref().unwrap().total_generations, 5);
        assert_eq!(b.extra["future"]["x"], 1);
        let again: Batch = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(again, b);
        let dry: DryRun = serde_json::from_str(r#"{"status":"VALIDATED"}"#).unwrap();
        assert_eq!(dry.status, BatchStatus::Validated);
    }

    #[test]
    fn output_lines_read_liberally() {
        let object = r#"{"request_id":"r-2","endpoint":"/v2/generate","payload":{},"status":"FAILED","error":{"code":"INVALID_INPUT","message":"..."},"response":null,"updated_at":"2024-01-15T10:35:00Z"}"#;
        let line: OutputLine = serde_json::from_str(object).unwrap();
        assert_eq!(line.status, GenerationStatus::Failed);
        assert!(
            matches!(line.error, Some(OutputError::Object { ref code, .. }) if code.as_deref() == Some("INVALID_INPUT"))
        );
        let text = r#"{"requestId":"r-3","status":"TIMED_OUT","error":"took too long","updatedAt":"2024-01-15T10:35:00Z"}"#;
        let line: OutputLine = serde_json::from_str(text).unwrap();
        assert_eq!(line.error, Some(OutputError::Text("took too long".into())));
        assert_eq!(line.response, None);
        let done = r#"{"request_id":"r-1","status":"COMPLETED","error":null,"response":{"id":"g","status":"COMPLETED","outputUrl":"https://x/y.mp4","outputDuration":3.5,"error_code":null,"newField":true}}"#;
        let line: OutputLine = serde_json::from_str(done).unwrap();
        let r = line.response.unwrap();
        assert_eq!(r.output_duration, Some(3.5));
        assert_eq!(r.extra["newField"], true);
        let again: GenerateResponse =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn api_errors() {
        let parse = |body: &str| serde_json::from_str::<ApiError>(body).unwrap();
        for (body, retry, text) in [
            (
                r#"{"statusCode":429,"errorCode":"rate_limit_exceeded","message":"slow down"}"#,
                true,
                "429 rate_limit_exceeded: slow down",
            ),
            (
                r#"{"errorCode":"concurrency_limit_reached"}"#,
                true,
                "concurrency_limit_reached",
            ),
            (
                r#"{"statusCode":502,"error":"Bad Gateway"}"#,
                true,
                "502 Bad Gateway",
            ),
            (
                r#"{"statusCode":402,"message":"out of credits","error":"Payment Required"}"#,
                false,
                "402 Payment Required: out of credits",
            ),
            (
                r#"{"status_code":400,"error_code":"generation_input_validation_failed","message":["input must be an array",7]}"#,
                false,
                "400 generation_input_validation_failed: input must be an array; 7",
            ),
            (r#"{"statusCode":401}"#, false, "401"),
            (r#"{"message":{"detail":"x"}}"#, false, r#"{"detail":"x"}"#),
            (r#"{}"#, false, "an API error with no details"),
        ] {
            let e = parse(body);
            assert_eq!(
                (e.is_retryable(), e.to_string().as_str()),
                (retry, text),
                "{body}"
            );
        }
        // Unknown fields stay, and the API's spellings come back out.
        let e = parse(r#"{"status_code":400,"message":"m","requestId":"q-1"}"#);
        assert_eq!(e.extra["requestId"], "q-1");
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"statusCode":400,"message":"m","requestId":"q-1"}"#
        );
        assert_eq!(parse(&text), e);
    }

    #[test]
    fn webhook_headers() {
        assert_eq!(
            verify_webhook(b"k", "v1=00", b"", 0, 1),
            Err(WebhookError::Malformed)
        );
        assert_eq!(
            verify_webhook(b"k", "t=x,v1=00", b"", 0, 1),
            Err(WebhookError::Malformed)
        );
        assert_eq!(
            verify_webhook(b"k", "t=5,v1=zz", b"", 5, 1),
            Err(WebhookError::Malformed)
        );
        assert_eq!(
            verify_webhook(b"k", "t=5,v1=00", b"", 5, 1),
            Err(WebhookError::Mismatch)
        );
        // The timestamp is signed as written: a sender that pads it signs the
        // padding, and a signature over the bare number does not match it.
        let sign = |text: &str| {
            use hmac::{Hmac, Mac};
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
            mac.update(format!("{text}.{{}}").as_bytes());
            hex::encode(mac.finalize().into_bytes())
        };
        let padded = format!("t=0005,v1={}", sign("0005"));
        assert_eq!(verify_webhook(b"k", &padded, b"{}", 5, 1), Ok(()));
        let respelled = format!("t=0005,v1={}", sign("5"));
        assert_eq!(
            verify_webhook(b"k", &respelled, b"{}", 5, 1),
            Err(WebhookError::Mismatch)
        );
    }
}
