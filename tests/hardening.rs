//! Untrusted on-disk data crafted with valid checksums (issue 10): manifest
//! records naming absurd page ids, file pages or `max_fp_id`; a damaged
//! record in the middle of a manifest and a damaged last one; swapped,
//! stale and misplaced pages. Every case must give `Corrupted` (from the
//! engine, the store reader and the `eloqstore` tool) or, for a discarded
//! tail, a warning — never an abort, a hang or another key's data.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::engine::{disk_opts, floor, get, put, scan, started};
use common::*;
use eloqstore::inspect::check::check_store;
use eloqstore::inspect::{ManifestChoice, PartitionReader, StoreReader, hex};
use eloqstore::internals::format::checksum::verify_page_checksum;
use eloqstore::internals::format::manifest::{self, ManifestState, TermMap, mapping_value};
use eloqstore::internals::format::overflow::{OverflowPage, decode_pointers};
use eloqstore::internals::format::page::{FilePageId, PageId};
use eloqstore::internals::tree::{PageSource, ReadCtx, TreeEntry, block_on};
use eloqstore::{KvError, KvOptions, TableIdent, WriteDataEntry};

fn eloqstore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eloqstore"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fixture copied to a temporary folder, with its options.
struct Copy {
    tmp: tempfile::TempDir,
    opts: KvOptions,
}

impl Copy {
    fn of(fixture: &str) -> Copy {
        let fx = fixtures_dir().join(fixture);
        let tmp = copy_fixture(&fx);
        let opts = options_at(&fx, tmp.path());
        Copy { tmp, opts }
    }

    fn ini(&self) -> String {
        self.tmp.path().join("options.ini").display().to_string()
    }

    fn reader(&self) -> StoreReader {
        StoreReader::new(self.opts.clone()).unwrap()
    }

    fn manifest(&self, tbl: &TableIdent) -> PathBuf {
        self.reader()
            .manifest_path(tbl, &ManifestChoice::Current)
            .unwrap()
    }

    fn open(&self, tbl: &TableIdent) -> PartitionReader {
        self.reader()
            .open_partition(tbl, &ManifestChoice::Current)
            .unwrap()
    }
}

fn t0() -> TableIdent {
    TableIdent::new("t0", 0)
}

fn replayed(path: &Path) -> (Vec<u8>, ManifestState) {
    let bytes = std::fs::read(path).unwrap();
    let st = manifest::replay(&bytes).unwrap();
    (bytes, st)
}

/// Appends a checksum-valid log record at the manifest's logical end.
fn append_log(path: &Path, changes: &[(PageId, u64)], extra_terms: &TermMap) -> usize {
    let (mut bytes, st) = replayed(path);
    let mut terms = st.term_map.clone();
    terms.extend(extra_terms);
    let rec = manifest::encode_record(st.root, st.ttl_root, &manifest::encode_log(changes, &terms));
    bytes.truncate(st.file_size);
    bytes.extend_from_slice(&rec);
    std::fs::write(path, bytes).unwrap();
    st.file_size
}

/// Replaces the manifest by a checksum-valid snapshot of its state with
/// another `max_fp_id` and mapping.
fn rewrite_snapshot(path: &Path, max_fp_id: FilePageId, mapping: &[u64]) {
    let (_, st) = replayed(path);
    let payload =
        manifest::encode_snapshot(max_fp_id, &st.dict, mapping.iter().copied(), &st.term_map);
    std::fs::write(
        path,
        &manifest::encode_record(st.root, st.ttl_root, &payload)[..],
    )
    .unwrap();
}

