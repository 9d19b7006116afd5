//! Process-level behaviour of a started store: its open-file budget under
//! the process's RLIMIT_NOFILE. Tests that need a limit of their own run
//! their body in a child process (this test binary re-executed with
//! `--exact <test>`), so the parent's limit stays untouched.

mod common;

use std::process::Command;

use common::engine::*;
use eloqstore::*;

/// Set in a child run: `soft:hard` to apply to RLIMIT_NOFILE before the
/// test body runs.
const CHILD_ENV: &str = "ELOQSTORE_TEST_NOFILE";

fn nofile() -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    (r.rlim_cur, r.rlim_max)
}

fn set_nofile(soft: u64, hard: u64) {
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads one rlimit from a struct we own.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// In a child run, applies the limit and returns true (run the body);
/// in the parent, re-runs `test` in a child with RLIMIT_NOFILE `soft:hard`
/// (`hard` None keeps the current hard limit), asserts it passed, and
/// returns false.
fn in_child(test: &str, soft: u64, hard: Option<u64>) -> bool {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (s, h) = spec.split_once(':').expect("soft:hard");
        set_nofile(s.parse().unwrap(), h.parse().unwrap());
        // ELOQSTORE_LOG=info shows the store's budget.
        eloqstore::internals::logging::init_from_env();
        return true;
    }
    let hard = hard.unwrap_or(nofile().1);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{soft}:{hard}"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "child run of {test} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "the child did not run {test}:\n{text}"
    );
    false
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:04}").into_bytes()
}

/// Submits a write of 20 keys to every partition, all in flight together.
fn submit_all(s: &EloqStore, parts: &[TableIdent]) -> Vec<BatchWriteRequest> {
    parts
        .iter()
        .map(|t| {
            let w = BatchWriteRequest::new();
            let batch = (0..20)
                .map(|i| WriteDataEntry::upsert(key(i), t.to_string(), 1))
                .collect();
            w.set_args(t.clone(), batch);
            assert!(s.exec_async_no_callback(&w));
            w
        })
        .collect()
}

/// Waits for the writes; returns the partitions whose write failed, with
/// their failure codes.
fn failures(reqs: &[BatchWriteRequest], parts: &[TableIdent]) -> (Vec<TableIdent>, Vec<KvError>) {
    let mut failed = Vec::new();
    let mut codes = Vec::new();
    for (w, t) in reqs.iter().zip(parts) {
        w.wait();
        if w.error() != KvError::NoError {
            if failed.len() < 3 {
                println!("{t}: {}", w.error_message());
            }
            failed.push(t.clone());
            codes.push(w.error());
        }
    }
    (failed, codes)
}

fn partitions(prefix: &str, tables: u32) -> Vec<TableIdent> {
    (0..tables)
        .flat_map(|t| (0..4).map(move |p| TableIdent::new(format!("{prefix}{t}"), p)))
        .collect()
}

/// Asserts that at most 1% of the writes failed, only with OpenFileLimit,
/// and that one retry of those succeeds.
fn few_failures_then_retry(s: &EloqStore, failed: &[TableIdent], codes: &[KvError], total: usize) {
    println!("first pass: {} of {total} partitions failed", failed.len());
    assert!(
        codes.iter().all(|&c| c == KvError::OpenFileLimit),
        "only descriptor shortage may fail a write: {codes:?}"
    );
    assert!(
        failed.len() * 100 <= total,
        "{} of {total} writes ran out of descriptors",
        failed.len()
    );
    let (still, codes) = failures(&submit_all(s, failed), failed);
    assert!(still.is_empty(), "retry failed: {codes:?}");
}

/// Every partition holds what was written.
fn read_back(s: &EloqStore, parts: &[TableIdent]) {
    for t in parts {
        let e = get(s, t, &key(7)).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(e.value, t.to_string().into_bytes());
    }
}

