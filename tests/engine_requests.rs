//! Every request type and the edge cases of API.md, on disk and in memory.

mod common;

use common::engine::*;
use eloqstore::*;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Runs a test body against a disk store and an in-memory store.
fn both(f: impl Fn(&EloqStore, &KvOptions)) {
    let dir = tempfile::tempdir().unwrap();
    let o = disk_opts(dir.path(), 2);
    let s = started(o.clone());
    f(&s, &o);
    s.stop();
    check_clean(&o);
    let o = mem_opts(2);
    let s = started(o.clone());
    f(&s, &o);
    s.stop();
}

fn k(i: u32) -> Vec<u8> {
    format!("k{i:05}").into_bytes()
}

#[test]
fn missing_partition_and_keys() {
    both(|s, _| {
        let t = TableIdent::new("none", 0);
        assert_eq!(get(s, &t, b"a").unwrap_err().code(), KvError::NotFound);
        assert_eq!(floor(s, &t, b"a").unwrap_err().code(), KvError::NotFound);
        assert_eq!(scan(s, &t, b"", b"").unwrap_err().code(), KvError::NotFound);
        assert_eq!(truncate(s, &t, b"a"), KvError::NoError);
        assert_eq!(truncate(s, &t, b""), KvError::NoError);
        let c = CleanExpiredRequest::new();
        c.set_table_id(t.clone());
        assert_eq!(s.exec_sync(&c), KvError::NoError);
        // Deleting in a partition that does not exist succeeds.
        assert_eq!(
            write(s, &t, vec![WriteDataEntry::delete(b"x".to_vec(), 1)]),
            KvError::NoError
        );
        let t = TableIdent::new("t", 1);
        put(s, &t, &[(b"b", b"1", 1), (b"d", b"2", 1)]);
        assert_eq!(get(s, &t, b"a").unwrap_err().code(), KvError::NotFound);
        assert_eq!(get(s, &t, b"c").unwrap_err().code(), KvError::NotFound);
        assert_eq!(get(s, &t, b"e").unwrap_err().code(), KvError::NotFound);
        assert_eq!(get(s, &t, b"b").unwrap().value, b"1");
        assert_eq!(floor(s, &t, b"a").unwrap_err().code(), KvError::NotFound);
        assert_eq!(floor(s, &t, b"c").unwrap().key, b"b");
        assert_eq!(floor(s, &t, b"zzz").unwrap().key, b"d");
    });
}

