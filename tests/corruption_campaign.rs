//! The corruption campaign: seeded, bounded damage to temporary copies of
//! every fixture, each case read back by the engine (`EloqStore`: every
//! key of the damaged partition, a full scan of every partition) and by
//! the read-only reader and `check` (every stored key, full scans, every
//! page). Cases run in worker processes (this test binary re-executed) so
//! that an abort or a hang is caught and attributed to its case.
//!
//! Mutations, each on one partition (the victim) of a random fixture:
//! byte flips in a data, index or overflow page or in the manifest; a data
//! file or the manifest cut short; a zeroed page; a zeroed manifest record;
//! two pages exchanged (checksums stay valid); a stale data page (the
//! version of the page from before a write the engine made, put where the
//! new version is); a deleted data file; a 512-byte sector of garbage in a
//! data file or the manifest. Manifest damage and stale pages first let the
//! engine write one batch, so that the version before the last record is
//! known.
//!
//! Every read must be exact (the content the files describe) or a clean
//! error (`Corrupted` or `IoFail`; the reader may also say `NotFound` for a
//! missing file). A `NotFound` from an engine Read or Scan of a key or
//! partition that exists is a wrong answer: the caller cannot tell it from
//! an absent key. When a read fails, `check` must report a problem, and a
//! clean `check` means every read was exact. A panic anywhere (also one the
//! engine catches inside a shard task), an abort or a hang fails the case.
//!
//! Damage no checksum can catch, by design (classified `by-design`; the
//! test asserts each read gives the value of the new or of the previous
//! version, or a clean error, and scans stay strictly ordered with every
//! key present in both versions):
//! - the manifest's last record lost (cut inside its checksummed bytes,
//!   zeroed, a flipped byte in it, or the file cut at its start): a
//!   torn last write looks exactly like this, and upstream's rule is to
//!   fall back to the previous record;
//! - a stale data page: an older version of the same page (a lost write),
//!   self-consistent and checksummed, inside its key range; the format
//!   has no per-page version to tell it from the current one.
//! - two overflow pages swapped: an overflow page names neither its value
//!   nor its place in the chain, so pages of the same layout swap
//!   undetectably; the values whose chains hold them may read garbled
//!   (outcome `undetected`), every other read must be exact.
//!
//! `ELOQSTORE_CAMPAIGN_SEED` (default 1) and `ELOQSTORE_CAMPAIGN_CASES`
//! (default 120) vary and lengthen a run; `ELOQSTORE_CAMPAIGN_ONLY=N`
//! runs case N alone (to reproduce it); `ELOQSTORE_CAMPAIGN_CASE_SECS`
//! (default 120) is the per-case time limit.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use eloqstore::inspect::check::check_store;
use eloqstore::inspect::{ManifestChoice, StoreReader};
use eloqstore::internals::format::manifest;
use eloqstore::internals::format::names::{PartitionFile, classify};
use eloqstore::internals::format::page::{PageType, page_type};
use eloqstore::options::KvOptions;
use eloqstore::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    FlipData,
    FlipIndex,
    FlipOverflow,
    FlipManifest,
    TruncateData,
    TruncateManifest,
    ZeroPage,
    ZeroManifestRecord,
    SwapPages,
    StalePage,
    DeleteDataFile,
    GarbageSector,
}

const KINDS: [Kind; 12] = [
    Kind::FlipData,
    Kind::FlipIndex,
    Kind::FlipOverflow,
    Kind::FlipManifest,
    Kind::TruncateData,
    Kind::TruncateManifest,
    Kind::ZeroPage,
    Kind::ZeroManifestRecord,
    Kind::SwapPages,
    Kind::StalePage,
    Kind::DeleteDataFile,
    Kind::GarbageSector,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::FlipData => "flip data page",
            Kind::FlipIndex => "flip index page",
            Kind::FlipOverflow => "flip overflow page",
            Kind::FlipManifest => "flip manifest",
            Kind::TruncateData => "truncate data file",
            Kind::TruncateManifest => "truncate manifest",
            Kind::ZeroPage => "zeroed page",
            Kind::ZeroManifestRecord => "zeroed manifest record",
            Kind::SwapPages => "swapped pages",
            Kind::StalePage => "stale data page",
            Kind::DeleteDataFile => "deleted data file",
            Kind::GarbageSector => "garbage sector",
        }
    }

    fn from_name(s: &str) -> Kind {
        *KINDS.iter().find(|k| k.name() == s).expect("known kind")
    }

    /// Kinds that let the engine write a batch first (the previous version
    /// must be known).
    fn writes_first(self) -> bool {
        matches!(
            self,
            Kind::FlipManifest
                | Kind::TruncateManifest
                | Kind::ZeroManifestRecord
                | Kind::StalePage
                | Kind::GarbageSector
        )
    }
}

/// What a case allows besides exact reads and clean errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// Checksums or structure must catch it (or it touched nothing read).
    Checked,
    /// Undetectable by design: the previous version may be read.
    ByDesign,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Exact,
    CleanError,
    PreviousVersion,
    Undetected,
    CheckMissed,
    UncleanError,
    WrongData,
    Panic,
    Abort,
    Hang,
}

