//! Index pages and the tree read paths over them. The first byte picks:
//! - 0: the rest is an index page (any length): decoder, iterator and
//!   `find_child` must fail cleanly on damage and agree with the decoded
//!   entries on a sound page;
//! - 1: separators and children from the input are built into a page that
//!   must decode to them, verify and rebuild byte for byte;
//! - 2: sorted entries are built into a two-level tree (data pages, leaf
//!   index pages, a root) at scattered page ids; `get`, `floor`,
//!   `floor_where` and scans must match the entries exactly;
//! - 3: the rest is up to 12 raw pages (fixture pages in the corpus) with a
//!   mapping and a root from the input; every read must end with an entry
//!   or a clean error, never a panic or a loop.
#![no_main]

use std::cmp::Ordering;
use std::collections::BTreeMap;

use arbitrary::{Result, Unstructured};
use eloqstore::KvError;
use eloqstore::internals::format::checksum::set_page_checksum;
use eloqstore::internals::format::compression::ValueCodec;
use eloqstore::internals::format::data_page::{DataEntry, DataPageBuilder, set_links};
use eloqstore::internals::format::index_page::IndexPageBuilder;
use eloqstore::internals::format::manifest::mapping_value;
use eloqstore::internals::format::page::{AlignedBuf, MAX_PAGE_ID, PageId, PageType, verify_page};
use eloqstore::internals::mapping::MappingTable;
use eloqstore::internals::tree::{ReadCtx, block_on};
use eloqstore_fuzz::{CMP, MemSource, check_index_page, cmp, probes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => raw(rest),
        1 => {
            let _ = built(&mut Unstructured::new(rest));
        }
        2 => {
            let _ = built_tree(&mut Unstructured::new(rest));
        }
        _ => raw_tree(rest),
    }
});

fn raw(page: &[u8]) {
    for skip in [false, true] {
        if let Err(e) = verify_page(page, &[PageType::LeafIndex, PageType::NonLeafIndex], skip) {
            assert_eq!(e.code(), KvError::Corrupted);
        }
    }
    let tail = &page[page.len().saturating_sub(24)..];
    check_index_page(page, tail);
}

fn built(u: &mut Unstructured) -> Result<()> {
    let page_size = 4096 * u.int_in_range(1..=2)?;
    let interval = u.int_in_range(1..=20)?;
    let leaf: bool = u.arbitrary()?;
    let leftmost: PageId = u.arbitrary()?;
    let mut keys = BTreeMap::new();
    for _ in 0..u.int_in_range(0..=300)? {
        let n = u.int_in_range(1..=40)?;
        let k = u.bytes(n)?.to_vec();
        keys.insert(k, u.arbitrary::<PageId>()?);
    }
    let mut b = IndexPageBuilder::new(page_size, interval);
    b.add_leftmost(leftmost, leaf);
    let mut added = Vec::new();
    for (k, c) in keys {
        if !b.add(&k, c) {
            break;
        }
        added.push((k, c));
    }
    let mut page = b.finish();
    set_page_checksum(&mut page);
    let want_type = if leaf {
        PageType::LeafIndex
    } else {
        PageType::NonLeafIndex
    };
    assert_eq!(
        verify_page(&page, &[want_type], false).expect("built page verifies"),
        want_type
    );
    let (left, got) = check_index_page(&page, &[]).expect("built page decodes");
    assert_eq!(left, leftmost);
    assert_eq!(got, added);
    // Rebuild from the decoded restart structure: same bytes.
    let p =
        eloqstore::internals::format::index_page::IndexPage::parse(&page).expect("parsed above");
    let mut rb = IndexPageBuilder::new(page_size, interval);
    rb.add_leftmost(p.leftmost(), p.is_leaf_index());
    let mut it = p.iter();
    while it.next().expect("decoded above") {
        let ok = if it.is_restart() {
            rb.add_restart(it.key(), it.child())
        } else {
            rb.add(it.key(), it.child())
        };
        assert!(ok);
    }
    let mut again = rb.finish();
    set_page_checksum(&mut again);
    assert!(again[..] == page[..], "rebuilt index page differs");
    Ok(())
}

/// A tree of `entries` in pages of `page_size`: data pages, leaf index
/// pages over them, and a non-leaf root when there is more than one leaf
/// index page. Page ids come from `ids` (distinct), file pages from
/// `fps` (distinct).
struct Tree {
    source: MemSource,
    mapping: MappingTable,
    root: PageId,
}

