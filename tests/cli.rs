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
