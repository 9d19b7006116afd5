//! The C ABI called from Rust: a quick end-to-end path through every kind
//! of handle (the C suite in ffi-tests/ covers each function and bad input).

use std::ffi::{CStr, c_char};
use std::ptr;

use eloqstore::internals::ffi::*;

fn cs(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s).unwrap()
}

#[test]
fn write_read_scan_through_the_c_abi() {
    let dir = tempfile::tempdir().unwrap();
    let path = cs(dir.path().join("store").to_str().unwrap());
    // SAFETY: every pointer below is a live handle or a valid C string.
    unsafe {
        let opts = eloqstore_options_new();
        let paths = [path.as_ptr()];
        assert_eq!(
            eloqstore_options_set_store_paths(opts, paths.as_ptr(), 1),
            eloqstore_error::ELOQSTORE_OK
        );
        assert_eq!(
            eloqstore_options_set_uint(opts, cs("num_threads").as_ptr(), 2),
            eloqstore_error::ELOQSTORE_OK
        );
        assert_eq!(
            eloqstore_options_set_uint(opts, cs("no_such_option").as_ptr(), 2),
            eloqstore_error::ELOQSTORE_INVALID_ARGS
        );
        let msg = CStr::from_ptr(eloqstore_last_error_message())
            .to_str()
            .unwrap();
        assert!(msg.contains("no_such_option"), "{msg}");
        let mut store = ptr::null_mut();
        assert_eq!(
            eloqstore_store_new(opts, &mut store),
            eloqstore_error::ELOQSTORE_OK
        );
        eloqstore_options_free(opts);
        assert_eq!(
            eloqstore_store_start(store, 0),
            eloqstore_error::ELOQSTORE_OK
        );

        let w = eloqstore_request_new(eloqstore_request_type::ELOQSTORE_REQ_BATCH_WRITE as u8);
        assert_eq!(
            eloqstore_request_set_table(w, b"t".as_ptr(), 1, 3),
            eloqstore_error::ELOQSTORE_OK
        );
        for i in 0..100u32 {
            let k = format!("k{i:03}");
            let v = [0u8, 1, 2, i as u8];
            assert_eq!(
                eloqstore_batch_add(w, k.as_ptr(), k.len(), v.as_ptr(), v.len(), 1, 0, 0),
                eloqstore_error::ELOQSTORE_OK
            );
        }
        assert_eq!(
            eloqstore_store_exec_sync(store, w),
            eloqstore_error::ELOQSTORE_OK
        );

        let r = eloqstore_request_new(eloqstore_request_type::ELOQSTORE_REQ_READ as u8);
        eloqstore_request_set_table(r, b"t".as_ptr(), 1, 3);
        eloqstore_request_set_key(r, b"k042".as_ptr(), 4);
        assert_eq!(
            eloqstore_store_exec_sync(store, r),
            eloqstore_error::ELOQSTORE_OK
        );
        let mut e = std::mem::zeroed::<eloqstore_entry>();
        assert_eq!(
            eloqstore_request_result(r, &mut e),
            eloqstore_error::ELOQSTORE_OK
        );
        assert_eq!(
            std::slice::from_raw_parts(e.value, e.value_len),
            [0, 1, 2, 42]
        );

        let s = eloqstore_request_new(eloqstore_request_type::ELOQSTORE_REQ_SCAN as u8);
        eloqstore_request_set_table(s, b"t".as_ptr(), 1, 3);
        eloqstore_scan_set_range(s, ptr::null(), 0, ptr::null(), 0, true);
        eloqstore_scan_set_pagination(s, 10, 0);
        assert_eq!(
            eloqstore_store_exec_sync(store, s),
            eloqstore_error::ELOQSTORE_OK
        );
        assert_eq!(eloqstore_scan_entry_count(s), 10);
        assert!(eloqstore_scan_has_remaining(s));

        // Async with a callback, freeing the request while in flight.
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        unsafe extern "C" fn cb(req: *mut eloqstore_request, ud: u64) {
            // SAFETY: the handle is valid during the callback.
            assert_eq!(
                unsafe { eloqstore_request_error(req) },
                eloqstore_error::ELOQSTORE_OK
            );
            CALLS.fetch_add(ud, std::sync::atomic::Ordering::SeqCst);
        }
        let a = eloqstore_request_new(eloqstore_request_type::ELOQSTORE_REQ_READ as u8);
        eloqstore_request_set_table(a, b"t".as_ptr(), 1, 3);
        eloqstore_request_set_key(a, b"k001".as_ptr(), 4);
        assert!(eloqstore_store_exec_async(store, a, Some(cb), 5));
        eloqstore_request_free(a);
        eloqstore_store_stop(store);
        assert_eq!(CALLS.load(std::sync::atomic::Ordering::SeqCst), 5);
        assert!(eloqstore_store_is_stopped(store));
        assert_eq!(
            eloqstore_store_exec_sync(store, r),
            eloqstore_error::ELOQSTORE_NOT_RUNNING
        );

        // Null handles are refused, not dereferenced.
        assert_eq!(
            eloqstore_store_exec_sync(ptr::null_mut(), r),
            eloqstore_error::ELOQSTORE_INVALID_ARGS
        );
        assert_eq!(
            eloqstore_request_set_key(ptr::null_mut(), b"x".as_ptr(), 1),
            eloqstore_error::ELOQSTORE_INVALID_ARGS
        );
        assert_eq!(
            eloqstore_request_set_key(r, ptr::null(), 5),
            eloqstore_error::ELOQSTORE_INVALID_ARGS
        );
        assert_eq!(
            eloqstore_batch_add(r, b"x".as_ptr(), 1, ptr::null(), 0, 1, 0, 0),
            eloqstore_error::ELOQSTORE_INVALID_ARGS
        );
        let _: *const c_char = eloqstore_request_error_message(ptr::null());
        for h in [w, r, s] {
            eloqstore_request_free(h);
        }
        eloqstore_store_free(store);
        eloqstore_store_free(ptr::null_mut());
    }
}

