//! Writes the crash test's deterministic batches to a store, one
//! `exec_sync` at a time, printing `ack <n>` after each acknowledged batch.
//! The crash test kills it with SIGKILL at random moments; run by hand it
//! is a write soak:
//!
//! ```text
//! eloqstore-crash-writer --dir DIR [--start N] [--count N] [--threads T] [--shift S] [--append] [--compression]
//!                        [--cloud-endpoint URL --cloud-path BUCKET/PREFIX [--reuse]]
//! ```
//!
//! With `--cloud-path` the store is a cloud store caching in DIR (which
//! must be empty unless `--reuse` allows reusing it).

#[path = "../../tests/common/crash_gen.rs"]
mod crash_gen;

use std::io::Write;

use eloqstore::{BatchWriteRequest, EloqStore, KvError, KvOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    let mut start = 0u64;
    let mut count = u64::MAX;
    let mut opts = KvOptions::default();
    let mut shift = 8;
    let mut i = 0;
    while i < args.len() {
        let val = || args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--dir" => dir = Some(val()),
            "--start" => start = val().parse().expect("--start N"),
            "--count" => count = val().parse().expect("--count N"),
            "--threads" => opts.num_threads = val().parse().expect("--threads T"),
            "--shift" => shift = val().parse().expect("--shift S"),
            "--append" => {
                opts.data_append_mode = true;
                i -= 1;
            }
            "--compression" => {
                opts.enable_compression = true;
                i -= 1;
            }
            "--cloud-endpoint" => opts.cloud_endpoint = val(),
            "--cloud-path" => opts.cloud_store_path = val(),
            "--reuse" => {
                opts.allow_reuse_local_caches = true;
                i -= 1;
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    let dir = dir.unwrap_or_else(|| {
        eprintln!("--dir is required");
        std::process::exit(2)
    });
    opts.store_path = vec![dir];
    opts.pages_per_file_shift = shift;
    opts.manifest_limit = 256 * 1024;
    let store = EloqStore::new(opts).unwrap_or_else(|e| panic!("options: {e}"));
    store.start(0).unwrap_or_else(|e| panic!("start: {e}"));
    let out = std::io::stdout();
    let mut out = out.lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    for n in start..start.saturating_add(count) {
        let w = BatchWriteRequest::new();
        w.set_args(crash_gen::partition(n), crash_gen::batch(n));
        let err = store.exec_sync(&w);
        if err != KvError::NoError {
            eprintln!("batch {n}: {}", w.error_message());
            std::process::exit(1);
        }
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
    }
    store.stop();
}
