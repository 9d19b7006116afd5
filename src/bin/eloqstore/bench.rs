//! `eloqstore bench`: upstream's `simple_bench` workloads and flags (gflags
//! syntax: `--flag=value`, `--flag value`, `--flag` / `--noflag` for
//! booleans), so existing invocations run unchanged. Prints throughput and
//! latency percentiles, a progress line per stats interval on stderr, and
//! with `--json` one JSON line of results on stdout.
//!
//! Without `--kvoptions` it benchmarks an embedded default: a store in a
//! temporary directory with upstream's `opts_local.ini` settings and one
//! shard per core.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eloqstore::error::{Error, Result};
use eloqstore::{
    BatchWriteRequest, EloqStore, KvError, KvOptions, ReadRequest, ScanRequest, TableIdent,
    WriteDataEntry, WriteOp,
};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

const TABLE: &str = "bm";
const KEY_INTERVAL: u64 = 4;
const DEL_RATIO: u64 = 4;

/// simple_bench's flags, with its defaults.
#[derive(Clone, Debug)]
pub struct Flags {
    pub kvoptions: String,
    pub workload: String,
    pub kv_size: u32,
    pub batch_size: u32,
    pub write_batchs: u32,
    pub partitions: u32,
    pub max_key: u32,
    pub write_interval: u32,
    pub read_per_part: u32,
    pub test_secs: u32,
    pub read_thds: u32,
    pub load: bool,
    pub write_stats_interval_sec: f64,
    pub read_stats_interval_sec: f64,
    pub scan_stats_interval_sec: f64,
    pub scan_bytes: u64,
    pub show_write_perf: bool,
    /// Ours: print one JSON line of results.
    pub json: bool,
    /// Ours: value contents, `zeros` (simple_bench's) or `text` (a
    /// realistic compressible mix, for compression figures).
    pub values: String,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            kvoptions: String::new(),
            workload: String::new(),
            kv_size: 128,
            batch_size: 8192,
            write_batchs: 32768,
            partitions: 128,
            max_key: 1_000_000,
            write_interval: 0,
            read_per_part: 1,
            test_secs: 60,
            read_thds: 1,
            load: false,
            write_stats_interval_sec: 1.0,
            read_stats_interval_sec: 1.0,
            scan_stats_interval_sec: 1.0,
            scan_bytes: 0,
            show_write_perf: false,
            json: false,
            values: "zeros".into(),
        }
    }
}

fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "" | "true" | "t" | "yes" | "y" | "1" => Ok(true),
        "false" | "f" | "no" | "n" | "0" => Ok(false),
        _ => Err(Error::invalid_args(format!("--{name}={v}: not a boolean"))),
    }
}

fn parse_num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T> {
    v.trim()
        .parse()
        .map_err(|_| Error::invalid_args(format!("--{name}={v}: not a number")))
}

