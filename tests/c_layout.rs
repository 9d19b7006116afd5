//! The C header and the Rust definitions agree on layout: bindgen reads
//! `include/eloqstore.h` (with libclang, as a C11 compiler and as a C++17
//! compiler sees it) and its computed sizes, alignments, field offsets and
//! enum values are compared with `eloqstore::internals::ffi`'s.
//!
//! bindgen's layout tests are `const` assertions of the form
//! `["Size of T"][size_of::<T>() - 48usize]`; the numbers are read from the
//! generated text, so nothing is compiled.

use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};

use eloqstore::internals::ffi::*;

fn header() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include/eloqstore.h")
}

/// The bindings of a header, generated in a given language mode.
fn bindings(header: &Path, clang_args: &[&str]) -> String {
    bindgen::Builder::default()
        .header(header.to_str().unwrap())
        .clang_args(clang_args)
        .allowlist_item("eloqstore_.*")
        .allowlist_item("ELOQSTORE_.*")
        .layout_tests(true)
        .generate()
        .unwrap_or_else(|e| panic!("bindgen over include/eloqstore.h ({clang_args:?}): {e}"))
        .to_string()
}

/// The layout assertions: label ("Size of eloqstore_entry", "Offset of
/// field: eloqstore_entry::key", ...) to the number bindgen computed.
fn layout_numbers(code: &str) -> BTreeMap<String, usize> {
    let flat: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = BTreeMap::new();
    let mut rest = flat.as_str();
    while let Some(i) = rest.find("[\"") {
        rest = &rest[i + 2..];
        let Some(j) = rest.find("\"]") else { break };
        let label = rest[..j].to_string();
        rest = &rest[j + 2..];
        // The index expression: `[ ... - 48usize]`.
        let Some(end) = rest.find("usize]") else {
            break;
        };
        let expr = &rest[..end];
        let Some(dash) = expr.rfind("- ") else {
            continue;
        };
        let n: usize = expr[dash + 2..]
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{label}: cannot read {expr:?}: {e}"));
        assert!(
            out.insert(label.clone(), n).is_none(),
            "{label} appears twice"
        );
        rest = &rest[end..];
    }
    out
}

/// `pub const <prefix><NAME>: <ty> = <value>;` constants.
fn consts(code: &str, prefix: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in code.lines() {
        let Some(rest) = line.trim().strip_prefix("pub const ") else {
            continue;
        };
        let Some(rest) = rest.strip_prefix(prefix) else {
            continue;
        };
        let (name, rest) = rest.split_once(':').unwrap();
        let value = rest.split_once('=').unwrap().1.trim().trim_end_matches(';');
        let Ok(v) = value.parse::<u64>() else {
            continue;
        };
        out.insert(name.trim().to_string(), v);
    }
    out
}

