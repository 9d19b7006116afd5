//! Build script:
//! - gives the shared library its soname (`libeloqstore.so.MAJOR`), as
//!   installed libraries carry;
//! - with the `cpp-compat` feature (on by default; a Rust user who needs no
//!   C++ API turns it off, and then neither a C++ compiler nor libstdc++ is
//!   involved), compiles the C++ layer (`cpp-compat/src`, upstream EloqStore's C++ API
//!   over the C ABI) into the library, so that `libeloqstore.so` and
//!   `libeloqstore.a` both serve C++ programs written for upstream;
//! - exports exactly that C++ API (symbols of namespace `eloqstore`, their
//!   vtables and typeinfo) from the shared library, beside the C ABI.
//!
//! Why the export step: rustc links a cdylib with its own version script
//! that keeps only Rust's `#[no_mangle]` symbols global, hiding everything
//! else. The symbols to add are read from the compiled C++ objects with
//! `nm` and listed by exact name in a second version script; exact names
//! can never match a Rust-mangled symbol. The GNU BFD linker refuses two
//! version scripts, LLVM's lld merges them, so the cdylib is linked with
//! lld: rustc's own rust-lld where the toolchain ships it (the default
//! linker of x86_64 Linux since Rust 1.90), else a system `ld.lld`.
//!
//! Every failure (no C++ compiler, no `nm`, no sources) stops the build
//! with a message saying what is missing and how to build without the C++
//! layer, instead of a panic.

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What went wrong, for the user.
type BuildError = String;

/// How to build without the C++ layer, appended to C++ build errors.
const WITHOUT_CXX: &str = "(the C++ API is the default-on `cpp-compat` feature: \
     build with `--no-default-features` if you need only the Rust and C APIs)";

/// The C API of `crc-fast` (a dependency of `object_store`'s S3 client,
/// built with its default `ffi` feature), not part of this library's API.
const HIDDEN_DEPENDENCY_SYMBOLS: &[&str] = &[
    "crc_fast_checksum",
    "crc_fast_checksum_combine",
    "crc_fast_checksum_combine_with_params",
    "crc_fast_checksum_file",
    "crc_fast_checksum_file_with_params",
    "crc_fast_checksum_with_params",
    "crc_fast_clear_error",
    "crc_fast_crc32_iscsi",
    "crc_fast_crc32_iso_hdlc",
    "crc_fast_crc64_nvme",
    "crc_fast_digest_combine",
    "crc_fast_digest_finalize",
    "crc_fast_digest_finalize_reset",
    "crc_fast_digest_free",
    "crc_fast_digest_get_amount",
    "crc_fast_digest_get_state",
    "crc_fast_digest_new",
    "crc_fast_digest_new_with_init_state",
    "crc_fast_digest_new_with_params",
    "crc_fast_digest_reset",
    "crc_fast_digest_update",
    "crc_fast_error_message",
    "crc_fast_get_calculator_target",
    "crc_fast_get_custom_params",
    "crc_fast_get_last_error",
    "crc_fast_get_version",
];

fn main() {
    if let Err(e) = run() {
        eprintln!("error: eloqstore build script: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BuildError> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=NM");
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let linux = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libeloqstore.so.{major}");
    }
    if env::var_os("CARGO_FEATURE_CPP_COMPAT").is_some() {
        build_cxx(linux).map_err(|e| format!("{e}\n{WITHOUT_CXX}"))?;
    }
    Ok(())
}

/// A build-script environment variable cargo always sets.
fn cargo_env(name: &str) -> Result<String, BuildError> {
    env::var(name).map_err(|_| format!("cargo did not set {name}"))
}

/// The C++ sources and the headers they depend on, sorted.
fn cxx_inputs(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let list = |dir: &Path, exts: &[&str]| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| exts.contains(&e))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let sources = list(&root.join("cpp-compat/src"), &["cpp"]);
    let mut headers = list(&root.join("cpp-compat/src"), &["h"]);
    headers.extend(list(&root.join("include"), &["h"]));
    headers.extend(list(&root.join("include/external"), &["hpp", "h"]));
    (sources, headers)
}

