//! Shared pieces of the fuzz targets: an in-memory page source for the
//! tree read paths, and the checks that compare a decoded page with a
//! model of it.
//!
//! Internals of `eloqstore` used here (and by the targets): the `format`
//! codecs (pages, manifest, compression), `mapping::{MappingTable,
//! PageMapper, verify_mapping}`, `tree::{PageSource, ReadCtx, block_on}`
//! and the `ffi` functions. Every other use goes through `KvOptions`.

use std::cmp::Ordering;
use std::future::Future;

use eloqstore::internals::format::comparator::{BytewiseComparator, Comparator};
use eloqstore::internals::format::data_page::{DataEntry, DataPage};
use eloqstore::internals::format::index_page::IndexPage;
use eloqstore::internals::format::page::{AlignedBuf, FilePageId, PageId};
use eloqstore::internals::tree::PageSource;
use eloqstore::{Error, KvError, Result};

/// Pages held in memory, indexed by file page id.
pub struct MemSource {
    pub pages: Vec<AlignedBuf>,
}

impl PageSource for MemSource {
    fn read_page(&self, fp: FilePageId) -> impl Future<Output = Result<AlignedBuf>> {
        let page = usize::try_from(fp)
            .ok()
            .and_then(|i| self.pages.get(i))
            .cloned()
            .ok_or_else(|| Error::new(KvError::IoFail, format!("no file page {fp}")));
        std::future::ready(page)
    }
}

/// The bytewise order the targets use (the engine's default).
pub const CMP: BytewiseComparator = BytewiseComparator;

pub fn cmp(a: &[u8], b: &[u8]) -> Ordering {
    CMP.compare(a, b)
}

/// Whether keys are strictly increasing.
pub fn strictly_sorted<'a>(keys: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let mut prev: Option<&[u8]> = None;
    for k in keys {
        if prev.is_some_and(|p| cmp(p, k) != Ordering::Less) {
            return false;
        }
        prev = Some(k);
    }
    true
}

/// Keys to probe a page with: every key, and around each one (below,
/// just above, a prefix), plus the empty key and a few from the input.
pub fn probes(keys: &[&[u8]], extra: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new(), vec![0xff; 4]];
    for k in keys.iter().take(64) {
        out.push(k.to_vec());
        let mut above = k.to_vec();
        above.push(0);
        out.push(above);
        if let Some((last, head)) = k.split_last() {
            out.push(head.to_vec());
            if *last > 0 {
                let mut below = head.to_vec();
                below.push(last - 1);
                out.push(below);
            }
        }
    }
    for chunk in extra.chunks(5).take(8) {
        out.push(chunk.to_vec());
    }
    out
}

/// Exercises every read of a data page. When every entry decodes and the
/// keys are strictly increasing, the searches must agree with the decoded
/// entries exactly; otherwise they must only fail cleanly. Returns the
/// entries when they all decode.
pub fn check_data_page(bytes: &[u8], extra: &[u8]) -> Option<Vec<DataEntry>> {
    let p = DataPage::parse(bytes).ok()?;
    assert!(p.content_len() <= bytes.len());
    let _ = (p.prev_page_id(), p.next_page_id());
    let mut regions = 0;
    for i in 0..p.num_restarts() {
        regions += p.region(i).len();
    }
    assert_eq!(19 + regions, p.entries_end(), "regions cover the entries");

    let all = p.entries();
    // The iterator decodes the same entries as `entries()`, one by one.
    let mut it = p.iter();
    let mut stepped = Vec::new();
    let stepped_ok = loop {
        match it.next() {
            Ok(true) => stepped.push(it.entry().to_owned()),
            Ok(false) => break true,
            Err(e) => {
                assert_eq!(e.code(), KvError::Corrupted, "{e}");
                break false;
            }
        }
    };
    match &all {
        Ok(all) => {
            assert!(stepped_ok);
            assert_eq!(all, &stepped);
            let with = p.entries_with_restarts().expect("entries decoded");
            assert_eq!(
                with.iter().map(|(e, _)| e).collect::<Vec<_>>(),
                all.iter().collect::<Vec<_>>()
            );
            assert_eq!(with.iter().filter(|(_, r)| *r).count(), p.num_restarts());
        }
        Err(e) => {
            assert_eq!(e.code(), KvError::Corrupted, "{e}");
            assert!(!stepped_ok);
        }
    }

    let keys: Vec<&[u8]> = stepped.iter().map(|e| &e.key[..]).collect();
    let sorted = all.is_ok() && strictly_sorted(keys.iter().copied());
    for probe in probes(&keys, extra) {
        let mut it = p.iter();
        let got = it.seek(&probe, &CMP);
        let mut fl = p.iter();
        let got_floor = fl.seek_floor(&probe, &CMP);
        if !sorted {
            for r in [&got, &got_floor] {
                if let Err(e) = r {
                    assert_eq!(e.code(), KvError::Corrupted, "{e}");
                }
            }
            continue;
        }
        let all = all.as_ref().expect("sorted implies decoded");
        // Ceiling: the first entry >= probe.
        let ceil = all
            .iter()
            .position(|e| cmp(&e.key, &probe) != Ordering::Less);
        match ceil {
            Some(i) => {
                assert!(got.expect("seek on a sound page"), "seek missed entry {i}");
                assert_eq!(it.entry().to_owned(), all[i]);
                // Iteration continues after the entry found.
                match all.get(i + 1) {
                    Some(next) => {
                        assert!(it.next().expect("next after seek"));
                        assert_eq!(&it.entry().to_owned(), next);
                    }
                    None => assert!(!it.next().expect("next at the end")),
                }
            }
            None => assert!(!got.expect("seek on a sound page")),
        }
        // Floor: the last entry <= probe.
        let floor = all
            .iter()
            .rposition(|e| cmp(&e.key, &probe) != Ordering::Greater);
        match floor {
            Some(i) => {
                assert!(got_floor.expect("floor on a sound page"));
                assert_eq!(fl.entry().to_owned(), all[i]);
            }
            None => assert!(!got_floor.expect("floor on a sound page")),
        }
    }
    all.ok()
}

