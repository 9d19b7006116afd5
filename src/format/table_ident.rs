//! `TableIdent`: a table name and a partition id. Its string form
//! `<name>.<partition>` names the partition directory.

use std::fmt;
use std::path::{Path, PathBuf};

/// Identifies one partition of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableIdent {
    pub tbl_name: String,
    pub partition_id: u32,
}

impl TableIdent {
    pub const SEPARATOR: char = '.';

    pub fn new(tbl_name: impl Into<String>, partition_id: u32) -> TableIdent {
        TableIdent {
            tbl_name: tbl_name.into(),
            partition_id,
        }
    }

    /// A table ident is valid when its name is non-empty.
    pub fn is_valid(&self) -> bool {
        !self.tbl_name.is_empty()
    }

    /// Parses `<name>.<partition>`, splitting at the last dot. The partition
    /// part is read like C's `stoul`: leading whitespace and a sign are
    /// accepted, parsing stops at the first non-digit, and trailing text is
    /// ignored. Anything else gives `None`.
    pub fn parse(s: &str) -> Option<TableIdent> {
        let (name, rest) = s.rsplit_once(Self::SEPARATOR)?;
        let rest = rest.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
        let (neg, digits) = match rest.as_bytes().first() {
            Some(b'+') => (false, &rest[1..]),
            Some(b'-') => (true, &rest[1..]),
            _ => (false, rest),
        };
        let end = digits
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        if end == 0 {
            return None;
        }
        let v: u64 = digits[..end].parse().ok()?;
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

    /// The partition directory under the given store paths.
    pub fn store_path<P: AsRef<Path>>(&self, disks: &[P]) -> PathBuf {
        disks[self.disk_index(disks.len())]
            .as_ref()
            .join(self.to_string())
    }
}

impl fmt::Display for TableIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tbl_name, self.partition_id)
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
