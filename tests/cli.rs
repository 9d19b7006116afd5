//! The `eloqstore` binary itself, run on every fixture.

mod common;

use std::process::Command;

use common::*;

fn eloqstore(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eloqstore"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn check_and_scan_every_fixture() {
    for fx in fixtures() {
        let ini = fx.join("options.ini");
        let ini = ini.to_str().unwrap();
        let out = eloqstore(&["check", "--options", ini, "--archives"]);
        assert!(
            out.status.success(),
            "{}: {}",
            name(&fx),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("clean:"));

        let out = eloqstore(&["scan", "--options", ini]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert!(
            got == tsv_lines(&stored_content(&fx)),
            "{}: scan output differs",
            name(&fx)
        );

        let archived = fx.join("archived.tsv");
        if archived.exists() {
            let out = eloqstore(&["scan", "--options", ini, "--archive"]);
            assert!(out.status.success());
            let mut want = Content::new();
            read_tsv(&archived, &mut want);
            let got: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            assert!(
                got == tsv_lines(&want),
                "{}: archive scan differs",
                name(&fx)
            );
        }
    }
}

#[test]
fn manifest_and_get_commands() {
    let fx = fixtures_dir().join("many_versions");
    let ini = fx.join("options.ini");
    let ini = ini.to_str().unwrap();
    let out = eloqstore(&[
        "manifest",
        "--options",
        ini,
        "--table",
        "t0",
        "--partition",
        "0",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("records:         50 (1 snapshot + 49 log)"),
        "{text}"
    );

    let content = stored_content(&fx);
    let (tbl, entries) = content.iter().next().unwrap();
    let (key, entry) = entries.iter().nth(5).unwrap();
    let key_hex = eloqstore::inspect::hex(key);
    let part = tbl.partition_id.to_string();
    let name = tbl.name_lossy().into_owned();
    let out = eloqstore(&[
        "get",
        "--options",
        ini,
        "--table",
        &name,
        "--partition",
        &part,
        "--key",
        &key_hex,
    ]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        eloqstore::inspect::tsv_line(tbl, entry)
    );
    let out = eloqstore(&[
        "get",
        "--options",
        ini,
        "--table",
        &name,
        "--partition",
        &part,
        "--key",
        "00",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = eloqstore(&["scan", "--options", ini, "--bogus", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
}

#[test]
fn check_names_the_damaged_page() {
    let fx = fixtures_dir().join("basic");
    let tmp = copy_fixture(&fx);
    // Damage the content of the tree's root page.
    let store = eloqstore::inspect::StoreReader::new(options_at(&fx, tmp.path())).unwrap();
    let tbl = eloqstore::types::TableIdent::new("t0", 0);
    let part = store
        .open_partition(&tbl, &eloqstore::inspect::ManifestChoice::Current)
        .unwrap();
    let root = part.manifest().root;
    let fp = part.mapping().file_page(root).unwrap();
    let (data, offset) = part.source().locate(fp).unwrap();
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[offset as usize + 20] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let ini = tmp.path().join("options.ini");
    let out = eloqstore(&["check", "--options", ini.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    let want = format!("data_0_0: offset {offset}: page {root} (file page {fp}): ");
    assert!(err.contains(&want), "{err}");
}

/// Issue 10, defect 7: `--options /dev/zero` (or a FIFO) fails at once
/// naming why, instead of reading forever.
#[test]
fn options_must_be_a_small_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.ini");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, why) in [
        ("/dev/zero", "character device"),
        (fifo.to_str().unwrap(), "FIFO"),
    ] {
        let out = eloqstore(&["scan", "--options", path]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("Invalid arguments"), "{err}");
        assert!(err.contains(path) && err.contains(why), "{err}");
    }
}

/// A kill between creating a partition's directory (or a data file) and
/// writing its first manifest leaves a directory without a manifest. The
/// engine reads it as an empty partition (upstream: the manifest's ENOENT
/// is NotFound, the partition does not exist); `check` calls it empty with
/// a warning, not damaged.
#[test]
fn check_reads_a_partition_without_manifest_as_empty() {
    let fx = fixtures_dir().join("basic");
    let tmp = copy_fixture(&fx);
    let opts = options_at(&fx, tmp.path());
    let tbl = eloqstore::types::TableIdent::new("t0", 77);
    let dir = tbl.store_path(&opts.store_path);
    std::fs::create_dir_all(&dir).unwrap();
    let empty = eloqstore::types::TableIdent::new("t0", 78);
    std::fs::create_dir_all(empty.store_path(&opts.store_path)).unwrap();
    // A data file written before the crash, never named by a manifest.
    std::fs::write(
        dir.join("data_0_0"),
        vec![0u8; opts.data_page_size as usize],
    )
    .unwrap();

    let ini = tmp.path().join("options.ini");
    let out = eloqstore(&["check", "--options", ini.to_str().unwrap()]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("clean:"), "{stdout}");
    let warn = format!(
        "WARN {}: missing: the partition is empty",
        dir.join("manifest_0").display()
    );
    assert!(stdout.contains(&warn), "{stdout}");
    assert!(stdout.contains("the directory holds data_0_0)"), "{stdout}");
    assert!(stdout.contains("the directory is empty)"), "{stdout}");

    // The engine agrees: nothing to read there, and the partition takes
    // writes (over the stray data file) and then checks clean.
    use common::engine::*;
    let mut o = opts.clone();
    o.num_threads = 1;
    let store = started(o.clone());
    assert_eq!(
        get(&store, &tbl, b"k").unwrap_err().code(),
        eloqstore::KvError::NotFound
    );
    put(&store, &tbl, &[(b"k", b"v", 1)]);
    assert_eq!(get(&store, &tbl, b"k").unwrap().value, b"v");
    store.stop();
    let out = eloqstore(&["check", "--options", ini.to_str().unwrap()]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains(&warn), "{stdout}");
}
