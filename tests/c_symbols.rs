//! What `libeloqstore.so` exports: every function `include/eloqstore.h`
//! declares, as a function; besides them only C++ symbols of namespace
//! `eloqstore` (the C++ compatibility layer); never a Rust-mangled symbol
//! or any other C symbol. And the library's soname is
//! `libeloqstore.so.MAJOR`.
//!
//! Builds nothing: cargo builds the library (all its crate types, the
//! cdylib included) before it runs integration tests, into the profile
//! directory this test binary lives under (`<target>/<profile>/deps/..`),
//! whatever CARGO_TARGET_DIR is.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `libeloqstore.so` of the build running this test: rustc writes it
/// to `<target>/<profile>/deps/` (the directory of this test binary) and
/// cargo links it into `<target>/<profile>/`.
fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .expect("test binary in <target>/<profile>/deps");
    let candidates = [
        deps.join("libeloqstore.so"),
        deps.parent().unwrap_or(deps).join("libeloqstore.so"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("libeloqstore.so not found at {candidates:?}: cargo builds the cdylib with the library before integration tests")
        })
        .clone()
}

/// The functions the header declares.
fn header_functions() -> BTreeSet<String> {
    let header =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/eloqstore.h"))
            .unwrap();
    let mut out = BTreeSet::new();
    for line in header.lines() {
        // Declarations start with the return type at column 0; comments
        // start with " *" or "/*", typedefs with "typedef".
        if !line.starts_with(|c: char| c.is_ascii_alphabetic()) || line.starts_with("typedef") {
            continue;
        }
        let Some(open) = line.find('(') else { continue };
        let before = &line[..open];
        let name = before.rsplit([' ', '*']).next().unwrap_or("");
        if name.starts_with("eloqstore_") {
            out.insert(name.to_string());
        }
    }
    assert!(
        out.len() >= 50,
        "found only {} functions in the header: {out:?}",
        out.len()
    );
    out
}

/// (type letter, name) of the defined dynamic symbols.
fn exported(lib: &Path) -> Vec<(char, String)> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib)
        .output()
        .expect("running nm (binutils)");
    assert!(
        out.status.success(),
        "nm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter_map(|l| {
            // "<address> <type> <name>[@version]"
            let mut parts = l.split_whitespace();
            let (_addr, ty, name) = (parts.next()?, parts.next()?, parts.next()?);
            let name = name.split('@').next().unwrap_or(name);
            Some((ty.chars().next()?, name.to_string()))
        })
        .collect()
}

/// The Itanium-mangled namespace: its length, then its name.
const NS: &str = "9eloqstore";

/// A C++ symbol of namespace `eloqstore`: its functions (member or free,
/// const or not), vtables, typeinfo and typeinfo names, and the thunks of
/// its virtual functions.
fn is_eloqstore_cxx(name: &str) -> bool {
    debug_assert_eq!(NS, format!("{}eloqstore", "eloqstore".len()));
    if ["_ZN", "_ZNK", "_ZTIN", "_ZTSN", "_ZTVN"]
        .iter()
        .any(|p| name.strip_prefix(p).is_some_and(|r| r.starts_with(NS)))
    {
        return true;
    }
    // Thunks: _ZThn<offset>_N10eloqstore..., _ZTv0_n<offset>_N10eloqstore...
    for thunk in ["_ZThn", "_ZTv"] {
        if let Some(rest) = name.strip_prefix(thunk)
            && let Some(i) = rest.find('_')
        {
            let tail = &rest[i + 1..];
            let tail = tail
                .strip_prefix('n')
                .and_then(|t| t.find('_').map(|j| &t[j + 1..]))
                .unwrap_or(tail);
            return ["N", "NK"]
                .iter()
                .any(|p| tail.strip_prefix(p).is_some_and(|r| r.starts_with(NS)));
        }
    }
    false
}

/// Rust's legacy mangling ends a path with `17h<16 hex digits>E`; v0
/// mangling starts with `_R`.
fn is_rust_mangled(name: &str) -> bool {
    if name.starts_with("_R") {
        return true;
    }
    if !name.starts_with("_ZN") || !name.ends_with('E') {
        return false;
    }
    let body = &name[..name.len() - 1];
    body.len() > 19 && {
        let tail = &body[body.len() - 19..];
        tail.starts_with("17h") && tail[3..].chars().all(|c| c.is_ascii_hexdigit())
    }
}

#[test]
fn classifiers() {
    assert!(is_eloqstore_cxx(
        "_ZN9eloqstore9EloqStoreC1ERKNS_9KvOptionsE"
    ));
    assert!(is_eloqstore_cxx("_ZNK9eloqstore11ReadRequest5ValueEv"));
    assert!(is_eloqstore_cxx("_ZTVN9eloqstore9KvRequestE"));
    assert!(is_eloqstore_cxx("_ZTIN9eloqstore9KvRequestE"));
    assert!(is_eloqstore_cxx("_ZTSN9eloqstore9KvRequestE"));
    assert!(is_eloqstore_cxx("_ZThn8_N9eloqstore1X1fEv"));
    assert!(is_eloqstore_cxx("_ZTv0_n24_N9eloqstore1X1fEv"));
    assert!(!is_eloqstore_cxx("_ZNSt6vectorIiSaIiEE9push_backEOi"));
    assert!(!is_eloqstore_cxx("_ZN10eloqstore2X1fEv")); // "eloqstore2" namespace
    assert!(!is_eloqstore_cxx("_ZN14eloqstore_utilX1fEv"));
    assert!(!is_eloqstore_cxx("_ZThn8_N3std1X1fEv"));
    assert!(!is_eloqstore_cxx("malloc"));
    assert!(is_rust_mangled(
        "_ZN9eloqstore5store9EloqStore4stop17h0123456789abcdefE"
    ));
    assert!(is_rust_mangled("_RNvCs1234_9eloqstore4stop"));
    assert!(!is_rust_mangled("_ZN10eloqstore9EloqStore4StopEv"));
    assert!(!is_rust_mangled("eloqstore_version"));
}

#[test]
fn exports_exactly_the_c_api_and_eloqstore_cxx() {
    let lib = library();
    let functions = header_functions();
    let symbols = exported(&lib);
    let mut bad = Vec::new();
    let mut found = BTreeSet::new();
    for (ty, name) in &symbols {
        if is_rust_mangled(name) {
            bad.push(format!("{ty} {name} (Rust-mangled)"));
        } else if name.starts_with("eloqstore_") {
            if !functions.contains(name) {
                bad.push(format!("{ty} {name} (not declared in include/eloqstore.h)"));
            } else if *ty != 'T' {
                bad.push(format!("{ty} {name} (not a function in the text section)"));
            } else {
                found.insert(name.clone());
            }
        } else if !is_eloqstore_cxx(name) {
            bad.push(format!(
                "{ty} {name} (neither the C API nor namespace eloqstore)"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} exports symbols it must not:\n  {}",
        lib.display(),
        bad.join("\n  ")
    );
    let missing: Vec<&String> = functions.difference(&found).collect();
    assert!(
        missing.is_empty(),
        "{} does not export these functions of include/eloqstore.h: {missing:?}",
        lib.display()
    );
}

#[test]
fn soname_is_major_versioned() {
    let lib = library();
    let out = Command::new("readelf")
        .args(["-d"])
        .arg(&lib)
        .output()
        .expect("running readelf (binutils)");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let want = format!(
        "Library soname: [libeloqstore.so.{}]",
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert!(
        text.contains(&want),
        "{}: no `{want}` in\n{text}",
        lib.display()
    );
}
