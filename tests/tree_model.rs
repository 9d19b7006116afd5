//! The copy-on-write tree writer against a `BTreeMap` model: random batches
//! (inserts, overwrites, deletes, expiries, overflow values, truncations)
//! are applied commit by commit over an in-memory page store; after every
//! commit the tree must scan exactly as the model, and at the end the pages
//! and the manifest (snapshot + one log record per commit) are written out
//! as a real store that `check` must find clean.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use eloqstore::inspect::StoreReader;
use eloqstore::inspect::check::check_store;
use eloqstore::internals::format::comparator::BytewiseComparator;
use eloqstore::internals::format::compression::ValueCodec;
use eloqstore::internals::format::manifest::{self, mapping_value};
use eloqstore::internals::format::names::data_file_name;
use eloqstore::internals::format::page::{AlignedBuf, FilePageId, MAX_PAGE_ID, PageId};
use eloqstore::internals::mapping::PageMapper;
use eloqstore::internals::tree::read::WANT_BATCH_LEAVES;
use eloqstore::internals::tree::write::{Change, TreeConfig, TreeWriter};
use eloqstore::internals::tree::{PageSource, ReadCtx, block_on};
use eloqstore::options::KvOptions;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[derive(Default)]
struct MemPages {
    pages: RefCell<HashMap<FilePageId, AlignedBuf>>,
    /// The page count of every `read_pages` call (a scan's leaf batches).
    batches: RefCell<Vec<usize>>,
}

impl PageSource for MemPages {
    async fn read_page(&self, fp: FilePageId) -> eloqstore::Result<AlignedBuf> {
        self.pages
            .borrow()
            .get(&fp)
            .cloned()
            .ok_or_else(|| eloqstore::Error::corrupted(format!("no page at {fp}")))
    }