#[test]
fn ranges_and_pagination() {
    both(|s, _| {
        let t = TableIdent::new("scan", 0);
        let batch: Vec<_> = (0..1000)
            .map(|i| WriteDataEntry::upsert(k(i), vec![b'v'; (i % 50) as usize], 1))
            .collect();
        assert_eq!(write(s, &t, batch), KvError::NoError);
        assert_eq!(scan(s, &t, b"", b"").unwrap().len(), 1000);
        assert_eq!(scan(s, &t, &k(10), &k(20)).unwrap().len(), 10);
        // Empty and inverted ranges.
        assert!(scan(s, &t, &k(10), &k(10)).unwrap().is_empty());
        assert!(scan(s, &t, &k(20), &k(10)).unwrap().is_empty());
        assert!(scan(s, &t, b"z", b"").unwrap().is_empty());
        // Exclusive begin.
        let r = ScanRequest::new();
        r.set_args(t.clone(), k(10), k(13), false);
        assert_eq!(s.exec_sync(&r), KvError::NoError);
        assert_eq!(
            r.entries()
                .iter()
                .map(|e| e.key.clone())
                .collect::<Vec<_>>(),
            [k(11), k(12)]
        );
        // Pagination by entries: exactly at the boundary there is no rest.
        let r = ScanRequest::new();
        r.set_args(t.clone(), k(0), k(10), true);
        r.set_pagination(10, 0);
        s.exec_sync(&r);
        assert_eq!(r.entries().len(), 10);
        assert!(!r.has_remaining());
        r.set_pagination(9, 0);
        s.exec_sync(&r);
        assert_eq!(r.entries().len(), 9);
        assert!(r.has_remaining());
        // Pagination by bytes: each page within the limit, one oversized
        // entry still returned, continuation gives the whole range.
        for (entries, bytes) in [(7usize, 0usize), (0, 300), (5, 200), (0, 1), (3, 100_000)] {
            let mut all = Vec::new();
            let mut begin = Vec::new();
            let mut inclusive = true;
            loop {
                let r = ScanRequest::new();
                r.set_args(t.clone(), begin.clone(), k(500), inclusive);
                r.set_pagination(entries, bytes);
                assert_eq!(s.exec_sync(&r), KvError::NoError);
                let page = r.entries();
                let (n, size) = r.result_size();
                assert_eq!(n, page.len());
                if entries > 0 {
                    assert!(n <= entries);
                }
                if bytes > 0 && n > 1 {
                    assert!(size <= bytes, "page of {size} bytes over {bytes}");
                }
                assert!(n >= 1 || !r.has_remaining());
                all.extend(page.iter().cloned());
                if !r.has_remaining() {
                    break;
                }
                begin = page.last().unwrap().key.clone();
                inclusive = false;
            }
            let want = scan(s, &t, b"", &k(500)).unwrap();
            assert_eq!(all, want, "pagination {entries}/{bytes}");
        }
        let r = ScanRequest::new();
        r.set_args(t.clone(), b"", b"", true);
        r.set_prefetch_page_num(1);
        s.exec_sync(&r);
        assert_eq!(r.entries().len(), 1000);
    });
}

#[test]
fn timestamps_and_deletes() {
    both(|s, _| {
        let t = TableIdent::new("ts", 0);
        put(s, &t, &[(b"a", b"v10", 10)]);
        // Older write loses.
        put(s, &t, &[(b"a", b"v5", 5)]);
        assert_eq!(get(s, &t, b"a").unwrap().value, b"v10");
        // Equal timestamp: the new write wins.
        put(s, &t, &[(b"a", b"v10b", 10)]);
        let e = get(s, &t, b"a").unwrap();
        assert_eq!((e.value.as_slice(), e.timestamp), (&b"v10b"[..], 10));
        // Older delete is ignored, newer delete removes.
        assert_eq!(
            write(s, &t, vec![WriteDataEntry::delete(b"a".to_vec(), 9)]),
            KvError::NoError
        );
        assert!(get(s, &t, b"a").is_ok());
        assert_eq!(
            write(s, &t, vec![WriteDataEntry::delete(b"a".to_vec(), 11)]),
            KvError::NoError
        );
        assert_eq!(get(s, &t, b"a").unwrap_err().code(), KvError::NotFound);
        // No tombstones: an older write after a delete inserts again.
        put(s, &t, &[(b"a", b"old", 1)]);
        assert_eq!(get(s, &t, b"a").unwrap().value, b"old");
        // Mixed batch.
        let batch = vec![
            WriteDataEntry::upsert(b"a".to_vec(), b"x".to_vec(), 2),
            WriteDataEntry::delete(b"b".to_vec(), 2),
            WriteDataEntry::upsert(b"c".to_vec(), b"y".to_vec(), 2),
        ];
        assert_eq!(write(s, &t, batch), KvError::NoError);
        let keys: Vec<_> = scan(s, &t, b"", b"")
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, [b"a".to_vec(), b"c".to_vec()]);
        // An empty batch is a no-op.
        assert_eq!(write(s, &t, Vec::new()), KvError::NoError);
    });
}

