//! Every C++-written fixture store, read through this crate: full scans,
//! point and floor lookups, `check`, archives, and byte-exact page rebuilds.

mod common;

use std::collections::BTreeMap;

use common::*;
use eloqstore::inspect::check::check_store;
use eloqstore::inspect::{ManifestChoice, hex};
use eloqstore::internals::format::data_page::{DataPage, DataPageBuilder};
use eloqstore::internals::format::index_page::{IndexPage, IndexPageBuilder};
use eloqstore::internals::format::page::{PageType, page_type};
use eloqstore::internals::tree::{PageSource, block_on};
use eloqstore::types::KvEntry;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[test]
fn full_scan_equals_expected() {
    for fx in fixtures() {
        let store = reader(&fx);
        let want = tsv_lines(&stored_content(&fx));
        let mut got = Vec::new();
        for tbl in store.partitions().unwrap() {
            let part = store
                .open_partition(&tbl, &ManifestChoice::Current)
                .unwrap();
            part.scan(b"", b"", |e| {
                got.push(eloqstore::inspect::tsv_line(&tbl, &e));
                Ok(true)
            })
            .unwrap();
        }
        assert_eq!(got.len(), want.len(), "{}: entry count", name(&fx));
        assert!(got == want, "{}: scan differs from expected.tsv", name(&fx));
        println!("{}: {} entries match", name(&fx), got.len());
    }
}

/// Keys near the stored ones: each key, a key just below and just above it,
/// and random bytes.
fn probe_key(rng: &mut StdRng, keys: &[&Vec<u8>]) -> Vec<u8> {
    let base = keys[rng.random_range(0..keys.len())].clone();
    match rng.random_range(0..5) {
        0 | 1 => base,
        2 => {
            let mut k = base;
            k.push(0);
            k
        }
        3 => {
            let mut k = base;
            if let Some(last) = k.last_mut() {
                if *last > 0 {
                    *last -= 1;
                } else {
                    k.pop();
                }
            }
            k
        }
        _ => (0..rng.random_range(1..12)).map(|_| rng.random()).collect(),
    }
}

#[test]
fn random_point_and_floor_lookups_agree() {
    let mut rng = StdRng::seed_from_u64(0xE10C);
    for fx in fixtures() {
        let store = reader(&fx);
        let content = stored_content(&fx);
        let parts = store.partitions().unwrap();
        let mut checked = 0;
        for i in 0..1000 {
            let tbl = &parts[i % parts.len()];
            let model: &BTreeMap<Vec<u8>, KvEntry> = match content.get(tbl) {
                Some(m) => m,
                None => continue,
            };
            let part = store.open_partition(tbl, &ManifestChoice::Current).unwrap();
            let keys: Vec<&Vec<u8>> = model.keys().collect();
            let key = probe_key(&mut rng, &keys);
            let got = part.get(&key).unwrap();
            assert_eq!(
                got.as_ref(),
                model.get(&key),
                "{} {tbl} get {}",
                name(&fx),
                hex(&key)
            );
            let floor = part.floor(&key).unwrap();
            let want = model.range(..=key.clone()).next_back().map(|(_, e)| e);
            assert_eq!(
                floor.as_ref(),
                want,
                "{} {tbl} floor {}",
                name(&fx),
                hex(&key)
            );
            checked += 1;
        }
        assert!(checked >= 1000 * content.len() / parts.len().max(1) - 1);
        println!("{}: {checked} point + floor lookups agree", name(&fx));
    }
}

#[test]
fn check_is_clean_on_every_fixture() {
    for fx in fixtures() {
        let store = reader(&fx);
        let (reports, problems) = check_store(&store, true).unwrap();
        assert!(problems.is_empty(), "{}: {}", name(&fx), problems[0]);
        assert!(!reports.is_empty());
        let entries: usize = reports
            .iter()
            .filter(|r| r.manifest.ends_with("manifest_0"))
            .map(|r| r.entries)
            .sum();
        assert_eq!(
            entries,
            tsv_lines(&stored_content(&fx)).len(),
            "{}",
            name(&fx)
        );
    }
}