/// The engine, the store reader, `scan`, `get` and `check` all refuse the
/// partition with `Corrupted`, and their message contains `what`.
fn refused_everywhere(c: &Copy, tbl: &TableIdent, key: &[u8], what: &str) {
    let err = c
        .reader()
        .open_partition(tbl, &ManifestChoice::Current)
        .err()
        .expect("the reader opened a bad manifest");
    assert_eq!(err.code(), KvError::Corrupted, "{err}");
    assert!(err.message().contains(what), "{err}");

    let (reports, problems) = check_store(&c.reader(), false).unwrap();
    let p = problems
        .iter()
        .find(|p| p.file == c.manifest(tbl))
        .unwrap_or_else(|| panic!("check found nothing: {} clean", reports.len()));
    assert_eq!(p.error.code(), KvError::Corrupted);
    assert!(p.error.message().contains(what), "{p}");

    let ini = c.ini();
    let out = eloqstore(&["check", "--options", &ini]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(what), "{}", text(&out.stderr));
    let out = eloqstore(&["scan", "--options", &ini]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(what), "{}", text(&out.stderr));
    let part = tbl.partition_id.to_string();
    let name = tbl.name_lossy().into_owned();
    let key_hex = hex(key);
    let out = eloqstore(&[
        "get",
        "--options",
        &ini,
        "--table",
        &name,
        "--partition",
        &part,
        "--key",
        &key_hex,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let store = started(c.opts.clone());
    let err = get(&store, tbl, key).unwrap_err();
    assert_eq!(err.code(), KvError::Corrupted, "{err}");
    assert!(err.message().contains(what), "{err}");
    let err = scan(&store, tbl, b"", b"").unwrap_err();
    assert_eq!(err.code(), KvError::Corrupted, "{err}");
    store.stop();
}

fn some_key(fixture: &str) -> Vec<u8> {
    let content = stored_content(&fixtures_dir().join(fixture));
    content[&t0()].keys().next().unwrap().clone()
}

// ---- 1. counts and ids decoded from a manifest ------------------------------

#[test]
fn log_record_freeing_page_0xfffffff0() {
    let c = Copy::of("basic");
    let at = append_log(
        &c.manifest(&t0()),
        &[(0xFFFF_FFF0, mapping_value::INVALID)],
        &TermMap::new(),
    );
    refused_everywhere(
        &c,
        &t0(),
        &some_key("basic"),
        &format!("log record at offset {at}: page id 4294967280"),
    );
}

#[test]
fn snapshot_with_max_fp_id_2_40() {
    for fixture in ["basic", "append"] {
        let c = Copy::of(fixture);
        let path = c.manifest(&t0());
        let (_, st) = replayed(&path);
        rewrite_snapshot(&path, 1 << 40, &st.mapping);
        refused_everywhere(
            &c,
            &t0(),
            &some_key(fixture),
            "snapshot record at offset 0: max_fp_id 1099511627776",
        );
    }
}

#[test]
fn mapping_entry_naming_file_id_2_40() {
    for fixture in ["basic", "append"] {
        let c = Copy::of(fixture);
        let path = c.manifest(&t0());
        let (_, st) = replayed(&path);
        let far: FilePageId = (1 << 40) << c.opts.pages_per_file_shift;
        // In a log record, with the file in the term map: the data file
        // does not exist (and max_fp_id follows the entry).
        let new_id = st.mapping.len() as PageId;
        let at = append_log(
            &path,
            &[(new_id, mapping_value::file_page(far))],
            &TermMap::from([(1 << 40, 0)]),
        );
        // Pooled mode names the raised max_fp_id first, append mode the
        // entry; both name the record.
        refused_everywhere(
            &c,
            &t0(),
            &some_key(fixture),
            &format!("log record at offset {at}: "),
        );
        // In a snapshot, beyond its max_fp_id.
        let mut mapping = st.mapping.clone();
        mapping.push(mapping_value::file_page(far));
        rewrite_snapshot(&path, st.max_fp_id, &mapping);
        refused_everywhere(
            &c,
            &t0(),
            &some_key(fixture),
            &format!("snapshot record at offset 0: page {new_id} maps to file page {far}"),
        );
    }
}

// ---- 2. a damaged record in the middle of a manifest -------------------------

#[test]
fn flipped_length_bit_in_a_middle_record() {
    // Append mode without compaction: the pages of every version stay, so
    // dropping records would silently show an older state.
    let dir = tempfile::tempdir().unwrap();
    let mut opts = disk_opts(dir.path(), 1);
    opts.data_append_mode = true;
    opts.file_amplify_factor = 0;
    let tbl = t0();
    let store = started(opts.clone());
    for batch in 0..3u32 {
        let entries = (0..100u32)
            .map(|i| {
                let k = format!("key{:05}", batch * 100 + i);
                WriteDataEntry::upsert(k.into_bytes(), vec![b'v'; 50], 1)
            })
            .collect();
        assert_eq!(
            common::engine::write(&store, &tbl, entries),
            KvError::NoError
        );
    }
    store.stop();
    drop(store);
    let ini = dir.path().join("options.ini");
    std::fs::write(
        &ini,
        "[run]\nnum_threads = 1\n[permanent]\nstore_path = store\n",
    )
    .unwrap();
    let ini = ini.display().to_string();
    let out = eloqstore(&["scan", "--options", &ini]);
    assert_eq!(text(&out.stdout).lines().count(), 300);

    let reader = StoreReader::new(opts.clone()).unwrap();
    let path = reader
        .manifest_path(&tbl, &ManifestChoice::Current)
        .unwrap();
    let (mut bytes, st) = replayed(&path);
    assert_eq!(st.records.len(), 3, "a snapshot and two log records");
    // The high bit of the first log record's length: it now runs past the
    // end of the file, as a torn write would.
    let at = st.records[1].offset;
    bytes[at + 16 + 3] ^= 0x80;
    std::fs::write(&path, &bytes).unwrap();

    let what = format!(
        "record at offset {at} is damaged or cut short but a valid record follows at offset {}",
        st.records[2].offset
    );
    let out = eloqstore(&["scan", "--options", &ini]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "scan: {}",
        text(&out.stdout).lines().count()
    );
    assert!(text(&out.stderr).contains(&what), "{}", text(&out.stderr));
    let out = eloqstore(&["check", "--options", &ini]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains(&what), "{}", text(&out.stderr));
    let store = started(opts);
    let err = get(&store, &tbl, b"key00000").unwrap_err();
    assert_eq!(err.code(), KvError::Corrupted, "{err}");
    store.stop();
}

// ---- 3. a discarded tail is reported -----------------------------------------

#[test]
fn damaged_last_record_is_a_warning() {
    let c = Copy::of("many_versions");
    let path = c.manifest(&t0());
    let (bytes, st) = replayed(&path);
    let last = st.records.last().unwrap().clone();
    let ini = c.ini();
    for damage in ["flip", "cut"] {
        let mut b = bytes.clone();
        match damage {
            "flip" => b[last.offset + 30] ^= 1,
            // Inside the checksummed bytes.
            _ => b.truncate(last.offset + 21),
        }
        std::fs::write(&path, &b).unwrap();
        let len = b.len() - last.offset;
        let want = format!(
            "{}: discarded tail at offset {}, {len} bytes (torn write or damage)",
            path.display(),
            last.offset
        );
        let out = eloqstore(&["check", "--options", &ini]);
        assert!(out.status.success(), "{damage}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(&format!("WARN {want}")),
            "{damage}: {stdout}"
        );
        let (reports, problems) = check_store(&c.reader(), false).unwrap();
        assert!(problems.is_empty());
        assert_eq!(reports[0].warnings.len(), 1);
        assert_eq!(reports[0].warnings[0].to_string(), want);
        let out = eloqstore(&[
            "manifest",
            "--options",
            &ini,
            "--table",
            "t0",
            "--partition",
            "0",
        ]);
        assert!(out.status.success());
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(&format!(
                "end:             discarded tail at offset {}, {len} bytes",
                last.offset
            )),
            "{stdout}"
        );
        assert!(stdout.contains(&format!("records:         {}", st.records.len() - 1)));
    }
}

// ---- 6. misplaced pages with valid checksums --------------------------------

/// The file and byte offset of a logical page.
fn page_at(part: &PartitionReader, id: PageId) -> (PathBuf, u64) {
    let fp = part.mapping().file_page(id).unwrap();
    part.source().locate(fp).unwrap()
}

fn read_page(at: &(PathBuf, u64)) -> Vec<u8> {
    let bytes = std::fs::read(&at.0).unwrap();
    bytes[at.1 as usize..at.1 as usize + 4096].to_vec()
}

/// Puts a page (with a valid checksum: the checksum does not cover the
/// page's place) at a file position.
fn write_page(at: &(PathBuf, u64), page: &[u8]) {
    assert!(verify_page_checksum(page));
    let mut bytes = std::fs::read(&at.0).unwrap();
    bytes[at.1 as usize..at.1 as usize + 4096].copy_from_slice(page);
    std::fs::write(&at.0, bytes).unwrap();
}

fn leaf_of(part: &PartitionReader, opts: &KvOptions, key: &[u8]) -> PageId {
    let ctx = ReadCtx::new(part.source(), part.mapping(), &*opts.comparator);
    block_on(ctx.find_leaf(part.manifest().root, key)).unwrap()
}

/// Reads of every key give the stored value or `Corrupted`; reads of
/// `broken` keys give `Corrupted`; the scan fails; `check` reports the
/// partition. A write to the first broken key fails with `Corrupted`, or,
/// unless `write_must_fail`, succeeds and reads back.
fn only_right_or_corrupted(
    c: &Copy,
    fixture: &str,
    tbl: &TableIdent,
    broken: &[&[u8]],
    write_must_fail: bool,
) {
    let content = &stored_content(&fixtures_dir().join(fixture))[tbl];
    let part = c.open(tbl);
    for (k, want) in content {
        match part.get(k) {
            Ok(got) => assert_eq!(got.as_ref(), Some(want), "wrong value for {}", hex(k)),
            Err(e) => assert_eq!(e.code(), KvError::Corrupted, "{e}"),
        }
        match part.floor(k) {
            Ok(got) => assert_eq!(got.as_ref(), Some(want), "wrong floor for {}", hex(k)),
            Err(e) => assert_eq!(e.code(), KvError::Corrupted, "{e}"),
        }
    }
    for k in broken {
        let e = part.get(k).unwrap_err();
        assert_eq!(e.code(), KvError::Corrupted, "{e}");
    }
    let res = part.scan(b"", b"", |e| {
        assert_eq!(content.get(&e.key), Some(&e), "wrong scan entry");
        Ok(true)
    });
    assert_eq!(res.unwrap_err().code(), KvError::Corrupted);
    let (_, problems) = check_store(&c.reader(), false).unwrap();
    assert_eq!(problems.len(), 1);

    let store = started(c.opts.clone());
    for k in broken {
        let e = get(&store, tbl, k).unwrap_err();
        assert_eq!(e.code(), KvError::Corrupted, "{e}");
        let e = floor(&store, tbl, k).unwrap_err();
        assert_eq!(e.code(), KvError::Corrupted, "{e}");
    }
    assert_eq!(
        scan(&store, tbl, b"", b"").unwrap_err().code(),
        KvError::Corrupted
    );
    let w = eloqstore::BatchWriteRequest::new();
    w.set_args(
        tbl.clone(),
        vec![WriteDataEntry::upsert(
            broken[0].to_vec(),
            b"x".to_vec(),
            u64::MAX >> 2,
        )],
    );
    match store.exec_sync(&w) {
        KvError::Corrupted => {}
        KvError::NoError if !write_must_fail => {
            assert_eq!(get(&store, tbl, broken[0]).unwrap().value, b"x");
        }
        e => panic!("write over a misplaced page: {e:?} {}", w.error_message()),
    }
    store.stop();
}

#[test]
fn swapped_data_pages() {
    let c = Copy::of("basic");
    let content = &stored_content(&fixtures_dir().join("basic"))[&t0()];
    let keys: Vec<&Vec<u8>> = content.keys().collect();
    let (ka, kb) = (keys[keys.len() / 4], keys[3 * keys.len() / 4]);
    let part = c.open(&t0());
    let (a, b) = (leaf_of(&part, &c.opts, ka), leaf_of(&part, &c.opts, kb));
    assert_ne!(a, b);
    let (pa, pb) = (page_at(&part, a), page_at(&part, b));
    drop(part);
    let (bytes_a, bytes_b) = (read_page(&pa), read_page(&pb));
    write_page(&pa, &bytes_b);
    write_page(&pb, &bytes_a);
    only_right_or_corrupted(&c, "basic", &t0(), &[ka, kb], true);
}

#[test]
fn swapped_leaf_index_pages() {
    // `deep`: a non-leaf root over leaf index pages.
    let c = Copy::of("deep");
    let tbl = TableIdent::new("deep", 0);
    let content = &stored_content(&fixtures_dir().join("deep"))[&tbl];
    let keys: Vec<&Vec<u8>> = content.keys().collect();
    let part = c.open(&tbl);
    let root = part.manifest().root;
    let buf = block_on(
        part.source()
            .read_page(part.mapping().file_page(root).unwrap()),
    )
    .unwrap();
    let idx = eloqstore::internals::format::index_page::IndexPage::parse(&buf).unwrap();
    assert!(!idx.is_leaf_index());
    let children = idx.children().unwrap();
    let (a, b) = (children[0], children[children.len() - 1]);
    let (pa, pb) = (page_at(&part, a), page_at(&part, b));
    drop(part);
    let (bytes_a, bytes_b) = (read_page(&pa), read_page(&pb));
    write_page(&pa, &bytes_b);
    write_page(&pb, &bytes_a);
    only_right_or_corrupted(&c, "deep", &tbl, &[keys[0], keys[keys.len() - 1]], true);
}

#[test]
fn stale_data_page() {
    // Append mode without compaction: old page versions stay in the files.
    let dir = tempfile::tempdir().unwrap();
    let mut opts = disk_opts(dir.path(), 1);
    opts.data_append_mode = true;
    opts.file_amplify_factor = 0;
    let tbl = t0();
    let key = |i: u32| format!("k{i:04}").into_bytes();
    let store = started(opts.clone());
    let first: Vec<(Vec<u8>, Vec<u8>)> = (0..120)
        .step_by(2)
        .map(|i| (key(i), vec![b'a'; 40]))
        .collect();
    let refs: Vec<(&[u8], &[u8], u64)> = first.iter().map(|(k, v)| (&k[..], &v[..], 1)).collect();
    put(&store, &tbl, &refs);
    store.stop();
    drop(store);
    let reader = StoreReader::new(opts.clone()).unwrap();
    let part = reader
        .open_partition(&tbl, &ManifestChoice::Current)
        .unwrap();
    let leaf = leaf_of(&part, &opts, &key(0));
    let old = read_page(&page_at(&part, leaf));
    drop(part);

    // Every key rewritten and as many added: the leaf splits, its first
    // part keeping the page id.
    let store = started(opts.clone());
    let second: Vec<(Vec<u8>, Vec<u8>)> = (0..120).map(|i| (key(i), vec![b'b'; 40])).collect();
    let refs: Vec<(&[u8], &[u8], u64)> = second.iter().map(|(k, v)| (&k[..], &v[..], 2)).collect();
    put(&store, &tbl, &refs);
    store.stop();
    drop(store);
    let part = reader
        .open_partition(&tbl, &ManifestChoice::Current)
        .unwrap();
    assert_eq!(leaf_of(&part, &opts, &key(0)), leaf);
    let now = page_at(&part, leaf);
    assert_ne!(read_page(&now), old);
    drop(part);
    // The older version of the page in place of the current one.
    write_page(&now, &old);

    let part = reader
        .open_partition(&tbl, &ManifestChoice::Current)
        .unwrap();
    for i in 0..120 {
        match part.get(&key(i)) {
            Ok(e) => assert_eq!(e.unwrap().value, vec![b'b'; 40], "stale value of {i}"),
            Err(e) => assert_eq!(e.code(), KvError::Corrupted),
        }
    }
    assert_eq!(part.get(&key(0)).unwrap_err().code(), KvError::Corrupted);
    drop(part);
    let store = started(opts.clone());
    assert_eq!(
        get(&store, &tbl, &key(0)).unwrap_err().code(),
        KvError::Corrupted
    );
    assert_eq!(
        scan(&store, &tbl, b"", b"").unwrap_err().code(),
        KvError::Corrupted
    );
    store.stop();
    let (_, problems) = check_store(&reader, false).unwrap();
    assert_eq!(problems.len(), 1);
}

/// Overflow entries of the partition's main tree: (key, groups of page ids).
fn overflow_chains(part: &PartitionReader, opts: &KvOptions) -> Vec<(Vec<u8>, Vec<Vec<PageId>>)> {
    let ctx = ReadCtx::new(part.source(), part.mapping(), &*opts.comparator);
    let mut entries: Vec<TreeEntry> = Vec::new();
    block_on(async {
        let mut cur = ctx.seek(part.manifest().root, b"", true, 1).await.unwrap();
        while let Some(e) = cur.next(&ctx).await.unwrap() {
            entries.push(e);
        }
    });
    entries
        .into_iter()
        .filter(|e| e.overflow)
        .map(|e| {
            let mut groups = Vec::new();
            let mut group = decode_pointers(&e.value, 128).unwrap();
            while !group.is_empty() {
                let last = *group.last().unwrap();
                let fp = part.mapping().file_page(last).unwrap();
                let buf = block_on(part.source().read_page(fp)).unwrap();
                let next = OverflowPage::parse(&buf).unwrap().pointers();
                groups.push(std::mem::replace(&mut group, next));
            }
            (e.key, groups)
        })
        .collect()
}

#[test]
fn misplaced_overflow_pages() {
    let c = Copy::of("large_values");
    let part = c.open(&t0());
    let chains = overflow_chains(&part, &c.opts);
    // A: a value of several pages whose last group is not a full one
    // (`overflow_pointers` is 16); B: another value's partial last page;
    // C: a value of several groups, whose first group ends in an end page.
    let a = chains
        .iter()
        .find(|(_, g)| g[0].len() >= 3 && g.last().unwrap().len() < 16)
        .unwrap();
    let partial = |id: PageId| {
        let p = read_page(&page_at(&part, id));
        OverflowPage::parse(&p).unwrap().value_len() < 4084
    };
    let b = chains
        .iter()
        .find(|(k, g)| *k != a.0 && partial(*g.last().unwrap().last().unwrap()))
        .unwrap();
    let cc = chains
        .iter()
        .find(|(k, g)| *k != a.0 && g.len() >= 2)
        .unwrap();
    let b_last = read_page(&page_at(&part, *b.1.last().unwrap().last().unwrap()));
    let c_end = read_page(&page_at(&part, *cc.1[0].last().unwrap()));
    let a_middle = page_at(&part, a.1[0][1]);
    let a_last = page_at(&part, *a.1.last().unwrap().last().unwrap());
    drop(part);

    // B's last page (a partial chunk) in the middle of A's chain.
    let c1 = Copy::of("large_values");
    let at = |p: &(PathBuf, u64)| {
        (
            c1.tmp.path().join(p.0.strip_prefix(c.tmp.path()).unwrap()),
            p.1,
        )
    };
    write_page(&at(&a_middle), &b_last);
    let (_, problems) = check_store(&c1.reader(), false).unwrap();
    let p = problems.first().expect("check missed the misplaced page");
    assert!(p.error.message().contains("not a full chunk"), "{p}");
    // Freeing A reads only its groups' last pages: a write may succeed.
    only_right_or_corrupted(&c1, "large_values", &t0(), &[&a.0], false);

    // C's end page (with pointers) as A's last page.
    write_page(&a_last, &c_end);
    let (_, problems) = check_store(&c.reader(), false).unwrap();
    let p = problems.first().expect("check missed the misplaced page");
    assert!(p.error.message().contains("end page"), "{p}");
    only_right_or_corrupted(&c, "large_values", &t0(), &[&a.0], true);
}