fn build_tree(
    entries: &[DataEntry],
    page_size: usize,
    interval: usize,
    fanout: usize,
    u: &mut Unstructured,
) -> Result<Tree> {
    // Data pages.
    let mut leaves: Vec<(AlignedBuf, Vec<u8>)> = Vec::new();
    let mut b = DataPageBuilder::new(page_size, interval);
    let mut first = Vec::new();
    for e in entries {
        if b.is_empty() {
            first = e.key.clone();
        }
        if !b.add(&e.as_ref()) {
            leaves.push((b.finish(), std::mem::take(&mut first)));
            first = e.key.clone();
            assert!(b.add(&e.as_ref()), "entries are chosen to fit a page");
        }
    }
    leaves.push((b.finish(), first));
    // Ids: a shuffled range, so children are scattered.
    let mut total = leaves.len();
    let mut width = leaves.len();
    loop {
        width = width.div_ceil(fanout);
        total += width;
        if width == 1 {
            break;
        }
    }
    let mut ids: Vec<PageId> = (0..total as PageId).collect();
    for i in (1..ids.len()).rev() {
        let j = u.int_in_range(0..=i)?;
        ids.swap(i, j);
    }
    let mut next_id = ids.into_iter();
    let mut pages: BTreeMap<PageId, AlignedBuf> = BTreeMap::new();
    let leaf_ids: Vec<PageId> = leaves.iter().map(|_| next_id.next().unwrap()).collect();
    for (i, (page, _)) in leaves.iter_mut().enumerate() {
        let prev = if i == 0 { MAX_PAGE_ID } else { leaf_ids[i - 1] };
        let next = leaf_ids.get(i + 1).copied().unwrap_or(MAX_PAGE_ID);
        set_links(page, prev, next);
        set_page_checksum(page);
        pages.insert(leaf_ids[i], page.clone());
    }
    // Index levels: groups of `fanout` children per page.
    let mut level: Vec<(PageId, Vec<u8>)> = leaf_ids
        .iter()
        .zip(&leaves)
        .map(|(id, (_, k))| (*id, k.clone()))
        .collect();
    let mut leaf_level = true;
    loop {
        let mut up = Vec::new();
        for group in level.chunks(fanout) {
            let mut ib = IndexPageBuilder::new(page_size, interval);
            ib.add_leftmost(group[0].0, leaf_level);
            for (child, sep) in &group[1..] {
                assert!(ib.add(sep, *child), "fanout is chosen to fit a page");
            }
            let mut page = ib.finish();
            set_page_checksum(&mut page);
            let id = next_id.next().unwrap();
            pages.insert(id, page);
            up.push((id, group[0].1.clone()));
        }
        leaf_level = false;
        if up.len() == 1 {
            let root = up[0].0;
            // File pages: the page id reversed within the range.
            let n = pages.len();
            let mut values = vec![mapping_value::INVALID; n];
            let mut source = vec![AlignedBuf::zeroed(page_size); n];
            for (id, page) in pages {
                let fp = n - 1 - id as usize;
                values[id as usize] = mapping_value::file_page(fp as u64);
                source[fp] = page;
            }
            return Ok(Tree {
                source: MemSource { pages: source },
                mapping: MappingTable::from_values(&values),
                root,
            });
        }
        level = up;
    }
}

fn built_tree(u: &mut Unstructured) -> Result<()> {
    let page_size = 4096;
    let interval = u.int_in_range(1..=16)?;
    let fanout = u.int_in_range(2..=8)?;
    let mut model = BTreeMap::new();
    for _ in 0..u.int_in_range(1..=250)? {
        let n = u.int_in_range(1..=24)?;
        let key = u.bytes(n)?.to_vec();
        let vlen = u.int_in_range(0..=300)?;
        let value = vec![u.arbitrary::<u8>()?; vlen];
        let ts = u.int_in_range(0..=1_000_000u64)?;
        let expire_ts = if u.ratio(1, 4)? {
            u.arbitrary::<u32>()? as u64
        } else {
            0
        };
        model.insert(
            key.clone(),
            DataEntry {
                key,
                value,
                timestamp: ts,
                expire_ts,
                ..Default::default()
            },
        );
    }
    let entries: Vec<DataEntry> = model.values().cloned().collect();
    let tree = build_tree(&entries, page_size, interval, fanout, u)?;
    let ctx = ReadCtx::new(&tree.source, &tree.mapping, &CMP);
    // Probes around 16 keys spread over the tree (around every key, the
    // reads of a 250-entry tree took ~100 ms under the sanitizer, which
    // left no time to fuzz).
    let step = entries.len().div_ceil(16).max(1);
    let keys: Vec<&[u8]> = entries.iter().step_by(step).map(|e| &e.key[..]).collect();
    let extra_len = u.len().min(40);
    let extra = u.bytes(extra_len)?;
    let mut codec = ValueCodec::new();
    for (i, probe) in probes(&keys, extra).into_iter().enumerate() {
        let got = block_on(ctx.get(tree.root, &probe)).expect("get on a sound tree");
        assert_eq!(got.as_ref(), model.get(&probe));
        if let Some(e) = &got {
            let v = block_on(ctx.resolve_value(e, &mut codec, None)).expect("plain value");
            assert_eq!(v, e.value);
        }
        let want_floor = model.range(..=probe.clone()).next_back().map(|(_, e)| e);
        let got = block_on(ctx.floor(tree.root, &probe)).expect("floor on a sound tree");
        assert_eq!(got.as_ref(), want_floor);
        // Floor skipping entries with an odd timestamp.
        let keep = |e: &DataEntry| e.timestamp.is_multiple_of(2);
        let want = model
            .range(..=probe.clone())
            .rev()
            .map(|(_, e)| e)
            .find(|e| keep(e));
        let got = block_on(ctx.floor_where(tree.root, &probe, keep)).expect("floor_where");
        assert_eq!(got.as_ref(), want);
        // Scan from some probes, inclusive or not, with some prefetch.
        if i % 8 != 0 {
            continue;
        }
        for inclusive in [true, false] {
            let prefetch = 1 + probe.len() % 7;
            let mut cur = block_on(ctx.seek(tree.root, &probe, inclusive, prefetch))
                .expect("seek on a sound tree");
            let want: Vec<&DataEntry> = model
                .values()
                .filter(|e| match cmp(&e.key, &probe) {
                    Ordering::Greater => true,
                    Ordering::Equal => inclusive || probe.is_empty(),
                    Ordering::Less => false,
                })
                .collect();
            let mut got = Vec::new();
            while let Some(e) = block_on(cur.next(&ctx)).expect("scan on a sound tree") {
                got.push(e);
                assert!(got.len() <= want.len(), "scan returns too much");
            }
            assert_eq!(got.iter().collect::<Vec<_>>(), want);
        }
    }
    Ok(())
}

