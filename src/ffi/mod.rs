//! The C ABI: `extern "C"` functions prefixed `eloqstore_` over opaque
//! handles. `include/eloqstore.h` is generated from this module by cbindgen.
//!
//! Rules every function follows:
//! - No Rust panic crosses the boundary: each entry point catches it and
//!   reports `ELOQSTORE_IO_FAIL` (or the documented neutral value).
//! - A null handle or invalid argument gives `ELOQSTORE_INVALID_ARGS` (or
//!   the documented neutral value), never a crash.
//! - Every `_new` returns a handle the caller owns and must release with
//!   the matching `_free`; `_free(NULL)` does nothing. Pointers returned
//!   into a handle stay valid until the handle is changed, re-executed or
//!   freed, as each function says.
//! - Keys, values and names are `(pointer, length)` byte strings: binary
//!   safe, no NUL terminator needed; a null pointer is allowed only with
//!   length 0.

#![allow(non_camel_case_types)]

mod options;
mod request;
mod store;

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

pub use options::*;
#[cfg(feature = "internals")]
pub use request::*;
#[cfg(feature = "internals")]
pub use store::*;

use crate::error::{Error, KvError};

/// Major version of this library (`Cargo.toml` version).
#[allow(dead_code)] // for the C header (cbindgen); C callers use it
pub const ELOQSTORE_VERSION_MAJOR: u32 = 0;
/// Minor version of this library.
#[allow(dead_code)] // for the C header (cbindgen); C callers use it
pub const ELOQSTORE_VERSION_MINOR: u32 = 1;
/// Patch version of this library.
#[allow(dead_code)] // for the C header (cbindgen); C callers use it
pub const ELOQSTORE_VERSION_PATCH: u32 = 0;

/// Error codes, with upstream `KvError`'s numbers.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::CheckedBitPattern)]
#[allow(dead_code)] // variants are made from `KvError` codes by a checked cast
pub enum eloqstore_error {
    ELOQSTORE_OK = 0,
    ELOQSTORE_INVALID_ARGS = 1,
    ELOQSTORE_NOT_FOUND = 2,
    ELOQSTORE_NOT_RUNNING = 3,
    ELOQSTORE_CORRUPTED = 4,
    ELOQSTORE_END_OF_FILE = 5,
    ELOQSTORE_OUT_OF_SPACE = 6,
    ELOQSTORE_OUT_OF_MEM = 7,
    ELOQSTORE_OPEN_FILE_LIMIT = 8,
    ELOQSTORE_TRY_AGAIN = 9,
    ELOQSTORE_BUSY = 10,
    ELOQSTORE_TIMEOUT = 11,
    ELOQSTORE_NO_PERMISSION = 12,
    ELOQSTORE_CLOUD_ERR = 13,
    ELOQSTORE_IO_FAIL = 14,
    ELOQSTORE_EXPIRED_TERM = 15,
    ELOQSTORE_CLOUD_NO_MANIFEST = 16,
}

impl From<KvError> for eloqstore_error {
    /// By number: both enums carry upstream's numbers (checked by the
    /// `error_codes_match_kverror` test and by the header's C tests).
    fn from(e: KvError) -> Self {
        bytemuck::checked::try_cast(e as u8).unwrap_or(eloqstore_error::ELOQSTORE_IO_FAIL)
    }
}

thread_local! {
    /// The message of the last failed call on this thread.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(e: &Error) {
    let msg = CString::new(e.to_string().replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|l| *l.borrow_mut() = msg);
}

/// Records `e` as this thread's last error and returns its code.
fn fail(e: Error) -> eloqstore_error {
    set_last_error(&e);
    e.code().into()
}

fn invalid(msg: &str) -> eloqstore_error {
    fail(Error::invalid_args(msg))
}

/// Runs an entry point, turning a panic into `on_panic`.
fn guard<R>(on_panic: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            set_last_error(&Error::new(
                KvError::IoFail,
                "internal error (a panic was caught)",
            ));
            on_panic
        }
    }
}

/// Like [`guard`] for functions returning an error code.
fn guard_err(f: impl FnOnce() -> eloqstore_error) -> eloqstore_error {
    guard(eloqstore_error::ELOQSTORE_IO_FAIL, f)
}

/// A byte string from C: `(ptr, len)`, where `ptr` may be null only when
/// `len` is 0.
///
/// # Safety
/// `ptr` must point at `len` readable bytes that stay valid for `'a`.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `len` readable bytes at `ptr`.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A NUL-terminated string from C, `None` if null or not UTF-8.
///
/// # Safety
/// `p` must be null or point at a NUL-terminated string valid for `'a`.
unsafe fn cstr<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated per the caller's guarantee.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// Writes through an out-pointer if it is not null.
///
/// # Safety
/// `out` must be null or valid for a write of `T`.
unsafe fn put<T>(out: *mut T, v: T) {
    if !out.is_null() {
        // SAFETY: non-null and writable per the caller's guarantee.
        unsafe { out.write(v) };
    }
}

/// The library version, "MAJOR.MINOR.PATCH" (static storage).
#[unsafe(no_mangle)]
pub extern "C" fn eloqstore_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Upstream's `ErrorString` for a code ("Unknown error" for others);
/// static storage.
#[unsafe(no_mangle)]
pub extern "C" fn eloqstore_error_string(err: u8) -> *const c_char {
    KvError::from_u8(err)
        .map_or(c"Unknown error", KvError::as_cstr)
        .as_ptr()
}

/// Upstream's `IsRetryableErr`: true for OpenFileLimit, TryAgain, Busy.
#[unsafe(no_mangle)]
pub extern "C" fn eloqstore_error_is_retryable(err: u8) -> bool {
    KvError::from_u8(err).is_some_and(|e| e.is_retryable())
}

/// The message of the last failed `eloqstore_options_*`, `eloqstore_store_*`
/// or `eloqstore_comparator_*` call on this thread ("" if none). Valid until
/// the next such call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn eloqstore_last_error_message() -> *const c_char {
    LAST_ERROR.with(|l| l.borrow().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_cargo() {
        assert_eq!(
            ELOQSTORE_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            ELOQSTORE_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            ELOQSTORE_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        // SAFETY: static NUL-terminated strings.
        let v = unsafe { CStr::from_ptr(eloqstore_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    /// `ELOQSTORE_` and the variant name in upper snake case (`NoError` is
    /// `ELOQSTORE_OK`).
    fn c_name(e: KvError) -> String {
        if e == KvError::NoError {
            return "ELOQSTORE_OK".into();
        }
        let mut s = String::from("ELOQSTORE");
        for c in format!("{e:?}").chars() {
            if c.is_ascii_uppercase() {
                s.push('_');
            }
            s.push(c.to_ascii_uppercase());
        }
        s
    }

    #[test]
    fn error_codes_match_kverror() {
        for e in KvError::ALL {
            assert_eq!(eloqstore_error::from(e) as u8, e as u8);
            assert_eq!(format!("{:?}", eloqstore_error::from(e)), c_name(e));
            // SAFETY: static NUL-terminated strings.
            let s = unsafe { CStr::from_ptr(eloqstore_error_string(e as u8)) };
            assert_eq!(s.to_str().unwrap(), e.as_str());
            assert_eq!(eloqstore_error_is_retryable(e as u8), e.is_retryable());
        }
        // SAFETY: static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(eloqstore_error_string(200)) };
        assert_eq!(s.to_str().unwrap(), "Unknown error");
    }
}