const OUTCOMES: [Outcome; 10] = [
    Outcome::Exact,
    Outcome::CleanError,
    Outcome::PreviousVersion,
    Outcome::Undetected,
    Outcome::CheckMissed,
    Outcome::UncleanError,
    Outcome::WrongData,
    Outcome::Panic,
    Outcome::Abort,
    Outcome::Hang,
];

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Exact => "exact",
            Outcome::CleanError => "clean-error",
            Outcome::PreviousVersion => "previous",
            Outcome::Undetected => "undetected",
            Outcome::CheckMissed => "check-missed",
            Outcome::UncleanError => "unclean-error",
            Outcome::WrongData => "WRONG-DATA",
            Outcome::Panic => "PANIC",
            Outcome::Abort => "ABORT",
            Outcome::Hang => "HANG",
        }
    }

    fn from_name(s: &str) -> Outcome {
        *OUTCOMES
            .iter()
            .find(|o| o.name() == s)
            .expect("known outcome")
    }

    fn is_failure(self) -> bool {
        self >= Outcome::CheckMissed
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

// ---------------------------------------------------------------------
// The parent: runs cases in worker processes and tallies the outcomes.

struct Record {
    case: u64,
    fixture: String,
    kind: Kind,
    class: Class,
    outcome: Outcome,
    detail: String,
}

enum Event {
    Line(String),
    Closed,
}

fn spawn_worker(
    seed: u64,
    first: u64,
    end: u64,
) -> (
    Child,
    mpsc::Receiver<Event>,
    std::thread::JoinHandle<String>,
) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "campaign_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ELOQSTORE_CAMPAIGN_WORKER", format!("{seed}:{first}:{end}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(Event::Line(line)).is_err() {
                return;
            }
        }
        let _ = tx.send(Event::Closed);
    });
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    (child, rx, stderr)
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join(" | ")
}

#[test]
fn corruption_campaign() {
    let seed = env_u64("ELOQSTORE_CAMPAIGN_SEED", 1);
    let (first, end) = match std::env::var("ELOQSTORE_CAMPAIGN_ONLY") {
        Ok(v) => {
            let n: u64 = v.parse().expect("ELOQSTORE_CAMPAIGN_ONLY=N");
            (n, n + 1)
        }
        Err(_) => (0, env_u64("ELOQSTORE_CAMPAIGN_CASES", 120)),
    };
    let limit = Duration::from_secs(env_u64("ELOQSTORE_CAMPAIGN_CASE_SECS", 120));
    println!(
        "corruption campaign: seed {seed} (ELOQSTORE_CAMPAIGN_SEED), cases {first}..{end} (ELOQSTORE_CAMPAIGN_CASES), {} fixtures",
        fixtures().len()
    );
    let started = Instant::now();
    let mut records: Vec<Record> = Vec::new();
    let mut next = first;
    while next < end {
        let (mut child, rx, stderr) = spawn_worker(seed, next, end);
        let mut current: Option<(u64, Instant)> = None;
        let mut meta: Option<(String, Kind)> = None;
        loop {
            let wait = current.map_or(limit, |(_, t)| limit.saturating_sub(t.elapsed()));
            match rx.recv_timeout(wait) {
                Ok(Event::Line(line)) => {
                    let Some(rest) = line.strip_prefix("@@") else {
                        continue;
                    };
                    let f: Vec<&str> = rest.splitn(7, '\t').collect();
                    match f[0] {
                        "start" => {
                            current = Some((f[1].parse().unwrap(), Instant::now()));
                            meta = Some((f[2].to_string(), Kind::from_name(f[3])));
                        }
                        "done" => {
                            println!(
                                "case {}: {} {} ({}): {}: {}",
                                f[1], f[2], f[3], f[4], f[5], f[6]
                            );
                            let case: u64 = f[1].parse().unwrap();
                            records.push(Record {
                                case,
                                fixture: f[2].to_string(),
                                kind: Kind::from_name(f[3]),
                                class: if f[4] == "by-design" {
                                    Class::ByDesign
                                } else {
                                    Class::Checked
                                },
                                outcome: Outcome::from_name(f[5]),
                                detail: f[6].to_string(),
                            });
                            current = None;
                            next = case + 1;
                        }
                        _ => {}
                    }
                }
                Ok(Event::Closed) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().unwrap();
                    let err = stderr.join().unwrap_or_default();
                    if let Some((case, _)) = current {
                        let (fixture, kind) = meta.clone().unwrap();
                        records.push(Record {
                            case,
                            fixture,
                            kind,
                            class: Class::Checked,
                            outcome: Outcome::Abort,
                            detail: format!("worker died ({status}): {}", tail(&err, 6)),
                        });
                        next = case + 1;
                    } else if next < end {
                        panic!(
                            "campaign worker exited ({status}) before case {next}: {}",
                            tail(&err, 20)
                        );
                    }
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let (case, t) = current.expect("the limit runs from a case start");
                    let (fixture, kind) = meta.clone().unwrap();
                    records.push(Record {
                        case,
                        fixture,
                        kind,
                        class: Class::Checked,
                        outcome: Outcome::Hang,
                        detail: format!("no result after {:?}", t.elapsed()),
                    });
                    next = case + 1;
                    break;
                }
            }
        }
    }
    assert_eq!(records.len() as u64, end - first, "every case has a result");

    // The table: cases by mutation kind and outcome.
    let mut table: BTreeMap<(Kind, Class), BTreeMap<Outcome, usize>> = BTreeMap::new();
    for r in &records {
        *table
            .entry((r.kind, r.class))
            .or_default()
            .entry(r.outcome)
            .or_default() += 1;
    }
    let mut header = format!("{:<24} {:<10} {:>6}", "mutation", "class", "cases");
    for o in OUTCOMES {
        header.push_str(&format!(" {:>13}", o.name()));
    }
    println!("\n{header}");
    let mut totals = BTreeMap::new();
    for ((kind, class), outs) in &table {
        let n: usize = outs.values().sum();
        let class = if *class == Class::ByDesign {
            "by-design"
        } else {
            "checked"
        };
        let mut row = format!("{:<24} {:<10} {:>6}", kind.name(), class, n);
        for o in OUTCOMES {
            let c = outs.get(&o).copied().unwrap_or(0);
            *totals.entry(o).or_insert(0) += c;
            row.push_str(&format!(" {:>13}", c));
        }
        println!("{row}");
    }
    let mut row = format!("{:<24} {:<10} {:>6}", "total", "", records.len());
    for o in OUTCOMES {
        row.push_str(&format!(" {:>13}", totals.get(&o).copied().unwrap_or(0)));
    }
    println!("{row}");
    println!("({:.0?} for {} cases)", started.elapsed(), records.len());

    let failures: Vec<&Record> = records.iter().filter(|r| r.outcome.is_failure()).collect();
    for r in &failures {
        println!(
            "FAILED case {} ({} {}, {}): {}: {}",
            r.case,
            r.fixture,
            r.kind.name(),
            if r.class == Class::ByDesign {
                "by-design"
            } else {
                "checked"
            },
            r.outcome.name(),
            r.detail
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed; reproduce one with ELOQSTORE_CAMPAIGN_SEED={seed} ELOQSTORE_CAMPAIGN_ONLY=<case> cargo test --release --test corruption_campaign -- --nocapture",
        failures.len(),
        records.len()
    );
}

