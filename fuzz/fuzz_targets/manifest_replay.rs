//! Manifest replay and the load path after it (the limits the partition's
//! data files set, the dictionary, `PageMapper` with its free lists, the
//! mapping check). The first byte picks:
//! - even: the rest is a manifest file as found on disk;
//! - odd: the rest describes a snapshot and log records, encoded with valid
//!   checksums (so the fuzzer gets past them), then optionally damaged
//!   (a flipped byte, a zeroed record, a cut). Replay must give exactly the
//!   state of the records the rules keep, or `Corrupted`: a damaged or cut
//!   record ends the replay when no valid record follows it (a torn
//!   write), else the manifest is `Corrupted`; so is a log record naming a
//!   page id beyond what the snapshot and the records before it can hold.
//!
//! Either way a replayed state must survive the load path the engine and
//! the `check` tool run on it, and re-encoding it as one snapshot must
//! replay to the same state.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::{Result, Unstructured};
use eloqstore::KvError;
use eloqstore::internals::format::compression::Dictionary;
use eloqstore::internals::format::manifest::{
    self, HEADER_BYTES, LogPayload, ManifestLimits, ManifestState, TERM_KEY_MANIFEST, TermMap,
    mapping_value, padded_len,
};
use eloqstore::internals::format::page::{FilePageId, MAX_PAGE_ID, PAGE_ALIGN, PageId};
use eloqstore::internals::mapping::{MappingTable, PageMapper, verify_mapping};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Ok(st) = replay_checked(rest) {
            load(rest, &st, mode >> 1);
        }
    } else {
        let _ = structured(&mut Unstructured::new(rest));
    }
});

/// Replay, with the invariants every successful replay must keep.
fn replay_checked(file: &[u8]) -> eloqstore::Result<ManifestState> {
    let st = match manifest::replay(file) {
        Ok(st) => st,
        Err(e) => {
            assert_eq!(e.code(), KvError::Corrupted, "{e}");
            return Err(e);
        }
    };
    assert!(!st.records.is_empty() && st.records[0].is_snapshot && st.records[0].offset == 0);
    for w in st.records.windows(2) {
        assert!(!w[1].is_snapshot);
        assert_eq!(w[1].offset, w[0].offset + padded_len(w[0].payload_len));
    }
    let last = st.records.last().expect("non-empty");
    assert_eq!((st.root, st.ttl_root), (last.root, last.ttl_root));
    assert!(st.file_size.is_multiple_of(PAGE_ALIGN));
    assert_eq!(st.file_size, last.offset + padded_len(last.payload_len));
    assert!(last.offset + HEADER_BYTES + last.payload_len <= file.len());
    assert!(
        st.mapping
            .iter()
            .all(|&v| mapping_value::is_valid_on_disk(v))
    );
    // The state re-encoded as a single snapshot replays to itself.
    let payload = manifest::encode_snapshot(
        st.max_fp_id,
        &st.dict,
        st.mapping.iter().copied(),
        &st.term_map,
    );
    let again = manifest::replay(&manifest::encode_record(st.root, st.ttl_root, &payload))
        .expect("re-encoded snapshot replays");
    assert_eq!(
        (
            again.root,
            again.ttl_root,
            again.max_fp_id,
            &again.dict,
            &again.mapping,
            &again.term_map
        ),
        (
            st.root,
            st.ttl_root,
            st.max_fp_id,
            &st.dict,
            &st.mapping,
            &st.term_map
        )
    );
    Ok(st)
}

