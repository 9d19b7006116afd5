//! `eloqstore`: inspect stores written by EloqStore (C++ or this crate).
//!
//! ```text
//! eloqstore scan     --options FILE [--table T] [--partition P] [--archive | --manifest NAME]
//! eloqstore check    --options FILE [--archives]
//! eloqstore manifest --options FILE --table T --partition P [--archive | --manifest NAME]
//! eloqstore get      --options FILE --table T --partition P --key HEX [--floor]
//! ```
//! Relative `store_path` entries in FILE are taken relative to FILE's folder.

mod bench;

use std::io::Write;
use std::process::ExitCode;

use eloqstore::error::{Error, Result};
use eloqstore::inspect::check::check_store;
use eloqstore::inspect::{ManifestChoice, StoreReader, hex, tsv_line, unhex};
use eloqstore::options::KvOptions;
use eloqstore::types::TableIdent;

const USAGE: &str = "usage:
  eloqstore scan     --options FILE [--table T] [--partition P] [--archive | --manifest NAME]
        print stored entries (expired ones included) as TSV:
        table, partition, hex key, hex value, timestamp, expire_ts
  eloqstore check    --options FILE [--archives]
        verify every page reachable from every manifest; exit 1 naming the
        first bad file, offset and page of each damaged partition; a WARN
        line names each manifest tail replay discarded (torn write or damage)
  eloqstore manifest --options FILE --table T --partition P [--archive | --manifest NAME]
        print the decoded manifest
  eloqstore get      --options FILE --table T --partition P --key HEX [--floor]
        look one key up (or its floor)
  eloqstore bench    [--kvoptions=FILE] --workload=W [simple_bench flags] [--json]
        upstream simple_bench's workloads (load, write, read, scan, write-read,
        write-scan) and flags; without --kvoptions a temporary store
  eloqstore disk-baseline [--dir D] [--size-mb N] [--secs N] [--depth N]
        sequential O_DIRECT write MB/s and random 4 KiB reads/s of the disk

FILE is an upstream KvOptions INI file; relative store paths in it are
resolved against FILE's folder.";

/// Parsed `--name value` / `--name=value` / `--flag` arguments.
struct Args {
    pairs: Vec<(String, Option<String>)>,
}

impl Args {
    fn parse(raw: &[String], flags: &[&str]) -> Result<Args> {
        let mut pairs = Vec::new();
        let mut it = raw.iter();
        while let Some(a) = it.next() {
            let name = a
                .strip_prefix("--")
                .ok_or_else(|| Error::invalid_args(format!("unexpected argument {a:?}")))?;
            if let Some((k, v)) = name.split_once('=') {
                pairs.push((k.to_string(), Some(v.to_string())));
            } else if flags.contains(&name) {
                pairs.push((name.to_string(), None));
            } else {
                let v = it
                    .next()
                    .ok_or_else(|| Error::invalid_args(format!("--{name} needs a value")))?;
                pairs.push((name.to_string(), Some(v.clone())));
            }
        }
        Ok(Args { pairs })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    fn require(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| Error::invalid_args(format!("--{name} is required")))
    }

    fn only(&self, allowed: &[&str]) -> Result<()> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            Some((k, _)) => Err(Error::invalid_args(format!("unknown option --{k}"))),
            None => Ok(()),
        }
    }
}

fn load_options(args: &Args) -> Result<KvOptions> {
    let path = std::path::Path::new(args.require("options")?);
    let mut opts = KvOptions::from_ini_file(path)?;
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    opts.resolve_store_paths(base);
    opts.validate()?;
    Ok(opts)
}

fn manifest_choice(args: &Args) -> Result<ManifestChoice> {
    match (args.has("archive"), args.get("manifest")) {
        (true, Some(_)) => Err(Error::invalid_args(
            "--archive and --manifest exclude each other",
        )),
        (true, None) => Ok(ManifestChoice::NewestArchive),
        (false, Some(name)) => Ok(ManifestChoice::Named(name.to_string())),
        (false, None) => Ok(ManifestChoice::Current),
    }
}

fn partition_arg(args: &Args) -> Result<Option<u32>> {
    args.get("partition")
        .map(|p| {
            p.parse().map_err(|_| {
                Error::invalid_args(format!("--partition {p:?} is not a partition id"))
            })
        })
        .transpose()
}