/// Issue 10, defect 4: with the default `fd_limit` (10000) and a process
/// limit of 256 descriptors (hard limit too, so it cannot be raised), many
/// partitions written at once must not run out of descriptors: the store
/// clamps its budget to what the process really has.
#[test]
fn fd_budget_follows_a_low_process_limit() {
    if !in_child("fd_budget_follows_a_low_process_limit", 256, Some(256)) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = disk_opts(dir.path(), 2);
    assert_eq!(opts.fd_limit, 10000);
    let s = started(opts.clone());
    let parts = partitions("table", 150);
    let (failed, codes) = failures(&submit_all(&s, &parts), &parts);
    few_failures_then_retry(&s, &failed, &codes, parts.len());
    // Read back through the same small budget.
    read_back(&s, &parts);
    s.stop();
    check_clean(&opts);
}

/// Issue 10, defect 4: two stores in one process share the descriptors: the
/// second one's budget leaves room for what the first may keep open (the
/// limit is high enough for the first store's caches to fill up).
#[test]
fn two_stores_share_a_low_process_limit() {
    if !in_child("two_stores_share_a_low_process_limit", 1024, Some(1024)) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a_opts = disk_opts(&dir.path().join("a"), 2);
    let b_opts = disk_opts(&dir.path().join("b"), 2);
    let (a, b) = (started(a_opts.clone()), started(b_opts.clone()));
    let (pa, pb) = (partitions("a", 200), partitions("b", 200));
    // Both stores busy at once.
    let (ra, rb) = (submit_all(&a, &pa), submit_all(&b, &pb));
    let (fa, ca) = failures(&ra, &pa);
    let (fb, cb) = failures(&rb, &pb);
    few_failures_then_retry(&a, &fa, &ca, pa.len());
    few_failures_then_retry(&b, &fb, &cb, pb.len());
    read_back(&a, &pa);
    read_back(&b, &pb);
    a.stop();
    b.stop();
    check_clean(&a_opts);
    check_clean(&b_opts);
}

