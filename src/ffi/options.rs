//! Options and comparators over the C ABI.

use std::cmp::Ordering;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use super::{bytes, cstr, eloqstore_error, fail, guard, guard_err, invalid, put, set_last_error};
use crate::error::Error;
use crate::format::comparator::{Comparator, ComparatorRef};
use crate::options::KvOptions;
use crate::options::fields::{FIELD_NAMES, FieldKind, field_kind};
use crate::types::TableIdent;

/// A set of options (upstream's `KvOptions`), with upstream's defaults.
pub struct eloqstore_options {
    pub(crate) inner: KvOptions,
}

/// A key order implemented by C callbacks.
pub struct eloqstore_comparator {
    pub(crate) inner: ComparatorRef,
}

/// Three-way comparison: negative, zero or positive as `a` sorts before,
/// equal to or after `b`. Called from shard threads, concurrently: it must
/// be thread-safe.
pub type eloqstore_compare_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        a: *const u8,
        a_len: usize,
        b: *const u8,
        b_len: usize,
    ) -> c_int,
>;

/// Optional: writes into `out` (room for `right_len` bytes) a short key
/// `k` with `left < k <= right` and returns its length; returning 0 (or an
/// invalid key) makes the engine use `right`.
pub type eloqstore_separator_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        left: *const u8,
        left_len: usize,
        right: *const u8,
        right_len: usize,
        out: *mut u8,
    ) -> usize,
>;

/// Releases a callback context when its owner is freed.
pub type eloqstore_destroy_fn = Option<unsafe extern "C" fn(ctx: *mut c_void)>;

/// Decides whether a partition belongs to this instance (GlobalArchive).
pub type eloqstore_partition_filter_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        table: *const u8,
        table_len: usize,
        partition: u32,
    ) -> bool,
>;

/// A C context pointer shared by callbacks on several threads.
struct Ctx {
    ptr: *mut c_void,
    destroy: eloqstore_destroy_fn,
}

// SAFETY: the C contract of every callback taking this context is that it
// is thread-safe; the pointer itself is only passed back to those callbacks.
unsafe impl Send for Ctx {}
// SAFETY: as above.
unsafe impl Sync for Ctx {}

impl Drop for Ctx {
    fn drop(&mut self) {
        if let Some(d) = self.destroy {
            // SAFETY: the destroy callback was given with this context and
            // is called exactly once, when nothing uses the context any more.
            unsafe { d(self.ptr) };
        }
    }
}

struct CComparator {
    ctx: Ctx,
    compare: unsafe extern "C" fn(*mut c_void, *const u8, usize, *const u8, usize) -> c_int,
    separator: eloqstore_separator_fn,
    name: String,
}

impl Comparator for CComparator {
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        // SAFETY: both slices are valid for the call; the callback only
        // reads them.
        let r = unsafe { (self.compare)(self.ctx.ptr, a.as_ptr(), a.len(), b.as_ptr(), b.len()) };
        r.cmp(&0)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn shortest_separator(&self, left: &[u8], right: &[u8]) -> Vec<u8> {
        let Some(sep) = self.separator else {
            return right.to_vec();
        };
        let mut out = vec![0u8; right.len()];
        // SAFETY: `out` has room for `right.len()` bytes, as the callback's
        // contract says; inputs are valid for the call.
        let n = unsafe {
            sep(
                self.ctx.ptr,
                left.as_ptr(),
                left.len(),
                right.as_ptr(),
                right.len(),
                out.as_mut_ptr(),
            )
        };
        if n == 0 || n > out.len() {
            return right.to_vec();
        }
        out.truncate(n);
        // Only a key strictly above `left` and not above `right` is usable.
        if self.compare(&out, left) == Ordering::Greater
            && self.compare(&out, right) != Ordering::Greater
        {
            out
        } else {
            right.to_vec()
        }
    }
}

/// A new set of options with upstream's defaults. Free with
/// `eloqstore_options_free`.
#[unsafe(no_mangle)]
pub extern "C" fn eloqstore_options_new() -> *mut eloqstore_options {
    guard(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(eloqstore_options {
            inner: KvOptions::default(),
        }))
    })
}

