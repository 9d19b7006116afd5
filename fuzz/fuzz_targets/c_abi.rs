//! A sequence of C ABI calls decoded from the input, against an in-memory
//! store: options set by field name (any field, any value; `num_threads`
//! is kept to 1..=3 so that runs stay fast), store creation and start,
//! then batch writes, reads, floors, scans with pagination, truncates,
//! table drops, other request kinds, stops and restarts, async execution
//! with callbacks, request reuse, and calls with bad handles or arguments.
//!
//! Every call must return, without a crash, the code its contract gives;
//! reads, floors and scans must agree with a `BTreeMap` model of the store
//! (timestamps: an older write loses; expired at write time: deleted).
#![no_main]

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicU64, Ordering};

use arbitrary::{Result, Unstructured};
use eloqstore::internals::ffi::*;
use libfuzzer_sys::fuzz_target;

use eloqstore_error::*;
use eloqstore_request_type::*;

type Value = (Vec<u8>, u64, u64);
type Part = BTreeMap<Vec<u8>, Value>;
type Model = BTreeMap<(Vec<u8>, u32), Part>;

const FAR: u64 = 4_102_444_800_000; // 2100-01-01, never expires in a run
const TABLES: [&[u8]; 2] = [b"t0", b"t1"];
const BAD_TABLES: [&[u8]; 4] = [b"", b"a/b", b"a\0b", b"/"];

/// Completed async callbacks, by user data.
static CALLBACKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_done(req: *mut eloqstore_request, user_data: u64) {
    // The handle is live for the call (the request may already be
    // resubmitted: a waiter wakes before the callback runs).
    assert!(!req.is_null());
    CALLBACKS.fetch_add(user_data, Ordering::SeqCst);
}

