//! Classifies failed cloud requests into `KvError` codes.
//!
//! Upstream's table (`ClassifyHttpError`), with one change the project
//! chose: a service that cannot be reached (connection refused or reset,
//! DNS or TLS failure) is `CloudErr`, "Cloud service is unavailable",
//! rather than `Timeout`.
//!
//! | outcome (after retries)                         | code       |
//! |-------------------------------------------------|------------|
//! | 404                                             | `NotFound` |
//! | 408, 429, 5xx; a request that timed out         | `Timeout`  |
//! | 400, 401, 403, 409, 412, any other status       | `CloudErr` |
//! | cannot connect, connection reset, DNS, TLS      | `CloudErr` |

use object_store::client::{HttpError, HttpErrorKind};

use crate::error::{Error, KvError};

/// What a failed request amounted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// An HTTP status after retries (404, 412, 503, ...).
    Status(u16),
    /// No usable response: the transport failed.
    Transport(TransportKind),
    /// The key was refused before any request (an invalid path).
    InvalidKey,
    /// Anything else (a response that did not parse, ...).
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// Connecting failed, or the connection broke: the service is
    /// unreachable.
    Unreachable,
    /// The request timed out.
    Timeout,
    /// The response could not be decoded, or an unknown failure.
    Other,
}

impl Failure {
    /// The failure behind an `object_store` error.
    pub fn of(err: &object_store::Error) -> Failure {
        use object_store::Error as E;
        match err {
            E::NotFound { .. } => Failure::Status(404),
            E::Precondition { .. } => Failure::Status(412),
            E::AlreadyExists { .. } => Failure::Status(409),
            E::NotModified { .. } => Failure::Status(304),
            E::PermissionDenied { .. } => Failure::Status(403),
            E::Unauthenticated { .. } => Failure::Status(401),
            E::InvalidPath { .. } => Failure::InvalidKey,
            _ => Failure::in_chain(err),
        }
    }

    /// Looks through the error's sources for the transport error or the
    /// HTTP status the client gave up on.
    fn in_chain(err: &(dyn std::error::Error + 'static)) -> Failure {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
        let mut status = None;
        while let Some(e) = cur {
            if let Some(h) = e.downcast_ref::<HttpError>() {
                return Failure::Transport(match h.kind() {
                    HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Interrupted => TransportKind::Unreachable,
                    HttpErrorKind::Timeout => TransportKind::Timeout,
                    _ => TransportKind::Other,
                });
            }
            if status.is_none() {
                status = status_in_message(&e.to_string());
            }
            cur = e.source();
        }
        match status {
            Some(s) => Failure::Status(s),
            None => Failure::Other,
        }
    }

    /// The `KvError` code this failure is reported as.
    pub fn code(self) -> KvError {
        match self {
            Failure::Status(404) => KvError::NotFound,
            Failure::Status(408 | 429) => KvError::Timeout,
            Failure::Status(s) if (500..600).contains(&s) => KvError::Timeout,
            Failure::Status(_) => KvError::CloudErr,
            Failure::Transport(TransportKind::Timeout) => KvError::Timeout,
            Failure::Transport(_) => KvError::CloudErr,
            Failure::InvalidKey => KvError::InvalidArgs,
            Failure::Other => KvError::CloudErr,
        }
    }

    /// A conditional write lost its race (412 or 409).
    pub fn is_conflict(self) -> bool {
        matches!(self, Failure::Status(409 | 412))
    }
}

/// The status code in object_store's message for a request it gave up on
/// ("Server returned non-2xx status code: 503 Service Unavailable: ...";
/// "Server returned error response" is a 200 whose body held an S3 error,
/// which S3 asks clients to treat as a 5xx). object_store does not export
/// the error type that carries the status, so its text (a pinned version)
/// is read.
fn status_in_message(msg: &str) -> Option<u16> {
    const MARK: &str = "status code: ";
    if let Some(i) = msg.find(MARK) {
        let digits: String = msg[i + MARK.len()..].chars().take(3).collect();
        if digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
            return digits.parse().ok();
        }
    }
    if msg.contains("Server returned error response") {
        return Some(500);
    }
    None
}