/// A copy of `opts` (NULL if `opts` is NULL). Free with
/// `eloqstore_options_free`.
///
/// # Safety
/// `opts` must be NULL or a live options handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_clone(
    opts: *const eloqstore_options,
) -> *mut eloqstore_options {
    guard(std::ptr::null_mut(), || {
        // SAFETY: null or a live handle per the contract.
        match unsafe { opts.as_ref() } {
            Some(o) => Box::into_raw(Box::new(eloqstore_options {
                inner: o.inner.clone(),
            })),
            None => std::ptr::null_mut(),
        }
    })
}

/// Frees options (NULL is ignored). Stores created from them keep their
/// own copy.
///
/// # Safety
/// `opts` must be NULL or a handle from `eloqstore_options_new`/`_clone`
/// not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_free(opts: *mut eloqstore_options) {
    guard((), || {
        if !opts.is_null() {
            // SAFETY: created by Box::into_raw and not freed before.
            drop(unsafe { Box::from_raw(opts) });
        }
    })
}

/// Loads an upstream INI file into `opts` (only keys present change).
/// Returns upstream's `LoadFromIni` code: 0 on success, -1 when the file
/// cannot be read or is refused (not a regular file, or larger than 1 MiB:
/// the message starts "Invalid arguments"), -2 when `[run]` or
/// `[permanent]` is missing, else the 1-based line of the first error
/// (unknown keys and bad values included); the message is in
/// `eloqstore_last_error_message`. On error `opts` is unchanged.
///
/// # Safety
/// `opts` must be NULL or a live handle; `path` NULL or a NUL-terminated
/// string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_load_ini(
    opts: *mut eloqstore_options,
    path: *const c_char,
) -> c_int {
    guard(-1, || {
        // SAFETY: null or a live handle per the contract.
        let (Some(o), Some(path)) = (unsafe { opts.as_mut() }, unsafe { cstr(path) }) else {
            set_last_error(&Error::invalid_args(
                "eloqstore_options_load_ini: NULL options or path",
            ));
            return -1;
        };
        match o.inner.load_from_ini(path) {
            Ok(()) => 0,
            Err(e) => {
                let code = e.code;
                set_last_error(&Error::from(e));
                code
            }
        }
    })
}

/// Upstream's `ValidateOptions`: checks `opts` and applies upstream's
/// adjustments. False (with a message in `eloqstore_last_error_message`)
/// when invalid or NULL.
///
/// # Safety
/// `opts` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_validate(opts: *mut eloqstore_options) -> bool {
    guard(false, || {
        // SAFETY: null or a live handle per the contract.
        let Some(o) = (unsafe { opts.as_mut() }) else {
            set_last_error(&Error::invalid_args(
                "eloqstore_options_validate: NULL options",
            ));
            return false;
        };
        match o.inner.validate() {
            Ok(()) => true,
            Err(e) => {
                set_last_error(&e);
                false
            }
        }
    })
}

/// Number of option fields (see `eloqstore_options_field_name`).
#[unsafe(no_mangle)]
pub extern "C" fn eloqstore_options_field_count() -> usize {
    FIELD_NAMES.len()
}

/// The name of field `i` in upstream's declaration order (static storage),
/// or NULL past the end.
#[unsafe(no_mangle)]
pub extern "C" fn eloqstore_options_field_name(i: usize) -> *const c_char {
    guard(std::ptr::null(), || {
        static NAMES: std::sync::OnceLock<Vec<std::ffi::CString>> = std::sync::OnceLock::new();
        let names = NAMES.get_or_init(|| {
            FIELD_NAMES
                .iter()
                .map(|n| std::ffi::CString::new(*n).expect("field names have no NUL"))
                .collect()
        });
        names.get(i).map_or(std::ptr::null(), |c| c.as_ptr())
    })
}