fn last_error() -> String {
    // SAFETY: a NUL-terminated thread-local string.
    unsafe { CStr::from_ptr(eloqstore_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn req_message(r: *const eloqstore_request) -> String {
    // SAFETY: a live handle; the message lives until the next execution.
    unsafe { CStr::from_ptr(eloqstore_request_error_message(r)) }
        .to_string_lossy()
        .into_owned()
}

struct Harness {
    store: *mut eloqstore_store,
    /// One reusable request per kind (index = kind), created on first use.
    reqs: Vec<*mut eloqstore_request>,
    model: Model,
    page_size: u64,
    running: bool,
    async_sum: u64,
    /// Whether the last `exec` submitted the request (an async submission
    /// to a stopped store is refused without touching the request).
    submitted: bool,
}

impl Drop for Harness {
    fn drop(&mut self) {
        // SAFETY: handles created by this harness, freed once.
        unsafe {
            eloqstore_store_free(self.store);
            for r in &self.reqs {
                eloqstore_request_free(*r);
            }
        }
    }
}

fn key(u: &mut Unstructured) -> Result<Vec<u8>> {
    Ok(match u.int_in_range(0..=9)? {
        0 => Vec::new(),
        1 => {
            let n = u.int_in_range(0..=12)?;
            u.bytes(n)?.to_vec()
        }
        _ => vec![b'k', u.int_in_range(b'a'..=b'p')?],
    })
}

fn table(u: &mut Unstructured) -> Result<(&'static [u8], u32, bool)> {
    Ok(if u.ratio(1, 16)? {
        (*u.choose(&BAD_TABLES)?, 0, false)
    } else {
        let p = if u.ratio(1, 32)? {
            u32::MAX
        } else {
            u.int_in_range(0..=3)?
        };
        (*u.choose(&TABLES)?, p, true)
    })
}

impl Harness {
    /// The reusable request of a kind.
    fn req(&mut self, kind: u8) -> *mut eloqstore_request {
        let slot = &mut self.reqs[kind as usize];
        if slot.is_null() {
            *slot = eloqstore_request_new(kind);
            assert!(!slot.is_null());
            // SAFETY: a live handle.
            assert_eq!(unsafe { eloqstore_request_type_of(*slot) }, kind);
        }
        *slot
    }

    /// Runs a request synchronously or asynchronously; returns its code.
    fn exec(&mut self, r: *mut eloqstore_request, u: &mut Unstructured) -> Result<eloqstore_error> {
        // SAFETY: live handles.
        unsafe {
            if u.ratio(1, 4)? {
                let data: u64 = u.int_in_range(1..=1000)?;
                let cb = if u.ratio(1, 4)? {
                    None
                } else {
                    Some(on_done as _)
                };
                let submitted = eloqstore_store_exec_async(self.store, r, cb, data);
                assert_eq!(submitted, self.running, "exec_async on a running store");
                self.submitted = submitted;
                if !submitted {
                    return Ok(ELOQSTORE_NOT_RUNNING);
                }
                eloqstore_request_wait(r);
                assert!(eloqstore_request_is_done(r));
                assert_eq!(eloqstore_request_user_data(r), data);
                if cb.is_some() {
                    // The callback may still be running when the waiter
                    // wakes; a stop waits for it (see `check_callbacks`).
                    self.async_sum += data;
                }
                Ok(eloqstore_request_error(r))
            } else {
                let rc = eloqstore_store_exec_sync(self.store, r);
                self.submitted = true;
                assert!(eloqstore_request_is_done(r));
                assert_eq!(rc, eloqstore_request_error(r));
                Ok(rc)
            }
        }
    }

    fn expect(
        &self,
        rc: eloqstore_error,
        want: eloqstore_error,
        what: &str,
        r: *const eloqstore_request,
    ) {
        let want = if self.running {
            want
        } else {
            ELOQSTORE_NOT_RUNNING
        };
        assert_eq!(rc, want, "{what}: {}", req_message(r));
        if rc != ELOQSTORE_OK && self.submitted {
            assert!(
                !req_message(r).is_empty(),
                "{what}: an error without a message"
            );
        }
    }

    fn write(&mut self, u: &mut Unstructured) -> Result<()> {
        let (name, part, good_table) = table(u)?;
        let r = self.req(ELOQSTORE_REQ_BATCH_WRITE as u8);
        let mut entries = Vec::new();
        let mut valid = good_table;
        // SAFETY: live handle, valid buffers.
        unsafe {
            assert_eq!(
                eloqstore_request_set_table(r, name.as_ptr(), name.len(), part),
                ELOQSTORE_OK
            );
            assert_eq!(eloqstore_batch_clear(r), ELOQSTORE_OK);
            let n = u.int_in_range(0..=24)?;
            let mut sorted = Vec::new();
            for _ in 0..n {
                let k = key(u)?;
                let len = match u.int_in_range(0..=15)? {
                    0 => u.int_in_range(3000..=20_000)?,
                    _ => u.int_in_range(0..=120)?,
                };
                let seed: u8 = u.arbitrary()?;
                let v: Vec<u8> = (0..len)
                    .map(|i| seed.wrapping_add((i % 251) as u8))
                    .collect();
                let ts = u.int_in_range(0..=20u64)?;
                let op = match u.int_in_range(0..=15)? {
                    0 => u.int_in_range(2..=255u8)?,
                    1..=3 => 1,
                    _ => 0,
                };
                let exp = match u.int_in_range(0..=5)? {
                    0 => 1,
                    1 => FAR,
                    _ => 0,
                };
                let rc =
                    eloqstore_batch_add(r, k.as_ptr(), k.len(), v.as_ptr(), v.len(), ts, op, exp);
                if op > 1 {
                    assert_eq!(rc, ELOQSTORE_INVALID_ARGS, "bad op accepted");
                    continue;
                }
                assert_eq!(rc, ELOQSTORE_OK);
                if k.is_empty() || k.len() as u64 > self.page_size / 2 {
                    valid = false;
                }
                sorted.push(k.clone());
                entries.push((k, v, ts, op, exp));
            }
            assert_eq!(eloqstore_batch_len(r), entries.len());
            if sorted.windows(2).any(|w| w[0] >= w[1]) {
                valid = false;
            }
            // The same entries lent instead of copied (they outlive the
            // request: `exec` waits for it).
            if u.arbitrary()? {
                let lent: Vec<eloqstore_batch_entry> = entries
                    .iter()
                    .map(|(k, v, ts, op, exp)| eloqstore_batch_entry {
                        key: k.as_ptr(),
                        key_len: k.len(),
                        value: v.as_ptr(),
                        value_len: v.len(),
                        timestamp: *ts,
                        expire_ts: *exp,
                        op: *op,
                    })
                    .collect();
                assert_eq!(
                    eloqstore_batch_lend(r, lent.as_ptr(), lent.len()),
                    ELOQSTORE_OK
                );
                assert_eq!(eloqstore_batch_len(r), entries.len());
            }
        }
        let want = if valid {
            ELOQSTORE_OK
        } else {
            ELOQSTORE_INVALID_ARGS
        };
        let rc = self.exec(r, u)?;
        self.expect(rc, want, "batch write", r);
        if rc == ELOQSTORE_OK {
            let m = self.model.entry((name.to_vec(), part)).or_default();
            for (k, v, ts, op, exp) in entries {
                if m.get(&k).is_some_and(|old| ts < old.1) {
                    continue;
                }
                if op == 1 || exp == 1 {
                    m.remove(&k);
                } else {
                    m.insert(k, (v, ts, exp));
                }
            }
        }
        Ok(())
    }

    fn part(&self, name: &[u8], part: u32) -> Part {
        self.model
            .get(&(name.to_vec(), part))
            .cloned()
            .unwrap_or_default()
    }

    fn read(&mut self, u: &mut Unstructured, floor: bool) -> Result<()> {
        let (name, part, good) = table(u)?;
        let k = key(u)?;
        let kind = if floor {
            ELOQSTORE_REQ_FLOOR
        } else {
            ELOQSTORE_REQ_READ
        } as u8;
        let r = self.req(kind);
        // SAFETY: live handle, valid buffers.
        unsafe {
            assert_eq!(
                eloqstore_request_set_table(r, name.as_ptr(), name.len(), part),
                ELOQSTORE_OK
            );
            assert_eq!(
                eloqstore_request_set_key(r, k.as_ptr(), k.len()),
                ELOQSTORE_OK
            );
        }
        let rc = self.exec(r, u)?;
        let m = self.part(name, part);
        let want = if floor {
            m.range(..=k.clone())
                .next_back()
                .map(|(k, v)| (k.clone(), v.clone()))
        } else {
            m.get(&k).map(|v| (k.clone(), v.clone()))
        };
        let what = if floor { "floor" } else { "read" };
        if !good {
            self.expect(rc, ELOQSTORE_INVALID_ARGS, what, r);
            return Ok(());
        }
        match want {
            None => self.expect(rc, ELOQSTORE_NOT_FOUND, what, r),
            Some((wk, (v, ts, exp))) => {
                self.expect(rc, ELOQSTORE_OK, what, r);
                if !self.running {
                    return Ok(());
                }
                let mut e = eloqstore_entry {
                    key: null(),
                    key_len: 0,
                    value: null(),
                    value_len: 0,
                    timestamp: 0,
                    expire_ts: 0,
                };
                // SAFETY: live handle; the entry's pointers live until the
                // next execution.
                unsafe {
                    assert_eq!(eloqstore_request_result(r, &mut e), ELOQSTORE_OK);
                    assert_eq!(std::slice::from_raw_parts(e.key, e.key_len), &wk[..]);
                    assert!(
                        std::slice::from_raw_parts(e.value, e.value_len) == &v[..],
                        "{what}: wrong value"
                    );
                }
                assert_eq!((e.timestamp, e.expire_ts), (ts, exp), "{what}");
            }
        }
        Ok(())
    }

    fn scan(&mut self, u: &mut Unstructured) -> Result<()> {
        let (name, part, good) = table(u)?;
        let begin = key(u)?;
        let end = if u.ratio(1, 3)? { Vec::new() } else { key(u)? };
        let inclusive: bool = u.arbitrary()?;
        let max_entries = if u.ratio(1, 2)? {
            0
        } else {
            u.int_in_range(0..=8usize)?
        };
        let max_bytes = if u.ratio(2, 3)? {
            0
        } else {
            u.int_in_range(0..=20_000usize)?
        };
        let prefetch = u.int_in_range(0..=130usize)?;
        let r = self.req(ELOQSTORE_REQ_SCAN as u8);
        // SAFETY: live handle, valid buffers.
        unsafe {
            assert_eq!(
                eloqstore_request_set_table(r, name.as_ptr(), name.len(), part),
                ELOQSTORE_OK
            );
            assert_eq!(
                eloqstore_scan_set_range(
                    r,
                    begin.as_ptr(),
                    begin.len(),
                    end.as_ptr(),
                    end.len(),
                    inclusive
                ),
                ELOQSTORE_OK
            );
            assert_eq!(
                eloqstore_scan_set_pagination(r, max_entries, max_bytes),
                ELOQSTORE_OK
            );
            // A read-ahead hint, clamped to 128 as upstream does.
            assert_eq!(eloqstore_scan_set_prefetch(r, prefetch), ELOQSTORE_OK);
        }
        let rc = self.exec(r, u)?;
        if !good {
            self.expect(rc, ELOQSTORE_INVALID_ARGS, "scan", r);
            return Ok(());
        }
        let m = self.part(name, part);
        let in_range: Vec<(&Vec<u8>, &Value)> = m
            .iter()
            .filter(|(k, _)| {
                let after = begin.is_empty() || **k > begin || (inclusive && **k == begin);
                after && (end.is_empty() || **k < end)
            })
            .collect();
        // Pagination as the engine applies it: at most `max_entries`, and
        // stop before an entry that would pass `max_bytes` (the first
        // entry always fits).
        let mut want = Vec::new();
        let mut remaining = false;
        let mut bytes = 0usize;
        for (k, v) in &in_range {
            if max_entries != 0 && want.len() >= max_entries {
                remaining = true;
                break;
            }
            let size = k.len() + v.0.len() + 16;
            if max_bytes != 0 && bytes > 0 && bytes + size > max_bytes {
                remaining = true;
                break;
            }
            bytes += size;
            want.push((*k, *v));
        }
        if rc == ELOQSTORE_NOT_FOUND && self.running && m.is_empty() {
            // A partition never written has no tree to scan.
            return Ok(());
        }
        self.expect(rc, ELOQSTORE_OK, "scan", r);
        if !self.running {
            return Ok(());
        }
        // SAFETY: live handle; entries live until the next execution.
        unsafe {
            assert_eq!(eloqstore_scan_entry_count(r), want.len(), "scan length");
            assert_eq!(eloqstore_scan_has_remaining(r), remaining, "scan remaining");
            let (mut c, mut b) = (0, 0);
            assert_eq!(eloqstore_scan_result_size(r, &mut c, &mut b), ELOQSTORE_OK);
            assert_eq!((c, b), (want.len(), bytes));
            let mut e = std::mem::zeroed::<eloqstore_entry>();
            for (i, (k, (v, ts, exp))) in want.iter().enumerate() {
                assert_eq!(eloqstore_scan_entry(r, i, &mut e), ELOQSTORE_OK);
                assert_eq!(std::slice::from_raw_parts(e.key, e.key_len), &k[..]);
                assert!(
                    std::slice::from_raw_parts(e.value, e.value_len) == &v[..],
                    "scan: wrong value"
                );
                assert_eq!((e.timestamp, e.expire_ts), (*ts, *exp));
            }
            assert_eq!(
                eloqstore_scan_entry(r, want.len(), &mut e),
                ELOQSTORE_INVALID_ARGS
            );
            assert_eq!(eloqstore_request_result(r, &mut e), ELOQSTORE_INVALID_ARGS);
        }
        Ok(())
    }

    fn truncate(&mut self, u: &mut Unstructured) -> Result<()> {
        let (name, part, good) = table(u)?;
        let pos = if u.ratio(1, 3)? { Vec::new() } else { key(u)? };
        let r = self.req(ELOQSTORE_REQ_TRUNCATE as u8);
        // SAFETY: live handle, valid buffers.
        unsafe {
            assert_eq!(
                eloqstore_request_set_table(r, name.as_ptr(), name.len(), part),
                ELOQSTORE_OK
            );
            assert_eq!(
                eloqstore_truncate_set_position(r, pos.as_ptr(), pos.len()),
                ELOQSTORE_OK
            );
        }
        let rc = self.exec(r, u)?;
        let want = if good {
            ELOQSTORE_OK
        } else {
            ELOQSTORE_INVALID_ARGS
        };
        self.expect(rc, want, "truncate", r);
        if rc == ELOQSTORE_OK
            && let Some(m) = self.model.get_mut(&(name.to_vec(), part))
        {
            m.retain(|k, _| !pos.is_empty() && *k < pos);
        }
        Ok(())
    }

    fn drop_table(&mut self, u: &mut Unstructured) -> Result<()> {
        let name: &[u8] = if u.ratio(1, 8)? {
            b""
        } else {
            u.choose(&TABLES)?
        };
        let r = self.req(ELOQSTORE_REQ_DROP_TABLE as u8);
        // SAFETY: live handle, valid buffers.
        unsafe {
            assert_eq!(
                eloqstore_drop_table_set_name(r, name.as_ptr(), name.len()),
                ELOQSTORE_OK
            );
        }
        let rc = self.exec(r, u)?;
        let want = if name.is_empty() {
            ELOQSTORE_INVALID_ARGS
        } else {
            ELOQSTORE_OK
        };
        self.expect(rc, want, "drop table", r);
        if rc == ELOQSTORE_OK {
            for ((t, _), m) in self.model.iter_mut() {
                if t == name {
                    m.clear();
                }
            }
        }
        Ok(())
    }

    /// Requests whose effect on an in-memory store the model does not
    /// need: they must complete, and change no visible entry.
    fn other(&mut self, u: &mut Unstructured) -> Result<()> {
        let kind = *u.choose(&[
            ELOQSTORE_REQ_LIST_OBJECT,
            ELOQSTORE_REQ_ARCHIVE,
            ELOQSTORE_REQ_COMPACT,
            ELOQSTORE_REQ_CLEAN_EXPIRED,
            ELOQSTORE_REQ_GLOBAL_ARCHIVE,
        ])? as u8;
        let (name, part, _) = table(u)?;
        let r = self.req(kind);
        // SAFETY: live handle, valid buffers.
        unsafe {
            assert_eq!(
                eloqstore_request_set_table(r, name.as_ptr(), name.len(), part),
                ELOQSTORE_OK
            );
            let ts = eloqstore_archive_set_timestamp(r, u.arbitrary()?);
            let archive =
                kind == ELOQSTORE_REQ_ARCHIVE as u8 || kind == ELOQSTORE_REQ_GLOBAL_ARCHIVE as u8;
            assert_eq!(
                ts,
                if archive {
                    ELOQSTORE_OK
                } else {
                    ELOQSTORE_INVALID_ARGS
                }
            );
        }
        let rc = self.exec(r, u)?;
        if rc != ELOQSTORE_OK && self.submitted {
            assert!(
                !req_message(r).is_empty(),
                "request kind {kind}: {rc:?} without a message"
            );
        }
        Ok(())
    }

    /// Calls with bad handles or arguments: the documented neutral answer.
    fn misuse(&mut self, u: &mut Unstructured) -> Result<()> {
        let w = self.req(ELOQSTORE_REQ_BATCH_WRITE as u8);
        let rd = self.req(ELOQSTORE_REQ_READ as u8);
        let k = [1u8, 2, 3];
        // SAFETY: NULL or live handles; every pointer is NULL or valid for
        // the length given, except where a NULL is passed with a length,
        // which the contract refuses without reading.
        unsafe {
            match u.int_in_range(0..=13)? {
                0 => assert_eq!(
                    eloqstore_store_exec_sync(null_mut(), rd),
                    ELOQSTORE_INVALID_ARGS
                ),
                1 => assert_eq!(
                    eloqstore_store_exec_sync(self.store, null_mut()),
                    ELOQSTORE_INVALID_ARGS
                ),
                2 => assert!(eloqstore_request_new(u.int_in_range(11..=255u8)?).is_null()),
                3 => assert_eq!(
                    eloqstore_request_set_key(w, k.as_ptr(), 3),
                    ELOQSTORE_INVALID_ARGS
                ),
                4 => assert_eq!(
                    eloqstore_batch_add(rd, k.as_ptr(), 3, k.as_ptr(), 3, 0, 0, 0),
                    ELOQSTORE_INVALID_ARGS
                ),
                5 => assert_eq!(
                    eloqstore_batch_add(w, null(), 3, k.as_ptr(), 3, 0, 0, 0),
                    ELOQSTORE_INVALID_ARGS
                ),
                6 => assert_eq!(
                    eloqstore_request_set_table(rd, null(), 2, 0),
                    ELOQSTORE_INVALID_ARGS
                ),
                7 => {
                    let mut e = std::mem::zeroed::<eloqstore_entry>();
                    assert_eq!(eloqstore_request_result(w, &mut e), ELOQSTORE_INVALID_ARGS);
                    assert_eq!(
                        eloqstore_request_result(null(), &mut e),
                        ELOQSTORE_INVALID_ARGS
                    );
                    assert_eq!(eloqstore_scan_entry(rd, 0, &mut e), ELOQSTORE_INVALID_ARGS);
                }
                8 => {
                    assert_eq!(eloqstore_request_error(null()), ELOQSTORE_INVALID_ARGS);
                    assert!(eloqstore_request_is_done(null()));
                    assert_eq!(eloqstore_request_type_of(null()), 255);
                    assert_eq!(eloqstore_request_user_data(null()), 0);
                    eloqstore_request_wait(null());
                    eloqstore_request_free(null_mut());
                }
                9 => {
                    assert_eq!(eloqstore_store_start(null_mut(), 0), ELOQSTORE_INVALID_ARGS);
                    assert!(eloqstore_store_is_stopped(null()));
                    eloqstore_store_stop(null_mut());
                    assert!(!eloqstore_store_exec_async(null_mut(), rd, None, 1));
                    assert!(!eloqstore_store_exec_async(self.store, null_mut(), None, 1));
                }
                10 => {
                    // A rejected request fails with InvalidArgs and the
                    // message, then works again once the mark is cleared.
                    let msg = b"rejected by the binding";
                    let r = eloqstore_request_new(ELOQSTORE_REQ_READ as u8);
                    assert_eq!(
                        eloqstore_request_set_table(r, b"t0".as_ptr(), 2, 0),
                        ELOQSTORE_OK
                    );
                    assert_eq!(eloqstore_request_set_key(r, k.as_ptr(), 3), ELOQSTORE_OK);
                    assert_eq!(
                        eloqstore_request_reject(r, msg.as_ptr(), msg.len()),
                        ELOQSTORE_OK
                    );
                    let rc = eloqstore_store_exec_sync(self.store, r);
                    if self.running {
                        assert_eq!(rc, ELOQSTORE_INVALID_ARGS);
                        assert!(req_message(r).contains("rejected by the binding"));
                    }
                    assert_eq!(eloqstore_request_reject(r, null(), 0), ELOQSTORE_OK);
                    let rc = eloqstore_store_exec_sync(self.store, r);
                    if self.running {
                        let want = if self.part(b"t0", 0).contains_key(&k[..]) {
                            ELOQSTORE_OK
                        } else {
                            ELOQSTORE_NOT_FOUND
                        };
                        assert_eq!(rc, want);
                    }
                    eloqstore_request_free(r);
                }
                11 => {
                    // Freed while in flight: the callback still runs.
                    let r = eloqstore_request_new(ELOQSTORE_REQ_READ as u8);
                    assert_eq!(
                        eloqstore_request_set_table(r, b"t1".as_ptr(), 2, 1),
                        ELOQSTORE_OK
                    );
                    assert_eq!(eloqstore_request_set_key(r, k.as_ptr(), 3), ELOQSTORE_OK);
                    let submitted = eloqstore_store_exec_async(self.store, r, Some(on_done), 7);
                    assert_eq!(submitted, self.running);
                    if submitted {
                        self.async_sum += 7;
                    }
                    eloqstore_request_free(r);
                }
                12 => {
                    let mut v = 0u64;
                    assert_eq!(
                        eloqstore_options_get_uint(null(), c"num_threads".as_ptr(), &mut v),
                        ELOQSTORE_INVALID_ARGS
                    );
                    assert_eq!(eloqstore_options_field_kind(c"no_such_option".as_ptr()), -1);
                    assert_eq!(eloqstore_options_field_kind(null()), -1);
                    assert!(
                        eloqstore_options_field_name(eloqstore_options_field_count()).is_null()
                    );
                }
                _ => {
                    assert_eq!(
                        eloqstore_scan_set_pagination(w, 1, 1),
                        ELOQSTORE_INVALID_ARGS
                    );
                    assert_eq!(
                        eloqstore_truncate_set_position(rd, k.as_ptr(), 3),
                        ELOQSTORE_INVALID_ARGS
                    );
                    assert_eq!(
                        eloqstore_drop_table_set_name(rd, k.as_ptr(), 3),
                        ELOQSTORE_INVALID_ARGS
                    );
                    assert_eq!(eloqstore_batch_clear(rd), ELOQSTORE_INVALID_ARGS);
                    assert_eq!(eloqstore_batch_len(rd), 0);
                }
            }
        }
        Ok(())
    }

    fn stop_start(&mut self, u: &mut Unstructured) -> Result<()> {
        // SAFETY: a live store.
        unsafe {
            eloqstore_store_stop(self.store);
            assert!(eloqstore_store_is_stopped(self.store));
            self.running = false;
            self.check_callbacks();
            // An in-memory store forgets everything.
            self.model.clear();
            if u.ratio(3, 4)? {
                let rc = eloqstore_store_start(self.store, u.arbitrary()?);
                assert_eq!(rc, ELOQSTORE_OK, "restart: {}", last_error());
                self.running = true;
            }
        }
        Ok(())
    }

    /// After a stop every submitted callback has run.
    fn check_callbacks(&mut self) {
        assert_eq!(
            CALLBACKS.load(Ordering::SeqCst),
            self.async_sum,
            "callbacks lost or repeated"
        );
    }
}

fn set_options(o: *mut eloqstore_options, u: &mut Unstructured) -> Result<()> {
    // SAFETY: a live options handle; names are static NUL-terminated
    // strings from the library; buffers valid for their lengths.
    unsafe {
        let count = eloqstore_options_field_count();
        for _ in 0..u.int_in_range(0..=8)? {
            let name = eloqstore_options_field_name(u.int_in_range(0..=count - 1)?);
            assert!(!name.is_null());
            let field = CStr::from_ptr(name).to_str().expect("ASCII names");
            match eloqstore_options_field_kind(name) {
                0 => {
                    let mut v: u64 = match u.int_in_range(0..=5)? {
                        0 => u.arbitrary()?,
                        1 => *u.choose(&[
                            0,
                            1,
                            255,
                            256,
                            4096,
                            8192,
                            61_440,
                            65_535,
                            65_536,
                            1 << 20,
                        ])?,
                        2 => {
                            *u.choose(&[u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX, 1 << 40])?
                        }
                        _ => u.int_in_range(0..=64)?,
                    };
                    if field == "num_threads" {
                        v = 1 + v % 3;
                    }
                    let rc = eloqstore_options_set_uint(o, name, v);
                    let mut back = 0u64;
                    let get = eloqstore_options_get_uint(o, name, &mut back);
                    assert_eq!(get, ELOQSTORE_OK);
                    match rc {
                        ELOQSTORE_OK => assert_eq!(back, v, "{field}"),
                        ELOQSTORE_INVALID_ARGS => assert!(!last_error().is_empty()),
                        other => panic!("set_uint {field}: {other:?}"),
                    }
                }
                1 => {
                    let v: bool = u.arbitrary()?;
                    assert_eq!(eloqstore_options_set_bool(o, name, v), ELOQSTORE_OK);
                    let mut back = !v;
                    assert_eq!(eloqstore_options_get_bool(o, name, &mut back), ELOQSTORE_OK);
                    assert_eq!(back, v);
                }
                2 => {
                    let n = u.int_in_range(0..=12)?;
                    let s = u.bytes(n)?;
                    let rc = eloqstore_options_set_string(o, name, s.as_ptr(), s.len());
                    match rc {
                        ELOQSTORE_OK => {
                            let mut buf = [0 as std::ffi::c_char; 8];
                            let mut len = 0usize;
                            assert_eq!(
                                eloqstore_options_get_string(
                                    o,
                                    name,
                                    buf.as_mut_ptr(),
                                    buf.len(),
                                    &mut len
                                ),
                                ELOQSTORE_OK
                            );
                            assert_eq!(len, s.len());
                        }
                        ELOQSTORE_INVALID_ARGS => {
                            assert!(std::str::from_utf8(s).is_err() || s.contains(&0))
                        }
                        other => panic!("set_string {field}: {other:?}"),
                    }
                }
                3 => {
                    // Stay in memory: no store path.
                    assert_eq!(
                        eloqstore_options_set_store_paths(o, null(), 0),
                        ELOQSTORE_OK
                    );
                    assert_eq!(eloqstore_options_store_path_count(o), 0);
                }
                4 => {
                    if field == "comparator" {
                        assert_eq!(eloqstore_options_set_comparator(o, null()), ELOQSTORE_OK);
                    } else {
                        assert_eq!(
                            eloqstore_options_set_partition_filter(o, null_mut(), None, None),
                            ELOQSTORE_OK
                        );
                    }
                }
                k => panic!("field {field} of unknown kind {k}"),
            }
        }
        if u.ratio(1, 4)? {
            let _ = eloqstore_options_validate(o);
        }
        // Unknown names are refused.
        assert_eq!(
            eloqstore_options_set_uint(o, c"no_such_option".as_ptr(), 1),
            ELOQSTORE_INVALID_ARGS
        );
        assert_eq!(
            eloqstore_options_set_bool(o, null(), true),
            ELOQSTORE_INVALID_ARGS
        );
    }
    Ok(())
}

fn run(u: &mut Unstructured) -> Result<()> {
    CALLBACKS.store(0, Ordering::SeqCst);
    let o = eloqstore_options_new();
    // Options set before the input ran out still apply.
    let _ = set_options(o, u);
    let mut page_size = 0u64;
    let mut store = null_mut();
    // SAFETY: live handles; `store` is written on success.
    let rc = unsafe {
        eloqstore_options_get_uint(o, c"data_page_size".as_ptr(), &mut page_size);
        let copy = eloqstore_options_clone(o);
        let rc = eloqstore_store_new(copy, &mut store);
        eloqstore_options_free(copy);
        eloqstore_options_free(o);
        rc
    };
    if rc != ELOQSTORE_OK {
        assert_eq!(rc, ELOQSTORE_INVALID_ARGS, "store_new: {}", last_error());
        assert!(!last_error().is_empty());
        assert!(store.is_null());
        return Ok(());
    }
    let mut h = Harness {
        store,
        reqs: vec![null_mut(); 11],
        model: Model::new(),
        page_size,
        running: false,
        async_sum: 0,
        submitted: false,
    };
    // SAFETY: a live store.
    unsafe {
        assert!(eloqstore_store_is_stopped(h.store));
        let rc = eloqstore_store_start(h.store, 0);
        if rc != ELOQSTORE_OK {
            // Options the engine cannot run with (e.g. resources it cannot
            // get) are refused at start with a message.
            assert!(
                !last_error().is_empty(),
                "start failed without a message: {rc:?}"
            );
            return Ok(());
        }
    }
    h.running = true;
    for _ in 0..u.int_in_range(1..=48)? {
        match u.int_in_range(0..=19)? {
            0..=5 => h.write(u)?,
            6..=8 => h.read(u, false)?,
            9..=10 => h.read(u, true)?,
            11..=12 => h.scan(u)?,
            13 => h.truncate(u)?,
            14 => h.drop_table(u)?,
            15 => h.other(u)?,
            16..=17 => h.misuse(u)?,
            _ => {
                if u.ratio(1, 3)? {
                    h.stop_start(u)?;
                }
            }
        }
    }
    // Everything the model holds is there, in order.
    if h.running {
        for (name, part) in h.model.keys().cloned().collect::<Vec<_>>() {
            let r = h.req(ELOQSTORE_REQ_SCAN as u8);
            // SAFETY: live handle, valid buffers.
            unsafe {
                eloqstore_request_set_table(r, name.as_ptr(), name.len(), part);
                eloqstore_scan_set_range(r, null(), 0, null(), 0, true);
                eloqstore_scan_set_pagination(r, 0, 0);
                let rc = eloqstore_store_exec_sync(h.store, r);
                let m = h.part(&name, part);
                if rc == ELOQSTORE_NOT_FOUND && m.is_empty() {
                    continue;
                }
                assert_eq!(rc, ELOQSTORE_OK, "final scan: {}", req_message(r));
                assert_eq!(eloqstore_scan_entry_count(r), m.len(), "final scan length");
            }
        }
    }
    // SAFETY: a live store.
    unsafe { eloqstore_store_stop(h.store) };
    h.running = false;
    h.check_callbacks();
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
