//! Writes the committed seed corpus (`fuzz/corpus/<target>/`) and the INI
//! dictionary (`fuzz/dict/ini.dict`) from the C++-written fixtures:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds -- FIXTURES_DIR fuzz
//! ```
//!
//! Pages, manifests, values and INI files are cut from the fixtures and
//! prefixed with the mode byte each target reads first. Small trees and
//! overflow chains are rebuilt with page ids renumbered to the targets'
//! layouts. The output is deterministic for given fixtures.

use std::path::{Path, PathBuf};

use eloqstore::inspect::{ManifestChoice, PartitionReader, StoreReader};
use eloqstore::internals::format::checksum::set_page_checksum;
use eloqstore::internals::format::compression::ValueCodec;
use eloqstore::internals::format::data_page::{Compression, DataPage, set_links};
use eloqstore::internals::format::index_page::{IndexPage, IndexPageBuilder};
use eloqstore::internals::format::manifest;
use eloqstore::internals::format::overflow::decode_pointers;
use eloqstore::internals::format::page::{AlignedBuf, MAX_PAGE_ID, PageType, page_type};
use eloqstore::internals::tree::{PageSource, block_on};
use eloqstore::options::KvOptions;
use eloqstore::options::fields::FIELD_NAMES;
use eloqstore::types::TableIdent;

struct Out {
    dir: PathBuf,
    files: usize,
    bytes: usize,
}

impl Out {
    fn put(&mut self, target: &str, name: &str, mode: &[u8], body: &[u8]) {
        let dir = self.dir.join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        let mut data = mode.to_vec();
        data.extend_from_slice(body);
        std::fs::write(dir.join(name), &data).unwrap();
        self.files += 1;
        self.bytes += data.len();
    }
}

fn open(fixture: &Path) -> StoreReader {
    let mut o = KvOptions::from_ini_file(fixture.join("options.ini")).unwrap();
    o.resolve_store_paths(fixture);
    StoreReader::new(o).unwrap()
}

fn first_part(fixture: &Path) -> (StoreReader, TableIdent) {
    let st = open(fixture);
    let t = st.partitions().unwrap()[0].clone();
    (st, t)
}

/// Mapped pages of a partition by type, in page id order.
fn pages(p: &PartitionReader, want: PageType, max: usize) -> Vec<(u32, AlignedBuf)> {
    let mut out = Vec::new();
    for id in 0..p.mapping().len() as u32 {
        if out.len() == max {
            break;
        }
        let Some(fp) = p.mapping().file_page(id) else {
            continue;
        };
        let page = block_on(p.source().read_page(fp)).unwrap();
        if page_type(&page) == Some(want) {
            out.push((id, page));
        }
    }
    out
}

fn page(p: &PartitionReader, id: u32) -> AlignedBuf {
    block_on(p.source().read_page(p.mapping().file_page(id).unwrap())).unwrap()
}