/// Layout of mode 3 (easy to cut from a fixture): `n`, root, flags,
/// probe length `p`, `p` probe bytes, `n` mapping bytes (file page
/// `b % n`, or unmapped for 0xff), then `n` pages of 4096 bytes (short
/// ones zero-filled).
fn raw_tree(data: &[u8]) {
    let page_size = 4096;
    let [n, root, flags, plen, rest @ ..] = data else {
        return;
    };
    let n = 1 + *n as usize % 12;
    let Some(probe_bytes) = rest.get(..*plen as usize) else {
        return;
    };
    let rest = &rest[*plen as usize..];
    let Some(map) = rest.get(..n) else { return };
    let mut rest = &rest[n..];
    let mut values: Vec<u64> = map
        .iter()
        .map(|&b| {
            if b == 0xff {
                mapping_value::INVALID
            } else {
                mapping_value::file_page((b as usize % n) as u64)
            }
        })
        .collect();
    if flags & 2 != 0 {
        // A mapping entry beyond the pages.
        values.push(mapping_value::file_page(n as u64 + *root as u64));
    }
    let root = if flags & 4 != 0 {
        MAX_PAGE_ID - *root as u32
    } else {
        *root as u32 % values.len() as u32
    };
    let skip_checksum = flags & 1 != 0;
    let mut pages = Vec::new();
    for _ in 0..n {
        let take = rest.len().min(page_size);
        let mut page = AlignedBuf::zeroed(page_size);
        page[..take].copy_from_slice(&rest[..take]);
        rest = &rest[take..];
        pages.push(page);
    }
    let source = MemSource { pages };
    let mapping = MappingTable::from_values(&values);
    let mut ctx = ReadCtx::new(&source, &mapping, &CMP);
    ctx.skip_checksum = skip_checksum;
    let clean = |e: eloqstore::Error| {
        assert!(
            matches!(e.code(), KvError::Corrupted | KvError::IoFail),
            "unclean error {e}"
        );
    };
    let mut codec = ValueCodec::new();
    let mut found = Vec::new();
    for probe in probes(&[], probe_bytes) {
        match block_on(ctx.get(root, &probe)) {
            Ok(Some(e)) => found.push(e),
            Ok(None) => {}
            Err(e) => clean(e),
        }
        match block_on(ctx.floor(root, &probe)) {
            Ok(Some(e)) => found.push(e),
            Ok(None) => {}
            Err(e) => clean(e),
        }
        if let Err(e) = block_on(ctx.floor_where(root, &probe, |e| e.timestamp.is_multiple_of(2))) {
            clean(e);
        }
        match block_on(ctx.seek(
            root,
            &probe,
            probe.len().is_multiple_of(2),
            1 + probe.len() % 4,
        )) {
            Ok(mut cur) => loop {
                match block_on(cur.next(&ctx)) {
                    Ok(Some(e)) => {
                        if found.len() < 64 {
                            found.push(e);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        clean(e);
                        break;
                    }
                }
            },
            Err(e) => clean(e),
        }
    }
    for e in found.iter().take(64) {
        if let Err(e) = block_on(ctx.resolve_value(e, &mut codec, None)) {
            clean(e);
        }
    }
}