// ---------------------------------------------------------------------
// The worker: runs cases in order, one line per case start and result.

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
#[ignore = "the corruption campaign's worker process; corruption_campaign runs it"]
fn campaign_worker() {
    let Ok(spec) = std::env::var("ELOQSTORE_CAMPAIGN_WORKER") else {
        println!("campaign_worker only runs inside corruption_campaign");
        return;
    };
    let v: Vec<u64> = spec.split(':').map(|s| s.parse().unwrap()).collect();
    let (seed, first, end) = (v[0], v[1], v[2]);
    // Every panic is a failure of its case, also one the engine catches
    // and turns into a failed request.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(info.to_string().replace(['\n', '\t'], " "));
        default(info);
    }));
    let fixtures = fixtures();
    for case in first..end {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ case);
        let mut fx = fixtures[rng.random_range(0..fixtures.len())].clone();
        let kind = KINDS[rng.random_range(0..KINDS.len())];
        if kind == Kind::FlipOverflow {
            // The only fixture with overflow pages.
            fx = fixtures
                .iter()
                .find(|f| name(f) == "large_values")
                .unwrap()
                .clone();
        }
        println!("@@start\t{case}\t{}\t{}", name(&fx), kind.name());
        PANICS.lock().unwrap().clear();
        let res = catch_unwind(AssertUnwindSafe(|| run_case(&fx, kind, &mut rng)));
        let panics = std::mem::take(&mut *PANICS.lock().unwrap());
        let (class, outcome, detail) = match res {
            _ if !panics.is_empty() => (Class::Checked, Outcome::Panic, panics.join(" / ")),
            Ok(r) => r,
            Err(_) => unreachable!("a panic goes through the hook"),
        };
        let class = if class == Class::ByDesign {
            "by-design"
        } else {
            "checked"
        };
        println!(
            "@@done\t{case}\t{}\t{}\t{class}\t{}\t{}",
            name(&fx),
            kind.name(),
            outcome.name(),
            detail.replace(['\n', '\t'], " ")
        );
    }
}

// ---------------------------------------------------------------------
// A case.

/// Partition -> key -> entry.
type State = Content;

/// One page slot of a data file of the victim partition.
#[derive(Clone, Debug)]
struct Slot {
    path: PathBuf,
    offset: u64,
    /// The logical page mapped to it by the current manifest.
    id: Option<u32>,
    kind: Option<PageType>,
}

/// The victim's page slots and data files before the engine's write.
type Before = (Vec<Slot>, BTreeMap<PathBuf, Vec<u8>>);

/// Every page slot of the partition's data files.
fn layout(opts: &KvOptions, tbl: &TableIdent) -> Vec<Slot> {
    let reader = StoreReader::new(opts.clone()).unwrap();
    let part = reader
        .open_partition(tbl, &ManifestChoice::Current)
        .unwrap();
    let mut by_loc = BTreeMap::new();
    for id in 0..part.mapping().len() as u32 {
        if let Some(fp) = part.mapping().file_page(id) {
            by_loc.insert(part.source().locate(fp).unwrap(), id);
        }
    }
    let ps = opts.data_page_size as usize;
    let mut out = Vec::new();
    for path in data_files(&reader.partition_dir(tbl)) {
        let bytes = std::fs::read(&path).unwrap();
        for (i, page) in bytes.chunks(ps).enumerate() {
            let offset = (i * ps) as u64;
            out.push(Slot {
                id: by_loc.get(&(path.clone(), offset)).copied(),
                kind: page_type(page),
                path: path.clone(),
                offset,
            });
        }
    }
    out
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            matches!(
                classify(&e.file_name().to_string_lossy()),
                Some(PartitionFile::Data { .. })
            )
        })
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    let mut data = std::fs::read(path).unwrap();
    let at = offset as usize;
    data[at..at + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, data).unwrap();
}

fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let data = std::fs::read(path).unwrap();
    data[offset as usize..offset as usize + len].to_vec()
}

/// Flips 1..=3 bytes inside `[start, start + len)` of a file.
fn flip(path: &Path, start: u64, len: usize, rng: &mut StdRng) -> String {
    let mut data = std::fs::read(path).unwrap();
    let mut at = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let off = start as usize + rng.random_range(0..len);
        data[off] ^= rng.random_range(1..=255u8);
        at.push(off);
    }
    std::fs::write(path, data).unwrap();
    format!("{} @{at:?}", path.file_name().unwrap().to_string_lossy())
}

fn describe(s: &Slot) -> String {
    format!(
        "{}@{} ({}{})",
        s.path.file_name().unwrap().to_string_lossy(),
        s.offset,
        s.kind.map_or("?", |k| k.name()),
        s.id.map_or(", unmapped".to_string(), |id| format!(", page {id}"))
    )
}

/// Lets the engine write one batch to the victim partition: overwrites,
/// deletes and inserts. Returns the new content.
fn write_batch(opts: &KvOptions, tbl: &TableIdent, stored: &State, rng: &mut StdRng) -> State {
    let mut after = stored.clone();
    let part = after.entry(tbl.clone()).or_default();
    let keys: Vec<Vec<u8>> = part.keys().cloned().collect();
    let ts = part.values().map(|e| e.timestamp).max().unwrap_or(0) + 1;
    let mut batch = BTreeMap::new();
    for _ in 0..rng.random_range(1..40) {
        if keys.is_empty() {
            break;
        }
        let k = keys[rng.random_range(0..keys.len())].clone();
        let e = match rng.random_range(0..4) {
            0 => WriteDataEntry::delete(k.clone(), ts),
            1 => {
                let mut n = k.clone();
                n.extend_from_slice(b"-campaign");
                batch.insert(
                    n.clone(),
                    WriteDataEntry::upsert(n.clone(), vec![b'n'; rng.random_range(1..200)], ts),
                );
                continue;
            }
            _ => WriteDataEntry::upsert(k.clone(), format!("campaign-{ts}").into_bytes(), ts),
        };
        batch.insert(k, e);
    }
    if batch.is_empty() {
        let k = b"campaign-key".to_vec();
        batch.insert(k.clone(), WriteDataEntry::upsert(k, b"v".to_vec(), ts));
    }
    for e in batch.values() {
        if e.op == WriteOp::Delete {
            part.remove(&e.key);
        } else {
            part.insert(
                e.key.clone(),
                KvEntry {
                    key: e.key.clone(),
                    value: e.val.clone(),
                    timestamp: e.timestamp,
                    expire_ts: 0,
                },
            );
        }
    }
    let store = EloqStore::new(opts.clone()).unwrap();
    store.start(0).unwrap();
    let w = BatchWriteRequest::new();
    w.set_args(tbl.clone(), batch.into_values().collect());
    assert_eq!(
        store.exec_sync(&w),
        KvError::NoError,
        "{}",
        w.error_message()
    );
    store.stop();
    after
}