#[test]
fn expiry_is_never_returned() {
    both(|s, _| {
        let t = TableIdent::new("ttl", 0);
        let now = now_ms();
        let batch = vec![
            WriteDataEntry::new(
                b"a".to_vec(),
                b"1".to_vec(),
                1,
                WriteOp::Upsert,
                now + 600_000,
            ),
            WriteDataEntry::new(b"b".to_vec(), b"2".to_vec(), 1, WriteOp::Upsert, now + 400),
            WriteDataEntry::new(b"c".to_vec(), b"3".to_vec(), 1, WriteOp::Upsert, 0),
            WriteDataEntry::new(b"d".to_vec(), b"4".to_vec(), 1, WriteOp::Upsert, now + 400),
        ];
        assert_eq!(write(s, &t, batch), KvError::NoError);
        let e = get(s, &t, b"a").unwrap();
        assert_eq!(e.expire_ts, now + 600_000);
        // Floor returns the floor entry's own expire_ts (upstream defect).
        assert_eq!(floor(s, &t, b"aa").unwrap().expire_ts, now + 600_000);
        assert_eq!(floor(s, &t, b"bb").unwrap().expire_ts, now + 400);
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(get(s, &t, b"b").unwrap_err().code(), KvError::NotFound);
        assert_eq!(floor(s, &t, b"bb").unwrap().key, b"a");
        assert_eq!(floor(s, &t, b"dd").unwrap().key, b"c");
        let keys: Vec<_> = scan(s, &t, b"", b"")
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, [b"a".to_vec(), b"c".to_vec()]);
        // An upsert whose expiry already passed deletes the key.
        let past = WriteDataEntry::new(b"c".to_vec(), b"new".to_vec(), 5, WriteOp::Upsert, 1);
        assert_eq!(write(s, &t, vec![past]), KvError::NoError);
        assert_eq!(get(s, &t, b"c").unwrap_err().code(), KvError::NotFound);
        // And never inserts an absent key.
        let past = WriteDataEntry::new(b"z".to_vec(), b"new".to_vec(), 5, WriteOp::Upsert, now);
        assert_eq!(write(s, &t, vec![past]), KvError::NoError);
        assert_eq!(get(s, &t, b"z").unwrap_err().code(), KvError::NotFound);
        // CleanExpired removes what expired from the tree.
        let c = CleanExpiredRequest::new();
        c.set_table_id(t.clone());
        assert_eq!(s.exec_sync(&c), KvError::NoError);
        let keys: Vec<_> = scan(s, &t, b"", b"")
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, [b"a".to_vec()]);
    });
}

#[test]
fn truncate_at_and_between_keys() {
    both(|s, _| {
        let t = TableIdent::new("trunc", 0);
        let batch: Vec<_> = (0..3000)
            .map(|i| WriteDataEntry::upsert(k(i * 2), b"v".to_vec(), 1))
            .collect();
        assert_eq!(write(s, &t, batch), KvError::NoError);
        // At a key: that key goes too.
        assert_eq!(truncate(s, &t, &k(4000)), KvError::NoError);
        let all = scan(s, &t, b"", b"").unwrap();
        assert_eq!(all.len(), 2000);
        assert_eq!(all.last().unwrap().key, k(3998));
        // Between keys.
        assert_eq!(truncate(s, &t, &k(1001)), KvError::NoError);
        let all = scan(s, &t, b"", b"").unwrap();
        assert_eq!(all.len(), 501);
        assert_eq!(all.last().unwrap().key, k(1000));
        assert_eq!(get(s, &t, &k(1002)).unwrap_err().code(), KvError::NotFound);
        // Below every key: empties the partition.
        assert_eq!(truncate(s, &t, b"a"), KvError::NoError);
        assert!(scan(s, &t, b"", b"").unwrap().is_empty());
        // Writable again, then fully truncated.
        put(s, &t, &[(b"x", b"1", 1)]);
        assert_eq!(truncate(s, &t, b""), KvError::NoError);
        assert!(scan(s, &t, b"", b"").unwrap().is_empty());
        assert_eq!(get(s, &t, b"x").unwrap_err().code(), KvError::NotFound);
        put(s, &t, &[(b"y", b"2", 1)]);
        assert_eq!(get(s, &t, b"y").unwrap().value, b"2");
    });
}

