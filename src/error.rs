//! Error codes shared by every layer and by the C ABI.
//!
//! `KvError` keeps upstream's numeric values (they are part of the C ABI and
//! of the C++ `enum struct KvError : uint8_t`). `Error` pairs a code with a
//! message saying what went wrong, so a caller never has to guess which
//! argument or which file was at fault.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::sync::Arc;

/// Defines [`KvError`] from one table: variant, upstream's number and
/// upstream's `ErrorString` text (a C string literal, so the C ABI hands it
/// out as it is). The C ABI's `eloqstore_error` enum spells the same codes
/// for cbindgen; `ffi` converts between the two by number.
macro_rules! kv_errors {
    ($($(#[$doc:meta])* $name:ident = $num:literal => $text:literal,)*) => {
        /// Upstream's error codes, with upstream's numbers.
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum KvError {
            $($(#[$doc])* $name = $num,)*
        }

        impl KvError {
            /// Every code, in numeric order.
            pub const ALL: [KvError; [$($num),*].len()] = [$(KvError::$name),*];

            /// Upstream's `ErrorString`, NUL-terminated.
            pub const fn as_cstr(self) -> &'static CStr {
                match self {
                    $(KvError::$name => $text,)*
                }
            }
        }
    };
}

kv_errors! {
    /// Success.
    NoError = 0 => c"Succeed",
    /// A request or option is invalid; the message names it.
    InvalidArgs = 1 => c"Invalid arguments",
    /// The key, table, file or object does not exist.
    NotFound = 2 => c"Resource not found",
    /// The store is not started, or is stopping.
    NotRunning = 3 => c"EloqStore is not running",
    /// Stored data failed a check (checksum, structure, key order).
    Corrupted = 4 => c"Disk data corrupted",
    /// A read went past the end of a file.
    EndOfFile = 5 => c"End of file",
    /// The disk is full (`ENOSPC`).
    OutOfSpace = 6 => c"Out of disk space",
    /// Memory ran out (`ENOMEM`).
    OutOfMem = 7 => c"Out of memory",
    /// Too many open files (`EMFILE`).
    OpenFileLimit = 8 => c"Too many opened files",
    /// A transient failure (`EAGAIN`, `EINTR`); retrying may succeed.
    TryAgain = 9 => c"Try again later",
    /// The resource is in use (`EBUSY`).
    Busy = 10 => c"Device or resource busy",
    /// The operation did not finish in time.
    Timeout = 11 => c"Operation timeout",
    /// The operation is not permitted (`EPERM`).
    NoPermission = 12 => c"Operation not permitted",
    /// The object store failed.
    CloudErr = 13 => c"Cloud service is unavailable",
    /// Any other I/O failure.
    IoFail = 14 => c"I/O failure",
    /// The partition's term is older than the one on storage.
    ExpiredTerm = 15 => c"Expired term",
    /// Cloud mode: no manifest in the bucket although the local directory
    /// holds files.
    CloudNoManifest = 16 => c"No manifest found in cloud but the directory is not empty",
}

impl KvError {
    /// Upstream's `ErrorString`.
    pub const fn as_str(self) -> &'static str {
        match self.as_cstr().to_str() {
            Ok(s) => s,
            // Every text in the table is ASCII.
            Err(_) => "",
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

/// The result of every fallible engine call.
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
