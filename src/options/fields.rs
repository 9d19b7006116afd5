//! Access to `KvOptions` fields by their upstream names, for bindings that
//! cannot name Rust fields (the C ABI, the C++ layer). Integer fields are
//! read and written as `u64` with a range check against the field's type.

use std::fmt;

pub use super::table::FIELD_NAMES;
use super::{KvOptions, PartitionFilter};
use crate::error::{Error, Result};
use crate::format::comparator::ComparatorRef;

/// The kind of value a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// An unsigned integer, read and written as `u64`.
    Uint,
    /// A boolean.
    Bool,
    /// A string.
    Str,
    /// `store_path`: a list of strings.
    StrList,
    /// `comparator` and `partition_filter`: callbacks, set separately.
    Callback,
}

/// What a field's type allows by name; implemented for every type a row of
/// the options table may have, so that the type alone decides the kind.
pub(crate) trait FieldValue {
    fn kind(&self) -> FieldKind;
    fn get_uint(&self) -> Option<u64> {
        None
    }
    /// `Some(false)`: the value does not fit the field's type.
    fn set_uint(&mut self, _v: u64) -> Option<bool> {
        None
    }
    fn get_bool(&self) -> Option<bool> {
        None
    }
    fn as_bool(&mut self) -> Option<&mut bool> {
        None
    }
    fn get_str(&self) -> Option<&str> {
        None
    }
    fn as_string(&mut self) -> Option<&mut String> {
        None
    }
    /// How `Debug` shows the value.
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

macro_rules! uint_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            fn kind(&self) -> FieldKind {
                FieldKind::Uint
            }
            fn get_uint(&self) -> Option<u64> {
                Some(*self as u64)
            }
            fn set_uint(&mut self, v: u64) -> Option<bool> {
                Some(v.try_into().map(|x| *self = x).is_ok())
            }
            fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    )*};
}
uint_field!(u8, u16, u32, u64, usize);

impl FieldValue for bool {
    fn kind(&self) -> FieldKind {
        FieldKind::Bool
    }
    fn get_bool(&self) -> Option<bool> {
        Some(*self)
    }
    fn as_bool(&mut self) -> Option<&mut bool> {
        Some(self)
    }
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl FieldValue for String {
    fn kind(&self) -> FieldKind {
        FieldKind::Str
    }
    fn get_str(&self) -> Option<&str> {
        Some(self)
    }
    fn as_string(&mut self) -> Option<&mut String> {
        Some(self)
    }
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl FieldValue for Vec<String> {
    fn kind(&self) -> FieldKind {
        FieldKind::StrList
    }
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl FieldValue for ComparatorRef {
    fn kind(&self) -> FieldKind {
        FieldKind::Callback
    }
    /// By name: the comparator itself has no `Debug`.
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.name(), f)
    }
}

impl FieldValue for Option<PartitionFilter> {
    fn kind(&self) -> FieldKind {
        FieldKind::Callback
    }
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(if self.is_some() { "set" } else { "unset" }, f)
    }
}

/// `Debug` through [`FieldValue::debug`].
pub(crate) struct Shown<'a, T: FieldValue>(pub(crate) &'a T);

impl<T: FieldValue> fmt::Debug for Shown<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug(f)
    }
}

fn unknown(name: &str, want: &str) -> Error {
    match field_kind(name) {
        Some(k) => Error::invalid_args(format!("option {name} is not {want} (it is {k:?})")),
        None => Error::invalid_args(format!("unknown option {name}")),
    }
}

/// The kind of a field, `None` for an unknown name.
pub fn field_kind(name: &str) -> Option<FieldKind> {
    KvOptions::default().field(name).map(|f| f.kind())
}

impl KvOptions {
    /// An integer field by name.
    pub fn get_uint(&self, name: &str) -> Result<u64> {
        self.field(name)
            .and_then(|f| f.get_uint())
            .ok_or_else(|| unknown(name, "an integer"))
    }

    /// Sets an integer field by name; out of range is `InvalidArgs`.
    pub fn set_uint(&mut self, name: &str, v: u64) -> Result<()> {
        match self.field_mut(name).and_then(|f| f.set_uint(v)) {
            Some(true) => Ok(()),
            Some(false) => Err(Error::invalid_args(format!(
                "{name} = {v} is out of range for the option"
            ))),
            None => Err(unknown(name, "an integer")),
        }
    }

    /// A boolean field by name.
    pub fn get_bool(&self, name: &str) -> Result<bool> {
        self.field(name)
            .and_then(|f| f.get_bool())
            .ok_or_else(|| unknown(name, "a boolean"))
    }

    /// Sets a boolean field by name.
    pub fn set_bool(&mut self, name: &str, v: bool) -> Result<()> {
        *self
            .field_mut(name)
            .and_then(|f| f.as_bool())
            .ok_or_else(|| unknown(name, "a boolean"))? = v;
        Ok(())
    }

    /// A string field by name.
    pub fn get_str(&self, name: &str) -> Result<String> {
        self.field(name)
            .and_then(|f| f.get_str().map(str::to_owned))
            .ok_or_else(|| unknown(name, "a string"))
    }

    /// Sets a string field by name.
    pub fn set_str(&mut self, name: &str, v: &str) -> Result<()> {
        *self
            .field_mut(name)
            .and_then(|f| f.as_string())
            .ok_or_else(|| unknown(name, "a string"))? = v.to_string();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_reachable_by_name() {
        let mut o = KvOptions::default();
        for name in FIELD_NAMES {
            match field_kind(name).unwrap_or_else(|| panic!("{name}")) {
                FieldKind::Uint => {
                    let v = o.get_uint(name).unwrap();
                    o.set_uint(name, v).unwrap();
                }
                FieldKind::Bool => {
                    let v = o.get_bool(name).unwrap();
                    o.set_bool(name, !v).unwrap();
                    assert_eq!(o.get_bool(name).unwrap(), !v);
                }
                FieldKind::Str => {
                    o.set_str(name, "x").unwrap();
                    assert_eq!(o.get_str(name).unwrap(), "x");
                }
                FieldKind::StrList | FieldKind::Callback => {}
            }
        }
        let mut names = FIELD_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FIELD_NAMES.len(), "a name given twice");
        assert_eq!(field_kind("num_threads"), Some(FieldKind::Uint));
        assert_eq!(field_kind("data_append_mode"), Some(FieldKind::Bool));
        assert_eq!(field_kind("cloud_region"), Some(FieldKind::Str));
        assert_eq!(field_kind("store_path"), Some(FieldKind::StrList));
        assert_eq!(field_kind("comparator"), Some(FieldKind::Callback));
        assert_eq!(field_kind("partition_filter"), Some(FieldKind::Callback));
        o.set_uint("num_threads", 7).unwrap();
        assert_eq!(o.num_threads, 7);
        assert!(o.set_uint("num_threads", 70_000).is_err());
        assert!(o.set_uint("file_amplify_factor", 256).is_err());
        assert!(
            o.set_uint("nope", 1)
                .unwrap_err()
                .message()
                .contains("unknown option nope")
        );
        assert!(o.set_bool("num_threads", true).is_err());
        assert_eq!(o.get_uint("buffer_pool_size").unwrap(), 32 << 20);
    }
}
