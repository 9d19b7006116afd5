//! The C++-written fixture stores opened by the engine: read exactly,
//! written to further (inserts, overwrites, deletes, overflow values, a
//! truncation), read back across a restart, and still clean under `check`.

mod common;

use std::collections::BTreeMap;

use common::engine::{check_clean, scan, truncate, write};
use common::*;
use eloqstore::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

type Model = BTreeMap<TableIdent, BTreeMap<Vec<u8>, KvEntry>>;

/// What the engine must return: stored entries whose expiry has not passed.
fn live(c: &Content) -> Model {
    let now = now_ms();
    c.iter()
        .map(|(t, m)| {
            let m = m
                .iter()
                .filter(|(_, e)| e.expire_ts == 0 || e.expire_ts > now)
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect();
            (t.clone(), m)
        })
        .collect()
}

fn assert_matches(store: &EloqStore, model: &Model, what: &str) {
    for (tbl, want) in model {
        let got = scan(store, tbl, b"", b"").unwrap_or_else(|e| panic!("{what} {tbl}: {e}"));
        assert_eq!(got.len(), want.len(), "{what} {tbl}: entry count");
        for (g, w) in got.iter().zip(want.values()) {
            assert_eq!(g, w, "{what} {tbl}");
        }
    }
}

#[test]
fn fixtures_opened_written_and_checked() {
    let mut rng = StdRng::seed_from_u64(99);
    for fx in fixtures() {
        let tmp = copy_fixture(&fx);
        let opts = options_at(&fx, tmp.path());
        let store = EloqStore::new(opts.clone()).unwrap();
        store.start(0).unwrap();
        let mut model = live(&stored_content(&fx));
        assert_matches(&store, &model, &format!("{} as written by C++", name(&fx)));

        let max_ts = model
            .values()
            .flat_map(|m| m.values())
            .map(|e| e.timestamp)
            .max()
            .unwrap_or(0);
        let ts = max_ts + 1;
        for (tbl, m) in model.iter_mut() {
            let existing: Vec<Vec<u8>> = m.keys().cloned().collect();
            let mut batch = BTreeMap::new();
            for i in 0..200u32 {
                let mut k = existing
                    .get(i as usize % existing.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                k.extend_from_slice(format!("-new{i}").as_bytes());
                let len = if i % 40 == 0 {
                    9000
                } else {
                    rng.random_range(1..300)
                };
                batch.insert(k.clone(), WriteDataEntry::upsert(k, vec![b'n'; len], ts));
            }
            for k in existing.iter().step_by(7).take(100) {
                batch.insert(
                    k.clone(),
                    WriteDataEntry::upsert(k.clone(), b"overwritten".to_vec(), ts),
                );
            }
            for k in existing.iter().skip(3).step_by(11).take(50) {
                batch.insert(k.clone(), WriteDataEntry::delete(k.clone(), ts));
            }
            let batch: Vec<_> = batch.into_values().collect();
            assert_eq!(
                write(&store, tbl, batch.clone()),
                KvError::NoError,
                "{} {tbl}",
                name(&fx)
            );
            for e in batch {
                if e.op == WriteOp::Delete {
                    m.remove(&e.key);
                } else {
                    m.insert(
                        e.key.clone(),
                        KvEntry {
                            key: e.key,
                            value: e.val,
                            timestamp: ts,
                            expire_ts: 0,
                        },
                    );
                }
            }
            // Truncate the last tenth.
            if let Some(pos) = m.keys().nth(m.len() * 9 / 10).cloned() {
                assert_eq!(truncate(&store, tbl, &pos), KvError::NoError);
                m.retain(|k, _| *k < pos);
            }
        }
        // Append-mode stores also compact and collect files.
        if opts.data_append_mode {
            for tbl in model.keys() {
                let c = CompactRequest::new();
                c.set_table_id(tbl.clone());
                assert_eq!(store.exec_sync(&c), KvError::NoError, "{} {tbl}", name(&fx));
            }
        }
        assert_matches(&store, &model, &format!("{} after writes", name(&fx)));
        store.stop();
        check_clean(&opts);
        store.start(0).unwrap();
        assert_matches(&store, &model, &format!("{} after restart", name(&fx)));
        store.stop();
        check_clean(&opts);
        let entries: usize = model.values().map(|m| m.len()).sum();
        println!("{}: {entries} entries after writes, check clean", name(&fx));
    }
}
