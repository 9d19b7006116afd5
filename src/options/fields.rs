//! Access to `KvOptions` fields by their upstream names, for bindings that
//! cannot name Rust fields (the C ABI, the C++ layer). Integer fields are
//! read and written as `u64` with a range check against the field's type.

use super::KvOptions;
use crate::error::{Error, Result};

/// The kind of value a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Uint,
    Bool,
    Str,
    /// `store_path`: a list of strings.
    StrList,
    /// `comparator` and `partition_filter`: callbacks, set separately.
    Callback,
}

macro_rules! uint_fields {
    ($($name:ident),* $(,)?) => {
        fn get_uint_field(o: &KvOptions, name: &str) -> Option<u64> {
            match name {
                $(stringify!($name) => Some(o.$name as u64),)*
                _ => None,
            }
        }

        fn set_uint_field(o: &mut KvOptions, name: &str, v: u64) -> Option<Result<()>> {
            match name {
                $(stringify!($name) => Some(match v.try_into() {
                    Ok(x) => {
                        o.$name = x;
                        Ok(())
                    }
                    Err(_) => Err(Error::invalid_args(format!(
                        "{} = {v} is out of range for the option",
                        stringify!($name)
                    ))),
                }),)*
                _ => None,
            }
        }

        const UINT_FIELDS: &[&str] = &[$(stringify!($name)),*];
    };
}

uint_fields!(
    num_threads,
    data_page_restart_interval,
    index_page_restart_interval,
    init_page_count,
    buffer_pool_size,
    root_meta_cache_size,
    manifest_limit,
    fd_limit,
    io_queue_size,
    max_inflight_write,
    max_write_batch_pages,
    buf_ring_size,
    coroutine_stack_size,
    num_retained_archives,
    archive_interval_secs,
    max_archive_tasks,
    file_amplify_factor,
    local_space_limit,
    reserve_space_ratio,
    max_upload_batch,
    max_cloud_concurrency,
    cloud_request_threads,
    direct_io_buffer_pool_size,
    data_page_size,
    pages_per_file_shift,
    overflow_pointers,
    prewarm_task_count,
    mapping_arena_size,
);

macro_rules! bool_fields {
    ($($name:ident),* $(,)?) => {
        fn bool_field<'a>(o: &'a mut KvOptions, name: &str) -> Option<&'a mut bool> {
            match name {
                $(stringify!($name) => Some(&mut o.$name),)*
                _ => None,
            }
        }

        const BOOL_FIELDS: &[&str] = &[$(stringify!($name)),*];
    };
}

bool_fields!(
    skip_verify_checksum,
    allow_reuse_local_caches,
    cloud_verify_ssl,
    data_append_mode,
    enable_compression,
    prewarm_cloud_cache,
);

macro_rules! str_fields {
    ($($name:ident),* $(,)?) => {
        fn str_field<'a>(o: &'a mut KvOptions, name: &str) -> Option<&'a mut String> {
            match name {
                $(stringify!($name) => Some(&mut o.$name),)*
                _ => None,
            }
        }

        const STR_FIELDS: &[&str] = &[$(stringify!($name)),*];
    };
}

str_fields!(
    cloud_store_path,
    cloud_provider,
    cloud_endpoint,
    cloud_region,
    cloud_access_key,
    cloud_secret_key,
);

fn unknown(name: &str, want: &str) -> Error {
    match field_kind(name) {
        Some(k) => Error::invalid_args(format!("option {name} is not {want} (it is {k:?})")),
        None => Error::invalid_args(format!("unknown option {name}")),
    }
}

/// The kind of a field, `None` for an unknown name.
pub fn field_kind(name: &str) -> Option<FieldKind> {
    if UINT_FIELDS.contains(&name) {
        Some(FieldKind::Uint)
    } else if BOOL_FIELDS.contains(&name) {
        Some(FieldKind::Bool)
    } else if STR_FIELDS.contains(&name) {
        Some(FieldKind::Str)
    } else if name == "store_path" {
        Some(FieldKind::StrList)
    } else if name == "comparator" || name == "partition_filter" {
        Some(FieldKind::Callback)
    } else {
        None
    }
}

/// Every field name, in upstream's declaration order.
pub const FIELD_NAMES: &[&str] = &[
    "num_threads",
    "comparator",
    "data_page_restart_interval",
    "index_page_restart_interval",
    "init_page_count",
    "skip_verify_checksum",
    "buffer_pool_size",
    "root_meta_cache_size",
    "manifest_limit",
    "fd_limit",
    "io_queue_size",
    "max_inflight_write",
    "max_write_batch_pages",
    "buf_ring_size",
    "coroutine_stack_size",
    "num_retained_archives",
    "archive_interval_secs",
    "max_archive_tasks",
    "file_amplify_factor",
    "local_space_limit",
    "reserve_space_ratio",
    "max_upload_batch",
    "max_cloud_concurrency",
    "cloud_request_threads",
    "direct_io_buffer_pool_size",
    "allow_reuse_local_caches",
    "store_path",
    "cloud_store_path",
    "cloud_provider",
    "cloud_endpoint",
    "cloud_region",
    "cloud_access_key",
    "cloud_secret_key",
    "cloud_verify_ssl",
    "data_page_size",
    "pages_per_file_shift",
    "overflow_pointers",
    "data_append_mode",
    "enable_compression",
    "prewarm_cloud_cache",
    "prewarm_task_count",
    "mapping_arena_size",
    "partition_filter",
];

impl KvOptions {
    /// An integer field by name.
    pub fn get_uint(&self, name: &str) -> Result<u64> {
        get_uint_field(self, name).ok_or_else(|| unknown(name, "an integer"))
    }

    /// Sets an integer field by name; out of range is `InvalidArgs`.
    pub fn set_uint(&mut self, name: &str, v: u64) -> Result<()> {
        set_uint_field(self, name, v).unwrap_or_else(|| Err(unknown(name, "an integer")))
    }

    pub fn get_bool(&self, name: &str) -> Result<bool> {
        let mut o = self.clone();
        bool_field(&mut o, name)
            .map(|b| *b)
            .ok_or_else(|| unknown(name, "a boolean"))
    }

    pub fn set_bool(&mut self, name: &str, v: bool) -> Result<()> {
        *bool_field(self, name).ok_or_else(|| unknown(name, "a boolean"))? = v;
        Ok(())
    }

    pub fn get_str(&self, name: &str) -> Result<String> {
        let mut o = self.clone();
        str_field(&mut o, name)
            .map(|s| s.clone())
            .ok_or_else(|| unknown(name, "a string"))
    }

    pub fn set_str(&mut self, name: &str, v: &str) -> Result<()> {
        *str_field(self, name).ok_or_else(|| unknown(name, "a string"))? = v.to_string();
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
        assert_eq!(
            FIELD_NAMES.len(),
            UINT_FIELDS.len() + BOOL_FIELDS.len() + STR_FIELDS.len() + 3
        );
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
