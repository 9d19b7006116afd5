//! `TableIdent`: a table name and a partition id. Its string form
//! `<name>.<partition>` names the partition directory.
//!
//! Table names are byte strings, as upstream's `std::string`: any bytes,
//! UTF-8 or not. The engine refuses only names that cannot name a
//! directory (see [`TableIdent::check`]).

use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Identifies one partition of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableIdent {
    /// The table name (bytes, as upstream).
    pub tbl_name: Vec<u8>,
    /// The partition number within the table.
    pub partition_id: u32,
}

/// The longest file name Linux filesystems accept (`NAME_MAX`). A
/// partition directory `<table>.<partition>` must fit; the files inside it
/// have short fixed names, so the directory name is what limits a table
/// name.
pub const NAME_MAX: usize = 255;

impl TableIdent {
    /// Between the table name and the partition number in directory names.
    pub const SEPARATOR: char = '.';

    /// Partition `partition_id` of table `tbl_name`.
    pub fn new(tbl_name: impl Into<Vec<u8>>, partition_id: u32) -> TableIdent {
        TableIdent {
            tbl_name: tbl_name.into(),
            partition_id,
        }
    }

    /// A table ident is valid when its name is non-empty (upstream's rule).
    pub fn is_valid(&self) -> bool {
        !self.tbl_name.is_empty()
    }

    /// Whether the engine can store this partition: a valid name that can
    /// be a directory name (no `/`, no NUL; upstream does not check and
    /// would write outside its store path), short enough that
    /// `<name>.<partition>` fits [`NAME_MAX`] (see
    /// [`max_name_len`](Self::max_name_len); upstream fails with an I/O
    /// error).
    pub fn check(&self) -> Result<()> {
        if !self.is_valid() {
            return Err(Error::invalid_args("the table name is empty"));
        }
        if self.tbl_name.iter().any(|&b| b == b'/' || b == 0) {
            return Err(Error::invalid_args(format!(
                "table name {:?} contains '/' or NUL, which cannot name a directory",
                self.name_lossy()
            )));
        }
        let max = self.max_name_len();
        if self.tbl_name.len() > max {
            let head: String = self.name_lossy().chars().take(32).collect();
            return Err(Error::invalid_args(format!(
                "table name {head:?}... is {} bytes; with partition {} it may have at most \
                 {max} bytes, so that the partition directory `<table>.{}` fits the \
                 {NAME_MAX}-byte file name limit (NAME_MAX)",
                self.tbl_name.len(),
                self.partition_id,
                self.partition_id
            )));
        }
        Ok(())
    }

    /// The longest table name this partition can have: [`NAME_MAX`] less
    /// the `.<partition>` suffix of the directory name (244 to 253 bytes).
    pub fn max_name_len(&self) -> usize {
        NAME_MAX - 1 - self.partition_id.to_string().len()
    }