    async fn read_pages(&self, fps: &[FilePageId]) -> eloqstore::Result<Vec<AlignedBuf>> {
        self.batches.borrow_mut().push(fps.len());
        let mut out = Vec::with_capacity(fps.len());
        for &fp in fps {
            out.push(self.read_page(fp).await?);
        }
        Ok(out)
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Val {
    value: Vec<u8>,
    ts: u64,
    expire: u64,
}

struct Harness {
    pages: MemPages,
    mapper: PageMapper,
    root: PageId,
    ttl_root: PageId,
    manifest: Vec<u8>,
    page_size: usize,
    shift: u8,
    append: bool,
}

impl Harness {
    fn new(page_size: usize, shift: u8, append: bool) -> Harness {
        Harness {
            pages: MemPages::default(),
            mapper: PageMapper::new(append, shift, 0),
            root: MAX_PAGE_ID,
            ttl_root: MAX_PAGE_ID,
            manifest: Vec::new(),
            page_size,
            shift,
            append,
        }
    }

    fn cfg(&self) -> TreeConfig<'static> {
        TreeConfig {
            page_size: self.page_size,
            data_restart_interval: 16,
            index_restart_interval: 16,
            overflow_pointers: 4,
            cmp: &BytewiseComparator,
        }
    }

    fn commit(
        &mut self,
        now_ms: u64,
        op: impl FnOnce(&mut TreeWriter<'_, MemPages>) -> (PageId, PageId),
    ) {
        let mut codec = ValueCodec::new();
        let table = self.mapper.table().clone();
        let read = ReadCtx::new(&self.pages, &table, &BytewiseComparator);
        let mut w = TreeWriter::new(read, self.cfg(), self.mapper.clone(), now_ms, &mut codec);
        let (root, ttl_root) = op(&mut w);
        let plan = w.finish(root, ttl_root);
        // Released file pages must not be rewritten by this commit.
        for pw in &plan.writes {
            assert!(
                !plan.released.contains(&pw.fp),
                "file page {} written and released",
                pw.fp
            );
            self.pages.pages.borrow_mut().insert(pw.fp, pw.page.clone());
        }
        let mut mapper = plan.mapper;
        mapper.release_file_pages(plan.released.iter().copied());
        for fp in &plan.released {
            self.pages.pages.borrow_mut().remove(fp);
        }
        // Manifest: snapshot first, then one log record per commit.
        let terms = mapper.terms_for_manifest();
        let rec = if self.manifest.is_empty() {
            let snap =
                manifest::encode_snapshot(mapper.max_fp_id(), &[], mapper.table().iter(), &terms);
            manifest::encode_record(plan.root, plan.ttl_root, &snap)
        } else {
            manifest::encode_record(
                plan.root,
                plan.ttl_root,
                &manifest::encode_log(&plan.changes, &terms),
            )
        };
        self.manifest.extend_from_slice(&rec);
        self.mapper = mapper;
        self.root = plan.root;
        self.ttl_root = plan.ttl_root;
        let st = manifest::replay(&self.manifest).unwrap();
        assert_eq!((st.root, st.ttl_root), (self.root, self.ttl_root));
        // Replayed free entries carry link values; compare mapped pages.
        let mapped = |v: &[u64]| -> Vec<Option<u64>> {
            v.iter().map(|&x| mapping_value::as_file_page(x)).collect()
        };
        let mut want = mapped(&self.mapper.table().to_vec());
        let mut got = mapped(&st.mapping);
        let n = want.len().max(got.len());
        want.resize(n, None);
        got.resize(n, None);
        assert_eq!(got, want);
    }

    /// Index levels above the leaves.
    fn height(&self) -> usize {
        let table = self.mapper.table().clone();
        let ctx = ReadCtx::new(&self.pages, &table, &BytewiseComparator);
        let mut h = 0;
        let mut id = self.root;
        while id != MAX_PAGE_ID {
            h += 1;
            let page = block_on(ctx.load_index(id)).unwrap();
            let p = eloqstore::internals::format::index_page::IndexPage::parse(&page).unwrap();
            id = if p.is_leaf_index() {
                MAX_PAGE_ID
            } else {
                p.leftmost()
            };
        }
        h + 1
    }

    fn scan(&self) -> Vec<(Vec<u8>, Val)> {
        let table = self.mapper.table().clone();
        let ctx = ReadCtx::new(&self.pages, &table, &BytewiseComparator);
        let mut codec = ValueCodec::new();
        block_on(async {
            let mut out = Vec::new();
            let mut cur = ctx.seek(self.root, b"", true, 3).await.unwrap();
            while let Some(e) = cur.next(&ctx).await.unwrap() {
                let value = ctx.resolve_value(&e, &mut codec, None).await.unwrap();
                out.push((
                    e.key.clone(),
                    Val {
                        value,
                        ts: e.timestamp,
                        expire: e.expire_ts,
                    },
                ));
            }
            out
        })
    }

    /// Writes the pages and manifest as a real store and runs `check`.
    fn check_on_disk(&self) {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("store/t.0");
        std::fs::create_dir_all(&part).unwrap();
        let mut files: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for (fp, page) in self.pages.pages.borrow().iter() {
            let f = files.entry(fp >> self.shift).or_default();
            let off = (fp & ((1 << self.shift) - 1)) as usize * self.page_size;
            if f.len() < off + self.page_size {
                f.resize(off + self.page_size, 0);
            }
            f[off..off + self.page_size].copy_from_slice(&page[..self.page_size]);
        }
        // Real data files never shrink: they still cover every file page
        // below max_fp_id, released ones included (whose bytes the
        // harness dropped).
        let max = self.mapper.max_fp_id();
        if max > 0 {
            let per_file = 1usize << self.shift;
            let last = max - 1;
            for f in 0..=last >> self.shift {
                let pages = if f == last >> self.shift {
                    (last as usize & (per_file - 1)) + 1
                } else {
                    per_file
                };
                let bytes = files.entry(f).or_default();
                if bytes.len() < pages * self.page_size {
                    bytes.resize(pages * self.page_size, 0);
                }
            }
        }
        for (id, bytes) in files {
            std::fs::write(part.join(data_file_name(id, 0)), bytes).unwrap();
        }
        std::fs::write(part.join("manifest_0"), &self.manifest).unwrap();
        let mut opts = KvOptions::default();
        opts.store_path = vec![dir.path().join("store").to_string_lossy().into_owned()];
        opts.data_page_size = self.page_size as u16;
        opts.pages_per_file_shift = self.shift;
        opts.data_append_mode = self.append;
        let store = StoreReader::new(opts).unwrap();
        let (reports, problems) = check_store(&store, false).unwrap();
        assert!(problems.is_empty(), "{}", problems[0]);
        assert_eq!(reports.len(), 1);
    }
}

fn value(rng: &mut StdRng, big: bool) -> Vec<u8> {
    let len = if big {
        rng.random_range(3000..40_000)
    } else {
        rng.random_range(0..120)
    };
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7) ^ rng.random::<u8>() & 3)
        .collect()
}