/// The keyed entries of an index page: separator and child.
pub type IndexEntries = Vec<(Vec<u8>, PageId)>;

/// Exercises every read of an index page, as [`check_data_page`] does.
/// Returns `(leftmost, entries)` when every entry decodes.
pub fn check_index_page(bytes: &[u8], extra: &[u8]) -> Option<(PageId, IndexEntries)> {
    let p = IndexPage::parse(bytes).ok()?;
    assert!(p.content_len() <= bytes.len());
    let leftmost = p.leftmost();
    let _ = p.page_type();
    let all = p.entries();
    let children = p.children();
    match (&all, &children) {
        (Ok(all), Ok(ch)) => {
            assert_eq!(ch.len(), all.len() + 1);
            assert_eq!(ch[0], leftmost);
            for (c, (_, id)) in ch[1..].iter().zip(all) {
                assert_eq!(c, id);
            }
        }
        (Err(e), Err(f)) => {
            assert_eq!(e.code(), KvError::Corrupted, "{e}");
            assert_eq!(f.code(), KvError::Corrupted, "{f}");
        }
        _ => panic!("entries() and children() disagree: {all:?} vs {children:?}"),
    }
    let mut it = p.iter();
    let mut n = 0;
    loop {
        match it.next() {
            Ok(true) => {
                let _ = (it.key(), it.child(), it.is_restart());
                n += 1;
            }
            Ok(false) => {
                assert_eq!(n, all.as_ref().expect("iterator reached the end").len());
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), KvError::Corrupted, "{e}");
                assert!(all.is_err());
                break;
            }
        }
    }
    let keys: Vec<&[u8]> = all
        .as_ref()
        .map(|a| a.iter().map(|(k, _)| &k[..]).collect())
        .unwrap_or_default();
    let sorted = all.is_ok() && strictly_sorted(keys.iter().copied());
    for probe in probes(&keys, extra) {
        let got = p.find_child(&probe, &CMP);
        if !sorted {
            if let Err(e) = got {
                assert_eq!(e.code(), KvError::Corrupted, "{e}");
            }
            continue;
        }
        let all = all.as_ref().expect("sorted implies decoded");
        let want = all
            .iter()
            .rev()
            .find(|(k, _)| cmp(k, &probe) != Ordering::Greater)
            .map_or(leftmost, |(_, c)| *c);
        assert_eq!(
            got.expect("find_child on a sound page"),
            want,
            "probe {probe:?}"
        );
    }
    all.ok().map(|a| (leftmost, a))
}

/// Timestamps above `i64::MAX` are stored as `i64::MAX` (upstream's rule).
pub fn clamp_ts(ts: u64) -> u64 {
    ts.min(i64::MAX as u64)
}