    /// The name for messages (invalid UTF-8 replaced).
    pub fn name_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.tbl_name)
    }

    /// The partition directory's name, `<name>.<partition>`, as bytes.
    pub fn dir_name(&self) -> OsString {
        let mut b = self.tbl_name.clone();
        b.push(b'.');
        b.extend_from_slice(self.partition_id.to_string().as_bytes());
        OsString::from_vec(b)
    }

    /// Parses `<name>.<partition>` (see [`parse_bytes`](Self::parse_bytes)).
    pub fn parse(s: &str) -> Option<TableIdent> {
        TableIdent::parse_bytes(s.as_bytes())
    }

    /// Parses `<name>.<partition>`, splitting at the last dot. The partition
    /// part is read like C's `stoul`: leading whitespace and a sign are
    /// accepted, parsing stops at the first non-digit, and trailing text is
    /// ignored. Anything else gives `None`.
    pub fn parse_bytes(s: &[u8]) -> Option<TableIdent> {
        let mut parts = s.rsplitn(2, |&b| b == b'.');
        let (rest, name) = (parts.next()?, parts.next()?);
        let ws = rest
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
            .count();
        let rest = rest.get(ws..)?;
        let (neg, digits) = match rest.split_first() {
            Some((b'+', digits)) => (false, digits),
            Some((b'-', digits)) => (true, digits),
            _ => (false, rest),
        };
        let end = digits
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        let digits = digits.get(..end).filter(|d| !d.is_empty())?;
        let v: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        let v = if neg { v.wrapping_neg() } else { v };
        // stoul yields an unsigned long that is then narrowed to u32.
        let id = v as u32;
        if name.is_empty() {
            return None;
        }
        Some(TableIdent::new(name, id))
    }

    /// Index of the store path holding this partition.
    pub fn disk_index(&self, num_disks: usize) -> usize {
        // Upstream narrows the disk count to u8.
        let n = (num_disks as u8).max(1) as u32;
        (self.partition_id % n) as usize
    }

    /// Index of the shard serving this partition.
    pub fn shard_index(&self, num_shards: u16) -> usize {
        (self.partition_id % num_shards.max(1) as u32) as usize
    }

    /// The partition directory under the given store paths (not empty).
    #[allow(clippy::indexing_slicing)] // `disk_index` is below `disks.len()` when that is not 0
    pub fn store_path<P: AsRef<Path>>(&self, disks: &[P]) -> PathBuf {
        disks[self.disk_index(disks.len())]
            .as_ref()
            .join(self.dir_name())
    }
}

impl fmt::Display for TableIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.name_lossy(), self.partition_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms() {
        let t = TableIdent::new("t0", 3);
        assert_eq!(t.to_string(), "t0.3");
        assert_eq!(TableIdent::parse("t0.3"), Some(t));
        assert_eq!(
            TableIdent::parse("a.b.12"),
            Some(TableIdent::new("a.b", 12))
        );
        assert_eq!(TableIdent::parse("t.3/"), Some(TableIdent::new("t", 3)));
        assert_eq!(TableIdent::parse("t. 4"), Some(TableIdent::new("t", 4)));
        assert_eq!(TableIdent::parse("t.x"), None);
        assert_eq!(TableIdent::parse("nodot"), None);
        assert_eq!(TableIdent::parse(".5"), None);
        assert!(!TableIdent::default().is_valid());
        let odd = TableIdent::new(vec![0xff, b'x'], 2);
        assert!(odd.check().is_ok());
        assert_eq!(
            TableIdent::parse_bytes(odd.dir_name().as_encoded_bytes()),
            Some(odd)
        );
        assert!(TableIdent::new("a/b", 0).check().is_err());
        assert!(TableIdent::new(vec![b'a', 0], 0).check().is_err());
    }

    /// Issue 10, defect 8: `<name>.<partition>` must fit NAME_MAX.
    #[test]
    fn name_length_limit() {
        for (id, max) in [
            (0, 253),
            (9, 253),
            (10, 252),
            (123_456, 248),
            (u32::MAX, 244),
        ] {
            let ok = TableIdent::new(vec![b'n'; max], id);
            assert_eq!(ok.max_name_len(), max);
            assert!(ok.check().is_ok());
            assert_eq!(ok.dir_name().len(), NAME_MAX);
            let long = TableIdent::new(vec![b'n'; max + 1], id);
            let e = long.check().unwrap_err();
            assert_eq!(e.code(), crate::error::KvError::InvalidArgs);
            assert!(e.message().contains(&format!("at most {max} bytes")), "{e}");
            assert!(e.message().contains("NAME_MAX"), "{e}");
        }
        let e = TableIdent::new(vec![b'x'; 5000], 3).check().unwrap_err();
        assert!(e.message().contains("5000 bytes"), "{e}");
        assert!(e.message().len() < 300, "{e}");
    }

    #[test]
    fn disk_and_shard() {
        let t = TableIdent::new("t", 7);
        assert_eq!(t.disk_index(2), 1);
        assert_eq!(t.shard_index(3), 1);
        assert_eq!(t.store_path(&["/a", "/b"]), PathBuf::from("/b/t.7"));
        // 256 disks narrow to 0 in upstream's u8; we never divide by zero.
        assert_eq!(t.disk_index(256), 0);
    }
}
