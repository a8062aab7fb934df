//! The client's error: the HTTP status and the server's message when there
//! was an answer, whether the same request may succeed later, and, for a
//! create, whether a batch may have been made.

use std::fmt;

/// What went wrong with a request. More kinds may come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientErrorKind {
    /// The server answered with an error status that sending again does
    /// not mend (`401`, `402`, `403`, `404`, other `4xx`).
    Status,
    /// A create's file was refused (`400`, `413`, `422`): nothing was made.
    Refused,
    /// A create failed in a way that may have made the batch anyway (a
    /// `5xx`, a timeout, a connection lost after the request went out): it
    /// is not sent again; list the batches to find out.
    MayHaveCreated,
    /// The retries ran out on a transient failure (`429`, `5xx`, timeouts,
    /// lost or refused connections).
    GaveUp,
    /// A results download ended before its end.
    CutShort,
    /// The answer was not what the API sends (not JSON, a wrong shape).
    Decode,
    /// A local file could not be read or written.
    Io,
    /// The client was built wrong (no key, a bad base URL).
    Config,
}

/// What went wrong with a request: the HTTP status and the server's
/// message when there was an answer, whether it may succeed later, and
/// for a create whether a batch may have been made. The API key is never
/// in it.
#[derive(Clone, Debug)]
pub struct ClientError {
    kind: ClientErrorKind,
    status: Option<u16>,
    message: String,
}

impl ClientError {
    pub(crate) fn new(
        kind: ClientErrorKind,
        status: Option<u16>,
        message: impl Into<String>,
    ) -> Self {
        ClientError {
            kind,
            status,
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ClientErrorKind {
        self.kind
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// What the server (or the client) said.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether sending the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ClientErrorKind::GaveUp | ClientErrorKind::CutShort
        )
    }

    /// Whether a create may have made a batch although it failed.
    pub fn may_have_created(&self) -> bool {
        self.kind == ClientErrorKind::MayHaveCreated
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{status}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ClientError {}