#[test]
fn drop_table_across_partitions() {
    both(|s, _| {
        for p in 0..6 {
            put(
                s,
                &TableIdent::new("drop", p),
                &[(b"a", b"1", 1), (b"b", b"2", 1)],
            );
            put(s, &TableIdent::new("keep", p), &[(b"a", b"1", 1)]);
        }
        let d = DropTableRequest::new();
        d.set_args("drop");
        assert_eq!(s.exec_sync(&d), KvError::NoError, "{}", d.error_message());
        for p in 0..6 {
            let t = TableIdent::new("drop", p);
            assert!(scan(s, &t, b"", b"").unwrap().is_empty());
            assert_eq!(get(s, &t, b"a").unwrap_err().code(), KvError::NotFound);
            assert_eq!(
                get(s, &TableIdent::new("keep", p), b"a").unwrap().value,
                b"1"
            );
        }
        // Refilled afterwards; dropping an unknown table succeeds.
        put(s, &TableIdent::new("drop", 0), &[(b"c", b"3", 1)]);
        assert_eq!(
            get(s, &TableIdent::new("drop", 0), b"c").unwrap().value,
            b"3"
        );
        d.set_args("nosuchtable");
        assert_eq!(s.exec_sync(&d), KvError::NoError);
        d.set_args("");
        assert_eq!(s.exec_sync(&d), KvError::InvalidArgs);
    });
}

#[test]
fn invalid_arguments() {
    both(|s, o| {
        let t = TableIdent::new("bad", 0);
        let up = |key: &[u8], ts| WriteDataEntry::upsert(key.to_vec(), b"v".to_vec(), ts);
        assert_eq!(
            write(s, &t, vec![up(b"b", 1), up(b"a", 1)]),
            KvError::InvalidArgs
        );
        assert_eq!(
            write(s, &t, vec![up(b"a", 1), up(b"a", 2)]),
            KvError::InvalidArgs
        );
        assert_eq!(write(s, &t, vec![up(b"", 1)]), KvError::InvalidArgs);
        let big = vec![b'k'; o.data_page_size as usize / 2 + 1];
        assert_eq!(write(s, &t, vec![up(&big, 1)]), KvError::InvalidArgs);
        let max = vec![b'k'; o.data_page_size as usize / 2];
        assert_eq!(write(s, &t, vec![up(&max, 1)]), KvError::NoError);
        assert_eq!(get(s, &t, &max).unwrap().value, b"v");
        // Nothing of a refused batch was applied.
        assert_eq!(get(s, &t, b"a").unwrap_err().code(), KvError::NotFound);
        let r = ReadRequest::new();
        r.set_args(TableIdent::default(), b"a".to_vec());
        assert_eq!(s.exec_sync(&r), KvError::InvalidArgs);
        let r = ListObjectRequest::new();
        assert_eq!(s.exec_sync(&r), KvError::InvalidArgs);
        assert!(r.error_message().contains("cloud"));
    });
}