impl Flags {
    /// Parses gflags-style arguments.
    pub fn parse(args: &[String]) -> Result<Flags> {
        const BOOLS: [&str; 3] = ["load", "show_write_perf", "json"];
        let mut f = Flags::default();
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            let body = a
                .strip_prefix("--")
                .or_else(|| a.strip_prefix('-'))
                .ok_or_else(|| Error::invalid_args(format!("unexpected argument {a:?}")))?;
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (body.to_string(), None),
            };
            let (name, value) =
                if let Some(b) = name.strip_prefix("no").filter(|b| BOOLS.contains(b)) {
                    (b.to_string(), Some("false".to_string()))
                } else if BOOLS.contains(&name.as_str()) {
                    (name, Some(value.unwrap_or_default()))
                } else {
                    let v = match value {
                        Some(v) => v,
                        None => it.next().cloned().ok_or_else(|| {
                            Error::invalid_args(format!("--{name} needs a value"))
                        })?,
                    };
                    (name, Some(v))
                };
            let v = value.unwrap_or_default();
            match name.as_str() {
                "kvoptions" => f.kvoptions = v,
                "workload" => f.workload = v,
                "kv_size" => f.kv_size = parse_num(&name, &v)?,
                "batch_size" => f.batch_size = parse_num(&name, &v)?,
                "write_batchs" => f.write_batchs = parse_num(&name, &v)?,
                "partitions" => f.partitions = parse_num(&name, &v)?,
                "max_key" => f.max_key = parse_num(&name, &v)?,
                "write_interval" => f.write_interval = parse_num(&name, &v)?,
                "read_per_part" => f.read_per_part = parse_num(&name, &v)?,
                "test_secs" => f.test_secs = parse_num(&name, &v)?,
                "read_thds" => f.read_thds = parse_num(&name, &v)?,
                "write_stats_interval_sec" => f.write_stats_interval_sec = parse_num(&name, &v)?,
                "read_stats_interval_sec" => f.read_stats_interval_sec = parse_num(&name, &v)?,
                "scan_stats_interval_sec" => f.scan_stats_interval_sec = parse_num(&name, &v)?,
                "scan_bytes" => f.scan_bytes = parse_num(&name, &v)?,
                "load" => f.load = parse_bool(&name, &v)?,
                "show_write_perf" => f.show_write_perf = parse_bool(&name, &v)?,
                "json" => f.json = parse_bool(&name, &v)?,
                "values" if v == "zeros" || v == "text" => f.values = v,
                "values" => {
                    return Err(Error::invalid_args(format!(
                        "--values={v}: expected zeros or text"
                    )));
                }
                other => return Err(Error::invalid_args(format!("unknown flag --{other}"))),
            }
        }
        if f.kv_size as usize <= 8 {
            return Err(Error::invalid_args("--kv_size must exceed the 8-byte key"));
        }
        if f.batch_size == 0 || f.partitions == 0 || f.max_key == 0 {
            return Err(Error::invalid_args(
                "--batch_size, --partitions and --max_key must be positive",
            ));
        }
        if f.load {
            let per_part = (f.max_key as u64).div_ceil(f.batch_size as u64).max(1);
            let total = per_part * f.partitions as u64;
            f.write_batchs = u32::try_from(total).map_err(|_| {
                Error::invalid_args("--load needs more than 2^32 batches: lower --max_key")
            })?;
            f.show_write_perf = true;
            f.workload = "load".into();
        }
        Ok(f)
    }
}

/// Latency samples in microseconds.
#[derive(Default)]
struct Latencies {
    samples: Vec<u32>,
}

impl Latencies {
    fn add(&mut self, us: u64) {
        self.samples.push(us.min(u32::MAX as u64) as u32);
    }