/// Applies the mutation; returns its class and a description.
fn mutate(
    kind: Kind,
    opts: &KvOptions,
    tbl: &TableIdent,
    before: Option<&Before>,
    rng: &mut StdRng,
    loose: &mut BTreeSet<Vec<u8>>,
) -> (Class, String) {
    let reader = StoreReader::new(opts.clone()).unwrap();
    let dir = reader.partition_dir(tbl);
    let manifest_path = reader.manifest_path(tbl, &ManifestChoice::Current).unwrap();
    let ps = opts.data_page_size as usize;
    let slots = layout(opts, tbl);
    let pick = |rng: &mut StdRng, want: &[PageType], mapped: bool| -> Option<Slot> {
        let c: Vec<&Slot> = slots
            .iter()
            .filter(|s| s.kind.is_some_and(|k| want.contains(&k)) && (s.id.is_some() || !mapped))
            .collect();
        (!c.is_empty()).then(|| c[rng.random_range(0..c.len())].clone())
    };
    let any_slot = |rng: &mut StdRng| slots[rng.random_range(0..slots.len())].clone();
    match kind {
        Kind::FlipData | Kind::FlipIndex | Kind::FlipOverflow => {
            let want: &[PageType] = match kind {
                Kind::FlipData => &[PageType::Data],
                Kind::FlipIndex => &[PageType::LeafIndex, PageType::NonLeafIndex],
                _ => &[PageType::Overflow],
            };
            let mapped = rng.random_range(0..10) > 0;
            let s = pick(rng, want, mapped)
                .or_else(|| pick(rng, &[PageType::Data], true))
                .expect("a data page");
            (
                Class::Checked,
                format!("{}: {}", describe(&s), flip(&s.path, s.offset, ps, rng)),
            )
        }
        Kind::ZeroPage => {
            let s = if rng.random_range(0..5) > 0 {
                pick(
                    rng,
                    &[
                        PageType::Data,
                        PageType::LeafIndex,
                        PageType::NonLeafIndex,
                        PageType::Overflow,
                    ],
                    true,
                )
                .unwrap()
            } else {
                any_slot(rng)
            };
            patch(&s.path, s.offset, &vec![0u8; ps]);
            (Class::Checked, describe(&s))
        }
        Kind::GarbageSector => {
            let in_manifest = rng.random_range(0..5) == 0;
            let path = if in_manifest {
                manifest_path.clone()
            } else {
                let files = data_files(&dir);
                files[rng.random_range(0..files.len())].clone()
            };
            let len = std::fs::metadata(&path).unwrap().len();
            let sector = rng.random_range(0..len / 512) * 512;
            let junk: Vec<u8> = (0..512).map(|_| rng.random()).collect();
            let mut class = Class::Checked;
            let mut what = String::new();
            if in_manifest {
                // Garbage over the last record's checksummed bytes only is
                // a torn last write (by design); padding is never read.
                let st = manifest::replay(&std::fs::read(&path).unwrap()).unwrap();
                let r = st
                    .records
                    .iter()
                    .rev()
                    .find(|r| r.offset as u64 <= sector)
                    .unwrap();
                let end = (r.offset + manifest::HEADER_BYTES + r.payload_len) as u64;
                let last = r.offset == st.records.last().unwrap().offset;
                what = format!(
                    " (record at {}{})",
                    r.offset,
                    if sector >= end { ", padding" } else { "" }
                );
                if last && r.offset > 0 && sector < end {
                    class = Class::ByDesign;
                }
            }
            patch(&path, sector, &junk);
            (
                class,
                format!(
                    "{}@{sector}{what}",
                    path.file_name().unwrap().to_string_lossy()
                ),
            )
        }
        Kind::TruncateData => {
            let files = data_files(&dir);
            let path = &files[rng.random_range(0..files.len())];
            let len = std::fs::metadata(path).unwrap().len();
            let mut at = rng.random_range(0..len);
            if rng.random_range(0..2) == 0 {
                at -= at % ps as u64;
            }
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .unwrap()
                .set_len(at)
                .unwrap();
            (
                Class::Checked,
                format!(
                    "{} cut to {at} of {len}",
                    path.file_name().unwrap().to_string_lossy()
                ),
            )
        }
        Kind::DeleteDataFile => {
            let files = data_files(&dir);
            let path = &files[rng.random_range(0..files.len())];
            std::fs::remove_file(path).unwrap();
            (
                Class::Checked,
                path.file_name().unwrap().to_string_lossy().into_owned(),
            )
        }
        Kind::SwapPages => {
            let types = [
                PageType::Data,
                PageType::LeafIndex,
                PageType::NonLeafIndex,
                PageType::Overflow,
            ];
            let a = if rng.random_range(0..2) == 0 {
                pick(rng, &[PageType::Data], true).unwrap()
            } else {
                pick(rng, &types, true).unwrap()
            };
            let want: &[PageType] = if rng.random_range(0..3) > 0 {
                &[a.kind.unwrap()]
            } else {
                &types
            };
            let others: Vec<&Slot> = slots
                .iter()
                .filter(|s| {
                    s.id.is_some() && s.id != a.id && s.kind.is_some_and(|k| want.contains(&k))
                })
                .collect();
            let others = if others.is_empty() {
                slots
                    .iter()
                    .filter(|s| s.id.is_some() && s.id != a.id)
                    .collect()
            } else {
                others
            };
            let Some(b) =
                (!others.is_empty()).then(|| others[rng.random_range(0..others.len())].clone())
            else {
                return (
                    Class::Checked,
                    format!("{} has no page to swap with", describe(&a)),
                );
            };
            // Two overflow pages with the same layout swap undetectably:
            // nothing in an overflow page names its value. The values
            // whose chains hold them may read garbled (by design).
            let class = if a.kind == Some(PageType::Overflow) && b.kind == Some(PageType::Overflow)
            {
                *loose = overflow_owners(opts, tbl, &[a.id.unwrap(), b.id.unwrap()]);
                Class::ByDesign
            } else {
                Class::Checked
            };
            let (pa, pb) = (
                read_at(&a.path, a.offset, ps),
                read_at(&b.path, b.offset, ps),
            );
            patch(&a.path, a.offset, &pb);
            patch(&b.path, b.offset, &pa);
            (class, format!("{} <-> {}", describe(&a), describe(&b)))
        }
        Kind::StalePage => {
            // A data page whose content changed in the write: its old
            // version goes where the new one is.
            let (old_slots, old_files) = before.expect("a write came first");
            let old_loc: BTreeMap<u32, &Slot> = old_slots
                .iter()
                .filter(|s| s.kind == Some(PageType::Data))
                .filter_map(|s| s.id.map(|id| (id, s)))
                .collect();
            let mut cands = Vec::new();
            for s in slots.iter().filter(|s| s.kind == Some(PageType::Data)) {
                let Some(id) = s.id else { continue };
                let Some(o) = old_loc.get(&id) else { continue };
                let old = &old_files[&o.path][o.offset as usize..o.offset as usize + ps];
                if old != read_at(&s.path, s.offset, ps) {
                    cands.push((s.clone(), old.to_vec(), (*o).clone()));
                }
            }
            let Some((s, old, o)) =
                (!cands.is_empty()).then(|| cands.swap_remove(rng.random_range(0..cands.len())))
            else {
                return (Class::ByDesign, "no data page changed in the write".into());
            };
            patch(&s.path, s.offset, &old);
            (
                Class::ByDesign,
                format!("{} <- old version from {}", describe(&s), describe(&o)),
            )
        }
        Kind::FlipManifest | Kind::TruncateManifest | Kind::ZeroManifestRecord => {
            let bytes = std::fs::read(&manifest_path).unwrap();
            let st = manifest::replay(&bytes).expect("pristine manifest replays");
            let recs = &st.records;
            let n = recs.len();
            // Which record: the snapshot, a middle one, or the last. A cut
            // is never in a middle record: losing several committed
            // records leaves a version older than the one before the write,
            // whose content this test does not know.
            let j = match rng.random_range(0..10) {
                0..=1 => 0,
                2..=4 if n >= 3 && kind != Kind::TruncateManifest => rng.random_range(1..n - 1),
                _ => n - 1,
            };
            let r = &recs[j];
            let checksummed = manifest::HEADER_BYTES + r.payload_len;
            let padded = manifest::padded_len(r.payload_len);
            let which = match j {
                0 => "snapshot".to_string(),
                j if j == n - 1 => format!("last record {j}"),
                j => format!("middle record {j}"),
            };
            // Losing the last record is a torn write: by design.
            let last = if j == n - 1 {
                Class::ByDesign
            } else {
                Class::Checked
            };
            match kind {
                Kind::FlipManifest => {
                    if rng.random_range(0..5) == 0 && padded > checksummed {
                        let d = flip(
                            &manifest_path,
                            (r.offset + checksummed) as u64,
                            padded - checksummed,
                            rng,
                        );
                        (Class::Checked, format!("{which} padding: {d}"))
                    } else {
                        let d = flip(&manifest_path, r.offset as u64, checksummed, rng);
                        (last, format!("{which}: {d}"))
                    }
                }
                Kind::ZeroManifestRecord => {
                    patch(
                        &manifest_path,
                        r.offset as u64,
                        &vec![0u8; padded.min(bytes.len() - r.offset)],
                    );
                    (last, which)
                }
                _ => {
                    let (at, class) = match rng.random_range(0..4) {
                        0 => (r.offset, if j == 0 { Class::Checked } else { last }),
                        1 if padded > checksummed => (
                            r.offset + rng.random_range(checksummed..padded),
                            Class::Checked,
                        ),
                        _ => (r.offset + rng.random_range(0..checksummed), last),
                    };
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(&manifest_path)
                        .unwrap()
                        .set_len(at as u64)
                        .unwrap();
                    (class, format!("{which}: cut at {at} of {}", bytes.len()))
                }
            }
        }
    }
}