#[test]
fn archive_manifest_holds_archived_content() {
    let mut seen = 0;
    for fx in fixtures() {
        let archived = fx.join("archived.tsv");
        if !archived.exists() {
            continue;
        }
        seen += 1;
        let mut want = Content::new();
        read_tsv(&archived, &mut want);
        let store = reader(&fx);
        let mut got = Content::new();
        for tbl in store.partitions().unwrap() {
            let part = store
                .open_partition(&tbl, &ManifestChoice::NewestArchive)
                .unwrap();
            part.scan(b"", b"", |e| {
                got.entry(tbl.clone()).or_default().insert(e.key.clone(), e);
                Ok(true)
            })
            .unwrap();
        }
        assert!(
            tsv_lines(&got) == tsv_lines(&want),
            "{}: archive content differs",
            name(&fx)
        );
        println!(
            "{}: archive holds {} entries",
            name(&fx),
            tsv_lines(&got).len()
        );
    }
    assert!(seen > 0, "no fixture with archived.tsv");
}

/// Rebuilds every data and index page reachable in every fixture with this
/// crate's builders and compares the bytes up to the content length.
#[test]
fn pages_rebuild_byte_identical() {
    for fx in fixtures() {
        let store = reader(&fx);
        let opts = store.options().clone();
        let size = opts.data_page_size as usize;
        let (mut data, mut index, mut irregular, mut whole) = (0, 0, 0, 0);
        for tbl in store.partitions().unwrap() {
            for choice in [ManifestChoice::Current, ManifestChoice::NewestArchive] {
                let Ok(part) = store.open_partition(&tbl, &choice) else {
                    continue;
                };
                for id in 0..part.mapping().len() as u32 {
                    let Some(fp) = part.mapping().file_page(id) else {
                        continue;
                    };
                    let page = block_on(part.source().read_page(fp)).unwrap();
                    let (rebuilt, content_len) = match page_type(&page) {
                        Some(PageType::Data) => {
                            data += 1;
                            let p = DataPage::parse(&page).unwrap();
                            let mut b = DataPageBuilder::new(
                                size,
                                opts.data_page_restart_interval as usize,
                            );
                            for (e, restart) in p.entries_with_restarts().unwrap() {
                                // A restart the interval rule would not have
                                // made: upstream moved whole regions here.
                                let regular = b
                                    .len()
                                    .is_multiple_of(opts.data_page_restart_interval as usize);
                                let ok = if restart && !regular {
                                    irregular += 1;
                                    b.add_restart(&e.as_ref())
                                } else {
                                    b.add(&e.as_ref())
                                };
                                assert!(ok, "{} page {id}: entry does not fit", name(&fx));
                            }
                            let mut out = b.finish();
                            eloqstore::internals::format::data_page::set_links(
                                &mut out,
                                p.prev_page_id(),
                                p.next_page_id(),
                            );
                            (out, p.content_len())
                        }
                        Some(PageType::LeafIndex | PageType::NonLeafIndex) => {
                            index += 1;
                            let p = IndexPage::parse(&page).unwrap();
                            let mut b = IndexPageBuilder::new(
                                size,
                                opts.index_page_restart_interval as usize,
                            );
                            b.add_leftmost(p.leftmost(), p.is_leaf_index());
                            for (k, c) in p.entries().unwrap() {
                                assert!(
                                    b.add(&k, c),
                                    "{} page {id}: entry does not fit",
                                    name(&fx)
                                );
                            }
                            (b.finish(), p.content_len())
                        }
                        _ => continue,
                    };
                    assert_eq!(
                        &rebuilt[8..content_len],
                        &page[8..content_len],
                        "{} {tbl} page {id}: rebuilt bytes differ",
                        name(&fx)
                    );
                    if page[content_len..size].iter().all(|&b| b == 0) {
                        let mut r = rebuilt;
                        eloqstore::internals::format::checksum::set_page_checksum(&mut r[..size]);
                        assert_eq!(
                            &r[..size],
                            &page[..size],
                            "{} page {id}: whole page differs",
                            name(&fx)
                        );
                        whole += 1;
                    }
                }
            }
        }
        assert!(data > 0 && index > 0, "{}: no pages", name(&fx));
        println!(
            "{}: {data} data + {index} index pages rebuilt ({whole} identical whole, {irregular} irregular restarts)",
            name(&fx)
        );
    }
}
