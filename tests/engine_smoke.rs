use eloqstore::*;

fn opts(dir: &std::path::Path) -> KvOptions {
    let mut o = KvOptions::default();
    o.store_path = vec![dir.join("store").to_string_lossy().into_owned()];
    o.num_threads = 2;
    o
}

#[test]
fn write_read_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = EloqStore::new(opts(dir.path())).unwrap();
    store.start(0).unwrap();
    let tbl = TableIdent::new("t", 3);
    let w = BatchWriteRequest::new();
    let batch: Vec<WriteDataEntry> = (0..5000u32)
        .map(|i| {
            WriteDataEntry::upsert(
                format!("key{i:06}"),
                format!("value-{i}").repeat(1 + (i % 7) as usize),
                1,
            )
        })
        .collect();
    w.set_args(tbl.clone(), batch);
    assert_eq!(
        store.exec_sync(&w),
        KvError::NoError,
        "{}",
        w.error_message()
    );
    let r = ReadRequest::new();
    r.set_args(tbl.clone(), b"key000042".to_vec());
    assert_eq!(
        store.exec_sync(&r),
        KvError::NoError,
        "{}",
        r.error_message()
    );
    assert_eq!(r.value(), b"value-42".repeat(1));
    let s = ScanRequest::new();
    s.set_args(
        tbl.clone(),
        b"key000100".to_vec(),
        b"key000200".to_vec(),
        true,
    );
    assert_eq!(store.exec_sync(&s), KvError::NoError);
    assert_eq!(s.entries().len(), 100);
    store.stop();
    store.start(0).unwrap();
    let r = ReadRequest::new();
    r.set_args(tbl.clone(), b"key004999".to_vec());
    assert_eq!(
        store.exec_sync(&r),
        KvError::NoError,
        "{}",
        r.error_message()
    );
    let f = FloorRequest::new();
    f.set_args(tbl.clone(), b"key004999zz".to_vec());
    assert_eq!(store.exec_sync(&f), KvError::NoError);
    assert_eq!(f.floor_key(), b"key004999");
    store.stop();
    let st = eloqstore::inspect::StoreReader::new(opts(dir.path())).unwrap();
    let (_, problems) = eloqstore::inspect::check::check_store(&st, false).unwrap();
    assert!(problems.is_empty(), "{}", problems[0]);
}