/// Results of the reads of one case.
#[derive(Default)]
struct Tally {
    exact: usize,
    previous: usize,
    /// By design: a garbled value of a key the damage may garble.
    undetected: usize,
    clean: usize,
    wrong: Vec<String>,
    unclean: Vec<String>,
}

impl Tally {
    fn note_err(&mut self, what: String, e: &Error, allowed: &[KvError]) {
        if allowed.contains(&e.code()) {
            self.clean += 1;
        } else {
            self.unclean.push(format!("{what}: {e}"));
        }
    }
}

fn short(e: Option<&KvEntry>) -> String {
    match e {
        None => "absent".into(),
        Some(e) => format!(
            "{}={} ts {}",
            eloqstore::inspect::hex(&e.key),
            eloqstore::inspect::hex(&e.value[..e.value.len().min(12)]),
            e.timestamp
        ),
    }
}

/// What a case may return besides the new content: by design, the
/// previous version, and garbled values of some keys.
#[derive(Clone, Copy)]
struct Allowed<'a> {
    old: Option<&'a State>,
    loose: &'a BTreeSet<Vec<u8>>,
}

/// Compares one point read with the content the files describe.
fn judge_get(
    t: &mut Tally,
    what: &str,
    key: &[u8],
    got: Option<&KvEntry>,
    new: &State,
    allowed: Allowed<'_>,
    tbl: &TableIdent,
) {
    let want = new.get(tbl).and_then(|m| m.get(key));
    if got == want {
        t.exact += 1;
    } else if allowed
        .old
        .is_some_and(|o| o.get(tbl).and_then(|m| m.get(key)) == got)
    {
        t.previous += 1;
    } else if allowed.loose.contains(key) && want.is_some() && got.is_some_and(|g| g.key == key) {
        t.undetected += 1;
    } else {
        t.wrong.push(format!(
            "{what} {tbl} {}: got {}, want {}",
            eloqstore::inspect::hex(key),
            short(got),
            short(want)
        ));
    }
}