/// What the engine and the tools do with a replayed state.
fn load(file: &[u8], st: &ManifestState, knobs: u8) {
    let append = knobs & 1 != 0;
    let shift = 4 + (knobs >> 1) % 16;
    // The partition's data files: none, or every file the term map names
    // at full length (as a store that wrote them has them).
    let mut files = BTreeMap::new();
    if knobs & 0x40 != 0 {
        for (&f, &t) in st.term_map.range(..TERM_KEY_MANIFEST).take(64) {
            files.insert((f, t), 4096u64 << shift);
        }
    }
    let limits = ManifestLimits {
        pages_per_file_shift: shift,
        data_page_size: 4096,
        append_mode: append,
        data_files: &files,
    };
    if let Err(e) = st.check_limits(file, &limits) {
        assert_eq!(e.code(), KvError::Corrupted, "{e}");
    }
    if !st.dict.is_empty()
        && let Err(e) = Dictionary::new(st.dict.clone())
    {
        assert_eq!(e.code(), KvError::Corrupted, "{e}");
    }
    // Memory in proportion to the mapping, whatever max_fp_id says.
    let mapper = PageMapper::from_manifest(st, append, shift, 0);
    assert_eq!(mapper.table().len(), st.mapping.len());
    assert_eq!(mapper.max_fp_id(), st.max_fp_id);
    let table = MappingTable::from_values(&st.mapping);
    if let Err(e) = verify_mapping(&table, st.max_fp_id, shift, false) {
        assert_eq!(e.code(), KvError::Corrupted, "{e}");
    }
}

fn mapping_val(u: &mut Unstructured, pages: u32) -> Result<u64> {
    Ok(match u.int_in_range(0..=9)? {
        0 => mapping_value::INVALID,
        1 => mapping_value::free_link(u.int_in_range(0..=pages)?),
        2 => mapping_value::free_link(u.arbitrary()?),
        3 => mapping_value::file_page(u.arbitrary::<u64>()? >> 3),
        _ => mapping_value::file_page(u.int_in_range(0..=4 * pages as u64)?),
    })
}

fn page_id(u: &mut Unstructured, pages: u32) -> Result<PageId> {
    Ok(if u.ratio(1, 16)? {
        u.arbitrary()?
    } else {
        u.int_in_range(0..=pages + 8)?
    })
}

fn term_map(u: &mut Unstructured) -> Result<TermMap> {
    let mut m = TermMap::new();
    for _ in 0..u.int_in_range(0..=4)? {
        m.insert(u.arbitrary()?, u.arbitrary()?);
    }
    Ok(m)
}