fn table_arg(args: &Args) -> Result<TableIdent> {
    let partition =
        partition_arg(args)?.ok_or_else(|| Error::invalid_args("--partition is required"))?;
    Ok(TableIdent::new(args.require("table")?, partition))
}

fn cmd_scan(args: &Args) -> Result<ExitCode> {
    args.only(&["options", "table", "partition", "archive", "manifest"])?;
    let table = args.get("table");
    let partition = partition_arg(args)?;
    let wanted = |t: &TableIdent| {
        table.is_none_or(|n| n.as_bytes() == t.tbl_name.as_slice())
            && partition.is_none_or(|p| p == t.partition_id)
    };
    let store = StoreReader::new_for(load_options(args)?, &wanted)?;
    let choice = manifest_choice(args)?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for tbl in store.partitions()? {
        if table.is_some_and(|t| t.as_bytes() != tbl.tbl_name.as_slice())
            || partition.is_some_and(|p| p != tbl.partition_id)
        {
            continue;
        }
        let part = match store.open_partition(&tbl, &choice) {
            Ok(p) => p,
            // A partition without the chosen manifest has nothing to show.
            Err(e) if e.code() == eloqstore::KvError::NotFound => continue,
            Err(e) => return Err(e.context(&tbl)),
        };
        part.scan(b"", b"", |e| {
            writeln!(out, "{}", tsv_line(&tbl, &e)).map_err(|err| Error::from_io(err, "stdout"))?;
            Ok(true)
        })
        .map_err(|e| e.context(&tbl))?;
    }
    out.flush().map_err(|e| Error::from_io(e, "stdout"))?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_check(args: &Args) -> Result<ExitCode> {
    args.only(&["options", "archives"])?;
    let store = StoreReader::new(load_options(args)?)?;
    let (reports, problems) = check_store(&store, args.has("archives"))?;
    for r in &reports {
        println!(
            "ok   {} {}: {} records, {} index / {} data / {} overflow pages, {} entries, {} ttl entries",
            r.table,
            r.manifest.file_name().unwrap_or_default().to_string_lossy(),
            r.records,
            r.index_pages,
            r.data_pages,
            r.overflow_pages,
            r.entries,
            r.ttl_entries
        );
    }
    // Warnings go with the partition's line: stdout for a clean one.
    for w in reports.iter().flat_map(|r| &r.warnings) {
        println!("WARN {w}");
    }
    for p in &problems {
        for w in &p.warnings {
            eprintln!("WARN {w}");
        }
        eprintln!("BAD  {p}");
    }
    if problems.is_empty() {
        println!("clean: {} manifests checked", reports.len());
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

fn cmd_manifest(args: &Args) -> Result<ExitCode> {
    args.only(&["options", "table", "partition", "archive", "manifest"])?;
    let tbl = table_arg(args)?;
    let store = StoreReader::new_for(load_options(args)?, &|t| *t == tbl)?;
    // Shown as it is, even when the data files do not back it.
    let (path, bytes, st) = store.replay_manifest(&tbl, &manifest_choice(args)?)?;
    let limits = store.check_limits(&tbl, &bytes, &st);
    let st = &st;
    let shift = store.options().pages_per_file_shift;
    let fmt_root = |r: u32| {
        if r == u32::MAX {
            "none".to_string()
        } else {
            r.to_string()
        }
    };
    let mapped: Vec<u64> = st
        .mapping
        .iter()
        .filter_map(|&v| eloqstore::inspect::mapping_value::as_file_page(v))
        .collect();
    let max_file = mapped.iter().map(|fp| fp >> shift).max();
    println!("file:            {}", path.display());
    println!("root:            {}", fmt_root(st.root));
    println!("ttl_root:        {}", fmt_root(st.ttl_root));
    println!("mapping size:    {}", st.mapping.len());
    println!("mapped pages:    {}", mapped.len());
    println!("free pages:      {}", st.mapping.len() - mapped.len());
    println!("max_fp_id:       {}", st.max_fp_id);
    println!(
        "max file id:     {}",
        max_file.map_or("none".to_string(), |f| f.to_string())
    );
    let term = st
        .term_map
        .get(&eloqstore::inspect::TERM_KEY_MANIFEST)
        .map_or("absent".to_string(), |t| t.to_string());
    println!("manifest term:   {term}");
    let files: Vec<String> = st
        .term_map
        .iter()
        .filter(|(f, _)| **f != eloqstore::inspect::TERM_KEY_MANIFEST)
        .map(|(f, t)| format!("{f}:{t}"))
        .collect();
    println!("file terms:      {}", files.join(" "));
    println!("dictionary:      {} bytes", st.dict.len());
    let logs = st.records.iter().filter(|r| !r.is_snapshot).count();
    println!(
        "records:         {} (1 snapshot + {} log)",
        st.records.len(),
        logs
    );
    println!("logical size:    {}", st.file_size);
    let end = match &st.end {
        eloqstore::inspect::ReplayEnd::Clean => "clean".to_string(),
        eloqstore::inspect::ReplayEnd::TornPadding { offset } => {
            format!("padding of the record at offset {offset} cut short (record applied)")
        }
        other => other.discarded().unwrap_or_default(),
    };
    println!("end:             {end}");
    match &limits {
        Ok(()) => println!("data files:      cover every id"),
        Err(e) => println!("data files:      {e}"),
    }
    for r in &st.records {
        println!(
            "  record @{:<8} {:<8} root={} ttl_root={} payload={}",
            r.offset,
            if r.is_snapshot { "snapshot" } else { "log" },
            fmt_root(r.root),
            fmt_root(r.ttl_root),
            r.payload_len
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_get(args: &Args) -> Result<ExitCode> {
    args.only(&[
        "options",
        "table",
        "partition",
        "key",
        "floor",
        "archive",
        "manifest",
    ])?;
    let tbl = table_arg(args)?;
    let store = StoreReader::new_for(load_options(args)?, &|t| *t == tbl)?;
    let part = store.open_partition(&tbl, &manifest_choice(args)?)?;
    let key = unhex(args.require("key")?)?;
    let found = if args.has("floor") {
        part.floor(&key)?
    } else {
        part.get(&key)?
    };
    match found {
        Some(e) => {
            println!("{}", tsv_line(&tbl, &e));
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("not found: {}", hex(&key));
            Ok(ExitCode::from(2))
        }
    }
}

fn cmd_baseline(args: &Args) -> Result<ExitCode> {
    args.only(&["dir", "size-mb", "secs", "depth", "json"])?;
    let num = |name: &str, default: u64| -> Result<u64> {
        args.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| Error::invalid_args(format!("--{name} {v:?} is not a number")))
            })
            .unwrap_or(Ok(default))
    };
    let dir = args
        .get("dir")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let b = eloqstore::inspect::baseline::measure(
        &dir,
        num("size-mb", 1024)?,
        num("secs", 10)?,
        num("depth", 64)? as usize,
    )?;
    if args.has("json") {
        println!(
            "{{\"dir\":\"{}\",\"backend\":\"{}\",\"o_direct\":{},\"seq_write_mib_per_sec\":{:.1},\"rand_read_4k_per_sec\":{:.0}}}",
            dir.display(),
            b.backend,
            b.direct,
            b.write_mib_s,
            b.read_iops
        );
    } else {
        println!(
            "disk under {} ({} I/O, O_DIRECT {}):",
            dir.display(),
            b.backend,
            b.direct
        );
        println!("  sequential write: {:.1} MiB/s", b.write_mib_s);
        println!("  random 4 KiB read: {:.0} reads/s", b.read_iops);
    }
    Ok(ExitCode::SUCCESS)
}

fn run(argv: &[String]) -> Result<ExitCode> {
    let Some(cmd) = argv.first() else {
        eprintln!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    let rest = &argv[1..];
    match cmd.as_str() {
        "scan" => cmd_scan(&Args::parse(rest, &["archive"])?),
        "check" => cmd_check(&Args::parse(rest, &["archives"])?),
        "manifest" => cmd_manifest(&Args::parse(rest, &["archive"])?),
        "get" => cmd_get(&Args::parse(rest, &["floor", "archive"])?),
        "bench" => {
            bench::run(rest)?;
            Ok(ExitCode::SUCCESS)
        }
        "disk-baseline" => cmd_baseline(&Args::parse(rest, &["json"])?),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(Error::invalid_args(format!(
            "unknown command {other:?}\n{USAGE}"
        ))),
    }
}

fn main() -> ExitCode {
    eloqstore::inspect::restore_default_sigpipe();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("eloqstore: {e}");
            ExitCode::from(2)
        }
    }
}