fn field<'a>(
    opts: *const eloqstore_options,
    name: *const c_char,
) -> Result<(&'a KvOptions, &'a str), eloqstore_error> {
    // SAFETY: callers pass null or a live handle, and null or a C string.
    match (unsafe { opts.as_ref() }, unsafe { cstr(name) }) {
        (Some(o), Some(n)) => Ok((&o.inner, n)),
        _ => Err(invalid("NULL options or field name")),
    }
}

fn field_mut<'a>(
    opts: *mut eloqstore_options,
    name: *const c_char,
) -> Result<(&'a mut KvOptions, &'a str), eloqstore_error> {
    // SAFETY: callers pass null or a live handle, and null or a C string.
    match (unsafe { opts.as_mut() }, unsafe { cstr(name) }) {
        (Some(o), Some(n)) => Ok((&mut o.inner, n)),
        _ => Err(invalid("NULL options or field name")),
    }
}

/// Reads a field with `get` into `*out` (null `out`: only checks it).
///
/// # Safety
/// `opts` and `name` as for [`field`]; `out` NULL or writable.
unsafe fn get_into<T>(
    opts: *const eloqstore_options,
    name: *const c_char,
    out: *mut T,
    get: impl FnOnce(&KvOptions, &str) -> crate::Result<T>,
) -> eloqstore_error {
    match field(opts, name).map(|(o, n)| get(o, n)) {
        Ok(Ok(v)) => {
            // SAFETY: null or writable per the caller's guarantee.
            unsafe { put(out, v) };
            eloqstore_error::ELOQSTORE_OK
        }
        Ok(Err(e)) => fail(e),
        Err(e) => e,
    }
}

fn done(r: crate::Result<()>) -> eloqstore_error {
    match r {
        Ok(()) => eloqstore_error::ELOQSTORE_OK,
        Err(e) => fail(e),
    }
}

/// Sets an integer field by its upstream name (e.g. "num_threads");
/// `ELOQSTORE_INVALID_ARGS` for an unknown name, a field of another kind
/// or a value out of the field's range.
///
/// # Safety
/// `opts` NULL or a live handle; `name` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_set_uint(
    opts: *mut eloqstore_options,
    name: *const c_char,
    value: u64,
) -> eloqstore_error {
    guard_err(|| match field_mut(opts, name) {
        Ok((o, n)) => done(o.set_uint(n, value)),
        Err(e) => e,
    })
}

/// Reads an integer field by name into `*out`.
///
/// # Safety
/// As `eloqstore_options_set_uint`; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_get_uint(
    opts: *const eloqstore_options,
    name: *const c_char,
    out: *mut u64,
) -> eloqstore_error {
    // SAFETY: the caller's guarantees are `get_into`'s.
    guard_err(|| unsafe { get_into(opts, name, out, |o, n| o.get_uint(n)) })
}

/// Sets a boolean field by name.
///
/// # Safety
/// As `eloqstore_options_set_uint`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_set_bool(
    opts: *mut eloqstore_options,
    name: *const c_char,
    value: bool,
) -> eloqstore_error {
    guard_err(|| match field_mut(opts, name) {
        Ok((o, n)) => done(o.set_bool(n, value)),
        Err(e) => e,
    })
}

/// Reads a boolean field by name into `*out`.
///
/// # Safety
/// As `eloqstore_options_get_uint`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_get_bool(
    opts: *const eloqstore_options,
    name: *const c_char,
    out: *mut bool,
) -> eloqstore_error {
    // SAFETY: the caller's guarantees are `get_into`'s.
    guard_err(|| unsafe { get_into(opts, name, out, |o, n| o.get_bool(n)) })
}

/// Sets a string field (e.g. "cloud_region") by name from `(value, len)`
/// UTF-8 bytes.
///
/// # Safety
/// As `eloqstore_options_set_uint`; `value` valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_set_string(
    opts: *mut eloqstore_options,
    name: *const c_char,
    value: *const u8,
    len: usize,
) -> eloqstore_error {
    guard_err(|| {
        let (o, n) = match field_mut(opts, name) {
            Ok(x) => x,
            Err(e) => return e,
        };
        // SAFETY: valid for `len` bytes per the contract.
        let Some(v) = (unsafe { bytes(value, len) }) else {
            return invalid("NULL string value with a non-zero length");
        };
        match std::str::from_utf8(v) {
            Ok(s) => done(o.set_str(n, s)),
            Err(_) => invalid("option strings must be UTF-8"),
        }
    })
}

