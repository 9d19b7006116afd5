//! Data pages. The first byte picks the mode:
//! - even: the rest is a page (any length, as read from disk): the decoder,
//!   iterator, seek and floor must fail cleanly on damage and agree with
//!   the decoded entries on a sound page (`check_data_page`);
//! - odd: the rest describes entries; the builder makes pages of them,
//!   which must decode to exactly those entries, verify with their
//!   checksum, rebuild byte for byte, and survive `redistribute`.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::{Result, Unstructured};
use eloqstore::internals::format::checksum::set_page_checksum;
use eloqstore::internals::format::data_page::{
    Compression, DataEntry, DataPage, DataPageBuilder, redistribute, set_links,
};
use eloqstore::internals::format::page::{PageType, verify_page};
use eloqstore_fuzz::{check_data_page, clamp_ts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        raw(rest);
    } else {
        let _ = built(&mut Unstructured::new(rest));
    }
});

fn raw(page: &[u8]) {
    for skip in [false, true] {
        if let Err(e) = verify_page(page, &[PageType::Data], skip) {
            assert_eq!(e.code(), eloqstore::KvError::Corrupted);
        }
    }
    let tail = &page[page.len().saturating_sub(24)..];
    check_data_page(page, tail);
}

fn entry(u: &mut Unstructured) -> Result<DataEntry> {
    let key_len = u.int_in_range(1..=48)?;
    let key = u.bytes(key_len)?.to_vec();
    let value = match u.int_in_range(0..=9)? {
        0 => vec![u.arbitrary()?; u.int_in_range(0..=5000)?],
        _ => {
            let n = u.int_in_range(0..=200)?;
            u.bytes(n)?.to_vec()
        }
    };
    let timestamp = match u.int_in_range(0..=3)? {
        0 => u.arbitrary()?,
        _ => u.int_in_range(0..=10_000)?,
    };
    let expire_ts = match u.int_in_range(0..=3)? {
        0 => u.arbitrary()?,
        _ => 0,
    };
    Ok(DataEntry {
        key,
        value,
        timestamp,
        expire_ts,
        overflow: u.arbitrary()?,
        compression: Compression::from_bits(u.int_in_range(0..=2)?).expect("0..=2"),
    })
}

fn built(u: &mut Unstructured) -> Result<()> {
    let page_size = 4096 * u.int_in_range(1..=4)?;
    let interval = u.int_in_range(1..=20)?;
    let mut by_key = BTreeMap::new();
    for _ in 0..u.int_in_range(1..=200)? {
        let e = entry(u)?;
        by_key.insert(e.key.clone(), e);
    }
    let mut b = DataPageBuilder::new(page_size, interval);
    let mut pages = Vec::new();
    let mut current = Vec::new();
    for e in by_key.into_values() {
        if !b.add(&e.as_ref()) {
            if b.is_empty() {
                // Larger than a page: the writer sends it to overflow pages.
                assert!(DataPageBuilder::is_overflow_kv(
                    page_size,
                    &e.key,
                    e.value.len(),
                    e.timestamp,
                    e.expire_ts
                ));
                continue;
            }
            pages.push((b.finish(), std::mem::take(&mut current)));
            if !b.add(&e.as_ref()) {
                continue;
            }
        }
        current.push(e);
    }
    if !b.is_empty() {
        pages.push((b.finish(), current));
    }
    let mut decoded = Vec::new();
    for (i, (page, want)) in pages.iter_mut().enumerate() {
        let want: Vec<DataEntry> = want
            .iter()
            .map(|e| DataEntry {
                timestamp: clamp_ts(e.timestamp),
                ..e.clone()
            })
            .collect();
        set_links(page, i as u32, i as u32 + 2);
        set_page_checksum(page);
        assert_eq!(
            verify_page(page, &[PageType::Data], false).expect("built page verifies"),
            PageType::Data
        );
        let got = check_data_page(page, &[]).expect("built page decodes");
        assert_eq!(got, want);
        let p = DataPage::parse(page).expect("parsed above");
        assert_eq!(p.num_restarts(), want.len().div_ceil(interval));
        assert_eq!(
            (p.prev_page_id(), p.next_page_id()),
            (i as u32, i as u32 + 2)
        );
        // Rebuilding from the decoded entries and their restart flags gives
        // the same bytes (the writer relies on this to patch pages).
        let mut rb = DataPageBuilder::new(page_size, interval);
        for (e, restart) in p.entries_with_restarts().expect("decoded above") {
            let ok = if restart {
                rb.add_restart(&e.as_ref())
            } else {
                rb.add(&e.as_ref())
            };
            assert!(ok, "a decoded entry no longer fits its page");
        }
        let mut again = rb.finish();
        set_links(&mut again, i as u32, i as u32 + 2);
        set_page_checksum(&mut again);
        assert!(again[..] == page[..], "rebuilt page differs");
        decoded.push(want);
    }
    // Moving trailing regions of a full page into an underfull next page
    // keeps every entry, in order.
    for w in 0..pages.len().saturating_sub(1) {
        if let Some((l, r)) = redistribute(&pages[w].0, &pages[w + 1].0, page_size)
            .expect("redistribute of sound pages")
        {
            let mut got = check_data_page(&l, &[]).expect("left half decodes");
            got.extend(check_data_page(&r, &[]).expect("right half decodes"));
            let mut want = decoded[w].clone();
            want.extend(decoded[w + 1].iter().cloned());
            assert_eq!(got, want);
        }
    }
    Ok(())
}