/// Issue 10, defect 4: a soft limit below what `fd_limit` needs is raised
/// toward the hard limit at start.
#[test]
fn start_raises_the_soft_descriptor_limit() {
    if !in_child("start_raises_the_soft_descriptor_limit", 256, None) {
        return;
    }
    let (soft, hard) = nofile();
    assert_eq!(soft, 256);
    assert!(
        hard > 1024,
        "this test needs a hard RLIMIT_NOFILE above 1024, have {hard}"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut opts = disk_opts(dir.path(), 2);
    opts.fd_limit = 1024;
    let s = started(opts);
    let (raised, same_hard) = nofile();
    assert_eq!(same_hard, hard);
    assert!(
        raised >= 1024,
        "soft limit {raised} after start; fd_limit 1024 needs it raised"
    );
    s.stop();
}

/// The entries of a store root that are not directories (the C++ engine
/// refuses to start over a store root holding any).
fn non_directories(root: &str) -> Vec<String> {
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Issue 10, defect 5: two started stores on one path in one process: the
/// second `start` fails with `Busy` naming the path, whatever spelling of
/// the path it uses, until the first stops (or is dropped).
#[test]
fn a_store_path_is_locked_while_a_store_runs() {
    let dir = tempfile::tempdir().unwrap();
    let opts = disk_opts(dir.path(), 2);
    let root = opts.store_path[0].clone();
    let a = started(opts.clone());
    put(&a, &TableIdent::new("t", 0), &[(b"k", b"a", 1)]);

    let b = EloqStore::new(opts.clone()).unwrap();
    let e = b.start(0).unwrap_err();
    assert_eq!(e.code(), KvError::Busy, "{e}");
    assert!(e.message().contains(&root), "{e}");
    assert!(b.is_stopped());
    // Another spelling of the same directory, listed beside another path.
    let mut other = opts.clone();
    other.store_path = vec![
        dir.path().join("other").to_string_lossy().into_owned(),
        format!("{}/../store/", root),
    ];
    let c = EloqStore::new(other.clone()).unwrap();
    let e = c.start(0).unwrap_err();
    assert_eq!(e.code(), KvError::Busy, "{e}");
    assert!(e.message().contains("../store/"), "{e}");
    // The failed starts released what they had locked: a store on the
    // other path alone starts.
    let mut other_only = other.clone();
    other_only.store_path.truncate(1);
    let d = started(other_only);
    d.stop();
    // The running store still works; no file appeared in the store root.
    put(&a, &TableIdent::new("t", 1), &[(b"k", b"a", 1)]);
    assert_eq!(non_directories(&root), Vec::<String>::new());

    a.stop();
    b.start(0).unwrap();
    assert_eq!(get(&b, &TableIdent::new("t", 0), b"k").unwrap().value, b"a");
    assert_eq!(a.start(0).unwrap_err().code(), KvError::Busy);
    drop(b);
    a.start(0).unwrap();
    a.stop();
    // The same directory listed twice in one store is one store: it starts.
    let mut twice = opts.clone();
    twice.store_path = vec![root.clone(), format!("{root}/")];
    let t = started(twice);
    t.stop();
}

/// Issue 10, defect 5: a second process cannot start a store on a path a
/// started store holds; the read-only tools still read it; once the first
/// store stops, the second process starts.
#[test]
fn a_second_process_cannot_start_on_a_locked_path() {
    let dir = tempfile::tempdir().unwrap();
    let opts = disk_opts(dir.path(), 1);
    let root = opts.store_path[0].clone();
    let a = started(opts.clone());
    put(&a, &TableIdent::new("t", 0), &[(b"k", b"v", 1)]);
    let writer = |count: &str| {
        Command::new(env!("CARGO_BIN_EXE_eloqstore-crash-writer"))
            .args(["--dir", &root, "--count", count, "--shift", "18"])
            .output()
            .unwrap()
    };
    let out = writer("1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second process started: {err}");
    assert!(err.contains("Device or resource busy"), "{err}");
    assert!(err.contains(&root), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ready"));

    // The tools take no lock.
    let ini = dir.path().join("options.ini");
    std::fs::write(
        &ini,
        format!("[run]\nnum_threads = 1\n[permanent]\nstore_path = {root}\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_eloqstore"))
        .args(["scan", "--options", ini.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);

    a.stop();
    let out = writer("1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ack 0"));
}

/// Issue 10, defect 5: a child process forked (by another thread) while a
/// store runs shares the store's lock until it execs. A store started on
/// the path right after `stop` waits that moment out instead of failing
/// with `Busy`.
#[test]
fn a_lock_shared_with_a_forked_child_is_waited_out() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let opts = disk_opts(dir.path(), 1);
    let a = started(opts.clone());
    let (mut forked, tell) = std::io::pipe().unwrap();
    let tell_fd = tell.as_raw_fd();
    let spawner = std::thread::spawn(move || {
        let mut cmd = Command::new("true");
        // SAFETY: the closure runs in the forked child before exec and
        // calls only async-signal-safe functions (write, nanosleep) on a
        // descriptor the child inherited and a stack buffer.
        unsafe {
            cmd.pre_exec(move || {
                libc::write(tell_fd, b"f".as_ptr().cast(), 1);
                let pause = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 200_000_000,
                };
                libc::nanosleep(&pause, std::ptr::null_mut());
                Ok(())
            });
        }
        cmd.status().unwrap()
    });
    // The child exists (and holds a copy of the lock) until it execs.
    let mut byte = [0u8; 1];
    forked.read_exact(&mut byte).unwrap();
    drop(tell);
    a.stop();
    let b = EloqStore::new(opts).unwrap();
    b.start(0)
        .unwrap_or_else(|e| panic!("start after stop: {e}"));
    assert!(spawner.join().unwrap().success());
    b.stop();
}
