//! Error codes shared by every layer and by the C ABI.
//!
//! `KvError` keeps upstream's numeric values (they are part of the C ABI and
//! of the C++ `enum struct KvError : uint8_t`). `Error` pairs a code with a
//! message saying what went wrong, so a caller never has to guess which
//! argument or which file was at fault.

use std::fmt;

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

/// An error code with a message naming what failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    code: KvError,
    message: String,
}

impl Error {
    pub fn new(code: KvError, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> KvError {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `context` prepended to its message.
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error {
            code: self.code,
            message: format!("{context}: {}", self.message),
        }
    }

    pub fn invalid_args(message: impl Into<String>) -> Error {
        Error::new(KvError::InvalidArgs, message)
    }

    pub fn corrupted(message: impl Into<String>) -> Error {
        Error::new(KvError::Corrupted, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(KvError::NotFound, message)
    }

    /// An I/O error, classified by errno as upstream does.
    pub fn from_io(err: &std::io::Error, what: impl fmt::Display) -> Error {
        let code = match err.raw_os_error() {
            Some(errno) => KvError::from_errno(errno),
            None if err.kind() == std::io::ErrorKind::UnexpectedEof => KvError::EndOfFile,
            None if err.kind() == std::io::ErrorKind::NotFound => KvError::NotFound,
            None => KvError::IoFail,
        };
        Error::new(code, format!("{what}: {err}"))
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
        let e = Error::from_io(&std::io::Error::from_raw_os_error(libc::EAGAIN), "x");
        assert_eq!(e.code(), KvError::TryAgain);
    }
}