/// The fields of a struct in the bindings: (name, Rust type) in order.
fn struct_fields(code: &str, name: &str) -> Vec<(String, String)> {
    let start = code
        .find(&format!("pub struct {name} {{"))
        .unwrap_or_else(|| panic!("no struct {name} in the bindings"));
    let body = &code[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
    body.lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .map(|l| {
            let (n, t) = l.split_once(':').unwrap();
            (
                n.trim().to_string(),
                t.trim().trim_end_matches(',').to_string(),
            )
        })
        .collect()
}

/// The name of a field's type, as Rust spells it (`*const u8`, `usize`).
fn field_type<S, T>(_: fn(&S) -> &T) -> String {
    std::any::type_name::<T>().to_string()
}

/// The type a C name is given (`pub type X = u8;`).
fn type_alias(code: &str, name: &str) -> Option<String> {
    let needle = format!("pub type {name} = ");
    code.lines()
        .find_map(|l| l.trim().strip_prefix(&needle))
        .map(|t| t.trim_end_matches(';').to_string())
}

fn error_variants() -> Vec<(&'static str, u8)> {
    use eloqstore_error::*;
    let all = [
        ("ELOQSTORE_OK", ELOQSTORE_OK),
        ("ELOQSTORE_INVALID_ARGS", ELOQSTORE_INVALID_ARGS),
        ("ELOQSTORE_NOT_FOUND", ELOQSTORE_NOT_FOUND),
        ("ELOQSTORE_NOT_RUNNING", ELOQSTORE_NOT_RUNNING),
        ("ELOQSTORE_CORRUPTED", ELOQSTORE_CORRUPTED),
        ("ELOQSTORE_END_OF_FILE", ELOQSTORE_END_OF_FILE),
        ("ELOQSTORE_OUT_OF_SPACE", ELOQSTORE_OUT_OF_SPACE),
        ("ELOQSTORE_OUT_OF_MEM", ELOQSTORE_OUT_OF_MEM),
        ("ELOQSTORE_OPEN_FILE_LIMIT", ELOQSTORE_OPEN_FILE_LIMIT),
        ("ELOQSTORE_TRY_AGAIN", ELOQSTORE_TRY_AGAIN),
        ("ELOQSTORE_BUSY", ELOQSTORE_BUSY),
        ("ELOQSTORE_TIMEOUT", ELOQSTORE_TIMEOUT),
        ("ELOQSTORE_NO_PERMISSION", ELOQSTORE_NO_PERMISSION),
        ("ELOQSTORE_CLOUD_ERR", ELOQSTORE_CLOUD_ERR),
        ("ELOQSTORE_IO_FAIL", ELOQSTORE_IO_FAIL),
        ("ELOQSTORE_EXPIRED_TERM", ELOQSTORE_EXPIRED_TERM),
        ("ELOQSTORE_CLOUD_NO_MANIFEST", ELOQSTORE_CLOUD_NO_MANIFEST),
    ];
    // Exhaustive: a new variant fails to compile here until listed above.
    for (_, v) in all {
        match v {
            ELOQSTORE_OK
            | ELOQSTORE_INVALID_ARGS
            | ELOQSTORE_NOT_FOUND
            | ELOQSTORE_NOT_RUNNING
            | ELOQSTORE_CORRUPTED
            | ELOQSTORE_END_OF_FILE
            | ELOQSTORE_OUT_OF_SPACE
            | ELOQSTORE_OUT_OF_MEM
            | ELOQSTORE_OPEN_FILE_LIMIT
            | ELOQSTORE_TRY_AGAIN
            | ELOQSTORE_BUSY
            | ELOQSTORE_TIMEOUT
            | ELOQSTORE_NO_PERMISSION
            | ELOQSTORE_CLOUD_ERR
            | ELOQSTORE_IO_FAIL
            | ELOQSTORE_EXPIRED_TERM
            | ELOQSTORE_CLOUD_NO_MANIFEST => {}
        }
    }
    all.iter().map(|&(n, v)| (n, v as u8)).collect()
}

fn request_type_variants() -> Vec<(&'static str, u8)> {
    use eloqstore_request_type::*;
    let all = [
        ("ELOQSTORE_REQ_READ", ELOQSTORE_REQ_READ),
        ("ELOQSTORE_REQ_FLOOR", ELOQSTORE_REQ_FLOOR),
        ("ELOQSTORE_REQ_SCAN", ELOQSTORE_REQ_SCAN),
        ("ELOQSTORE_REQ_LIST_OBJECT", ELOQSTORE_REQ_LIST_OBJECT),
        ("ELOQSTORE_REQ_BATCH_WRITE", ELOQSTORE_REQ_BATCH_WRITE),
        ("ELOQSTORE_REQ_TRUNCATE", ELOQSTORE_REQ_TRUNCATE),
        ("ELOQSTORE_REQ_DROP_TABLE", ELOQSTORE_REQ_DROP_TABLE),
        ("ELOQSTORE_REQ_ARCHIVE", ELOQSTORE_REQ_ARCHIVE),
        ("ELOQSTORE_REQ_COMPACT", ELOQSTORE_REQ_COMPACT),
        ("ELOQSTORE_REQ_CLEAN_EXPIRED", ELOQSTORE_REQ_CLEAN_EXPIRED),
        ("ELOQSTORE_REQ_GLOBAL_ARCHIVE", ELOQSTORE_REQ_GLOBAL_ARCHIVE),
    ];
    for (_, v) in all {
        match v {
            ELOQSTORE_REQ_READ
            | ELOQSTORE_REQ_FLOOR
            | ELOQSTORE_REQ_SCAN
            | ELOQSTORE_REQ_LIST_OBJECT
            | ELOQSTORE_REQ_BATCH_WRITE
            | ELOQSTORE_REQ_TRUNCATE
            | ELOQSTORE_REQ_DROP_TABLE
            | ELOQSTORE_REQ_ARCHIVE
            | ELOQSTORE_REQ_COMPACT
            | ELOQSTORE_REQ_CLEAN_EXPIRED
            | ELOQSTORE_REQ_GLOBAL_ARCHIVE => {}
        }
    }
    all.iter().map(|&(n, v)| (n, v as u8)).collect()
}

fn write_op_variants() -> Vec<(&'static str, u8)> {
    use eloqstore_write_op::*;
    let all = [
        ("ELOQSTORE_UPSERT", ELOQSTORE_UPSERT),
        ("ELOQSTORE_DELETE", ELOQSTORE_DELETE),
    ];
    for (_, v) in all {
        match v {
            ELOQSTORE_UPSERT | ELOQSTORE_DELETE => {}
        }
    }
    all.iter().map(|&(n, v)| (n, v as u8)).collect()
}

/// Checks one language mode's bindings of `header` against the Rust
/// definitions.
fn check(header: &Path, mode: &str, clang_args: &[&str]) {
    let code = bindings(header, clang_args);
    let layout = layout_numbers(&code);

    // The structs with a C layout: size, alignment, every field's offset
    // and type, and no other field.
    let get = |label: &str| -> usize {
        *layout
            .get(label)
            .unwrap_or_else(|| panic!("{mode}: bindgen gave no \"{label}\"; got {layout:?}"))
    };
    macro_rules! check_struct {
        ($t:ident { $($f:ident),* $(,)? }) => {{
            let name = stringify!($t);
            assert_eq!(get(&format!("Size of {name}")), size_of::<$t>(), "{mode}: size of {name}");
            assert_eq!(
                get(&format!("Alignment of {name}")),
                align_of::<$t>(),
                "{mode}: alignment of {name}"
            );
            let fields: Vec<(&str, usize, String)> = vec![$((
                stringify!($f),
                offset_of!($t, $f),
                field_type(|e: &$t| &e.$f),
            )),*];
            for (f, off, _) in &fields {
                assert_eq!(
                    get(&format!("Offset of field: {name}::{f}")),
                    *off,
                    "{mode}: offset of {name}::{f}"
                );
            }
            // The C struct has exactly these fields (no more, none renamed).
            let prefix = format!("Offset of field: {name}::");
            let mut got: Vec<&str> = layout
                .keys()
                .filter_map(|k| k.strip_prefix(prefix.as_str()))
                .collect();
            got.sort();
            let mut want: Vec<&str> = fields.iter().map(|f| f.0).collect();
            want.sort();
            assert_eq!(got, want, "{mode}: fields of {name}");
            // And each field has the Rust field's type (a narrower last
            // field could keep every offset and the padded size).
            let rust_types: Vec<(String, String)> = fields
                .iter()
                .map(|(f, _, t)| (f.to_string(), t.clone()))
                .collect();
            assert_eq!(
                struct_fields(&code, name),
                rust_types,
                "{mode}: field types of {name}"
            );
            name
        }};
    }
    let checked = [
        check_struct!(eloqstore_entry {
            key,
            key_len,
            value,
            value_len,
            timestamp,
            expire_ts
        }),
        check_struct!(eloqstore_batch_entry {
            key,
            key_len,
            value,
            value_len,
            timestamp,
            expire_ts,
            op
        }),
        check_struct!(eloqstore_object_info {
            name,
            name_len,
            path,
            path_len,
            size,
            is_dir,
            mod_time,
            mod_time_len
        }),
    ];
    // Only these non-opaque structs have a layout.
    let structs: Vec<String> = layout
        .keys()
        .filter_map(|k| k.strip_prefix("Size of "))
        .map(str::to_string)
        .collect();
    let mut want: Vec<String> = checked.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(structs, want, "{mode}: structs with a C layout");

    // Enums: each is a one-byte type in C, as `#[repr(u8)]` in Rust, with
    // the same constants and values.
    for (c_name, rust_size, rust_align, variants) in [
        (
            "eloqstore_error",
            size_of::<eloqstore_error>(),
            align_of::<eloqstore_error>(),
            error_variants(),
        ),
        (
            "eloqstore_request_type",
            size_of::<eloqstore_request_type>(),
            align_of::<eloqstore_request_type>(),
            request_type_variants(),
        ),
        (
            "eloqstore_write_op",
            size_of::<eloqstore_write_op>(),
            align_of::<eloqstore_write_op>(),
            write_op_variants(),
        ),
    ] {
        assert_eq!(
            type_alias(&code, c_name).as_deref(),
            Some("u8"),
            "{mode}: {c_name} is not a one-byte type in C"
        );
        assert_eq!((rust_size, rust_align), (1, 1), "{mode}: Rust {c_name}");
        let c = consts(&code, &format!("{c_name}_"));
        let rust: BTreeMap<String, u64> = variants
            .iter()
            .map(|&(n, v)| (n.to_string(), v as u64))
            .collect();
        assert_eq!(c, rust, "{mode}: constants of {c_name}");
    }

    // The version macros.
    let versions = consts(&code, "ELOQSTORE_VERSION_");
    assert_eq!(
        versions.get("MAJOR").copied(),
        Some(ELOQSTORE_VERSION_MAJOR as u64),
        "{mode}"
    );
    assert_eq!(
        versions.get("MINOR").copied(),
        Some(ELOQSTORE_VERSION_MINOR as u64),
        "{mode}"
    );
    assert_eq!(
        versions.get("PATCH").copied(),
        Some(ELOQSTORE_VERSION_PATCH as u64),
        "{mode}"
    );

    // Every function the header declares is an `extern "C"` function of
    // the bindings (a sanity check that bindgen saw the whole header).
    let functions = code.matches("pub fn eloqstore_").count();
    assert!(functions >= 50, "{mode}: only {functions} functions");
}

const C11: &[&str] = &["-x", "c", "-std=c11"];
// In C++ the enums are `enum X : uint8_t`, not `uint8_t` typedefs.
const CXX17: &[&str] = &["-x", "c++", "-std=c++17"];

#[test]
fn c11_layout_matches_rust() {
    check(&header(), "C11", C11);
}

#[test]
fn cxx17_layout_matches_rust() {
    check(&header(), "C++17", CXX17);
}

#[test]
fn a_header_that_disagrees_is_caught() {
    // The check itself can fail: copies of the header with one change each
    // (a field's type, a field's order, an enum value, an enum's width)
    // must all be refused.
    let text = std::fs::read_to_string(header()).unwrap();
    let mutations: [(&str, &str); 4] = [
        ("  uint64_t expire_ts;", "  uint32_t expire_ts;"),
        (
            "  size_t key_len;\n  const uint8_t *value;",
            "  const uint8_t *value;\n  size_t key_len;",
        ),
        ("  ELOQSTORE_BUSY = 10,", "  ELOQSTORE_BUSY = 11,"),
        (
            "typedef uint8_t eloqstore_write_op;",
            "typedef uint16_t eloqstore_write_op;",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in mutations {
        assert!(text.contains(from), "the header no longer has {from:?}");
        let path = dir.path().join("eloqstore.h");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let caught = std::panic::catch_unwind(|| check(&path, "mutated C11", C11));
        assert!(
            caught.is_err(),
            "changing {from:?} to {to:?} went unnoticed"
        );
    }
}

#[test]
fn parser_reads_bindgen_layout_assertions() {
    // The reader above on a sample of bindgen's output format, so a format
    // change fails loudly instead of yielding no numbers.
    let sample = r#"
const _: () = {
    ["Size of eloqstore_entry"][::std::mem::size_of::<eloqstore_entry>() - 48usize];
    ["Offset of field: eloqstore_entry::key_len"]
        [::std::mem::offset_of!(eloqstore_entry, key_len) - 8usize];
};
pub const eloqstore_write_op_ELOQSTORE_DELETE: eloqstore_write_op = 1;
pub type eloqstore_write_op = u8;
"#;
    let l = layout_numbers(sample);
    assert_eq!(l.len(), 2);
    assert_eq!(l["Size of eloqstore_entry"], 48);
    assert_eq!(l["Offset of field: eloqstore_entry::key_len"], 8);
    assert_eq!(consts(sample, "eloqstore_write_op_")["ELOQSTORE_DELETE"], 1);
    assert_eq!(
        type_alias(sample, "eloqstore_write_op").as_deref(),
        Some("u8")
    );
}