fn structured(u: &mut Unstructured) -> Result<()> {
    let pages = u.int_in_range(0..=300u32)?;
    let max_fp_id: FilePageId = if u.ratio(1, 8)? {
        u.arbitrary()?
    } else {
        u.int_in_range(0..=4 * pages as u64 + 1)?
    };
    let dict = if u.ratio(1, 8)? {
        let n = u.int_in_range(0..=64)?;
        u.bytes(n)?.to_vec()
    } else {
        Vec::new()
    };
    let mut snap_mapping = Vec::new();
    for _ in 0..pages {
        snap_mapping.push(mapping_val(u, pages)?);
    }
    let root = if u.ratio(1, 4)? {
        MAX_PAGE_ID
    } else {
        page_id(u, pages)?
    };
    let snap_terms = term_map(u)?;
    let payload =
        manifest::encode_snapshot(max_fp_id, &dict, snap_mapping.iter().copied(), &snap_terms);
    let mut file = manifest::encode_record(root, MAX_PAGE_ID, &payload).to_vec();
    // Record boundaries: (start, end of checksummed bytes, padded end).
    let mut bounds = vec![(0, HEADER_BYTES + payload.len(), file.len())];
    // The expected state after each record.
    let mut model = ManifestState::empty();
    model.root = root;
    model.max_fp_id = max_fp_id;
    model.dict = dict;
    model.mapping = snap_mapping;
    model.term_map = snap_terms;
    let mut states = vec![model.clone()];
    // Entries the table may hold after the records so far, and the first
    // record naming a page id beyond them (replaying it is `Corrupted`).
    let mut max_len = model.mapping.len();
    let mut bad_record: Option<usize> = None;
    for _ in 0..u.int_in_range(0..=6)? {
        let mut changes = Vec::new();
        for _ in 0..u.int_in_range(0..=20)? {
            changes.push((page_id(u, pages)?, mapping_val(u, pages)?));
        }
        let log = LogPayload {
            changes,
            term_map: term_map(u)?,
        };
        let root = page_id(u, pages)?;
        let ttl_root = if u.ratio(1, 2)? {
            MAX_PAGE_ID
        } else {
            page_id(u, pages)?
        };
        let payload = manifest::encode_log(&log.changes, &log.term_map);
        let start = file.len();
        file.extend_from_slice(&manifest::encode_record(root, ttl_root, &payload));
        bounds.push((start, start + HEADER_BYTES + payload.len(), file.len()));
        // The model: the mapping grows with unmapped entries, the last
        // change of a page wins, file pages raise the allocation end.
        max_len = max_len.saturating_add(log.changes.len());
        if bad_record.is_some()
            || log
                .changes
                .iter()
                .any(|&(id, _)| id == MAX_PAGE_ID || id as usize >= max_len)
        {
            bad_record.get_or_insert(bounds.len() - 1);
            states.push(model.clone());
            continue;
        }
        for &(id, v) in &log.changes {
            let id = id as usize;
            if id >= model.mapping.len() {
                model.mapping.resize(id + 1, mapping_value::INVALID);
            }
            model.mapping[id] = v;
            if let Some(fp) = mapping_value::as_file_page(v) {
                model.max_fp_id = model.max_fp_id.max(fp + 1);
            }
        }
        model
            .term_map
            .extend(log.term_map.iter().map(|(&f, &t)| (f, t)));
        model.root = root;
        model.ttl_root = ttl_root;
        states.push(model.clone());
    }
    // Damage, and the number of records upstream's rules keep (None:
    // the replay must fail).
    let n = bounds.len();
    let keep: Option<usize> = match u.int_in_range(0..=3)? {
        0 => {
            let at = u.int_in_range(0..=file.len() - 1)?;
            file.truncate(at);
            let j = bounds
                .iter()
                .position(|b| at < b.2)
                .expect("cut inside the file");
            if at >= bounds[j].1 {
                Some(j + 1)
            } else if j == 0 {
                None
            } else {
                Some(j)
            }
        }
        1 => {
            // A flipped byte in a record's checksummed bytes.
            let j = u.int_in_range(0..=n - 1)?;
            let at = u.int_in_range(bounds[j].0..=bounds[j].1 - 1)?;
            file[at] ^= u.int_in_range(1..=255u8)?;
            if j == 0 || j + 1 < n { None } else { Some(j) }
        }
        2 => {
            // A record zeroed, as a lost write leaves it.
            let j = u.int_in_range(0..=n - 1)?;
            file[bounds[j].0..bounds[j].2].fill(0);
            if j == 0 || j + 1 < n { None } else { Some(j) }
        }
        _ => Some(n),
    };
    let got = replay_checked(&file);
    // Keeping a record that names a page id beyond the table fails.
    let keep = keep.filter(|&k| bad_record.is_none_or(|b| b >= k));
    match keep {
        None => assert_eq!(
            got.as_ref()
                .map(|st| st.records.len())
                .map_err(|e| e.code()),
            Err(KvError::Corrupted),
            "damage that must fail the replay did not"
        ),
        Some(k) => {
            let st = got.expect("replay of records that must be kept");
            let want = &states[k - 1];
            assert_eq!(st.records.len(), k);
            assert_eq!(
                (
                    st.root,
                    st.ttl_root,
                    st.max_fp_id,
                    &st.dict,
                    &st.mapping,
                    &st.term_map
                ),
                (
                    want.root,
                    want.ttl_root,
                    want.max_fp_id,
                    &want.dict,
                    &want.mapping,
                    &want.term_map
                )
            );
            load(&file, &st, u.arbitrary()?);
        }
    }
    Ok(())
}
