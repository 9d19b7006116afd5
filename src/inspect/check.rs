//! `eloqstore check`: verifies every page reachable from a manifest —
//! checksums, page types, key order within and across pages, separator
//! ranges, sibling links, overflow chains (references and the writer's
//! layout), compressed values — and the mapping itself (no file page
//! mapped twice, sound free list, nothing mapped but unreachable, every
//! id within what the data files allow). Stops a partition at its first
//! problem and names the file, byte offset and page. A manifest tail that
//! replay discarded (a torn write or damage) is a warning.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;

use super::{ManifestChoice, PartitionReader, StoreReader};
use crate::error::Error;
use crate::format::compression::ValueCodec;
use crate::format::data_page::{Compression, DataPage};
use crate::format::index_page::IndexPage;
use crate::format::overflow::{OverflowPage, check_group, decode_pointers};
use crate::format::page::{AlignedBuf, FilePageId, MAX_PAGE_ID, PageId, PageType, verify_page};
use crate::format::ttl::ttl_key;
use crate::mapping::verify_mapping;
use crate::tree::{PageSource, block_on, read::MAX_OVERFLOW_POINTERS};
use crate::types::TableIdent;

/// The first thing found wrong in a partition.
#[derive(Clone, Debug)]
pub struct Problem {
    /// The file where it was found.
    pub file: PathBuf,
    /// Byte offset in that file, when known.
    pub offset: Option<u64>,
    /// The logical page, when a page is at fault.
    pub page: Option<PageId>,
    /// Its file page, when mapped.
    pub file_page: Option<FilePageId>,
    /// What is wrong (`Corrupted` for damage).
    pub error: Error,
    /// What the manifest replay noted before the problem (`Warning`).
    pub warnings: Vec<Warning>,
}

/// Something a check notes without calling the partition damaged: a
/// manifest tail replay ignored, which a torn write leaves as well as
/// damage does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The file the warning is about.
    pub file: PathBuf,
    /// What was noticed.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(off) = self.offset {
            write!(f, ": offset {off}")?;
        }
        if let Some(p) = self.page {
            write!(f, ": page {p}")?;
        }
        if let Some(fp) = self.file_page {
            write!(f, " (file page {fp})")?;
        }
        write!(f, ": {}", self.error)
    }
}

/// What a clean partition holds.
#[derive(Clone, Debug, Default)]
pub struct PartitionReport {
    /// The partition.
    pub table: TableIdent,
    /// The manifest checked.
    pub manifest: PathBuf,
    /// Manifest records replayed (snapshot included).
    pub records: usize,
    /// Index pages reached from the roots.
    pub index_pages: usize,
    /// Data pages (leaves) reached.
    pub data_pages: usize,
    /// Overflow pages reached.
    pub overflow_pages: usize,
    /// Entries of the data tree.
    pub entries: usize,
    /// Entries of the TTL tree.
    pub ttl_entries: usize,
    /// What the check noted without calling the partition damaged.
    pub warnings: Vec<Warning>,
}

/// Checks every partition of the store (and every archive when
/// `archives`). Returns the reports of clean partitions and the problems.
pub fn check_store(
    store: &StoreReader,
    archives: bool,
) -> crate::Result<(Vec<PartitionReport>, Vec<Problem>)> {
    let mut reports = Vec::new();
    let mut problems = Vec::new();
    for tbl in store.partitions()? {
        let mut choices = vec![ManifestChoice::Current];
        if archives {
            let dir = store.partition_dir(&tbl);
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .map_err(|e| Error::from_io(e, dir.display()))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| crate::format::names::is_archive_file(n))
                .collect();
            names.sort();
            choices.extend(names.into_iter().map(ManifestChoice::Named));
        }
        for choice in choices {
            match check_partition(store, &tbl, &choice) {
                Ok(r) => reports.push(r),
                Err(p) => problems.push(p),
            }
        }
    }
    Ok((reports, problems))
}

/// Checks one partition as a given manifest describes it.
pub fn check_partition(
    store: &StoreReader,
    tbl: &TableIdent,
    choice: &ManifestChoice,
) -> Result<PartitionReport, Problem> {
    let manifest_path = store
        .manifest_path(tbl, choice)
        .map_err(|e| problem_at(store.partition_dir(tbl), e))?;
    let (_, bytes, state) = match store.replay_manifest(tbl, choice) {
        Ok(r) => r,
        // The engine reads a partition without its manifest as empty (a
        // crash between creating the directory, or a data file, and
        // writing the first manifest leaves one); so does check.
        Err(e) if *choice == ManifestChoice::Current && super::is_missing(&e) => {
            return Ok(missing_manifest(store, tbl, manifest_path));
        }
        Err(e) => return Err(problem_at(manifest_path.clone(), e)),
    };
    let warnings: Vec<Warning> = state
        .end
        .discarded()
        .map(|message| Warning {
            file: manifest_path.clone(),
            message,
        })
        .into_iter()
        .collect();
    let with_warnings = |mut p: Problem| {
        p.warnings = warnings.clone();
        p
    };
    check_replayed(store, tbl, &manifest_path, &bytes, state)
        .map(|mut r| {
            r.warnings = warnings.clone();
            r
        })
        .map_err(with_warnings)
}