/// Copies a string out: writes `min(len, cap - 1)` bytes and a NUL into
/// `buf` (if `cap > 0`) and the full length into `*len_out`.
///
/// # Safety
/// `buf` NULL or writable for `cap` bytes; `len_out` NULL or writable.
unsafe fn copy_out(s: &str, buf: *mut c_char, cap: usize, len_out: *mut usize) {
    // SAFETY: per this function's contract.
    unsafe { put(len_out, s.len()) };
    if !buf.is_null() && cap > 0 {
        let n = s.len().min(cap - 1);
        // SAFETY: `buf` has room for `cap > n` bytes; the source is `s`.
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), n);
            buf.add(n).write(0);
        }
    }
}

/// Reads a string field by name: copies it into `buf` (NUL-terminated,
/// truncated to `cap - 1` bytes) and stores its full length in `*len_out`.
///
/// # Safety
/// As `eloqstore_options_get_uint`; `buf` NULL or writable for `cap`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_get_string(
    opts: *const eloqstore_options,
    name: *const c_char,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> eloqstore_error {
    guard_err(|| match field(opts, name) {
        Ok((o, n)) => match o.get_str(n) {
            Ok(s) => {
                // SAFETY: per this function's contract.
                unsafe { copy_out(&s, buf, cap, len_out) };
                eloqstore_error::ELOQSTORE_OK
            }
            Err(e) => fail(e),
        },
        Err(e) => e,
    })
}

/// Replaces `store_path` with `n` NUL-terminated paths (`n = 0`: an
/// in-memory store).
///
/// # Safety
/// `opts` NULL or a live handle; `paths` NULL (only with `n = 0`) or an
/// array of `n` NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_set_store_paths(
    opts: *mut eloqstore_options,
    paths: *const *const c_char,
    n: usize,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or a live handle per the contract.
        let Some(o) = (unsafe { opts.as_mut() }) else {
            return invalid("NULL options");
        };
        if n > 0 && paths.is_null() {
            return invalid("NULL path array with a non-zero count");
        }
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: `paths` holds `n` entries per the contract.
            let p = unsafe { *paths.add(i) };
            // SAFETY: each entry is a NUL-terminated string.
            match unsafe { cstr(p) } {
                Some(s) => v.push(s.to_string()),
                None => return invalid("a store path is NULL or not UTF-8"),
            }
        }
        o.inner.store_path = v;
        eloqstore_error::ELOQSTORE_OK
    })
}

/// Number of store paths (0 for NULL options or an in-memory store).
///
/// # Safety
/// `opts` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_store_path_count(
    opts: *const eloqstore_options,
) -> usize {
    // SAFETY: null or a live handle per the contract.
    guard(0, || {
        unsafe { opts.as_ref() }.map_or(0, |o| o.inner.store_path.len())
    })
}

/// Copies store path `i` out as `eloqstore_options_get_string` does.
///
/// # Safety
/// As `eloqstore_options_get_string`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_get_store_path(
    opts: *const eloqstore_options,
    i: usize,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or a live handle per the contract.
        match unsafe { opts.as_ref() }.and_then(|o| o.inner.store_path.get(i)) {
            Some(s) => {
                // SAFETY: per this function's contract.
                unsafe { copy_out(s, buf, cap, len_out) };
                eloqstore_error::ELOQSTORE_OK
            }
            None => invalid("NULL options or store path index out of range"),
        }
    })
}

/// The kind of a field: 0 integer, 1 boolean, 2 string, 3 string list
/// (`store_path`), 4 callback (`comparator`, `partition_filter`), -1 unknown.
///
/// # Safety
/// `name` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_field_kind(name: *const c_char) -> c_int {
    guard(-1, || {
        // SAFETY: null or a C string per the contract.
        match unsafe { cstr(name) }.and_then(field_kind) {
            Some(FieldKind::Uint) => 0,
            Some(FieldKind::Bool) => 1,
            Some(FieldKind::Str) => 2,
            Some(FieldKind::StrList) => 3,
            Some(FieldKind::Callback) => 4,
            None => -1,
        }
    })
}