fn run_model(
    seed: u64,
    page_size: usize,
    append: bool,
    rounds: usize,
    key_pad: usize,
    keys: u32,
) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut h = Harness::new(page_size, 6, append);
    let mut model: BTreeMap<Vec<u8>, Val> = BTreeMap::new();
    let mut now = 1_000_000u64;
    let mut ts = 1u64;
    for round in 0..rounds {
        now += rng.random_range(0..50);
        if round % 17 == 16 {
            // Truncate at a random position (sometimes everything).
            let pos: Vec<u8> = if rng.random_range(0..4) == 0 {
                Vec::new()
            } else {
                key(rng.random_range(0..keys), key_pad)
            };
            let (root, ttl_root) = (h.root, h.ttl_root);
            h.commit(now, |w| {
                if pos.is_empty() {
                    w.truncate_all()
                } else {
                    block_on(w.truncate(root, ttl_root, &pos)).unwrap()
                }
            });
            model.retain(|k, v| (!pos.is_empty() && *k < pos) && (v.expire == 0 || v.expire > now));
            if std::env::var("TREE_DEBUG").is_ok() {
                eprintln!(
                    "round {round}: truncate at {:?}",
                    String::from_utf8_lossy(&pos)
                );
                h.check_on_disk();
            }
            if pos.is_empty() {
                assert_eq!((h.root, h.ttl_root), (MAX_PAGE_ID, MAX_PAGE_ID));
            }
            continue;
        }
        let n = rng.random_range(1..400);
        let mut batch: BTreeMap<Vec<u8>, (Vec<u8>, u64, u64, bool)> = BTreeMap::new();
        for _ in 0..n {
            let key = key(rng.random_range(0..keys), key_pad);
            ts += 1;
            let t = if rng.random_range(0..10) == 0 {
                ts - rng.random_range(0..ts.min(50))
            } else {
                ts
            };
            let delete = rng.random_range(0..4) == 0;
            let expire = match rng.random_range(0..8) {
                0 => now + rng.random_range(1..100),
                1 => now.saturating_sub(rng.random_range(0..10)),
                _ => 0,
            };
            let big = rng.random_range(0..60) == 0;
            batch.insert(key, (value(&mut rng, big), t, expire, delete));
        }
        let changes: Vec<Change<'_>> = batch
            .iter()
            .map(|(k, (v, t, e, d))| Change {
                key: k,
                value: v,
                timestamp: *t,
                expire_ts: *e,
                delete: *d,
            })
            .collect();
        let (root, ttl_root) = (h.root, h.ttl_root);
        h.commit(now, |w| {
            block_on(w.apply(root, ttl_root, &changes)).unwrap()
        });
        // Model: expired entries vanish, newer-or-equal timestamps win.
        model.retain(|_, v| v.expire == 0 || v.expire > now);
        for (k, (v, t, e, d)) in &batch {
            if let Some(old) = model.get(k)
                && *t < old.ts
            {
                continue;
            }
            if *d || (*e != 0 && *e <= now) {
                model.remove(k);
            } else {
                model.insert(
                    k.clone(),
                    Val {
                        value: v.clone(),
                        ts: *t,
                        expire: *e,
                    },
                );
            }
        }
        // The tree may still hold expired entries of leaves not rewritten.
        let got: Vec<_> = h
            .scan()
            .into_iter()
            .filter(|(_, v)| v.expire == 0 || v.expire > now)
            .collect();
        let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if got != want {
            h.check_on_disk();
        }
        assert!(
            got == want,
            "seed {seed} round {round}: {} entries, model {}",
            got.len(),
            want.len()
        );
    }
    h.check_on_disk();
    h.height()
}

