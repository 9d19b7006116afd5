//! File names inside a partition directory, and their parsing rules.
//!
//! `data_<file_id>_<term>`, `manifest_<term>`, archives
//! `manifest_<term>_<timestamp_us>`, temporaries `<name>.tmp`, and the cloud
//! `CURRENT_TERM` object. Numbers are plain decimal.

use super::page::FileId;

pub const FILE_NAME_SEPARATOR: char = '_';
pub const FILE_NAME_DATA: &str = "data";
pub const FILE_NAME_MANIFEST: &str = "manifest";
pub const CURRENT_TERM_FILE_NAME: &str = "CURRENT_TERM";
pub const TMP_SUFFIX: &str = ".tmp";

/// `data_<id>_<term>`.
pub fn data_file_name(file_id: FileId, term: u64) -> String {
    format!("{FILE_NAME_DATA}_{file_id}_{term}")
}

/// `manifest_<term>`.
pub fn manifest_file_name(term: u64) -> String {
    format!("{FILE_NAME_MANIFEST}_{term}")
}

/// `manifest_<term>_<ts>`.
pub fn archive_file_name(term: u64, ts: u64) -> String {
    format!("{FILE_NAME_MANIFEST}_{term}_{ts}")
}

/// Splits at the first separator into (type, suffix); no separator gives an
/// empty suffix.
pub fn parse_file_name(name: &str) -> (&str, &str) {
    match name.find(FILE_NAME_SEPARATOR) {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => (name, ""),
    }
}

/// Strict decimal u64: non-empty, digits only, no overflow.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `<id>_<term>` -> (id, term). The legacy `<id>` form is rejected.
pub fn parse_data_file_suffix(suffix: &str) -> Option<(FileId, u64)> {
    let (id, term) = suffix.split_once(FILE_NAME_SEPARATOR)?;
    Some((parse_u64(id)?, parse_u64(term)?))
}

/// `<term>` -> (term, None); `<term>_<ts>` -> (term, Some(ts)).
pub fn parse_manifest_file_suffix(suffix: &str) -> Option<(u64, Option<u64>)> {
    match suffix.split_once(FILE_NAME_SEPARATOR) {
        None => Some((parse_u64(suffix)?, None)),
        Some((term, ts)) => Some((parse_u64(term)?, Some(parse_u64(ts)?))),
    }
}

/// What a file in a partition directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionFile {
    Data { file_id: FileId, term: u64 },
    Manifest { term: u64 },
    Archive { term: u64, timestamp: u64 },
}

/// Classifies a file name; temporaries and unknown names give `None`.
pub fn classify(name: &str) -> Option<PartitionFile> {
    if name.ends_with(TMP_SUFFIX) {
        return None;
    }
    match parse_file_name(name) {
        (FILE_NAME_DATA, s) => {
            parse_data_file_suffix(s).map(|(file_id, term)| PartitionFile::Data { file_id, term })
        }
        (FILE_NAME_MANIFEST, s) => parse_manifest_file_suffix(s).map(|(term, ts)| match ts {
            None => PartitionFile::Manifest { term },
            Some(timestamp) => PartitionFile::Archive { term, timestamp },
        }),
        _ => None,
    }
}

/// Whether the name is an archive (`manifest_<term>_<ts>`).
pub fn is_archive_file(name: &str) -> bool {
    matches!(classify(name), Some(PartitionFile::Archive { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parsing() {
        assert_eq!(data_file_name(0, 0), "data_0_0");
        assert_eq!(manifest_file_name(5), "manifest_5");
        assert_eq!(
            archive_file_name(0, 1795612964085161),
            "manifest_0_1795612964085161"
        );
        assert_eq!(parse_file_name("data_1_2_3"), ("data", "1_2_3"));
        assert_eq!(parse_file_name(""), ("", ""));
        assert_eq!(parse_file_name("manifest"), ("manifest", ""));
        assert_eq!(parse_data_file_suffix("123_5"), Some((123, 5)));
        for bad in [
            "", "123", "abc", "123_abc", "abc_5", "1_2_3", "+1_2", "1_ 2",
        ] {
            assert_eq!(parse_data_file_suffix(bad), None, "{bad}");
        }
        assert_eq!(parse_manifest_file_suffix("5"), Some((5, None)));
        assert_eq!(
            parse_manifest_file_suffix("5_123456789"),
            Some((5, Some(123456789)))
        );
        for bad in ["", "x", "5_", "_5", "5_x", "99999999999999999999"] {
            assert_eq!(parse_manifest_file_suffix(bad), None, "{bad}");
        }
        assert!(is_archive_file("manifest_0_17"));
        assert!(!is_archive_file("manifest_0"));
        assert!(!is_archive_file("data_0_17"));
        assert_eq!(classify("manifest_0.tmp"), None);
        assert_eq!(
            classify("data_7_3"),
            Some(PartitionFile::Data {
                file_id: 7,
                term: 3
            })
        );
        assert_eq!(classify("CURRENT_TERM"), None);
        for (id, term) in [(0u64, 0u64), (u64::MAX - 2, 9)] {
            let n = data_file_name(id, term);
            assert_eq!(
                classify(&n),
                Some(PartitionFile::Data { file_id: id, term })
            );
        }
    }
}