    fn summary(&mut self) -> LatencySummary {
        self.samples.sort_unstable();
        let n = self.samples.len();
        let pct = |p: f64| -> u64 {
            if n == 0 {
                0
            } else {
                self.samples[((n as f64 * p).ceil() as usize).clamp(1, n) - 1] as u64
            }
        };
        LatencySummary {
            count: n as u64,
            avg: if n == 0 {
                0
            } else {
                self.samples.iter().map(|&x| x as u64).sum::<u64>() / n as u64
            },
            p50: pct(0.50),
            p99: pct(0.99),
            p999: pct(0.999),
            max: self.samples.last().copied().unwrap_or(0) as u64,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct LatencySummary {
    count: u64,
    avg: u64,
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

impl LatencySummary {
    fn json(&self) -> String {
        format!(
            "{{\"count\":{},\"avg_us\":{},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}",
            self.count, self.avg, self.p50, self.p99, self.p999, self.max
        )
    }

    fn text(&self) -> String {
        format!(
            "avg {} us | p50 {} us | p99 {} us | p99.9 {} us | max {} us",
            self.avg, self.p50, self.p99, self.p999, self.max
        )
    }
}

/// A JSON-like record, different per key, about as compressible as
/// typical application values.
fn text_value(key: u64, len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliett", "kilo", "lima", "mike", "november", "oscar", "papa",
    ];
    let mut v = Vec::with_capacity(len + 64);
    let mut x = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(
            format!(
                "{{\"id\":{},\"tag\":\"{}\",\"n\":{}}},",
                key,
                WORDS[(x % 16) as usize],
                x % 1000
            )
            .as_bytes(),
        );
    }
    v.truncate(len);
    v
}

fn encode_key(k: u64) -> Vec<u8> {
    k.to_be_bytes().to_vec()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One writer per partition, one batch in flight each, as simple_bench.
struct Writer {
    req: BatchWriteRequest,
    writing_key: u64,
    started: Instant,
    rng: SmallRng,
}

impl Writer {
    fn new(id: u32, f: &Flags) -> Writer {
        let mut w = Writer {
            req: BatchWriteRequest::new(),
            writing_key: 0,
            started: Instant::now(),
            rng: SmallRng::seed_from_u64(id as u64),
        };
        w.next_batch(id, f);
        w
    }

    fn next_batch(&mut self, id: u32, f: &Flags) {
        let ts = now_ms();
        let mut batch = Vec::with_capacity(f.batch_size as usize);
        for _ in 0..f.batch_size {
            let step = if f.load {
                1
            } else {
                self.rng.random_range(1..=KEY_INTERVAL)
            };
            let key = self.writing_key;
            self.writing_key += step;
            let op = if !f.load && self.rng.random_range(0..DEL_RATIO) == 0 {
                WriteOp::Delete
            } else {
                WriteOp::Upsert
            };
            let len = f.kv_size as usize - 8;
            let value = if f.values == "text" {
                text_value(key, len)
            } else {
                vec![0u8; len]
            };
            batch.push(WriteDataEntry::new(encode_key(key), value, ts, op, 0));
        }
        // As simple_bench: a partition's keys start over after max_key.
        if self.writing_key > f.max_key as u64 {
            self.writing_key = 0;
        }
        self.req.set_args(TableIdent::new(TABLE, id), batch);
    }
}

struct WriteReport {
    batches: u64,
    kvs: u64,
    secs: f64,
    lat: LatencySummary,
}

fn write_loop(
    store: &EloqStore,
    f: &Flags,
    stop_readers: Option<&AtomicBool>,
) -> Result<WriteReport> {
    let (tx, rx) = mpsc::channel::<(u32, KvError)>();
    let mut writers: Vec<Writer> = (0..f.partitions).map(|i| Writer::new(i, f)).collect();
    let submit = |w: &mut Writer, id: u32| {
        w.started = Instant::now();
        let tx = tx.clone();
        store.exec_async(&w.req, id as u64, move |r| {
            let _ = tx.send((r.user_data() as u32, r.error()));
        })
    };
    let start = Instant::now();
    let mut lat = Latencies::default();
    let mut inflight = 0;
    for (i, w) in writers.iter_mut().enumerate() {
        if submit(w, i as u32) {
            inflight += 1;
        }
    }
    let mut done: u64 = 0;
    let mut kvs: u64 = 0;
    let mut window = (Instant::now(), 0u64);
    let interval = Duration::from_secs_f64(f.write_stats_interval_sec.max(0.001));
    while done < f.write_batchs as u64 && inflight > 0 {
        let (id, err) = rx
            .recv()
            .map_err(|_| Error::new(KvError::IoFail, "bench channel closed"))?;
        inflight -= 1;
        let w = &mut writers[id as usize];
        if err != KvError::NoError {
            return Err(Error::new(
                err,
                format!("batch write failed: {}", w.req.error_message()),
            ));
        }
        lat.add(w.started.elapsed().as_micros() as u64);
        kvs += w.req.batch().len() as u64;
        done += 1;
        window.1 += w.req.batch().len() as u64;
        if done + inflight < f.write_batchs as u64 {
            w.next_batch(id, f);
            if submit(w, id) {
                inflight += 1;
            }
        }
        let el = window.0.elapsed();
        if el >= interval {
            let rate = window.1 as f64 / el.as_secs_f64();
            eprintln!(
                "[write] {done}/{} batches | {:.0} kvs/s | {:.1} MiB/s",
                f.write_batchs,
                rate,
                rate * upsert_ratio(f) * f.kv_size as f64 / (1 << 20) as f64
            );
            window = (Instant::now(), 0);
            if f.write_interval > 0 {
                std::thread::sleep(Duration::from_secs(f.write_interval as u64));
            }
        }
    }
    while inflight > 0 {
        let _ = rx.recv();
        inflight -= 1;
    }
    if let Some(s) = stop_readers {
        s.store(true, Ordering::Relaxed);
    }
    Ok(WriteReport {
        batches: done,
        kvs,
        secs: start.elapsed().as_secs_f64(),
        lat: lat.summary(),
    })
}

fn upsert_ratio(f: &Flags) -> f64 {
    if f.load {
        1.0
    } else {
        1.0 - 1.0 / DEL_RATIO as f64
    }
}

struct ReadReport {
    ops: u64,
    kvs: u64,
    secs: f64,
    lat: LatencySummary,
}

/// Readers (or scanners) keep `read_per_part * partitions` requests in
/// flight until `stop` is set.
fn read_loop(
    store: &EloqStore,
    f: &Flags,
    thd: u32,
    scan: bool,
    stop: &AtomicBool,
) -> Result<ReadReport> {
    let n = (f.read_per_part * f.partitions) as usize;
    let (tx, rx) = mpsc::channel::<(usize, KvError)>();
    let mut rng = SmallRng::seed_from_u64(1000 + thd as u64);
    let reads: Vec<ReadRequest> = (0..n).map(|_| ReadRequest::new()).collect();
    let scans: Vec<ScanRequest> = (0..n).map(|_| ScanRequest::new()).collect();
    let mut started = vec![Instant::now(); n];
    let val_size = f.kv_size as u64 - 8;
    let mut submit = |i: usize, started: &mut Vec<Instant>| -> bool {
        let tbl = TableIdent::new(TABLE, (i % f.partitions as usize) as u32);
        started[i] = Instant::now();
        let tx = tx.clone();
        let cb = move |r: &eloqstore::Request| {
            let _ = tx.send((r.user_data() as usize, r.error()));
        };
        if scan {
            let s = &scans[i];
            if f.scan_bytes == 0 {
                s.set_args(
                    tbl,
                    encode_key(rng.random_range(0..f.max_key as u64)),
                    Vec::new(),
                    true,
                );
            } else {
                let kvs = (f.scan_bytes / val_size).max(1);
                let max_start = (f.max_key as u64).saturating_sub(kvs);
                let start = if max_start > 0 {
                    rng.random_range(0..max_start)
                } else {
                    0
                };
                s.set_args(tbl, encode_key(start), encode_key(start + kvs), true);
            }
            s.set_pagination(256, 0);
            store.exec_async(s, i as u64, cb)
        } else {
            reads[i].set_args(tbl, encode_key(rng.random_range(0..f.max_key as u64)));
            store.exec_async(&reads[i], i as u64, cb)
        }
    };
    let start = Instant::now();
    let mut inflight = 0;
    for i in 0..n {
        if submit(i, &mut started) {
            inflight += 1;
        }
    }
    let mut lat = Latencies::default();
    let (mut ops, mut kvs) = (0u64, 0u64);
    let mut window = (Instant::now(), 0u64, 0u64);
    let interval = if scan {
        f.scan_stats_interval_sec
    } else {
        f.read_stats_interval_sec
    };
    let interval = Duration::from_secs_f64(interval.max(0.001));
    while inflight > 0 {
        let (i, err) = rx
            .recv()
            .map_err(|_| Error::new(KvError::IoFail, "bench channel closed"))?;
        inflight -= 1;
        if err != KvError::NoError && err != KvError::NotFound {
            let msg = if scan {
                scans[i].error_message()
            } else {
                reads[i].error_message()
            };
            return Err(Error::new(err, format!("read failed: {msg}")));
        }
        lat.add(started[i].elapsed().as_micros() as u64);
        ops += 1;
        let got = if scan {
            scans[i].result_size().0 as u64
        } else {
            (err == KvError::NoError) as u64
        };
        kvs += got;
        window.1 += 1;
        window.2 += got;
        let el = window.0.elapsed();
        if el >= interval {
            let secs = el.as_secs_f64();
            if scan {
                eprintln!(
                    "[{thd}] scan {:.0} QPS | {:.0} kvs/s | {:.1} MB/s",
                    window.1 as f64 / secs,
                    window.2 as f64 / secs,
                    window.2 as f64 * f.kv_size as f64 / secs / (1 << 20) as f64
                );
            } else {
                eprintln!("[{thd}] read {:.0} QPS", window.1 as f64 / secs);
            }
            window = (Instant::now(), 0, 0);
        }
        if !stop.load(Ordering::Relaxed) && submit(i, &mut started) {
            inflight += 1;
        }
    }
    Ok(ReadReport {
        ops,
        kvs,
        secs: start.elapsed().as_secs_f64(),
        lat: lat.summary(),
    })
}

/// The embedded default: upstream's opts_local.ini in a temporary folder,
/// one shard per core.
fn default_options(dir: &std::path::Path) -> KvOptions {
    let mut o = KvOptions::default();
    o.num_threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u16;
    o.buffer_pool_size = 400 << 20;
    o.fd_limit = 5000;
    o.io_queue_size = 4096;
    o.skip_verify_checksum = true;
    o.store_path = vec![dir.to_string_lossy().into_owned()];
    o.data_page_size = 4096;
    o.pages_per_file_shift = 18;
    o
}

pub fn run(args: &[String]) -> Result<()> {
    let f = Flags::parse(args)?;
    let tmp;
    let opts = if f.kvoptions.is_empty() {
        tmp = tempfile_dir()?;
        default_options(&tmp.0)
    } else {
        tmp = TempDirGuard(std::path::PathBuf::new(), false);
        let mut o = KvOptions::from_ini_file(&f.kvoptions)?;
        o.validate()?;
        o
    };
    let _tmp = tmp;
    let store = EloqStore::new(opts.clone())?;
    let started = std::time::Instant::now();
    store.start(0)?;
    eprintln!(
        "bench: workload {} | {} shards, {} I/O | store {}",
        f.workload,
        opts.num_threads,
        store.io_backend().unwrap_or("?"),
        opts.store_path.join(":")
    );
    let mut results: HashMap<&str, String> = HashMap::new();
    let mut text = Vec::new();
    let report_write = |w: &WriteReport,
                        text: &mut Vec<String>,
                        results: &mut HashMap<&str, String>| {
        let kvs_s = w.kvs as f64 / w.secs;
        let mib_s = kvs_s * upsert_ratio(&f) * f.kv_size as f64 / (1 << 20) as f64;
        text.push(format!(
            "write: {} batches, {} kvs in {:.2} s | {:.0} kvs/s | {:.1} MiB/s | {:.1} batches/s | {}",
            w.batches,
            w.kvs,
            w.secs,
            kvs_s,
            mib_s,
            w.batches as f64 / w.secs,
            w.lat.text()
        ));
        results.insert(
            "write",
            format!(
                "{{\"batches\":{},\"kvs\":{},\"secs\":{:.3},\"kvs_per_sec\":{:.0},\"mib_per_sec\":{:.2},\"latency\":{}}}",
                w.batches,
                w.kvs,
                w.secs,
                kvs_s,
                mib_s,
                w.lat.json()
            ),
        );
    };
    let report_read = |name: &'static str,
                       r: &ReadReport,
                       text: &mut Vec<String>,
                       results: &mut HashMap<&str, String>| {
        let qps = r.ops as f64 / r.secs;
        let kvs_s = r.kvs as f64 / r.secs;
        let mb_s = kvs_s * f.kv_size as f64 / (1 << 20) as f64;
        text.push(format!(
            "{name}: {} requests, {} kvs in {:.2} s | {:.0} QPS | {:.0} kvs/s | {:.1} MiB/s | {}",
            r.ops,
            r.kvs,
            r.secs,
            qps,
            kvs_s,
            mb_s,
            r.lat.text()
        ));
        results.insert(
            name,
            format!(
                "{{\"requests\":{},\"kvs\":{},\"secs\":{:.3},\"qps\":{:.0},\"kvs_per_sec\":{:.0},\"mib_per_sec\":{:.2},\"latency\":{}}}",
                r.ops,
                r.kvs,
                r.secs,
                qps,
                kvs_s,
                mb_s,
                r.lat.json()
            ),
        );
    };
    // Cloud stores: what the workload moved to and from the bucket.
    let traffic_before = store.cloud_traffic();
    let workload_started = std::time::Instant::now();
    match f.workload.as_str() {
        "load" | "write" => {
            let w = write_loop(&store, &f, None)?;
            report_write(&w, &mut text, &mut results);
        }
        "read" | "scan" => {
            let scan = f.workload == "scan";
            let stop = AtomicBool::new(false);
            let out: Mutex<Vec<Result<ReadReport>>> = Mutex::new(Vec::new());
            std::thread::scope(|s| {
                for t in 0..f.read_thds.max(1) {
                    let (store, f, stop, out) = (&store, &f, &stop, &out);
                    s.spawn(move || {
                        let r = read_loop(store, f, t, scan, stop);
                        out.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                    });
                }
                std::thread::sleep(Duration::from_secs(f.test_secs as u64));
                stop.store(true, Ordering::Relaxed);
            });
            let mut total = ReadReport {
                ops: 0,
                kvs: 0,
                secs: 0.0,
                lat: LatencySummary::default(),
            };
            for r in out.into_inner().unwrap_or_else(|e| e.into_inner()) {
                let r = r?;
                total.ops += r.ops;
                total.kvs += r.kvs;
                total.secs = total.secs.max(r.secs);
                total.lat = if total.lat.count == 0 {
                    r.lat
                } else {
                    merge(total.lat, r.lat)
                };
            }
            report_read(
                if scan { "scan" } else { "read" },
                &total,
                &mut text,
                &mut results,
            );
        }
        "write-read" | "write-scan" => {
            let scan = f.workload == "write-scan";
            let stop = Arc::new(AtomicBool::new(false));
            let (w, r) = std::thread::scope(|s| {
                let reader = {
                    let (store, f, stop) = (&store, &f, stop.clone());
                    s.spawn(move || read_loop(store, f, 0, scan, &stop))
                };
                let w = write_loop(&store, &f, Some(&stop));
                stop.store(true, Ordering::Relaxed);
                let r = reader
                    .join()
                    .unwrap_or_else(|_| Err(Error::new(KvError::IoFail, "reader panicked")));
                (w, r)
            });
            report_write(&w?, &mut text, &mut results);
            report_read(
                if scan { "scan" } else { "read" },
                &r?,
                &mut text,
                &mut results,
            );
        }
        "prewarm" => {
            // Our extension: a cloud store's background prewarm, timed from
            // start until it ends (listing done or cache budget reached).
            if !opts.prewarm_cloud_cache {
                return Err(Error::invalid_args(
                    "--workload=prewarm needs a cloud store with prewarm_cloud_cache = true",
                ));
            }
            while !store.prewarm_finished() {
                std::thread::sleep(Duration::from_millis(10));
            }
            let secs = started.elapsed().as_secs_f64();
            let (files, bytes) = opts
                .store_path
                .iter()
                .map(|p| dir_usage(std::path::Path::new(p)))
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            let mib_s = bytes as f64 / (1 << 20) as f64 / secs;
            text.push(format!(
                "prewarm: {files} files, {bytes} bytes in {secs:.2} s | {mib_s:.1} MiB/s"
            ));
            results.insert(
                "prewarm",
                format!(
                    "{{\"files\":{files},\"bytes\":{bytes},\"secs\":{secs:.3},\"mib_per_sec\":{mib_s:.2}}}"
                ),
            );
        }
        other => {
            return Err(Error::invalid_args(format!(
                "--workload={other:?}: expected load, write, read, scan, write-read, write-scan or prewarm (or --load)"
            )));
        }
    }
    if let (Some((up0, down0)), Some((up1, down1))) = (traffic_before, store.cloud_traffic()) {
        let secs = workload_started.elapsed().as_secs_f64();
        let (up, down) = (up1 - up0, down1 - down0);
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        text.push(format!(
            "cloud: {:.1} MiB uploaded ({:.1} MiB/s), {:.1} MiB downloaded ({:.1} MiB/s) in {secs:.2} s",
            mib(up),
            mib(up) / secs,
            mib(down),
            mib(down) / secs
        ));
        results.insert(
            "cloud",
            format!(
                "{{\"uploaded_bytes\":{up},\"downloaded_bytes\":{down},\"secs\":{secs:.3},\"upload_mib_per_sec\":{:.2},\"download_mib_per_sec\":{:.2}}}",
                mib(up) / secs,
                mib(down) / secs
            ),
        );
    }
    store.stop();
    for t in &text {
        println!("{t}");
    }
    if f.json {
        let mut parts: Vec<String> = vec![
            format!("\"workload\":\"{}\"", f.workload),
            format!("\"shards\":{}", opts.num_threads),
            format!("\"kv_size\":{}", f.kv_size),
            format!("\"batch_size\":{}", f.batch_size),
            format!("\"partitions\":{}", f.partitions),
        ];
        let mut keys: Vec<_> = results.keys().copied().collect();
        keys.sort();
        for k in keys {
            parts.push(format!("\"{k}\":{}", results[k]));
        }
        println!("{{{}}}", parts.join(","));
    }
    Ok(())
}

/// Files and bytes under a directory.
fn dir_usage(dir: &std::path::Path) -> (u64, u64) {
    let mut out = (0, 0);
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => {
                    let (f, b) = dir_usage(&e.path());
                    out = (out.0 + f, out.1 + b);
                }
                Ok(m) => out = (out.0 + 1, out.1 + m.len()),
                Err(_) => {}
            }
        }
    }
    out
}

