//! Damage on temporary copies of every fixture: a flipped byte in a data
//! page, in an index page and in the manifest body, and cut-off manifest
//! tails. Reads must fail with `Corrupted` (never return a wrong value or
//! panic), and `check` must name the damaged file, offset and page.

mod common;

use std::path::Path;

use common::*;
use eloqstore::KvError;
use eloqstore::inspect::check::check_store;
use eloqstore::inspect::{ManifestChoice, StoreReader};
use eloqstore::internals::format::data_page::CONTENT_LEN_OFFSET;
use eloqstore::internals::format::manifest;
use eloqstore::internals::tree::{ReadCtx, block_on};
use eloqstore::types::TableIdent;

fn flip(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

/// A partition with content and one of its keys.
fn victim(fx: &Path) -> (TableIdent, Vec<u8>) {
    let content = stored_content(fx);
    let (tbl, entries) = content.iter().max_by_key(|(_, m)| m.len()).unwrap();
    let keys: Vec<&Vec<u8>> = entries.keys().collect();
    (tbl.clone(), keys[keys.len() / 2].clone())
}

/// Every key lookup and the full scan of the partition either succeed with
/// the expected value or fail with `Corrupted`; at least `key` fails.
fn assert_reads_fail_cleanly(store: &StoreReader, fx: &Path, tbl: &TableIdent, key: &[u8]) {
    let content = stored_content(fx);
    let part = match store.open_partition(tbl, &ManifestChoice::Current) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.code(), KvError::Corrupted, "{}: {e}", name(fx));
            return;
        }
    };
    let err = part.get(key).unwrap_err();
    assert_eq!(err.code(), KvError::Corrupted, "{}: {err}", name(fx));
    for (k, want) in &content[tbl] {
        match part.get(k) {
            Ok(got) => assert_eq!(
                got.as_ref(),
                Some(want),
                "{}: wrong value after damage",
                name(fx)
            ),
            Err(e) => assert_eq!(e.code(), KvError::Corrupted, "{}: {e}", name(fx)),
        }
    }
    let mut scanned = 0;
    let res = part.scan(b"", b"", |e| {
        assert_eq!(
            content[tbl].get(&e.key),
            Some(&e),
            "{}: wrong scan entry",
            name(fx)
        );
        scanned += 1;
        Ok(true)
    });
    assert_eq!(res.unwrap_err().code(), KvError::Corrupted, "{}", name(fx));
}

#[test]
fn flipped_byte_in_data_page() {
    for fx in fixtures() {
        let tmp = copy_fixture(&fx);
        let store = StoreReader::new(options_at(&fx, tmp.path())).unwrap();
        let (tbl, key) = victim(&fx);
        let part = store
            .open_partition(&tbl, &ManifestChoice::Current)
            .unwrap();
        let ctx = ReadCtx::new(part.source(), part.mapping(), &*store.options().comparator);
        let leaf = block_on(ctx.find_leaf(part.manifest().root, &key)).unwrap();
        let fp = part.mapping().file_page(leaf).unwrap();
        let (file, offset) = part.source().locate(fp).unwrap();
        let page = std::fs::read(&file).unwrap();
        let content_len = u16::from_le_bytes([
            page[offset as usize + CONTENT_LEN_OFFSET],
            page[offset as usize + 10],
        ]) as u64;
        flip(&file, offset + 19 + (content_len - 19) / 2);
        drop(part);
        assert_reads_fail_cleanly(&store, &fx, &tbl, &key);
        let (_, problems) = check_store(&store, false).unwrap();
        assert_eq!(problems.len(), 1, "{}", name(&fx));
        let p = &problems[0];
        assert_eq!(
            (&p.file, p.offset, p.page),
            (&file, Some(offset), Some(leaf)),
            "{}: {p}",
            name(&fx)
        );
        assert_eq!(p.error.code(), KvError::Corrupted);
        println!("{}: {p}", name(&fx));
    }
}

#[test]
fn flipped_byte_in_index_page() {
    for fx in fixtures() {
        let tmp = copy_fixture(&fx);
        let store = StoreReader::new(options_at(&fx, tmp.path())).unwrap();
        let (tbl, key) = victim(&fx);
        let part = store
            .open_partition(&tbl, &ManifestChoice::Current)
            .unwrap();
        let root = part.manifest().root;
        let fp = part.mapping().file_page(root).unwrap();
        let (file, offset) = part.source().locate(fp).unwrap();
        flip(&file, offset + 16);
        drop(part);
        assert_reads_fail_cleanly(&store, &fx, &tbl, &key);
        let (_, problems) = check_store(&store, false).unwrap();
        assert_eq!(problems.len(), 1, "{}", name(&fx));
        let p = &problems[0];
        assert_eq!(
            (&p.file, p.offset, p.page),
            (&file, Some(offset), Some(root)),
            "{}: {p}",
            name(&fx)
        );
        println!("{}: {p}", name(&fx));
    }
}