/// The classified error for a failed `what` (e.g. "GET t.0/manifest_0").
pub fn classify(err: &object_store::Error, what: &str) -> Error {
    let failure = Failure::of(err);
    let code = failure.code();
    let detail = match failure {
        Failure::Status(403) | Failure::Status(401) => {
            "access denied (check cloud_access_key, cloud_secret_key and cloud_region)".to_owned()
        }
        Failure::Transport(TransportKind::Unreachable) => {
            "the cloud service cannot be reached".to_owned()
        }
        Failure::Transport(TransportKind::Timeout) => "the request timed out".to_owned(),
        Failure::Status(s) => format!("HTTP {s}"),
        _ => String::new(),
    };
    let sep = if detail.is_empty() { "" } else { ": " };
    Error::new(code, format!("{what}: {detail}{sep}{err}"))
}

/// A classified error plus what it was, for callers that branch on it (the
/// `CURRENT_TERM` compare-and-set).
#[derive(Clone, Debug)]
pub struct CloudError {
    pub failure: Failure,
    pub error: Error,
}

impl CloudError {
    pub fn new(err: &object_store::Error, what: &str) -> CloudError {
        CloudError {
            failure: Failure::of(err),
            error: classify(err, what),
        }
    }
}

impl From<CloudError> for Error {
    fn from(e: CloudError) -> Error {
        e.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_table() {
        let c = |f: Failure| f.code();
        assert_eq!(c(Failure::Status(404)), KvError::NotFound);
        for s in [408, 429, 500, 502, 503, 504, 505] {
            assert_eq!(c(Failure::Status(s)), KvError::Timeout, "{s}");
        }
        for s in [400, 401, 403, 409, 412, 416] {
            assert_eq!(c(Failure::Status(s)), KvError::CloudErr, "{s}");
        }
        assert_eq!(
            c(Failure::Transport(TransportKind::Unreachable)),
            KvError::CloudErr
        );
        assert_eq!(
            c(Failure::Transport(TransportKind::Timeout)),
            KvError::Timeout
        );
        assert!(Failure::Status(412).is_conflict() && Failure::Status(409).is_conflict());
        assert!(!Failure::Status(404).is_conflict());
    }

    #[test]
    fn status_from_message() {
        assert_eq!(
            status_in_message(
                "Error performing PUT http://x in 1s - Server returned non-2xx status code: 503 Service Unavailable: body"
            ),
            Some(503)
        );
        assert_eq!(
            status_in_message("Server returned error response: <Error>InternalError"),
            Some(500)
        );
        assert_eq!(status_in_message("no status here"), None);
    }

    #[test]
    fn object_store_variants() {
        let src = || -> Box<dyn std::error::Error + Send + Sync> { "x".into() };
        let nf = object_store::Error::NotFound {
            path: "p".into(),
            source: src(),
        };
        assert_eq!(classify(&nf, "GET p").code(), KvError::NotFound);
        let denied = object_store::Error::PermissionDenied {
            path: "p".into(),
            source: src(),
        };
        let e = classify(&denied, "GET p");
        assert_eq!(e.code(), KvError::CloudErr);
        assert!(e.message().contains("access denied"), "{e}");
        let http = object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(
                HttpErrorKind::Connect,
                std::io::Error::other("refused"),
            )),
        };
        assert_eq!(
            Failure::of(&http),
            Failure::Transport(TransportKind::Unreachable)
        );
        assert_eq!(classify(&http, "PUT").code(), KvError::CloudErr);
        let to = object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(
                HttpErrorKind::Timeout,
                std::io::Error::other("slow"),
            )),
        };
        assert_eq!(classify(&to, "PUT").code(), KvError::Timeout);
    }
}
