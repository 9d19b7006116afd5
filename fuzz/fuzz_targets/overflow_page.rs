//! Overflow pages and value chains. The first byte picks:
//! - 0: the rest is one overflow page (any length): the decoder and the
//!   pointer list decoder must fail cleanly or stay inside the page;
//! - 1: a value from the input is laid out over overflow pages at shuffled
//!   ids; every page decodes and verifies, and reading the chain back
//!   gives the value exactly;
//! - 2: up to 8 raw pages (fixture pages in the corpus), a mapping and a
//!   pointer list from the input: reading the chain ends with a value or a
//!   clean error, never a panic or a loop.
#![no_main]

use arbitrary::{Result, Unstructured};
use eloqstore::KvError;
use eloqstore::internals::format::checksum::set_page_checksum;
use eloqstore::internals::format::manifest::mapping_value;
use eloqstore::internals::format::overflow::{
    OVERFLOW_HEADER_SIZE, OverflowLayout, OverflowPage, build_value_pages, capacity,
    decode_pointers, encode_pointers,
};
use eloqstore::internals::format::page::{AlignedBuf, PageId, PageType, verify_page};
use eloqstore::internals::mapping::MappingTable;
use eloqstore::internals::tree::{ReadCtx, block_on};
use eloqstore_fuzz::{CMP, MemSource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => raw(rest),
        1 => {
            let _ = built(&mut Unstructured::new(rest));
        }
        _ => raw_chain(rest),
    }
});

fn raw(page: &[u8]) {
    for skip in [false, true] {
        if let Err(e) = verify_page(page, &[PageType::Overflow], skip) {
            assert_eq!(e.code(), KvError::Corrupted);
        }
    }
    if let Ok(p) = OverflowPage::parse(page) {
        let v = p.value();
        let ptrs = p.pointers();
        assert!(OVERFLOW_HEADER_SIZE + v.len() + 4 * ptrs.len() < page.len());
        assert!(ptrs.len() <= 255);
    }
    for max in [0, 1, 16, 128, usize::MAX] {
        match decode_pointers(page, max) {
            Ok(ids) => {
                assert_eq!(ids.len() * 4, page.len());
                assert!(!ids.is_empty() && ids.len() <= max.max(1));
                assert_eq!(encode_pointers(&ids), page);
            }
            Err(e) => assert_eq!(e.code(), KvError::Corrupted),
        }
    }
}

fn built(u: &mut Unstructured) -> Result<()> {
    let page_size = 4096 * u.int_in_range(1..=2)?;
    let ptrs = u.int_in_range(1..=128)?;
    let len = match u.int_in_range(0..=3)? {
        0 => u.int_in_range(1..=300_000)?,
        _ => u.int_in_range(1..=20_000)?,
    };
    let seed: u8 = u.arbitrary()?;
    let value: Vec<u8> = (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect();
    let layout = OverflowLayout::new(len, page_size, ptrs);
    assert_eq!(layout.chunks.iter().sum::<usize>(), len);
    assert!(
        layout
            .chunks
            .iter()
            .all(|&c| c > 0 && c <= capacity(page_size))
    );
    assert_eq!(layout.groups.iter().sum::<usize>(), layout.num_pages());
    assert!(layout.groups.iter().all(|&g| g >= 1 && g <= ptrs));
    // Scattered ids; file page = id + 3.
    let n = layout.num_pages();
    let mut ids: Vec<PageId> = (0..n as PageId).collect();
    for i in (1..n).rev() {
        let j = u.int_in_range(0..=i)?;
        ids.swap(i, j);
    }
    let (pages, first) = build_value_pages(&value, &ids, page_size, ptrs);
    assert_eq!(pages.len(), n);
    assert!(!first.is_empty() && first.len() <= ptrs);
    let mut values = vec![mapping_value::INVALID; n];
    let mut source = vec![AlignedBuf::zeroed(page_size); n + 3];
    for (id, mut page) in pages {
        set_page_checksum(&mut page);
        verify_page(&page, &[PageType::Overflow], false).expect("built page verifies");
        let p = OverflowPage::parse(&page).expect("built page parses");
        assert!(p.pointers().len() <= ptrs);
        values[id as usize] = mapping_value::file_page(id as u64 + 3);
        source[id as usize + 3] = page;
    }
    let source = MemSource { pages: source };
    let mapping = MappingTable::from_values(&values);
    let ctx = ReadCtx::new(&source, &mapping, &CMP);
    let got = block_on(ctx.read_overflow(&encode_pointers(&first))).expect("chain reads back");
    assert!(got == value, "overflow value differs");
    Ok(())
}

/// Layout of mode 2: `n`, pointer count `c`, flags, `c` pointer bytes
/// (page ids), `n` mapping bytes (file page `b % n`, or unmapped for
/// 0xff), then `n` pages of 4096 bytes (short ones zero-filled).
fn raw_chain(data: &[u8]) {
    let page_size = 4096;
    let [n, c, flags, rest @ ..] = data else {
        return;
    };
    let n = 1 + *n as usize % 8;
    let c = *c as usize % 8;
    let Some(first) = rest.get(..c) else { return };
    let rest = &rest[c..];
    let Some(map) = rest.get(..n) else { return };
    let mut rest = &rest[n..];
    let values: Vec<u64> = map
        .iter()
        .map(|&b| {
            if b == 0xff {
                mapping_value::INVALID
            } else {
                mapping_value::file_page((b as usize % n) as u64)
            }
        })
        .collect();
    let first: Vec<PageId> = first.iter().map(|&b| b as PageId).collect();
    let mut pointers = encode_pointers(&first);
    if flags & 2 != 0 {
        pointers.push(*flags);
    }
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
    match block_on(ctx.read_overflow(&pointers)) {
        Ok(v) => {
            // Every page read holds at most a page of value bytes, and the
            // chain visits at most as many pages as are mapped.
            assert!(v.len() <= (values.len() + 1) * capacity(page_size));
        }
        Err(e) => assert!(
            matches!(e.code(), KvError::Corrupted | KvError::IoFail),
            "unclean error {e}"
        ),
    }
}