#[test]
fn lifecycle_and_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let o = disk_opts(dir.path(), 1);
    let s = EloqStore::new(o.clone()).unwrap();
    assert!(s.is_stopped());
    let r = ReadRequest::new();
    r.set_args(TableIdent::new("t", 0), b"a".to_vec());
    assert_eq!(s.exec_sync(&r), KvError::NotRunning);
    assert!(r.is_done());
    assert!(!s.exec_async(&r, 1, |_| panic!("no callback on a stopped store")));
    s.start(0).unwrap();
    s.start(0).unwrap();
    assert!(!s.is_stopped());
    assert_eq!(s.term(), 0);
    put(&s, &TableIdent::new("t", 0), &[(b"a", b"1", 1)]);
    s.stop();
    s.stop();
    assert!(s.is_stopped());
    assert_eq!(s.exec_sync(&r), KvError::NotRunning);
    s.start(0).unwrap();
    assert_eq!(get(&s, &TableIdent::new("t", 0), b"a").unwrap().value, b"1");
    drop(s);
    // Store path problems.
    let file = dir.path().join("afile");
    std::fs::write(&file, b"x").unwrap();
    let mut bad = o.clone();
    bad.store_path = vec![file.to_string_lossy().into_owned()];
    assert_eq!(
        EloqStore::new(bad).unwrap().start(0).unwrap_err().code(),
        KvError::InvalidArgs
    );
    std::fs::write(dir.path().join("store").join("stray"), b"x").unwrap();
    assert_eq!(
        EloqStore::new(o).unwrap().start(0).unwrap_err().code(),
        KvError::InvalidArgs
    );
    // Invalid options are refused at construction.
    let mut bad = KvOptions::default();
    bad.data_page_size = 1000;
    assert_eq!(
        EloqStore::new(bad).unwrap_err().code(),
        KvError::InvalidArgs
    );
    // A cloud store whose service cannot be reached fails start, naming
    // the endpoint (tests/cloud*.rs cover the cloud tier itself).
    let mut cloud = KvOptions::default();
    cloud.cloud_store_path = "bucket/x".into();
    cloud.cloud_endpoint = "http://127.0.0.1:1".into();
    cloud.store_path = vec![dir.path().join("c").to_string_lossy().into_owned()];
    let err = EloqStore::new(cloud).unwrap().start(0).unwrap_err();
    assert_eq!(err.code(), KvError::CloudErr, "{err}");
    assert!(err.message().contains("127.0.0.1:1"), "{err}");
}

#[test]
fn async_requests_and_callbacks() {
    both(|s, _| {
        let t = TableIdent::new("async", 0);
        let (tx, rx) = std::sync::mpsc::channel();
        // 128 writes to one partition, submitted at once: applied in order.
        let reqs: Vec<_> = (0..128u64)
            .map(|i| {
                let w = BatchWriteRequest::new();
                let batch = (0..100)
                    .map(|j| WriteDataEntry::upsert(k(j), format!("v{i}").into_bytes(), i))
                    .collect();
                w.set_args(t.clone(), batch);
                w
            })
            .collect();
        for (i, w) in reqs.iter().enumerate() {
            let tx = tx.clone();
            assert!(s.exec_async(w, i as u64, move |r| {
                tx.send((
                    r.user_data(),
                    r.error(),
                    std::thread::current().name().map(String::from),
                ))
                .unwrap();
            }));
        }
        for _ in 0..128 {
            let (_, err, thread) = rx.recv().unwrap();
            assert_eq!(err, KvError::NoError);
            assert!(thread.unwrap().starts_with("eloqstore-shard"));
        }
        let all = scan(s, &t, b"", b"").unwrap();
        assert_eq!(all.len(), 100);
        assert!(all.iter().all(|e| e.value == b"v127" && e.timestamp == 127));
        // A request in flight cannot be submitted twice; polling works.
        let r = ReadRequest::new();
        r.set_args(t.clone(), k(5));
        assert!(s.exec_async_no_callback(&r));
        r.wait();
        assert!(r.is_done());
        assert_eq!(r.value(), b"v127");
    });
}

/// Table names are byte strings: a non-UTF-8 name stores, reads back,
/// names its directory with the same bytes, and drops; names that cannot
/// be directory names are refused.
#[test]
fn byte_string_table_names() {
    both(|s, o| {
        let name: &[u8] = b"t\xff\xfe";
        let t = TableIdent::new(name, 3);
        put(s, &t, &[(b"a", b"1", 1)]);
        assert_eq!(get(s, &t, b"a").unwrap().value, b"1");
        if let Some(root) = o.store_path.first() {
            use std::os::unix::ffi::OsStrExt;
            let names: Vec<Vec<u8>> = std::fs::read_dir(root)
                .unwrap()
                .map(|e| e.unwrap().file_name().as_bytes().to_vec())
                .collect();
            assert!(names.contains(&b"t\xff\xfe.3".to_vec()), "{names:?}");
        }
        let d = DropTableRequest::new();
        d.set_args(name);
        assert_eq!(s.exec_sync(&d), KvError::NoError, "{}", d.error_message());
        assert_eq!(get(s, &t, b"a").unwrap_err().code(), KvError::NotFound);
        for bad in [&b"a/b"[..], b"a\0b"] {
            let t = TableIdent::new(bad, 0);
            let r = ReadRequest::new();
            r.set_args(t, b"a".to_vec());
            assert_eq!(s.exec_sync(&r), KvError::InvalidArgs);
            assert!(
                r.error_message().contains("table name"),
                "{}",
                r.error_message()
            );
        }
    });
}