/// Compares a full scan with the content the files describe: keys in
/// order, each entry of the new version (or, as allowed, of the previous
/// one, or a garbled value of a loose key), no key of both versions
/// missing.
fn judge_scan(
    t: &mut Tally,
    what: &str,
    got: &[KvEntry],
    new: &State,
    allowed: Allowed<'_>,
    tbl: &TableIdent,
) {
    let empty = BTreeMap::new();
    let want = new.get(tbl).unwrap_or(&empty);
    let old = allowed.old.map(|o| o.get(tbl).unwrap_or(&empty));
    let fail = |why: String| {
        format!(
            "{what} scan {tbl}: {why} ({} entries, want {})",
            got.len(),
            want.len()
        )
    };
    for w in got.windows(2) {
        if w[0].key >= w[1].key {
            t.wrong
                .push(fail(format!("keys out of order at {}", short(Some(&w[1])))));
            return;
        }
    }
    let (mut previous, mut garbled) = (false, false);
    for e in got {
        if want.get(&e.key) == Some(e) {
            continue;
        }
        if old.is_some_and(|o| o.get(&e.key) == Some(e)) {
            previous = true;
        } else if allowed.loose.contains(&e.key) && want.contains_key(&e.key) {
            garbled = true;
        } else {
            let w = want.get(&e.key);
            t.wrong
                .push(fail(format!("got {}, want {}", short(Some(e)), short(w))));
            return;
        }
    }
    let got_keys: BTreeSet<&[u8]> = got.iter().map(|e| &e.key[..]).collect();
    for (k, w) in want {
        if old.is_none_or(|o| o.contains_key(k)) && !got_keys.contains(&k[..]) {
            t.wrong.push(fail(format!("{} missing", short(Some(w)))));
            return;
        }
    }
    if garbled {
        t.undetected += 1;
    } else if previous {
        t.previous += 1;
    } else {
        t.exact += 1;
    }
}

/// What the engine returns of a stored content: unexpired entries.
fn live(c: &State) -> State {
    let now = now_ms();
    c.iter()
        .map(|(t, m)| {
            let m = m
                .iter()
                .filter(|(_, e)| e.expire_ts == 0 || e.expire_ts > now)
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect();
            (t.clone(), m)
        })
        .collect()
}

fn engine_reads(
    opts: &KvOptions,
    victim: &TableIdent,
    new: &State,
    allowed: Allowed<'_>,
    t: &mut Tally,
) {
    let new = &live(new);
    let old = allowed.old.map(live);
    let allowed = Allowed {
        old: old.as_ref(),
        loose: allowed.loose,
    };
    let store = EloqStore::new(opts.clone()).unwrap();
    let clean = [KvError::Corrupted, KvError::IoFail];
    if let Err(e) = store.start(0) {
        t.note_err("engine start".into(), &e, &clean);
        return;
    }
    // Every key of the victim, many requests in flight at once.
    let keys: Vec<&Vec<u8>> = new
        .get(victim)
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    for chunk in keys.chunks(512) {
        let reqs: Vec<ReadRequest> = chunk
            .iter()
            .map(|k| {
                let r = ReadRequest::new();
                r.set_args(victim.clone(), (*k).clone());
                assert!(store.exec_async_no_callback(&r));
                r
            })
            .collect();
        for (r, k) in reqs.iter().zip(chunk) {
            r.wait();
            let what = "engine read";
            match r.result() {
                Ok(()) => judge_get(t, what, k, r.entry().as_ref(), new, allowed, victim),
                // The caller cannot tell this from an absent key.
                Err(e) if e.code() == KvError::NotFound => {
                    judge_get(t, what, k, None, new, allowed, victim)
                }
                Err(e) => t.note_err(format!("{what} {}", eloqstore::inspect::hex(k)), &e, &clean),
            }
        }
    }
    for tbl in new.keys() {
        let s = ScanRequest::new();
        s.set_args(tbl.clone(), Vec::new(), Vec::new(), true);
        store.exec_sync(&s);
        match s.result() {
            Ok(()) => judge_scan(t, "engine", &s.entries(), new, allowed, tbl),
            // A partition that does not exist: only right if it is empty.
            Err(e) if e.code() == KvError::NotFound => {
                judge_scan(t, "engine (not found)", &[], new, allowed, tbl)
            }
            Err(e) => t.note_err(format!("engine scan {tbl}"), &e, &clean),
        }
    }
    store.stop();
}

fn reader_reads(
    opts: &KvOptions,
    victim: &TableIdent,
    new: &State,
    allowed: Allowed<'_>,
    t: &mut Tally,
) {
    let clean = [KvError::Corrupted, KvError::IoFail, KvError::NotFound];
    // Expired entries may be gone: the engine cleans them up in the
    // background while it runs. Only unexpired ones are compared.
    let new = &live(new);
    let old = allowed.old.map(live);
    let allowed = Allowed {
        old: old.as_ref(),
        loose: allowed.loose,
    };
    let now = now_ms();
    let expired = |e: &KvEntry| e.expire_ts != 0 && e.expire_ts <= now;
    let reader = StoreReader::new(opts.clone()).unwrap();
    for tbl in new.keys() {
        let part = match reader.open_partition(tbl, &ManifestChoice::Current) {
            Ok(p) => p,
            Err(e) => {
                t.note_err(format!("reader open {tbl}"), &e, &clean);
                continue;
            }
        };
        if tbl == victim {
            for k in new[tbl].keys() {
                match part.get(k) {
                    Ok(got) => {
                        let got = got.filter(|e| !expired(e));
                        judge_get(t, "reader get", k, got.as_ref(), new, allowed, tbl)
                    }
                    Err(e) => t.note_err(
                        format!("reader get {}", eloqstore::inspect::hex(k)),
                        &e,
                        &clean,
                    ),
                }
            }
        }
        let mut got = Vec::new();
        match part.scan(b"", b"", |e| {
            if !expired(&e) {
                got.push(e);
            }
            Ok(true)
        }) {
            Ok(()) => judge_scan(t, "reader", &got, new, allowed, tbl),
            Err(e) => t.note_err(format!("reader scan {tbl}"), &e, &clean),
        }
    }
}

