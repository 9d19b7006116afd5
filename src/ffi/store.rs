//! The store over the C ABI.

use std::sync::Arc;

use super::request::{eloqstore_callback, eloqstore_request, handle_arc};
use super::{eloqstore_error, eloqstore_options, fail, guard, guard_err, invalid};
use crate::store::EloqStore;

/// A key-value store (upstream's `EloqStore`).
pub struct eloqstore_store {
    inner: EloqStore,
}

/// Creates a store from validated copies of `opts`; writes it to `*out`.
/// `ELOQSTORE_INVALID_ARGS` (message in `eloqstore_last_error_message`)
/// for invalid options. Nothing is touched on disk until
/// `eloqstore_store_start`. Free with `eloqstore_store_free`.
///
/// # Safety
/// `opts` NULL or a live options handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_store_new(
    opts: *const eloqstore_options,
    out: *mut *mut eloqstore_store,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or a live handle per the contract.
        let Some(o) = (unsafe { opts.as_ref() }) else {
            return invalid("NULL options");
        };
        if out.is_null() {
            return invalid("NULL output pointer");
        }
        match EloqStore::new(o.inner.clone()) {
            Ok(s) => {
                // SAFETY: checked non-null; writable per the contract.
                unsafe { out.write(Box::into_raw(Box::new(eloqstore_store { inner: s }))) };
                eloqstore_error::ELOQSTORE_OK
            }
            Err(e) => fail(e),
        }
    })
}

/// Starts the store. `term` is the process term of a cloud store
/// (`CURRENT_TERM` fencing, see the README); local stores ignore it.
/// Starting a running store does nothing.
///
/// # Safety
/// `store` NULL or a live store.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_store_start(
    store: *mut eloqstore_store,
    term: u64,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or a live handle per the contract.
        match unsafe { store.as_ref() } {
            Some(s) => match s.inner.start(term) {
                Ok(()) => eloqstore_error::ELOQSTORE_OK,
                Err(e) => fail(e),
            },
            None => invalid("NULL store"),
        }
    })
}

/// Stops the store after every submitted request has completed (their
/// callbacks have run). Safe to call repeatedly. Must not be called from a
/// request callback (it would wait for itself): there it does nothing.
///
/// # Safety
/// `store` NULL or a live store.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_store_stop(store: *mut eloqstore_store) {
    guard((), || {
        // SAFETY: null or a live handle per the contract.
        if let Some(s) = unsafe { store.as_ref() } {
            s.inner.stop();
        }
    })
}

/// The term the store was started with (cloud mode; always 0 in local
/// mode, before start and for NULL).
///
/// # Safety
/// `store` NULL or a live store.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_store_term(store: *const eloqstore_store) -> u64 {
    // SAFETY: null or a live handle per the contract.
    guard(0, || {
        unsafe { store.as_ref() }.map_or(0, |s| s.inner.term())
    })
}

/// True before start and after stop (and for NULL).
///
/// # Safety
/// `store` NULL or a live store.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_store_is_stopped(store: *const eloqstore_store) -> bool {
    // SAFETY: null or a live handle per the contract.
    guard(true, || {
        unsafe { store.as_ref() }.is_none_or(|s| s.inner.is_stopped())
    })
}

/// Stops (as `eloqstore_store_stop`) and frees the store; NULL is ignored.
/// Requests still referenced by the caller stay valid. Called from a
/// request callback it does nothing (the store keeps running).
///
/// # Safety
/// `store` NULL or a live store, not used again afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_store_free(store: *mut eloqstore_store) {
    guard((), || {
        if store.is_null() || crate::shard::on_shard_thread() {
            return;
        }
        // SAFETY: created by Box::into_raw and not freed before.
        drop(unsafe { Box::from_raw(store) });
    })
}

/// Runs a request to completion and returns its error code. On a stopped
/// store the request completes with `ELOQSTORE_NOT_RUNNING`. From a request
/// callback, or for a request already in flight, nothing is submitted and
/// `ELOQSTORE_INVALID_ARGS` is returned.
///
/// # Safety
/// `store` and `req` NULL or live handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_store_exec_sync(
    store: *mut eloqstore_store,
    req: *mut eloqstore_request,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or live handles per the contract.
        let (Some(s), Some(r)) = (unsafe { store.as_ref() }, unsafe { req.as_ref() }) else {
            return invalid("NULL store or request");
        };
        s.inner.exec_sync(&r.req).into()
    })
}

/// Submits a request. `callback` (may be NULL) runs once on a store thread
/// when it completes, with the request handle and `user_data`; keep it
/// short and do not call `exec_sync`, `stop` or `free` on the store from it.
/// Without a callback, poll `eloqstore_request_is_done` or call
/// `eloqstore_request_wait`. Returns false (request untouched, callback not
/// called) if the store is stopped or the request already in flight. The
/// request may be freed while in flight: it completes, the callback still
/// runs with a handle valid until it returns.
///
/// # Safety
/// `store` and `req` NULL or live handles; `callback` NULL or a valid
/// function callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_store_exec_async(
    store: *mut eloqstore_store,
    req: *mut eloqstore_request,
    callback: eloqstore_callback,
    user_data: u64,
) -> bool {
    guard(false, || {
        // SAFETY: null or live handles per the contract.
        let (Some(s), Some(r)) = (unsafe { store.as_ref() }, unsafe { req.as_ref() }) else {
            return false;
        };
        if !r.req.is_done() {
            return false;
        }
        match callback {
            None => {
                // The user data is still recorded for eloqstore_request_user_data.
                s.inner.exec_async(&r.req, user_data, |_| {})
            }
            Some(cb) => {
                // SAFETY: `req` is a live handle created by this module.
                let keep: Arc<eloqstore_request> = unsafe { handle_arc(req) };
                s.inner.exec_async(&r.req, user_data, move |_| {
                    let ptr = Arc::as_ptr(&keep).cast_mut();
                    // This submission's user data, not the request's: a
                    // waiter may resubmit it, with other user data, as soon
                    // as it is done, before this callback runs.
                    // SAFETY: the handle stays alive through `keep` for the
                    // whole call; the callback is valid per the contract.
                    unsafe { cb(ptr, user_data) };
                    drop(keep);
                })
            }
        }
    })
}
