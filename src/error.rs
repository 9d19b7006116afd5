//! Error codes shared by every layer and by the C ABI.
//!
//! `KvError` keeps upstream's numeric values (they are part of the C ABI and
//! of the C++ `enum struct KvError : uint8_t`). `Error` pairs a code with a
//! message saying what went wrong, so a caller never has to guess which
//! argument or which file was at fault.

use std::fmt;
use std::io;
use std::sync::Arc;

/// Upstream's error codes, with upstream's numbers.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvError {
    NoError = 0,
    InvalidArgs = 1,
    NotFound = 2,
    NotRunning = 3,
    Corrupted = 4,
    EndOfFile = 5,
    OutOfSpace = 6,
    OutOfMem = 7,
    OpenFileLimit = 8,
    TryAgain = 9,
    Busy = 10,
    Timeout = 11,
    NoPermission = 12,
    CloudErr = 13,
    IoFail = 14,
    ExpiredTerm = 15,
    CloudNoManifest = 16,
}

impl KvError {
    /// Every code, in numeric order.
    pub const ALL: [KvError; 17] = [
        KvError::NoError,
        KvError::InvalidArgs,
        KvError::NotFound,
        KvError::NotRunning,
        KvError::Corrupted,
        KvError::EndOfFile,
        KvError::OutOfSpace,
        KvError::OutOfMem,
        KvError::OpenFileLimit,
        KvError::TryAgain,
        KvError::Busy,
        KvError::Timeout,
        KvError::NoPermission,
        KvError::CloudErr,
        KvError::IoFail,
        KvError::ExpiredTerm,
        KvError::CloudNoManifest,
    ];

    /// Upstream's `ErrorString`.
    pub const fn as_str(self) -> &'static str {
        match self {
            KvError::NoError => "Succeed",
            KvError::InvalidArgs => "Invalid arguments",
            KvError::NotFound => "Resource not found",
            KvError::NotRunning => "EloqStore is not running",
            KvError::Corrupted => "Disk data corrupted",
            KvError::EndOfFile => "End of file",
            KvError::OutOfSpace => "Out of disk space",
            KvError::OutOfMem => "Out of memory",
            KvError::OpenFileLimit => "Too many opened files",
            KvError::TryAgain => "Try again later",
            KvError::Busy => "Device or resource busy",
            KvError::Timeout => "Operation timeout",
            KvError::NoPermission => "Operation not permitted",
            KvError::CloudErr => "Cloud service is unavailable",
            KvError::IoFail => "I/O failure",
            KvError::ExpiredTerm => "Expired term",
            KvError::CloudNoManifest => "No manifest found in cloud but the directory is not empty",
        }
    }

    /// Upstream's `IsRetryableErr`: only transient resource shortages.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            KvError::OpenFileLimit | KvError::Busy | KvError::TryAgain
        )
    }

    /// The code with this number, if any.
    pub fn from_u8(v: u8) -> Option<KvError> {
        KvError::ALL.get(v as usize).copied()
    }

    /// Upstream's errno mapping (`ToKvError`), used for every failed syscall.
    pub fn from_errno(errno: i32) -> KvError {
        match errno {
            libc::EPERM => KvError::NoPermission,
            libc::ENOENT => KvError::NotFound,
            libc::EINTR | libc::EAGAIN | libc::ENOBUFS => KvError::TryAgain,
            libc::ENOMEM => KvError::OutOfMem,
            libc::EBUSY => KvError::Busy,
            libc::EMFILE => KvError::OpenFileLimit,
            libc::ENOSPC => KvError::OutOfSpace,
            _ => KvError::IoFail,
        }
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error code with a message naming what failed, and, for a failed
/// system call, the `io::Error` it came from (its errno included).
///
/// The message already contains the `io::Error`'s text, so that users of the
/// C ABI, who see only the message, lose nothing; Rust callers reach the
/// original through [`std::error::Error::source`], [`Error::io_error`] and
/// [`Error::os_error`]. Two errors are equal when code, message and errno are.
#[derive(Clone, Debug)]
pub struct Error {
    code: KvError,
    /// Boxed: `Error` travels in every `Result`, so it stays small.
    message: Box<str>,
    /// Shared so that `Error` stays `Clone` (requests hand results to
    /// several waiters).
    source: Option<Arc<io::Error>>,
}

impl PartialEq for Error {
    fn eq(&self, o: &Error) -> bool {
        self.code == o.code && self.message == o.message && self.os_error() == o.os_error()
    }
}

impl Eq for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io_error().map(|e| e as _)
    }
}