/// Keys whose overflow chains hold any of the pages `ids` (read before
/// the damage).
fn overflow_owners(opts: &KvOptions, tbl: &TableIdent, ids: &[u32]) -> BTreeSet<Vec<u8>> {
    use eloqstore::internals::format::data_page::DataPage;
    use eloqstore::internals::format::overflow::{OverflowPage, decode_pointers};
    use eloqstore::internals::tree::{PageSource, block_on};
    let reader = StoreReader::new(opts.clone()).unwrap();
    let part = reader
        .open_partition(tbl, &ManifestChoice::Current)
        .unwrap();
    let page = |id: u32| {
        let fp = part.mapping().file_page(id).unwrap();
        block_on(part.source().read_page(fp)).unwrap()
    };
    let mut owners = BTreeSet::new();
    for id in 0..part.mapping().len() as u32 {
        if part.mapping().file_page(id).is_none() {
            continue;
        }
        let p = page(id);
        if page_type(&p) != Some(PageType::Data) {
            continue;
        }
        for e in DataPage::parse(&p).unwrap().entries().unwrap() {
            if !e.overflow {
                continue;
            }
            let mut group = decode_pointers(&e.value, 128).unwrap();
            while let Some(&last) = group.last() {
                if group.iter().any(|g| ids.contains(g)) {
                    owners.insert(e.key.clone());
                }
                group = OverflowPage::parse(&page(last)).unwrap().pointers();
            }
        }
    }
    owners
}

fn run_case(fx: &Path, kind: Kind, rng: &mut StdRng) -> (Class, Outcome, String) {
    let tmp = copy_fixture(fx);
    let opts = options_at(fx, tmp.path());
    let stored = stored_content(fx);
    let parts: Vec<&TableIdent> = stored
        .iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(t, _)| t)
        .collect();
    let victim = parts[rng.random_range(0..parts.len())].clone();
    let (new, old, before) = if kind.writes_first() {
        let reader = StoreReader::new(opts.clone()).unwrap();
        let dir = reader.partition_dir(&victim);
        let slots = layout(&opts, &victim);
        let files: BTreeMap<PathBuf, Vec<u8>> = data_files(&dir)
            .into_iter()
            .map(|p| {
                let b = std::fs::read(&p).unwrap();
                (p, b)
            })
            .collect();
        let new = write_batch(&opts, &victim, &stored, rng);
        (new, Some(stored), Some((slots, files)))
    } else {
        (stored, None, None)
    };
    let mut loose = BTreeSet::new();
    let (class, detail) = mutate(kind, &opts, &victim, before.as_ref(), rng, &mut loose);
    // Anything but the new content is acceptable only by design.
    let old = if class == Class::ByDesign { old } else { None };
    let allowed = Allowed {
        old: old.as_ref(),
        loose: &loose,
    };

    let mut t = Tally::default();
    engine_reads(&opts, &victim, &new, allowed, &mut t);
    reader_reads(&opts, &victim, &new, allowed, &mut t);
    let reader = StoreReader::new(opts.clone()).unwrap();
    let flagged = match check_store(&reader, true) {
        Ok((_, problems)) => problems.first().map(|p| p.to_string()),
        Err(e) => {
            t.note_err(
                "check".into(),
                &e,
                &[KvError::Corrupted, KvError::IoFail, KvError::NotFound],
            );
            Some(e.to_string())
        }
    };
    let detail = format!("{victim}: {detail}");
    let outcome = if !t.wrong.is_empty() {
        return (
            class,
            Outcome::WrongData,
            format!("{detail}: {} wrong, first: {}", t.wrong.len(), t.wrong[0]),
        );
    } else if !t.unclean.is_empty() {
        return (
            class,
            Outcome::UncleanError,
            format!("{detail}: {}", t.unclean[0]),
        );
    } else if t.clean > 0 && flagged.is_none() {
        return (
            class,
            Outcome::CheckMissed,
            format!("{detail}: {} reads failed, check clean", t.clean),
        );
    } else if t.undetected > 0 {
        Outcome::Undetected
    } else if t.previous > 0 {
        Outcome::PreviousVersion
    } else if t.clean > 0 {
        Outcome::CleanError
    } else {
        Outcome::Exact
    };
    let flagged = flagged.map_or("check clean".into(), |p| format!("check: {p}"));
    (
        class,
        outcome,
        format!(
            "{detail}: {} exact, {} previous, {} undetected, {} clean errors; {flagged}",
            t.exact, t.previous, t.undetected, t.clean
        ),
    )
}