fn build_cxx(linux: bool) -> Result<(), BuildError> {
    let root = PathBuf::from(cargo_env("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(cargo_env("OUT_DIR")?);
    let (sources, headers) = cxx_inputs(&root);
    println!("cargo:rerun-if-changed=cpp-compat/src");
    println!("cargo:rerun-if-changed=include");
    for p in sources.iter().chain(headers.iter()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    if sources.is_empty() {
        return Err(format!(
            "no C++ sources in {}",
            root.join("cpp-compat/src").display()
        ));
    }

    println!("cargo:rerun-if-changed={OPTIONS_TABLE}");
    write_option_lists(&root.join(OPTIONS_TABLE), &out.join("kv_options_fields.h"))?;

    let lib = "eloqstore_cxx";
    cc::Build::new()
        .cpp(true)
        .std("c++20")
        .pic(true)
        .opt_level(2)
        .warnings(true)
        .extra_warnings(true)
        .include(root.join("include"))
        .include(root.join("cpp-compat/src"))
        .include(&out)
        .files(&sources)
        // Link directives are written below: the archive must be linked
        // whole, since nothing on the Rust side refers to it.
        .cargo_metadata(false)
        .try_compile(lib)
        .map_err(|e| format!("compiling the C++ layer (cpp-compat/src) failed: {e}"))?;

    println!("cargo:rustc-link-search=native={}", out.display());
    // +whole-archive: every C++ object goes into the cdylib although no Rust
    // code calls it; +bundle (the default): the staticlib carries them too.
    println!("cargo:rustc-link-lib=static:+whole-archive={lib}");
    println!("cargo:rustc-link-lib=dylib=stdc++");

    if !linux {
        return Ok(());
    }
    let archive = out.join(format!("lib{lib}.a"));
    let symbols = exported_cxx_symbols(&archive)?;
    if symbols.is_empty() {
        return Err(format!("no C++ API symbols found in {}", archive.display()));
    }
    let map = out.join("cxx_exports.map");
    let mut text = String::from(
        "/* C++ API of libeloqstore, generated by build.rs from the C++ objects */\n{\n  global:\n",
    );
    for s in &symbols {
        text.push_str("    ");
        text.push_str(s);
        text.push_str(";\n");
    }
    // C symbols of dependencies that rustc's version script would export:
    // listed by exact name, which makes them local (tests/c_symbols.rs and
    // the ctest `cxx.exports` fail on any other foreign symbol).
    text.push_str("  local:\n");
    for s in HIDDEN_DEPENDENCY_SYMBOLS {
        text.push_str("    ");
        text.push_str(s);
        text.push_str(";\n");
    }
    text.push_str("};\n");
    fs::write(&map, text).map_err(|e| format!("cannot write {}: {e}", map.display()))?;

    match lld_flags() {
        Some(flags) => {
            for f in flags {
                println!("cargo:rustc-cdylib-link-arg={f}");
            }
            println!(
                "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
                map.display()
            );
        }
        None => println!(
            "cargo:warning=no lld linker found (neither rust-lld nor ld.lld): \
             libeloqstore.so is built without its C++ API exports; \
             C++ programs must link libeloqstore.a"
        ),
    }
    Ok(())
}

/// The options table: one row per `KvOptions` field (see its module doc).
const OPTIONS_TABLE: &str = "src/options/table.rs";

/// A row of the options table, as far as the C++ layer needs it.
struct OptionRow {
    name: String,
    ty: String,
    eq: bool,
}

/// The rows of the `kv_options_table!` invocation: after its opening line,
/// each row starts with four spaces and `name: Type = default,` and ends at
/// the `;` ending a line; `///` lines are docs; a `}` line ends the table.
fn option_rows(text: &str) -> Result<Vec<OptionRow>, BuildError> {
    let body = text
        .split_once("\nkv_options_table! {\n")
        .ok_or("no `kv_options_table! {` invocation")?
        .1;
    let mut rows = Vec::new();
    let mut row = String::new();
    for line in body.lines() {
        if line == "}" {
            break;
        }
        let t = line.trim();
        if t.starts_with("///") || t.is_empty() {
            continue;
        }
        row.push_str(t);
        row.push(' ');
        if !t.ends_with(';') {
            continue;
        }
        let (name, rest) = row
            .split_once(':')
            .ok_or_else(|| format!("options table row without `name:`: {row}"))?;
        let (ty, _) = rest
            .split_once(" = ")
            .ok_or_else(|| format!("options table row without `= default`: {row}"))?;
        rows.push(OptionRow {
            name: name.trim().to_owned(),
            ty: ty.trim().to_owned(),
            eq: row.contains(" eq yes,"),
        });
        row.clear();
    }
    if rows.is_empty() {
        return Err("the options table has no rows".into());
    }
    Ok(rows)
}

/// Writes the C++ layer's X-macro lists of `KvOptions` fields, generated
/// from the options table.
fn write_option_lists(table: &Path, out: &Path) -> Result<(), BuildError> {
    let text =
        fs::read_to_string(table).map_err(|e| format!("cannot read {}: {e}", table.display()))?;
    let rows = option_rows(&text).map_err(|e| format!("{}: {e}", table.display()))?;
    let list = |macro_name: &str, keep: &dyn Fn(&OptionRow) -> bool| {
        let mut s = format!("#define {macro_name}(X)");
        for r in rows.iter().filter(|r| keep(r)) {
            s.push_str(&format!(" \\\n    X({})", r.name));
        }
        s.push_str("\n\n");
        s
    };
    let is_uint = |r: &OptionRow| matches!(r.ty.as_str(), "u8" | "u16" | "u32" | "u64" | "usize");
    let mut h = String::from(
        "// KvOptions fields by kind, generated by build.rs from src/options/table.rs.\n#pragma once\n\n",
    );
    h.push_str(&list("ELOQSTORE_UINT_FIELDS", &is_uint));
    h.push_str(&list("ELOQSTORE_BOOL_FIELDS", &|r| r.ty == "bool"));
    h.push_str(&list("ELOQSTORE_STRING_FIELDS", &|r| r.ty == "String"));
    h.push_str(&list("ELOQSTORE_EQ_FIELDS", &|r| r.eq));
    fs::write(out, h).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// The global symbols the C++ objects define that belong to the public C++
/// API: anything in namespace `eloqstore` (functions, static data, vtables,
/// typeinfo, thunks) except the internal `eloqstore::compat` helpers.
fn exported_cxx_symbols(archive: &Path) -> Result<BTreeSet<String>, BuildError> {
    let nm = env::var("NM").unwrap_or_else(|_| "nm".into());
    let output = Command::new(&nm)
        .args(["-g", "--defined-only", "-P"])
        .arg(archive)
        .output()
        .map_err(|e| {
            format!(
                "cannot run `{nm}` to list the C++ API symbols of {} ({e}); install binutils \
                 or set NM to an nm program",
                archive.display()
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "`{nm}` failed on {}: {}",
            archive.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            // POSIX format: "name type value size"; archive member headers
            // end with ':'.
            let mut parts = line.split_whitespace();
            let name = parts.next()?;
            let kind = parts.next()?;
            if name.ends_with(':') || kind == "U" {
                return None;
            }
            is_api_symbol(name).then(|| name.to_owned())
        })
        .collect())
}

/// Whether an Itanium-mangled name denotes an entity of namespace
/// `eloqstore` (outside `eloqstore::compat`).
fn is_api_symbol(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("_Z") else {
        return false;
    };
    // Special names: vtable, typeinfo, typeinfo name, guard variable,
    // (non-)virtual thunks ("Th<offset>_", "Tv<offset>_<offset>_").
    let rest = ["TV", "TI", "TS", "GV"]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
        .or_else(|| {
            let t = rest
                .strip_prefix("Th")
                .or_else(|| rest.strip_prefix("Tv"))?;
            let mut r = t;
            // Skip the offsets, each "n?<digits>_".
            while let Some(idx) = r.find('_') {
                let (num, tail) = r.split_at(idx);
                if num
                    .trim_start_matches('n')
                    .chars()
                    .all(|c| c.is_ascii_digit())
                {
                    r = &tail[1..];
                    if r.starts_with('N') {
                        return Some(r);
                    }
                } else {
                    break;
                }
            }
            None
        })
        .unwrap_or(rest);
    // Nested name, optionally cv-qualified (const member functions).
    let Some(nested) = rest.strip_prefix('N') else {
        return false;
    };
    let nested = nested.trim_start_matches(['K', 'V', 'r']);
    nested.starts_with("9eloqstore") && !nested.starts_with("9eloqstore6compat")
}

/// Linker flags selecting lld for the cdylib, or `None` when there is none.
fn lld_flags() -> Option<Vec<String>> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let host = env::var("HOST").ok()?;
    if let Ok(out) = Command::new(&rustc).args(["--print", "sysroot"]).output()
        && out.status.success()
    {
        let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let gcc_ld = Path::new(&sysroot)
            .join("lib/rustlib")
            .join(&host)
            .join("bin/gcc-ld");
        if gcc_ld.join("ld.lld").exists() {
            return Some(vec![
                format!("-B{}", gcc_ld.display()),
                "-fuse-ld=lld".to_owned(),
            ]);
        }
    }
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .any(|d| d.join("ld.lld").exists())
        .then(|| vec!["-fuse-ld=lld".to_owned()])
}
