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

/// Runs one writer until killed; returns the last acknowledged batch.
fn run_writer(dir: &std::path::Path, start: u64, run_ms: u64, extra: &[&str]) -> Option<u64> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eloqstore-crash-writer"))
        .arg("--dir")
        .arg(dir)
        .arg("--start")
        .arg(start.to_string())
        .arg("--threads")
        .arg("2")
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut last = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == "ready" {
                let _ = tx.send(());
            } else if let Some(n) = line.strip_prefix("ack ") {
                last = Some(n.parse::<u64>().unwrap());
            }
        }
        last
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("writer started");
    std::thread::sleep(Duration::from_millis(run_ms));
    // Child::kill sends SIGKILL.
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap()
}

fn crash_cycles(extra: &[&str], seed: u64) {
    let cycles: usize = std::env::var("ELOQSTORE_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut opts = disk_opts(tmp.path(), 2);
    opts.pages_per_file_shift = 8;
    opts.data_append_mode = extra.contains(&"--append");
    opts.enable_compression = extra.contains(&"--compression");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut durable: Option<u64> = None;
    let mut total_acked = 0;
    for cycle in 0..cycles {
        let start = durable.map_or(0, |d| d + 1);
        let acked = run_writer(&dir, start, rng.random_range(30..400), extra);
        if let Some(a) = acked {
            total_acked += a + 1 - start;
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
        durable = max_marker;
    }
    assert!(
        total_acked > cycles as u64,
        "the writer made too little progress ({total_acked} batches)"
    );
    println!("{cycles} kills, {total_acked} acknowledged batches, last durable {durable:?}");
}

#[test]
fn kill_during_writes() {
    crash_cycles(&[], 7);
}
