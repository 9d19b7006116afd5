//! Crash test: a child process writes acknowledged batches in a loop and is
//! killed with SIGKILL at random moments. After each kill the store must
//! hold every acknowledged batch entirely, no batch partly, and `check`
//! must be clean. `ELOQSTORE_CRASH_CYCLES` sets the number of kills
//! (default 20).

mod common;

#[path = "common/crash_gen.rs"]
mod crash_gen;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::engine::*;
use eloqstore::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

type State = BTreeMap<Vec<u8>, (Vec<u8>, u64)>;

/// What partition `p` holds after batches `0..=last` (all partitions).
fn expected(p: u32, last: Option<u64>) -> State {
    let mut st = State::new();
    let Some(last) = last else { return st };
    for n in 0..=last {
        if crash_gen::partition(n).partition_id != p {
            continue;
        }
        for e in crash_gen::batch(n) {
            if e.op == WriteOp::Delete {
                st.remove(&e.key);
            } else {
                st.insert(e.key, (e.val, e.timestamp));
            }
        }
    }
    st
}

/// Runs one writer until killed (or until it aborts at `kill_at`); returns
/// the last acknowledged batch and whether the kill point was reached.
/// Acknowledged batches after which a writer that has not reached its
/// kill point is killed anyway.
const KILL_POINT_PATIENCE_BATCHES: u64 = 200;

fn run_writer(
    dir: &std::path::Path,
    start: u64,
    run_ms: u64,
    extra: &[&str],
    kill_at: Option<&str>,
) -> (Option<u64>, bool) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eloqstore-crash-writer"));
    match kill_at {
        Some(k) => cmd.env("ELOQSTORE_KILL_AT", k),
        None => cmd.env_remove("ELOQSTORE_KILL_AT"),
    };
    let mut child = cmd
        .arg("--dir")
        .arg(dir)
        .arg("--start")
        .arg(start.to_string())
        .arg("--threads")
        .arg("2")
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let acks = Arc::new(AtomicU64::new(0));
    let reader = {
        let acks = acks.clone();
        std::thread::spawn(move || {
            let mut last = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line == "ready" {
                    let _ = tx.send(());
                } else if let Some(n) = line.strip_prefix("ack ") {
                    last = Some(n.parse::<u64>().unwrap());
                    acks.fetch_add(1, Ordering::Relaxed);
                }
            }
            last
        })
    };
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the writer did not start: {}", err_reader.join().unwrap());
    }
    // Without a kill point: wait for the run time. With one: wait for the
    // writer to abort there, however slow the machine is, unless it has
    // made so much progress (or spent so long) that the point is not on
    // its path this time.
    let started = std::time::Instant::now();
    let deadline = started + Duration::from_millis(run_ms);
    while child.try_wait().unwrap().is_none() {
        let now = std::time::Instant::now();
        let done = match kill_at {
            None => now >= deadline,
            Some(_) => {
                acks.load(Ordering::Relaxed) >= KILL_POINT_PATIENCE_BATCHES
                    || now >= started + Duration::from_secs(30)
            }
        };
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Child::kill sends SIGKILL (harmless if it already died).
    let _ = child.kill();
    child.wait().unwrap();
    let stderr = err_reader.join().unwrap();
    (reader.join().unwrap(), stderr.contains("kill point"))
}

fn crash_cycles(extra: &[&str], seed: u64, kill_points: &[&str]) {
    crash_cycles_on(extra, seed, kill_points, None)
}