fn last_error() -> String {
    // SAFETY: the message is a NUL-terminated string valid until the next
    // call on this thread; it is copied at once.
    unsafe { CStr::from_ptr(eloqstore_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// Issue 10, defect 8 through the C ABI: a table name whose partition
/// directory would exceed NAME_MAX is InvalidArgs naming the limit.
#[test]
fn overlong_table_name_through_the_c_abi() {
    let dir = tempfile::tempdir().unwrap();
    let path = cs(dir.path().join("store").to_str().unwrap());
    // SAFETY: every pointer below is a live handle or a valid C string or
    // byte buffer of the length passed.
    unsafe {
        let opts = eloqstore_options_new();
        let paths = [path.as_ptr()];
        eloqstore_options_set_store_paths(opts, paths.as_ptr(), 1);
        let mut store = ptr::null_mut();
        assert_eq!(
            eloqstore_store_new(opts, &mut store),
            eloqstore_error::ELOQSTORE_OK
        );
        eloqstore_options_free(opts);
        assert_eq!(
            eloqstore_store_start(store, 0),
            eloqstore_error::ELOQSTORE_OK
        );
        let name = vec![b'x'; 5000];
        let w = eloqstore_request_new(eloqstore_request_type::ELOQSTORE_REQ_BATCH_WRITE as u8);
        eloqstore_request_set_table(w, name.as_ptr(), name.len(), 3);
        eloqstore_batch_add(w, b"k".as_ptr(), 1, b"v".as_ptr(), 1, 1, 0, 0);
        assert_eq!(
            eloqstore_store_exec_sync(store, w),
            eloqstore_error::ELOQSTORE_INVALID_ARGS
        );
        let msg = CStr::from_ptr(eloqstore_request_error_message(w))
            .to_string_lossy()
            .into_owned();
        assert!(msg.contains("at most 253 bytes"), "{msg}");
        assert!(msg.contains("NAME_MAX"), "{msg}");
        // The longest name that fits partition 3 is stored.
        let w2 = eloqstore_request_new(eloqstore_request_type::ELOQSTORE_REQ_BATCH_WRITE as u8);
        eloqstore_request_set_table(w2, name.as_ptr(), 253, 3);
        eloqstore_batch_add(w2, b"k".as_ptr(), 1, b"v".as_ptr(), 1, 1, 0, 0);
        assert_eq!(
            eloqstore_store_exec_sync(store, w2),
            eloqstore_error::ELOQSTORE_OK
        );
        for h in [w, w2] {
            eloqstore_request_free(h);
        }
        eloqstore_store_free(store);
    }
}

/// Issue 10, defect 7 through the C ABI: what is not a small regular file
/// is refused (code -1, an "Invalid arguments" message naming why) instead
/// of being read without bound or blocking.
#[test]
fn options_load_ini_refuses_devices_fifos_and_big_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.ini");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = dir.path().join("big.ini");
    std::fs::write(&big, vec![b'#'; (1 << 20) + 1]).unwrap();
    let cases = [
        ("/dev/zero".to_string(), "character device"),
        (fifo.to_string_lossy().into_owned(), "FIFO"),
        (dir.path().to_string_lossy().into_owned(), "directory"),
        (big.to_string_lossy().into_owned(), "1048577 bytes"),
    ];
    for (path, why) in cases {
        // On another thread, so a regression that blocks fails the test.
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let c = cs(&p);
            // SAFETY: a fresh handle and a valid C string.
            let code = unsafe {
                let o = eloqstore_options_new();
                let code = eloqstore_options_load_ini(o, c.as_ptr());
                eloqstore_options_free(o);
                code
            };
            let _ = tx.send((code, last_error()));
        });
        let (code, msg) = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("loading {path} did not return"));
        assert_eq!(code, -1, "{path}: {msg}");
        assert!(msg.starts_with("Invalid arguments"), "{path}: {msg}");
        assert!(msg.contains(&path) && msg.contains(why), "{path}: {msg}");
        assert!(msg.contains("regular file"), "{path}: {msg}");
    }
}

