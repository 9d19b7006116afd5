//! `eloqstore bench` and `eloqstore disk-baseline` run end to end (small
//! sizes; the figures themselves are in BENCHMARKS.md, not asserted here).

use std::process::Command;

fn eloqstore(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eloqstore"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_number(json: &str, section: &str, field: &str) -> f64 {
    let s = &json[json
        .find(&format!("\"{section}\":"))
        .unwrap_or_else(|| panic!("no {section} in {json}"))..];
    let f = &s[s.find(&format!("\"{field}\":")).unwrap() + field.len() + 3..];
    f[..f.find([',', '}']).unwrap()].parse().unwrap()
}

#[test]
fn bench_workloads_with_upstream_flags() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("opts.ini");
    std::fs::write(
        &ini,
        format!(
            "[run]\nnum_threads = 2\nbuffer_pool_size = 16MB\n[permanent]\nstore_path = {}\ndata_page_size = 4KB\ndata_file_size = 8MB\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let ini = format!("--kvoptions={}", ini.display());
    let (ok, out, err) = eloqstore(&[
        "bench",
        &ini,
        "--load",
        "--kv_size=64",
        "--batch_size=1000",
        "--max_key=20000",
        "--partitions=4",
        "--json",
    ]);
    assert!(ok, "{err}");
    let json = out.lines().last().unwrap();
    assert_eq!(json_number(json, "write", "kvs"), 80_000.0);
    for (workload, section) in [("read", "read"), ("scan", "scan")] {
        let w = format!("--workload={workload}");
        let (ok, out, err) = eloqstore(&[
            "bench",
            &ini,
            &w,
            "--kv_size=64",
            "--max_key=20000",
            "--partitions=4",
            "--test_secs=1",
            "--json",
        ]);
        assert!(ok, "{err}");
        let json = out.lines().last().unwrap();
        assert!(json_number(json, section, "requests") > 0.0, "{json}");
        assert!(json_number(json, section, "kvs") > 0.0, "{json}");
        assert!(json_number(json, section, "p99_us") > 0.0, "{json}");
    }
    let (ok, out, err) = eloqstore(&[
        "bench",
        &ini,
        "--workload",
        "write-read",
        "--kv_size=1024",
        "--batch_size=500",
        "--max_key=20000",
        "--partitions=4",
        "--write_batchs=20",
        "--read_per_part=2",
        "--json",
    ]);
    assert!(ok, "{err}");
    let json = out.lines().last().unwrap();
    assert_eq!(json_number(json, "write", "batches"), 20.0);
    assert!(json_number(json, "read", "requests") > 0.0);
    assert!(out.contains("MiB/s") && out.contains("p99.9"));
    // Without --kvoptions: a temporary store.
    let (ok, out, err) = eloqstore(&[
        "bench",
        "--workload=write",
        "--batch_size=100",
        "--write_batchs=10",
        "--partitions=2",
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("write: 10 batches"), "{out}");
    let (ok, _, err) = eloqstore(&["bench", "--workload=bogus"]);
    assert!(!ok && err.contains("bogus"));
}

#[test]
fn disk_baseline_reports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_string_lossy().into_owned();
    let (ok, out, err) = eloqstore(&[
        "disk-baseline",
        "--dir",
        &d,
        "--size-mb",
        "16",
        "--secs",
        "1",
        "--json",
    ]);
    assert!(ok, "{err}");
    let field = |name: &str| -> f64 {
        let f = &out[out.find(&format!("\"{name}\":")).unwrap() + name.len() + 3..];
        f[..f.find([',', '}']).unwrap()].parse().unwrap()
    };
    assert!(field("seq_write_mib_per_sec") > 0.0, "{out}");
    assert!(field("rand_read_4k_per_sec") > 0.0, "{out}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "baseline file left behind"
    );
}

/// `ELOQSTORE_LOG` turns the engine's log on in any program that starts a
/// store (the store installs the stderr logger itself); without it the
/// engine prints nothing.
#[test]
fn eloqstore_log_enables_logging() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("opts.ini");
    std::fs::write(
        &ini,
        format!(
            "[run]\nnum_threads = 1\n[permanent]\nstore_path = {}\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let ini = format!("--kvoptions={}", ini.display());
    let run = |log: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_eloqstore"));
        c.args([
            "bench",
            &ini,
            "--load",
            "--kv_size=64",
            "--max_key=100",
            "--partitions=1",
        ]);
        c.env_remove("ELOQSTORE_LOG");
        if let Some(l) = log {
            c.env("ELOQSTORE_LOG", l);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let quiet = run(None);
    assert!(
        !quiet.contains("[eloqstore"),
        "logged without ELOQSTORE_LOG: {quiet}"
    );
    let loud = run(Some("info"));
    assert!(
        loud.contains("eloqstore started"),
        "no log with ELOQSTORE_LOG=info: {loud}"
    );
}