/// Small deterministic noise for seeds of the structured modes.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A leaf index root and up to `leaves` of its data pages, renumbered:
/// page `i` of the result has id `i` (the root is 0).
fn small_tree(p: &PartitionReader, leaves: usize) -> Vec<AlignedBuf> {
    let mut id = p.manifest().root;
    let root = loop {
        let buf = page(p, id);
        let ip = IndexPage::parse(&buf).unwrap();
        if ip.is_leaf_index() {
            break buf;
        }
        id = ip.leftmost();
    };
    let ip = IndexPage::parse(&root).unwrap();
    let children = ip.children().unwrap();
    let seps = ip.entries().unwrap();
    let k = leaves.min(children.len());
    let mut b = IndexPageBuilder::new(root.len(), 16);
    b.add_leftmost(1, true);
    for (i, (sep, _)) in seps.iter().take(k - 1).enumerate() {
        assert!(b.add(sep, i as u32 + 2));
    }
    let mut new_root = b.finish();
    set_page_checksum(&mut new_root);
    let mut out = vec![new_root];
    for (i, &c) in children.iter().take(k).enumerate() {
        let mut leaf = page(p, c);
        let prev = if i == 0 { MAX_PAGE_ID } else { i as u32 };
        let next = if i + 1 < k { i as u32 + 2 } else { MAX_PAGE_ID };
        set_links(&mut leaf, prev, next);
        set_page_checksum(&mut leaf);
        out.push(leaf);
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fixtures = PathBuf::from(args.first().expect("FIXTURES_DIR"));
    let mut out = Out {
        dir: PathBuf::from(args.get(1).expect("fuzz dir")),
        files: 0,
        bytes: 0,
    };
    let _ = std::fs::remove_dir_all(out.dir.join("corpus"));
    let fx = |name: &str| fixtures.join(name);

    // data_page (mode 0: a raw page) and index_page (mode 0).
    for name in [
        "basic",
        "compressed",
        "ttl",
        "deep",
        "large_values",
        "truncate",
    ] {
        let (st, t) = first_part(&fx(name));
        let p = st.open_partition(&t, &ManifestChoice::Current).unwrap();
        for (i, (_, pg)) in pages(&p, PageType::Data, 2).iter().enumerate() {
            out.put("data_page", &format!("{name}-data-{i}"), &[0], pg);
        }
        for (i, (_, pg)) in pages(&p, PageType::LeafIndex, 1).iter().enumerate() {
            out.put("index_page", &format!("{name}-leaf-index-{i}"), &[0], pg);
        }
        for (i, (_, pg)) in pages(&p, PageType::NonLeafIndex, 1).iter().enumerate() {
            out.put("index_page", &format!("{name}-nonleaf-index-{i}"), &[0], pg);
        }
    }
    for i in 0..3 {
        out.put("data_page", &format!("built-{i}"), &[1], &noise(i, 2048));
        out.put(
            "index_page",
            &format!("built-{i}"),
            &[1],
            &noise(10 + i, 2048),
        );
        out.put(
            "index_page",
            &format!("built-tree-{i}"),
            &[2],
            &noise(20 + i, 4096),
        );
    }
    // index_page mode 3: renumbered small trees.
    for (name, leaves) in [("basic", 4), ("deep", 3), ("ttl", 2)] {
        let (st, t) = first_part(&fx(name));
        let p = st.open_partition(&t, &ManifestChoice::Current).unwrap();
        let tree = small_tree(&p, leaves);
        let first_leaf = DataPage::parse(&tree[1]).unwrap().entries().unwrap();
        let probe = first_leaf[first_leaf.len() / 2].key.clone();
        let n = tree.len();
        let mut body = vec![(n - 1) as u8, 0, 0, probe.len() as u8];
        body.extend_from_slice(&probe);
        body.extend((0..n).map(|i| i as u8));
        for pg in &tree {
            body.extend_from_slice(pg);
        }
        out.put("index_page", &format!("{name}-tree"), &[3], &body);
    }

    // overflow_page: raw pages (mode 0), built chains (mode 1), and a
    // fixture value's chain renumbered (mode 2).
    let (st, t) = first_part(&fx("large_values"));
    let p = st.open_partition(&t, &ManifestChoice::Current).unwrap();
    for (i, (_, pg)) in pages(&p, PageType::Overflow, 3).iter().enumerate() {
        out.put(
            "overflow_page",
            &format!("large_values-overflow-{i}"),
            &[0],
            pg,
        );
    }
    for i in 0..3 {
        out.put(
            "overflow_page",
            &format!("built-{i}"),
            &[1],
            &noise(30 + i, 256),
        );
    }
    let mut chains = 0;
    for (_, pg) in pages(&p, PageType::Data, 200) {
        for e in DataPage::parse(&pg).unwrap().entries().unwrap() {
            if !e.overflow || chains == 2 {
                continue;
            }
            let ids = decode_pointers(&e.value, 128).unwrap();
            if ids.len() > 6 {
                continue;
            }
            let group: Vec<AlignedBuf> = ids.iter().map(|&id| page(&p, id)).collect();
            if group.iter().any(|g| {
                !eloqstore::internals::format::overflow::OverflowPage::parse(g)
                    .unwrap()
                    .pointers()
                    .is_empty()
            }) {
                continue;
            }
            // Ids 1..=k at file pages 1..=k; file page 0 unmapped.
            let k = ids.len();
            let mut body = vec![k as u8, k as u8, 0];
            body.extend(1..=k as u8);
            body.push(0xff);
            body.extend(1..=k as u8);
            body.extend_from_slice(&[0u8; 4096]);
            for g in &group {
                body.extend_from_slice(g);
            }
            out.put(
                "overflow_page",
                &format!("large_values-chain-{chains}"),
                &[2],
                &body,
            );
            chains += 1;
        }
    }

    // manifest_replay: whole manifests (mode 0; mode 2 = append knob) and
    // structured noise (mode 1).
    let manifests: [(&str, &str, u8); 6] = [
        ("ttl", "store/t0.0/manifest_0", 0),
        ("truncate", "store/t0.1/manifest_0", 0),
        ("multi", "store/disk0/t0.0/manifest_0", 0),
        ("basic", "store/t0.0/manifest_0", 0),
        ("append", "store/t0.0/manifest_0", 2),
        ("compressed", "store/t0.0/manifest_0", 0),
    ];
    for (name, path, mode) in manifests {
        let bytes = std::fs::read(fx(name).join(path)).unwrap();
        out.put("manifest_replay", name, &[mode], &bytes);
    }
    let archive = std::fs::read_dir(fx("archive").join("store/t0.0"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("manifest_0_"))
        .unwrap()
        .path();
    out.put(
        "manifest_replay",
        "archive",
        &[2],
        &std::fs::read(archive).unwrap(),
    );
    // many_versions: the snapshot and its first five log records.
    let mv = std::fs::read(fx("many_versions").join("store/t0.0/manifest_0")).unwrap();
    let st = manifest::replay(&mv).unwrap();
    let cut = st.records[6].offset;
    out.put("manifest_replay", "many_versions-6", &[0], &mv[..cut]);
    for i in 0..4 {
        out.put(
            "manifest_replay",
            &format!("structured-{i}"),
            &[1],
            &noise(40 + i, 1024),
        );
    }

    // ini: every fixture's options file.
    for e in std::fs::read_dir(&fixtures).unwrap().flatten() {
        let ini = e.path().join("options.ini");
        if ini.is_file() {
            let name = e.file_name().to_string_lossy().into_owned();
            out.put(
                "ini",
                &name,
                &[(name.len() % 2) as u8],
                &std::fs::read(ini).unwrap(),
            );
        }
    }

    // decompress: a dictionary-compressed value of the fixture with its
    // dictionary (mode 1), the same value for the round trip (mode 2), a
    // standalone-compressed value (mode 0).
    let (st, t) = first_part(&fx("compressed"));
    let p = st.open_partition(&t, &ManifestChoice::Current).unwrap();
    let dict = p.manifest().dict.clone();
    assert!(!dict.is_empty());
    let mut found = 0;
    'pages: for (_, pg) in pages(&p, PageType::Data, 50) {
        for e in DataPage::parse(&pg).unwrap().entries().unwrap() {
            if e.overflow || e.compression != Compression::Dictionary {
                continue;
            }
            let mut body = (dict.len() as u16).to_le_bytes().to_vec();
            body.extend_from_slice(&dict);
            body.extend_from_slice(&e.value);
            out.put(
                "decompress",
                &format!("compressed-dict-{found}"),
                &[1],
                &body,
            );
            let value = p.get(&e.key).unwrap().unwrap().value;
            let mut body = (dict.len() as u16).to_le_bytes().to_vec();
            body.extend_from_slice(&dict);
            body.extend_from_slice(&value);
            out.put(
                "decompress",
                &format!("compressed-roundtrip-{found}"),
                &[2],
                &body,
            );
            found += 1;
            if found == 2 {
                break 'pages;
            }
        }
    }
    assert_eq!(found, 2, "no dictionary-compressed values found");
    let big: Vec<u8> = (0..(10 << 20) + 1).map(|i| (i % 251) as u8).collect();
    let (stored, kind) = ValueCodec::new().prepare(&big, None);
    assert_eq!(kind, Compression::Standalone);
    out.put("decompress", "standalone", &[0], &stored);
    out.put(
        "decompress",
        "plain-roundtrip",
        &[2],
        &[&[0u8, 0][..], &noise(50, 300)].concat(),
    );

    // c_abi: noise; the fuzzer finds the structure.
    for i in 0..4 {
        out.put("c_abi", &format!("noise-{i}"), &[], &noise(60 + i, 1024));
    }

    // The INI dictionary: section headers and every option name.
    let mut dict =
        String::from("# Section headers, option names and value forms of KvOptions INI files.\n");
    for tok in [
        "[run]",
        "[permanent]",
        " = ",
        "KB",
        "MB",
        "GB",
        "TB",
        "true",
        "false",
        "0x",
        "\\x0a  ",
    ] {
        dict.push_str(&format!("\"{}\"\n", tok.replace('"', "\\\"")));
    }
    for f in FIELD_NAMES {
        dict.push_str(&format!("\"{f}\"\n"));
    }
    std::fs::create_dir_all(out.dir.join("dict")).unwrap();
    std::fs::write(out.dir.join("dict/ini.dict"), dict).unwrap();
    println!("{} seed files, {} bytes", out.files, out.bytes);
}