/// A comparator over C callbacks; `name` is copied. The call always takes
/// ownership of `ctx`: `destroy(ctx)` (if given) runs exactly once — when
/// the last store or options using the comparator are freed, or at once
/// when this call fails. NULL (with a message) if `compare` is NULL.
///
/// # Safety
/// The callbacks must be valid and thread-safe for as long as any store
/// uses the comparator; `name` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_comparator_new(
    ctx: *mut c_void,
    compare: eloqstore_compare_fn,
    name: *const c_char,
    separator: eloqstore_separator_fn,
    destroy: eloqstore_destroy_fn,
) -> *mut eloqstore_comparator {
    guard(std::ptr::null_mut(), || {
        let ctx = Ctx { ptr: ctx, destroy };
        let Some(compare) = compare else {
            set_last_error(&Error::invalid_args(
                "eloqstore_comparator_new: NULL compare callback",
            ));
            return std::ptr::null_mut();
        };
        // SAFETY: null or a C string per the contract.
        let name = unsafe { cstr(name) }.unwrap_or("c-comparator").to_string();
        let cmp: ComparatorRef = Arc::new(CComparator {
            ctx,
            compare,
            separator,
            name,
        });
        Box::into_raw(Box::new(eloqstore_comparator { inner: cmp }))
    })
}

/// Releases the caller's reference to a comparator (NULL is ignored);
/// options and stores that use it keep it alive.
///
/// # Safety
/// `cmp` NULL or a handle from `eloqstore_comparator_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_comparator_free(cmp: *mut eloqstore_comparator) {
    guard((), || {
        if !cmp.is_null() {
            // SAFETY: created by Box::into_raw and not freed before.
            drop(unsafe { Box::from_raw(cmp) });
        }
    })
}

/// Uses `cmp` as the key order (NULL restores the bytewise default). It is
/// not persisted: open a store only with the order that wrote it.
///
/// # Safety
/// `opts` NULL or a live handle; `cmp` NULL or a live comparator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_set_comparator(
    opts: *mut eloqstore_options,
    cmp: *const eloqstore_comparator,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or a live handle per the contract.
        let Some(o) = (unsafe { opts.as_mut() }) else {
            return invalid("NULL options");
        };
        // SAFETY: null or a live comparator per the contract.
        o.inner.comparator = match unsafe { cmp.as_ref() } {
            Some(c) => c.inner.clone(),
            None => crate::format::comparator::default_comparator(),
        };
        eloqstore_error::ELOQSTORE_OK
    })
}

/// Sets the partition filter (NULL `filter` clears it). The call always
/// takes ownership of `ctx`: `destroy(ctx)` (if given) runs exactly once —
/// when the last options or store using the filter are freed, or at once
/// when the filter is NULL or the call fails.
///
/// # Safety
/// `opts` NULL or a live handle; the callbacks valid and thread-safe while
/// any store uses them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_options_set_partition_filter(
    opts: *mut eloqstore_options,
    ctx: *mut c_void,
    filter: eloqstore_partition_filter_fn,
    destroy: eloqstore_destroy_fn,
) -> eloqstore_error {
    guard_err(|| {
        let ctx = Ctx { ptr: ctx, destroy };
        // SAFETY: null or a live handle per the contract.
        let Some(o) = (unsafe { opts.as_mut() }) else {
            return invalid("NULL options");
        };
        o.inner.partition_filter = filter.map(|f| {
            let ctx = Arc::new(ctx);
            Arc::new(move |t: &TableIdent| {
                // SAFETY: the table name is valid for the call; the callback
                // is thread-safe per its contract.
                unsafe {
                    f(
                        ctx.ptr,
                        t.tbl_name.as_ptr(),
                        t.tbl_name.len(),
                        t.partition_id,
                    )
                }
            }) as crate::options::PartitionFilter
        });
        eloqstore_error::ELOQSTORE_OK
    })
}