fn key(i: u32, pad: usize) -> Vec<u8> {
    let mut k = format!("k{i:06}").into_bytes();
    k.extend(std::iter::repeat_n(b'.', pad));
    k
}

#[test]
fn model_pooled() {
    for seed in 0..6 {
        run_model(seed, 4096, false, 60, 0, 3000);
    }
}

#[test]
fn model_append() {
    for seed in 10..14 {
        run_model(seed, 4096, true, 60, 0, 3000);
    }
}

#[test]
fn model_deep_trees_with_long_keys() {
    let mut max_height = 0;
    for seed in 20..23 {
        max_height = max_height.max(run_model(seed, 4096, seed % 2 == 0, 80, 300, 20_000));
    }
    assert!(
        max_height >= 3,
        "trees never grew a non-leaf index level (height {max_height})"
    );
}

#[test]
fn model_larger_pages() {
    run_model(30, 8192, false, 40, 40, 5000);
}

/// A scan page of many large entries reads its leaves in batches sized to
/// the entries it still wants, but at most `WANT_BATCH_LEAVES` leaves (or
/// its prefetch, if larger) a batch, so that concurrent scans do not each
/// hold dozens of pages; the entries come out complete and in order.
#[test]
fn scan_batches_follow_the_wanted_entries_within_a_bound() {
    let mut h = Harness::new(4096, 6, true);
    // 1000-byte values: three entries a leaf.
    let keys: Vec<Vec<u8>> = (0..600).map(|i| key(i, 0)).collect();
    let value = vec![7u8; 1000];
    let changes: Vec<Change<'_>> = keys
        .iter()
        .map(|k| Change {
            key: k,
            value: &value,
            timestamp: 1,
            expire_ts: 0,
            delete: false,
        })
        .collect();
    let (root, ttl_root) = (h.root, h.ttl_root);
    h.commit(1, |w| block_on(w.apply(root, ttl_root, &changes)).unwrap());
    let table = h.mapper.table().clone();
    let ctx = ReadCtx::new(&h.pages, &table, &BytewiseComparator);
    // (prefetch, entries wanted, the largest batch expected)
    for (prefetch, want, most) in [(3, 100, WANT_BATCH_LEAVES), (20, 100, 20)] {
        h.pages.batches.borrow_mut().clear();
        let got = block_on(async {
            let mut cur = ctx
                .seek(h.root, key(50, 0).as_slice(), true, prefetch)
                .await
                .unwrap();
            let mut got = Vec::new();
            while got.len() < want {
                cur.set_want(want - got.len());
                let Some(mut leaf) = cur.next_leaf(&ctx).await.unwrap() else {
                    break;
                };
                while let Some(e) = leaf.next().unwrap() {
                    if got.len() < want {
                        got.push(e.key.to_vec());
                    }
                }
            }
            got
        });
        assert_eq!(
            got,
            keys[50..50 + want].to_vec(),
            "prefetch {prefetch}, want {want}"
        );
        let batches = h.pages.batches.borrow();
        let largest = batches.iter().copied().max().unwrap();
        assert_eq!(
            largest, most,
            "prefetch {prefetch}, want {want}: leaf batches {batches:?}"
        );
    }
}