/// The report of a partition directory without its manifest: empty, with
/// a warning naming what else the directory holds.
fn missing_manifest(store: &StoreReader, tbl: &TableIdent, path: PathBuf) -> PartitionReport {
    let mut others: Vec<String> = std::fs::read_dir(store.partition_dir(tbl))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    others.sort();
    let holds = if others.is_empty() {
        "the directory is empty".to_string()
    } else {
        format!("the directory holds {}", others.join(", "))
    };
    PartitionReport {
        table: tbl.clone(),
        manifest: path.clone(),
        warnings: vec![Warning {
            file: path,
            message: format!(
                "missing: the partition is empty, as the engine reads it \
                 (a crash before its first manifest; {holds})"
            ),
        }],
        ..Default::default()
    }
}

/// `check_partition` once the manifest replays.
fn check_replayed(
    store: &StoreReader,
    tbl: &TableIdent,
    manifest_path: &std::path::Path,
    bytes: &[u8],
    state: crate::format::manifest::ManifestState,
) -> Result<PartitionReport, Problem> {
    let manifest_path = manifest_path.to_path_buf();
    let reader = store
        .open_replayed(tbl, manifest_path.clone(), bytes, state)
        .map_err(|e| problem_at(manifest_path.clone(), e))?;
    let st = reader.manifest();
    let shift = store.options().pages_per_file_shift;
    verify_mapping(&reader.mapping, st.max_fp_id, shift, false)
        .map_err(|e| problem_at(manifest_path.clone(), e))?;
    // Free-list links are checked in the snapshot record alone.
    let snapshot = crate::format::manifest::first_snapshot(bytes)
        .map_err(|e| problem_at(manifest_path.clone(), e))?;
    let snap_table = crate::mapping::MappingTable::from_values(&snapshot.mapping);
    verify_mapping(&snap_table, snapshot.max_fp_id, shift, true)
        .map_err(|e| problem_at(manifest_path.clone(), e.context("snapshot record")))?;
    for fp in reader
        .mapping
        .iter()
        .filter_map(crate::format::manifest::mapping_value::as_file_page)
    {
        if let Err(e) = reader.source.locate(fp) {
            return Err(problem_at(manifest_path.clone(), e));
        }
    }
    let mut w = Walker {
        reader: &reader,
        visited: HashSet::new(),
        report: PartitionReport {
            table: tbl.clone(),
            manifest: manifest_path.clone(),
            records: st.records.len(),
            ..Default::default()
        },
        codec: ValueCodec::new(),
        expiries: HashMap::new(),
        bytewise: false,
    };
    let main = w.walk_tree(st.root, false)?;
    w.report.entries = main;
    let ttl = w.walk_tree(st.ttl_root, true)?;
    w.report.ttl_entries = ttl;
    if let Some(id) = (0..reader.mapping.len() as PageId)
        .find(|id| reader.mapping.file_page(*id).is_some() && !w.visited.contains(id))
    {
        let fp = reader.mapping.file_page(id);
        return Err(Problem {
            file: manifest_path,
            offset: None,
            page: Some(id),
            file_page: fp,
            error: Error::corrupted("page is mapped but not reachable from either root"),
            warnings: Vec::new(),
        });
    }
    Ok(w.report)
}

fn problem_at(file: PathBuf, error: Error) -> Problem {
    Problem {
        file,
        offset: None,
        page: None,
        file_page: None,
        error,
        warnings: Vec::new(),
    }
}

struct Walker<'a> {
    reader: &'a PartitionReader,
    visited: HashSet<PageId>,
    report: PartitionReport,
    codec: ValueCodec,
    /// Main-tree keys with an expiry, to match against the TTL tree.
    expiries: HashMap<Vec<u8>, u64>,
    /// Walking the TTL tree (ordered bytewise).
    bytewise: bool,
}

/// A key range `[lo, hi)` a subtree must respect (None = open).
#[derive(Clone)]
struct Range {
    lo: Option<Vec<u8>>,
    hi: Option<Vec<u8>>,
}