#[test]
fn flipped_byte_in_manifest_body() {
    for fx in fixtures() {
        let tmp = copy_fixture(&fx);
        let store = StoreReader::new(options_at(&fx, tmp.path())).unwrap();
        let (tbl, key) = victim(&fx);
        let path = store.manifest_path(&tbl, &ManifestChoice::Current).unwrap();
        // Inside the snapshot's payload.
        flip(&path, 24);
        let err = store
            .open_partition(&tbl, &ManifestChoice::Current)
            .err()
            .unwrap();
        assert_eq!(err.code(), KvError::Corrupted, "{}: {err}", name(&fx));
        assert_reads_fail_cleanly(&store, &fx, &tbl, &key);
        let (_, problems) = check_store(&store, false).unwrap();
        assert_eq!(problems.len(), 1, "{}", name(&fx));
        assert_eq!(problems[0].file, path, "{}", name(&fx));
        println!("{}: {}", name(&fx), problems[0]);
    }
}

#[test]
fn truncated_manifest_tails() {
    let mut with_logs = 0;
    for fx in fixtures() {
        let tmp = copy_fixture(&fx);
        let store = StoreReader::new(options_at(&fx, tmp.path())).unwrap();
        let (tbl, key) = victim(&fx);
        let path = store.manifest_path(&tbl, &ManifestChoice::Current).unwrap();
        let full = std::fs::read(&path).unwrap();
        let full_state = manifest::replay(&full).unwrap();
        let content = stored_content(&fx);

        // One byte short: only padding is lost, the state is complete.
        std::fs::write(&path, &full[..full.len() - 1]).unwrap();
        let part = store
            .open_partition(&tbl, &ManifestChoice::Current)
            .unwrap();
        assert_eq!(part.manifest().root, full_state.root);
        assert_eq!(part.manifest().mapping, full_state.mapping);
        assert_eq!(
            part.get(&key).unwrap().as_ref(),
            content[&tbl].get(&key),
            "{}",
            name(&fx)
        );
        let (_, problems) = check_store(&store, false).unwrap();
        assert!(problems.is_empty(), "{}: {}", name(&fx), problems[0]);

        let records = &full_state.records;
        if records.len() >= 2 {
            // Cut inside the last record: the state of the one before.
            with_logs += 1;
            let last = records.last().unwrap();
            std::fs::write(&path, &full[..last.offset + 30]).unwrap();
            let part = store
                .open_partition(&tbl, &ManifestChoice::Current)
                .unwrap();
            let prev = &records[records.len() - 2];
            assert_eq!(part.manifest().root, prev.root, "{}", name(&fx));
            assert_eq!(part.manifest().records.len(), records.len() - 1);
            assert_eq!(part.manifest().file_size, last.offset);
            let (_, problems) = check_store(&store, false).unwrap();
            assert!(problems.is_empty(), "{}: {}", name(&fx), problems[0]);
        } else {
            // Cut inside the only (snapshot) record: nothing to fall back to.
            std::fs::write(&path, &full[..20 + records[0].payload_len / 2]).unwrap();
            let err = store
                .open_partition(&tbl, &ManifestChoice::Current)
                .err()
                .unwrap();
            assert_eq!(err.code(), KvError::Corrupted, "{}", name(&fx));
            let (_, problems) = check_store(&store, false).unwrap();
            assert_eq!(problems[0].file, path);
        }
    }
    assert!(with_logs > 0, "no fixture manifest has log records");
}

/// A crash before a partition's first commit leaves its directory (maybe
/// with a data file) but no manifest: the engine opens it as an empty
/// partition, and `check` finds nothing wrong with it.
#[test]
fn a_partition_directory_without_a_manifest_checks_clean() {
    for fx in fixtures() {
        let tmp = copy_fixture(&fx);
        let opts = options_at(&fx, tmp.path());
        let dir = TableIdent::new("crashed", 3).store_path(&opts.store_path);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("data_0_0"), vec![0u8; 4096]).unwrap();
        let store = StoreReader::new(opts).unwrap();
        let (_, problems) = check_store(&store, true).unwrap();
        assert!(problems.is_empty(), "{}: {}", name(&fx), problems[0]);
    }
}