/// `cloud`: the server and the bucket prefix of a cloud store; the local
/// cache is wiped before every other restart and reused (its temporary
/// files removed, as upstream requires) before the others.
fn crash_cycles_on(
    extra: &[&str],
    seed: u64,
    kill_points: &[&str],
    cloud: Option<(&common::s3::S3Server, &str)>,
) {
    let cycles: usize = std::env::var("ELOQSTORE_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut opts = disk_opts(tmp.path(), 2);
    let cloud_args: Vec<String> = match cloud {
        Some((server, prefix)) => {
            let c = server.options(prefix, &dir);
            opts.cloud_store_path = c.cloud_store_path.clone();
            opts.cloud_endpoint = c.cloud_endpoint.clone();
            opts.allow_reuse_local_caches = true;
            vec![
                "--cloud-endpoint".into(),
                c.cloud_endpoint,
                "--cloud-path".into(),
                c.cloud_store_path,
                "--reuse".into(),
            ]
        }
        None => Vec::new(),
    };
    let extra: Vec<&str> = extra
        .iter()
        .copied()
        .chain(cloud_args.iter().map(String::as_str))
        .collect();
    let extra = extra.as_slice();
    opts.pages_per_file_shift = extra
        .iter()
        .position(|a| *a == "--shift")
        .map_or(8, |i| extra[i + 1].parse().unwrap());
    opts.data_append_mode = extra.contains(&"--append");
    opts.enable_compression = extra.contains(&"--compression");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut durable: Option<u64> = None;
    let mut total_acked = 0;
    let mut points_hit = 0;
    for cycle in 0..cycles {
        let start = durable.map_or(0, |d| d + 1);
        // Every other cycle aborts at a kill point instead of a random kill.
        let kill_at = (!kill_points.is_empty() && cycle % 2 == 1).then(|| {
            let p = kill_points[(cycle / 2) % kill_points.len()];
            format!("{p}:{}", rng.random_range(1..4))
        });
        let (acked, hit) = run_writer(
            &dir,
            start,
            rng.random_range(30..400),
            extra,
            kill_at.as_deref(),
        );
        points_hit += hit as usize;
        if let Some(a) = acked {
            total_acked += a + 1 - start;
        }
        if cloud.is_some() {
            if cycle % 2 == 0 {
                let _ = std::fs::remove_dir_all(&dir);
            } else {
                remove_tmp_files(&dir);
            }
        }
        // Verify in this process.
        let store = started(opts.clone());
        let mut max_marker = durable;
        for p in 0..crash_gen::PARTITIONS {
            let tbl = TableIdent::new("crash", p);
            let got = match scan(&store, &tbl, b"m", b"n") {
                Ok(v) => v,
                Err(e) if e.code() == KvError::NotFound => Vec::new(),
                Err(e) => panic!("cycle {cycle}: {e}"),
            };
            for e in got {
                let n: u64 = std::str::from_utf8(&e.value).unwrap().parse().unwrap();
                max_marker = max_marker.max(Some(n));
            }
        }
        let acked_or_before = acked.or(durable);
        assert!(
            max_marker >= acked_or_before,
            "cycle {cycle}: acknowledged batch {acked:?} lost (durable {max_marker:?})"
        );
        assert!(
            max_marker <= acked_or_before.map_or(Some(start), |a| Some(a + 1)),
            "cycle {cycle}: batch {max_marker:?} durable beyond the one in flight"
        );
        for p in 0..crash_gen::PARTITIONS {
            let tbl = TableIdent::new("crash", p);
            let want = expected(p, max_marker);
            let got: State = match scan(&store, &tbl, b"", b"") {
                Ok(v) => v
                    .into_iter()
                    .map(|e| (e.key, (e.value, e.timestamp)))
                    .collect(),
                Err(e) if e.code() == KvError::NotFound => State::new(),
                Err(e) => panic!("cycle {cycle}: {e}"),
            };
            assert_eq!(
                got.len(),
                want.len(),
                "cycle {cycle} partition {p}: batch {max_marker:?} partly visible"
            );
            assert!(
                got == want,
                "cycle {cycle} partition {p}: content differs from batches up to {max_marker:?}"
            );
        }
        store.stop();
        check_clean(&opts);
        if cloud.is_some() && cycle % 3 == 0 {
            let _ = std::fs::remove_dir_all(&dir);
        }
        durable = max_marker;
    }
    assert!(
        total_acked > cycles as u64,
        "the writer made too little progress ({total_acked} batches)"
    );
    if !kill_points.is_empty() {
        assert!(
            points_hit * 4 >= cycles,
            "kill points reached in only {points_hit} of {cycles} cycles"
        );
    }
    println!(
        "{cycles} kills ({points_hit} at kill points), {total_acked} acknowledged batches, last durable {durable:?}"
    );
}

/// Removes `*.tmp` files a killed writer left in a cloud store's cache.
fn remove_tmp_files(dir: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            remove_tmp_files(&p);
        } else if p.to_string_lossy().ends_with(".tmp") {
            std::fs::remove_file(&p).unwrap();
        }
    }
}

#[test]
fn kill_during_writes() {
    crash_cycles(&[], 7, &[]);
}

/// Append mode with compression and small files: compaction and file GC
/// run all the time; half the kills land exactly inside them.
#[test]
fn kill_during_compaction_and_gc() {
    crash_cycles(
        &["--append", "--compression", "--shift", "5"],
        8,
        &[
            "compact.before_commit",
            "compact.committed",
            "gc.deleted_file",
            "commit.pages_synced",
        ],
    );
}

/// A cloud store (s3s-fs): kills anywhere in a commit's uploads, in
/// compaction and GC; the cache is wiped before some restarts and reused
/// before the others. The bucket alone must hold every acknowledged batch.
#[test]
fn kill_during_cloud_writes() {
    let server = common::s3::S3Server::start();
    crash_cycles_on(
        &["--append", "--shift", "5"],
        9,
        &[
            "commit.pages_synced",
            "commit.data_uploaded",
            "commit.manifest_uploaded",
            "compact.committed",
            "gc.deleted_file",
        ],
        Some((&server, "crash")),
    );
}