struct Leaf {
    id: PageId,
    prev: PageId,
    next: PageId,
}

impl Walker<'_> {
    fn problem(&self, id: PageId, error: Error) -> Problem {
        let fp = self.reader.mapping.file_page(id);
        match fp.map(|fp| self.reader.source.locate(fp)) {
            Some(Ok((file, offset))) => Problem {
                file,
                offset: Some(offset),
                page: Some(id),
                file_page: fp,
                error,
                warnings: Vec::new(),
            },
            _ => Problem {
                file: self.reader.manifest_path().to_path_buf(),
                offset: None,
                page: Some(id),
                file_page: fp,
                error,
                warnings: Vec::new(),
            },
        }
    }

    fn load(&mut self, id: PageId, expected: &[PageType]) -> Result<AlignedBuf, Problem> {
        if !self.visited.insert(id) {
            return Err(self.problem(id, Error::corrupted("page is referenced more than once")));
        }
        let fp = self.reader.mapping.file_page(id).ok_or_else(|| {
            self.problem(id, Error::corrupted("page is referenced but not mapped"))
        })?;
        let buf = block_on(self.reader.source.read_page(fp)).map_err(|e| self.problem(id, e))?;
        // The check always verifies checksums, whatever the options say.
        verify_page(&buf, expected, false).map_err(|e| self.problem(id, e))?;
        Ok(buf)
    }

    fn cmp(&self, a: &[u8], b: &[u8]) -> Ordering {
        if self.bytewise {
            // The TTL tree's order, whatever the store's comparator.
            a.cmp(b)
        } else {
            self.reader.options().comparator.compare(a, b)
        }
    }

    fn in_range(&self, key: &[u8], r: &Range) -> bool {
        r.lo.as_deref().is_none_or(|lo| self.cmp(key, lo).is_ge())
            && r.hi.as_deref().is_none_or(|hi| self.cmp(key, hi).is_lt())
    }

    /// Walks a tree, returning its entry count.
    fn walk_tree(&mut self, root: PageId, ttl: bool) -> Result<usize, Problem> {
        if root == MAX_PAGE_ID {
            return Ok(0);
        }
        self.bytewise = ttl;
        let mut leaves = Vec::new();
        let mut leaf_depth = None;
        let mut entries = 0;
        let mut last_key: Option<Vec<u8>> = None;
        let full = Range { lo: None, hi: None };
        self.walk_index(
            root,
            full,
            0,
            ttl,
            &mut leaves,
            &mut leaf_depth,
            &mut entries,
            &mut last_key,
        )?;
        for (i, l) in leaves.iter().enumerate() {
            let want_prev = if i == 0 {
                MAX_PAGE_ID
            } else {
                leaves[i - 1].id
            };
            let want_next = leaves.get(i + 1).map_or(MAX_PAGE_ID, |n| n.id);
            if l.prev != want_prev || l.next != want_next {
                return Err(self.problem(
                    l.id,
                    Error::corrupted(format!(
                        "sibling links prev={} next={} but the tree order gives prev={} next={}",
                        l.prev, l.next, want_prev, want_next
                    )),
                ));
            }
        }
        Ok(entries)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_index(
        &mut self,
        id: PageId,
        range: Range,
        depth: usize,
        ttl: bool,
        leaves: &mut Vec<Leaf>,
        leaf_depth: &mut Option<usize>,
        entries: &mut usize,
        last_key: &mut Option<Vec<u8>>,
    ) -> Result<(), Problem> {
        if depth > 64 {
            return Err(self.problem(id, Error::corrupted("tree deeper than 64 levels")));
        }
        let buf = self.load(id, &[PageType::NonLeafIndex, PageType::LeafIndex])?;
        self.report.index_pages += 1;
        let page = IndexPage::parse(&buf).map_err(|e| self.problem(id, e))?;
        let keyed = page.entries().map_err(|e| self.problem(id, e))?;
        for w in keyed.windows(2) {
            if self.cmp(&w[0].0, &w[1].0).is_ge() {
                return Err(self.problem(
                    id,
                    Error::corrupted("index keys are not strictly increasing"),
                ));
            }
        }
        if let Some((k, _)) = keyed.iter().find(|(k, _)| !self.in_range(k, &range)) {
            return Err(self.problem(
                id,
                Error::corrupted(format!(
                    "index key {} lies outside its parent's range",
                    super::hex(k)
                )),
            ));
        }
        let mut children = vec![(page.leftmost(), range.lo.clone())];
        children.extend(keyed.into_iter().map(|(k, c)| (c, Some(k))));
        for i in 0..children.len() {
            let (child, lo) = children[i].clone();
            let hi = children
                .get(i + 1)
                .map_or(range.hi.clone(), |(_, k)| k.clone());
            let sub = Range { lo, hi };
            if page.is_leaf_index() {
                match *leaf_depth {
                    None => *leaf_depth = Some(depth + 1),
                    Some(d) if d != depth + 1 => {
                        return Err(
                            self.problem(id, Error::corrupted("leaves at different depths"))
                        );
                    }
                    _ => {}
                }
                self.walk_leaf(child, &sub, ttl, leaves, entries, last_key)?;
            } else {
                self.walk_index(
                    child,
                    sub,
                    depth + 1,
                    ttl,
                    leaves,
                    leaf_depth,
                    entries,
                    last_key,
                )?;
            }
        }
        Ok(())
    }

    fn walk_leaf(
        &mut self,
        id: PageId,
        range: &Range,
        ttl: bool,
        leaves: &mut Vec<Leaf>,
        entries: &mut usize,
        last_key: &mut Option<Vec<u8>>,
    ) -> Result<(), Problem> {
        let buf = self.load(id, &[PageType::Data])?;
        self.report.data_pages += 1;
        let page = DataPage::parse(&buf).map_err(|e| self.problem(id, e))?;
        let list = page.entries().map_err(|e| self.problem(id, e))?;
        if list.is_empty() {
            return Err(self.problem(id, Error::corrupted("data page without entries")));
        }
        for e in &list {
            if let Some(prev) = last_key.as_deref()
                && self.cmp(prev, &e.key).is_ge()
            {
                return Err(self.problem(
                    id,
                    Error::corrupted(format!(
                        "key {} is not above the key before it",
                        super::hex(&e.key)
                    )),
                ));
            }
            if !self.in_range(&e.key, range) {
                return Err(self.problem(
                    id,
                    Error::corrupted(format!(
                        "key {} lies outside its index range",
                        super::hex(&e.key)
                    )),
                ));
            }
            *last_key = Some(e.key.clone());
            let stored = if e.overflow {
                self.walk_overflow(id, &e.value)?
            } else {
                e.value.clone()
            };
            if e.compression != Compression::None {
                self.codec
                    .decompress(&stored, e.compression, self.reader.dictionary())
                    .map_err(|err| self.problem(id, err))?;
            }
            if ttl {
                self.check_ttl_entry(id, &e.key)?;
            } else if e.expire_ts != 0 {
                self.expiries.insert(e.key.clone(), e.expire_ts);
            }
        }
        *entries += list.len();
        leaves.push(Leaf {
            id,
            prev: page.prev_page_id(),
            next: page.next_page_id(),
        });
        Ok(())
    }

    /// A TTL-tree entry must name a main-tree key with that expiry.
    fn check_ttl_entry(&self, id: PageId, key: &[u8]) -> Result<(), Problem> {
        let ok = crate::format::ttl::parse_ttl_key(key)
            .is_some_and(|(ts, k)| self.expiries.get(k) == Some(&ts) && ttl_key(ts, k) == key);
        if ok {
            Ok(())
        } else {
            Err(self.problem(
                id,
                Error::corrupted(format!(
                    "TTL entry {} has no matching key in the main tree",
                    super::hex(key)
                )),
            ))
        }
    }

    /// Reads a value's overflow chain: every page referenced once, of the
    /// overflow type, each group laid out as the writer lays it out.
    fn walk_overflow(&mut self, owner: PageId, pointers: &[u8]) -> Result<Vec<u8>, Problem> {
        let mut group =
            decode_pointers(pointers, MAX_OVERFLOW_POINTERS).map_err(|e| self.problem(owner, e))?;
        let mut value = Vec::new();
        let mut prev_len = None;
        while !group.is_empty() {
            let mut bufs = Vec::with_capacity(group.len());
            for &id in &group {
                bufs.push(self.load(id, &[PageType::Overflow])?);
                self.report.overflow_pages += 1;
            }
            let mut pages = Vec::with_capacity(bufs.len());
            for (buf, &id) in bufs.iter().zip(&group) {
                pages.push(OverflowPage::parse(buf).map_err(|e| self.problem(id, e))?);
            }
            // Name the first page of the group: the layout is the group's.
            check_group(&pages, prev_len).map_err(|e| {
                self.problem(
                    group[0],
                    e.context(format_args!(
                        "overflow group {group:?} of the value in page {owner}"
                    )),
                )
            })?;
            for p in &pages {
                value.extend_from_slice(p.value());
            }
            prev_len = Some(group.len());
            group = pages.last().map(|p| p.pointers()).unwrap_or_default();
        }
        Ok(value)
    }
}