/// Issue 10, defect 8: a table name too long for its partition directory
/// (`<name>.<partition>` over NAME_MAX, 255 bytes) is `InvalidArgs` naming
/// the limit, for writes and reads alike; the longest name that fits works.
#[test]
fn table_name_length_limit() {
    both(|s, o| {
        let longest = TableIdent::new(vec![b'n'; 252], 17);
        put(s, &longest, &[(b"a", b"1", 1)]);
        assert_eq!(get(s, &longest, b"a").unwrap().value, b"1");
        if let Some(root) = o.store_path.first() {
            assert!(std::path::Path::new(root).join(longest.dir_name()).is_dir());
        }
        for t in [
            TableIdent::new(vec![b'n'; 253], 17),
            TableIdent::new(vec![b'x'; 5000], 3),
        ] {
            let limit = format!("at most {} bytes", t.max_name_len());
            let w = BatchWriteRequest::new();
            w.set_args(t.clone(), vec![WriteDataEntry::upsert(*b"a", *b"1", 1)]);
            assert_eq!(
                s.exec_sync(&w),
                KvError::InvalidArgs,
                "{}",
                w.error_message()
            );
            assert!(w.error_message().contains(&limit), "{}", w.error_message());
            assert!(
                w.error_message().contains("NAME_MAX"),
                "{}",
                w.error_message()
            );
            let r = ReadRequest::new();
            r.set_args(t, b"a".to_vec());
            assert_eq!(
                s.exec_sync(&r),
                KvError::InvalidArgs,
                "{}",
                r.error_message()
            );
            assert!(r.error_message().contains(&limit), "{}", r.error_message());
        }
    });
}

/// A request refused before it reaches a partition (bad arguments, a
/// rejection mark, a DropTable with nothing to drop) still completes on a
/// shard thread: an async callback never runs inside `exec_async`.
#[test]
fn early_failures_complete_on_a_shard_thread() {
    both(|s, _| {
        let caller = std::thread::current().id();
        let run = |r: &Request| {
            let (tx, rx) = std::sync::mpsc::channel();
            assert!(s.exec_async(r, 7, move |done| {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send((
                    std::thread::current().id(),
                    name,
                    done.error(),
                    done.error_message(),
                ))
                .unwrap();
            }));
            let (id, name, err, msg) = rx.recv().unwrap();
            assert_ne!(id, caller);
            assert!(name.unwrap_or_default().starts_with("eloqstore-shard"));
            (err, msg)
        };
        let bad = ReadRequest::new();
        bad.set_args(TableIdent::new("a/b", 0), b"k".to_vec());
        assert_eq!(run(bad.untyped()).0, KvError::InvalidArgs);

        let marked = ReadRequest::new();
        marked.set_args(TableIdent::new("t", 0), b"k".to_vec());
        marked
            .untyped()
            .reject_arguments(Some("argument 3 is out of range".into()));
        let (err, msg) = run(marked.untyped());
        assert_eq!(err, KvError::InvalidArgs);
        assert!(msg.contains("argument 3 is out of range"), "{msg}");
        // Cleared, the same request runs normally.
        marked.untyped().reject_arguments(None);
        assert_eq!(run(marked.untyped()).0, KvError::NotFound);

        let d = DropTableRequest::new();
        d.set_args("nothing-here");
        assert_eq!(run(d.untyped()).0, KvError::NoError);
    });
}
