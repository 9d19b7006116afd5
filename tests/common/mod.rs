//! Helpers shared by the integration tests: the C++-written fixture stores.
#![allow(dead_code)]

pub mod s3;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use eloqstore::inspect::{StoreReader, unhex};
use eloqstore::options::KvOptions;
use eloqstore::types::{KvEntry, TableIdent};

/// The fixture folder: `$ELOQSTORE_FIXTURES`, else `../shared/fixtures`
/// beside the crate, else `/work/shared/fixtures`. A missing folder fails the test run: fixtures are
/// never silently skipped.
pub fn fixtures_dir() -> PathBuf {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    let dir = match std::env::var_os("ELOQSTORE_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None if beside.is_dir() => beside,
        None => PathBuf::from("/work/shared/fixtures"),
    };
    assert!(
        dir.is_dir(),
        "fixture folder {} not found (set ELOQSTORE_FIXTURES)",
        dir.display()
    );
    dir
}

/// Every fixture (a folder holding `options.ini`), sorted by name.
pub fn fixtures() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("options.ini").is_file())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures found");
    out
}

pub fn name(fixture: &Path) -> String {
    fixture.file_name().unwrap().to_string_lossy().into_owned()
}

/// The fixture's options with store paths resolved against `base`
/// (the fixture folder, or a copy of it).
pub fn options_at(fixture: &Path, base: &Path) -> KvOptions {
    let mut opts = KvOptions::from_ini_file(fixture.join("options.ini"))
        .unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
    opts.resolve_store_paths(base);
    opts.validate().unwrap();
    opts
}

pub fn reader(fixture: &Path) -> StoreReader {
    StoreReader::new(options_at(fixture, fixture)).unwrap()
}

/// Copies a fixture to a fresh temporary folder with write bits set.
pub fn copy_fixture(fixture: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(fixture, tmp.path());
    tmp
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
            let mut perm = std::fs::metadata(&to).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&to, perm).unwrap();
        }
    }
}

/// Parsed TSV lines: partition -> key -> entry.
pub type Content = BTreeMap<TableIdent, BTreeMap<Vec<u8>, KvEntry>>;

pub fn read_tsv(path: &Path, into: &mut Content) {
    let text = std::fs::read_to_string(path).unwrap();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 6, "{}: bad line {line}", path.display());
        let tbl = TableIdent::new(f[0], f[1].parse().unwrap());
        let e = KvEntry {
            key: unhex(f[2]).unwrap(),
            value: unhex(f[3]).unwrap(),
            timestamp: f[4].parse().unwrap(),
            expire_ts: f[5].parse().unwrap(),
        };
        into.entry(tbl).or_default().insert(e.key.clone(), e);
    }
}

/// What a full scan of the fixture returns today: `expected.tsv` plus
/// `expired.tsv` (entries still stored although expired).
pub fn stored_content(fixture: &Path) -> Content {
    let mut c = Content::new();
    read_tsv(&fixture.join("expected.tsv"), &mut c);
    let expired = fixture.join("expired.tsv");
    if expired.exists() {
        read_tsv(&expired, &mut c);
    }
    c
}

/// Sorted TSV lines of a content map, in the fixtures' order.
pub fn tsv_lines(c: &Content) -> Vec<String> {
    let mut lines = Vec::new();
    let mut tables: Vec<&TableIdent> = c.keys().collect();
    tables.sort_by(|a, b| (&a.tbl_name, a.partition_id).cmp(&(&b.tbl_name, b.partition_id)));
    for t in tables {
        for e in c[t].values() {
            lines.push(eloqstore::inspect::tsv_line(t, e));
        }
    }
    lines
}

/// Engine helpers.
pub mod engine {
    use eloqstore::*;
    use std::path::Path;

    pub fn disk_opts(dir: &Path, threads: u16) -> KvOptions {
        let mut o = KvOptions::default();
        o.store_path = vec![dir.join("store").to_string_lossy().into_owned()];
        o.num_threads = threads;
        o
    }

    pub fn mem_opts(threads: u16) -> KvOptions {
        let mut o = KvOptions::default();
        o.num_threads = threads;
        o
    }

    /// A started store. When `ELOQSTORE_IO` picks a driver, the store
    /// must really use it (the suite runs once per driver in CI).
    pub fn started(opts: KvOptions) -> EloqStore {
        let s = EloqStore::new(opts).unwrap();
        s.start(0).unwrap();
        match std::env::var("ELOQSTORE_IO").as_deref() {
            Ok("sync") => assert_eq!(s.io_backend(), Some("sync")),
            Ok("uring") => assert_eq!(s.io_backend(), Some("io_uring")),
            _ => {}
        }
        s
    }

    pub fn write(store: &EloqStore, tbl: &TableIdent, batch: Vec<WriteDataEntry>) -> KvError {
        let w = BatchWriteRequest::new();
        w.set_args(tbl.clone(), batch);
        let e = store.exec_sync(&w);
        if e != KvError::NoError && e != KvError::InvalidArgs {
            eprintln!("write failed: {}", w.error_message());
        }
        e
    }

    pub fn put(store: &EloqStore, tbl: &TableIdent, kvs: &[(&[u8], &[u8], u64)]) {
        let batch = kvs
            .iter()
            .map(|(k, v, t)| WriteDataEntry::upsert(*k, *v, *t))
            .collect();
        assert_eq!(write(store, tbl, batch), KvError::NoError);
    }

    pub fn get(store: &EloqStore, tbl: &TableIdent, key: &[u8]) -> Result<KvEntry> {
        let r = ReadRequest::new();
        r.set_args(tbl.clone(), key.to_vec());
        store.exec_sync(&r);
        r.result().map(|_| r.entry().expect("entry on success"))
    }

    pub fn floor(store: &EloqStore, tbl: &TableIdent, key: &[u8]) -> Result<KvEntry> {
        let r = FloorRequest::new();
        r.set_args(tbl.clone(), key.to_vec());
        store.exec_sync(&r);
        r.result().map(|_| r.entry().expect("entry on success"))
    }

    pub fn scan(
        store: &EloqStore,
        tbl: &TableIdent,
        begin: &[u8],
        end: &[u8],
    ) -> Result<Vec<KvEntry>> {
        let s = ScanRequest::new();
        s.set_args(tbl.clone(), begin.to_vec(), end.to_vec(), true);
        store.exec_sync(&s);
        s.result().map(|_| s.entries())
    }

    pub fn truncate(store: &EloqStore, tbl: &TableIdent, pos: &[u8]) -> KvError {
        let t = TruncateRequest::new();
        t.set_args(tbl.clone(), pos.to_vec());
        store.exec_sync(&t)
    }

    /// `eloqstore check` on a store's files (the store must be stopped).
    pub fn check_clean(opts: &KvOptions) {
        let st = eloqstore::inspect::StoreReader::new(opts.clone()).unwrap();
        let (_, problems) = eloqstore::inspect::check::check_store(&st, true).unwrap();
        assert!(problems.is_empty(), "check: {}", problems[0]);
    }
}