impl Error {
    /// An error with this code and message and no underlying cause.
    pub fn new(code: KvError, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into().into_boxed_str(),
            source: None,
        }
    }

    /// The error code (upstream's `KvError`).
    pub fn code(&self) -> KvError {
        self.code
    }

    /// What failed, in words.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The I/O error this one was made from, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source.as_deref()
    }

    /// The OS error number (errno) of the failed system call, if any.
    pub fn os_error(&self) -> Option<i32> {
        self.io_error().and_then(io::Error::raw_os_error)
    }

    /// The same error with `context` prepended to its message (the code and
    /// the underlying I/O error are kept).
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error {
            message: format!("{context}: {}", self.message).into_boxed_str(),
            ..self
        }
    }

    /// An `InvalidArgs` error.
    pub fn invalid_args(message: impl Into<String>) -> Error {
        Error::new(KvError::InvalidArgs, message)
    }

    /// A `Corrupted` error.
    pub fn corrupted(message: impl Into<String>) -> Error {
        Error::new(KvError::Corrupted, message)
    }

    /// A `NotFound` error.
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(KvError::NotFound, message)
    }

    /// An I/O error, classified by errno as upstream does; `err` is kept as
    /// the source.
    pub fn from_io(err: io::Error, what: impl fmt::Display) -> Error {
        let code = match err.raw_os_error() {
            Some(errno) => KvError::from_errno(errno),
            None if err.kind() == io::ErrorKind::UnexpectedEof => KvError::EndOfFile,
            None if err.kind() == io::ErrorKind::NotFound => KvError::NotFound,
            None => KvError::IoFail,
        };
        Error {
            code,
            message: format!("{what}: {err}").into_boxed_str(),
            source: Some(Arc::new(err)),
        }
    }

    /// A failed system call's error number, classified as upstream does.
    pub fn from_errno(errno: i32, what: impl fmt::Display) -> Error {
        Error::from_io(io::Error::from_raw_os_error(errno), what)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_strings_match_upstream() {
        for (i, e) in KvError::ALL.iter().enumerate() {
            assert_eq!(*e as u8 as usize, i);
            assert_eq!(KvError::from_u8(i as u8), Some(*e));
        }
        assert_eq!(KvError::from_u8(17), None);
        assert_eq!(KvError::CloudNoManifest as u8, 16);
        assert_eq!(KvError::IoFail.as_str(), "I/O failure");
        let retryable: Vec<_> = KvError::ALL.iter().filter(|e| e.is_retryable()).collect();
        assert_eq!(
            retryable,
            [&KvError::OpenFileLimit, &KvError::TryAgain, &KvError::Busy]
        );
    }

    #[test]
    fn errno_mapping() {
        assert_eq!(KvError::from_errno(libc::ENOSPC), KvError::OutOfSpace);
        assert_eq!(KvError::from_errno(libc::EIO), KvError::IoFail);
        assert_eq!(KvError::from_errno(libc::EMFILE), KvError::OpenFileLimit);
        assert_eq!(KvError::from_errno(libc::ENOENT), KvError::NotFound);
        let e = Error::from_io(std::io::Error::from_raw_os_error(libc::EAGAIN), "x");
        assert_eq!(e.code(), KvError::TryAgain);
    }

    #[test]
    fn io_errors_keep_their_source_and_errno() {
        use std::error::Error as _;
        let e = Error::from_errno(libc::ENOSPC, "writing data_0").context("commit");
        assert_eq!(e.code(), KvError::OutOfSpace);
        assert_eq!(e.os_error(), Some(libc::ENOSPC));
        let src = e.source().expect("source kept");
        let io = src.downcast_ref::<std::io::Error>().expect("an io::Error");
        assert_eq!(io.raw_os_error(), Some(libc::ENOSPC));
        assert!(e.message().starts_with("commit: writing data_0: "), "{e}");
        assert!(e.message().contains(&io.to_string()), "{e}");
        // A clone shares the cause.
        assert_eq!(e.clone().os_error(), Some(libc::ENOSPC));

        // Without an errno the kind decides the code; the error is still kept.
        let eof = Error::from_io(std::io::ErrorKind::UnexpectedEof.into(), "read");
        assert_eq!(eof.code(), KvError::EndOfFile);
        assert_eq!(eof.os_error(), None);
        assert!(eof.io_error().is_some());

        // Plain errors have no cause.
        let plain = Error::invalid_args("x");
        assert!(plain.source().is_none() && plain.os_error().is_none());
    }
}