/// An approximate merge of two threads' summaries (percentiles by weight).
fn merge(a: LatencySummary, b: LatencySummary) -> LatencySummary {
    let n = (a.count + b.count).max(1);
    let w = |x: u64, y: u64| (x * a.count + y * b.count) / n;
    LatencySummary {
        count: a.count + b.count,
        avg: w(a.avg, b.avg),
        p50: w(a.p50, b.p50),
        p99: a.p99.max(b.p99),
        p999: a.p999.max(b.p999),
        max: a.max.max(b.max),
    }
}

/// A temporary directory removed on drop.
pub struct TempDirGuard(pub std::path::PathBuf, bool);

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn tempfile_dir() -> Result<TempDirGuard> {
    let base = std::env::var_os("ELOQSTORE_BENCH_DIR")
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let dir = base.join(format!("eloqstore-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::from_io(e, dir.display()))?;
    Ok(TempDirGuard(dir, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gflags_syntax() {
        let a: Vec<String> = [
            "--kvoptions=x.ini",
            "--workload",
            "write-read",
            "-kv_size=1024",
            "--batch_size=20000",
            "--max_key=5000",
            "--partitions=4",
            "--noshow_write_perf",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let f = Flags::parse(&a).unwrap();
        assert_eq!(
            (f.kvoptions.as_str(), f.workload.as_str()),
            ("x.ini", "write-read")
        );
        assert_eq!(
            (f.kv_size, f.batch_size, f.max_key, f.partitions),
            (1024, 20000, 5000, 4)
        );
        assert!(f.json && !f.show_write_perf && !f.load);
        let f = Flags::parse(&[
            "--load".into(),
            "--max_key=100".into(),
            "--batch_size=30".into(),
            "--partitions=2".into(),
        ])
        .unwrap();
        assert_eq!((f.workload.as_str(), f.write_batchs), ("load", 8));
        assert!(Flags::parse(&["--bogus=1".into()]).is_err());
        assert!(Flags::parse(&["--kv_size=4".into()]).is_err());
    }
}
