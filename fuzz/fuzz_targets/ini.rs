//! The INI loader: `KvOptions::load_from_ini_str`, the file loaders and
//! the C ABI's `eloqstore_options_load_ini` on arbitrary bytes. A load
//! either succeeds or fails with upstream's code (-2 or a line of the
//! text) and a message, leaving the options untouched; the three entry
//! points agree; loading the same text twice changes nothing more; loaded
//! options validate or fail with `InvalidArgs`.
#![no_main]

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::OnceLock;

use eloqstore::KvError;
use eloqstore::internals::ffi::{
    eloqstore_options_free, eloqstore_options_get_uint, eloqstore_options_load_ini,
    eloqstore_options_new,
};
use eloqstore::options::{IniError, KvOptions};
use libfuzzer_sys::fuzz_target;

/// One scratch file per fuzzing process.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("eloqstore-fuzz-ini-{}", std::process::id()))
    })
}

fn check_error(e: &IniError, lines: usize) {
    assert!(!e.message.is_empty());
    assert!(
        e.code == IniError::MISSING_SECTION || (e.code >= 1 && e.code as usize <= lines),
        "code {} for a text of {lines} lines: {}",
        e.code,
        e.message
    );
}

fn base(knob: u8) -> KvOptions {
    let mut o = KvOptions::default();
    if knob & 1 != 0 {
        // A non-default starting point: only keys present may change it.
        o.num_threads = 3;
        o.data_page_size = 8192;
        o.pages_per_file_shift = 9;
        o.store_path = vec!["/nonexistent/a".into()];
    }
    o
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, bytes)) = data.split_first() else {
        return;
    };
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = base(knob);

    // From a file (the path the tools and the C ABI take).
    std::fs::write(scratch(), bytes).expect("scratch file");
    let mut from_file = start.clone();
    let file_result = from_file.load_from_ini(scratch());
    match &file_result {
        Ok(()) => {}
        Err(e) => {
            check_error(e, lines);
            assert!(from_file == start, "a failed load changed the options");
        }
    }

    // From text: the same outcome for valid UTF-8.
    if let Ok(text) = std::str::from_utf8(bytes) {
        let mut from_text = start.clone();
        let text_result = from_text.load_from_ini_str(text);
        assert_eq!(
            text_result.as_ref().map_err(|e| e.code),
            file_result.as_ref().map_err(|e| e.code)
        );
        assert!(from_text == from_file);
        if text_result.is_ok() {
            let mut twice = from_text.clone();
            twice
                .load_from_ini_str(text)
                .expect("a text that loaded once loads again");
            assert!(twice == from_text, "loading twice is not idempotent");
        }
    } else {
        assert!(file_result.is_err(), "invalid UTF-8 accepted");
    }

    if file_result.is_ok() {
        let mut v = from_file.clone();
        if let Err(e) = v.validate() {
            assert_eq!(e.code(), KvError::InvalidArgs, "{e}");
        }
    }

    // Through the C ABI, starting from the defaults.
    if knob & 1 == 0 {
        let path = CString::new(scratch().as_os_str().as_encoded_bytes()).expect("no NUL");
        // SAFETY: a fresh handle, a NUL-terminated path; freed below.
        unsafe {
            let o = eloqstore_options_new();
            let code = eloqstore_options_load_ini(o, path.as_ptr());
            assert_eq!(code, file_result.as_ref().map_or_else(|e| e.code, |_| 0));
            let mut threads = 0u64;
            eloqstore_options_get_uint(o, c"num_threads".as_ptr(), &mut threads);
            assert_eq!(threads, from_file.num_threads as u64);
            eloqstore_options_free(o);
        }
    }
});