/// A callback gets the user data of its own submission, also when the
/// request is resubmitted (with other user data) the moment it is done,
/// before the callback runs (found by the c_abi fuzz target: the callback
/// read the request's current user data).
#[test]
fn callback_user_data_survives_an_immediate_resubmission() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    unsafe extern "C" fn cb(_req: *mut eloqstore_request, ud: u64) {
        SEEN.lock().unwrap().push(ud);
    }
    #[derive(Clone, Copy)]
    struct Handles(*mut eloqstore_store, *mut eloqstore_request);
    // SAFETY: the C ABI handles may be used from any thread.
    unsafe impl Send for Handles {}

    const ROUNDS: u64 = 300;
    const OTHER: u64 = 1 << 40;
    // SAFETY: live handles throughout; freed at the end.
    unsafe {
        let opts = eloqstore_options_new();
        let mut store = ptr::null_mut();
        assert_eq!(
            eloqstore_store_new(opts, &mut store),
            eloqstore_error::ELOQSTORE_OK
        );
        eloqstore_options_free(opts);
        assert_eq!(
            eloqstore_store_start(store, 0),
            eloqstore_error::ELOQSTORE_OK
        );
        let r = eloqstore_request_new(eloqstore_request_type::ELOQSTORE_REQ_READ as u8);
        eloqstore_request_set_table(r, b"t".as_ptr(), 1, 0);
        eloqstore_request_set_key(r, b"k".as_ptr(), 1);
        let h = Handles(store, r);
        static SUBMITTED: AtomicU64 = AtomicU64::new(u64::MAX);
        static RESUBMITTED: AtomicU64 = AtomicU64::new(u64::MAX);
        // Resubmits the request as soon as it is done, while the shard
        // thread is still waking the main thread (which waits) and has not
        // run the callback yet.
        let spinner = std::thread::spawn(move || {
            let h = h;
            for i in 0..ROUNDS {
                while SUBMITTED.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                while !eloqstore_request_is_done(h.1) {
                    std::hint::spin_loop();
                }
                assert!(eloqstore_store_exec_async(h.0, h.1, None, OTHER + i));
                RESUBMITTED.store(i, Ordering::Release);
            }
        });
        for i in 0..ROUNDS {
            assert!(eloqstore_store_exec_async(store, r, Some(cb), i));
            SUBMITTED.store(i, Ordering::Release);
            eloqstore_request_wait(r);
            while RESUBMITTED.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
            eloqstore_request_wait(r);
        }
        spinner.join().unwrap();
        eloqstore_store_stop(store);
        let mut seen = SEEN.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..ROUNDS).collect::<Vec<_>>());
        eloqstore_request_free(r);
        eloqstore_store_free(store);
    }
}
