//! The one definition of every [`KvOptions`] field. Each row gives, once:
//! the doc comment, the name (also the INI key and the name the C ABI and
//! the C++ layer use), the Rust type (which decides how the field is read
//! and written by name), the default, the INI section and parser, whether
//! upstream's `operator==` compares it, and its validation rules.
//!
//! Everything else is generated from the rows: the struct, `Default`,
//! `Debug`, `PartialEq`, access by name ([`super::fields`], the C ABI), the
//! INI keys and their loading ([`super::ini`]), the per-field checks of
//! [`KvOptions::validate`], and (by `build.rs`, which reads this file) the
//! C++ layer's field lists. Adding an option is adding a row.
//!
//! Row syntax: `name: Type = default, ini(SECTION PARSER), eq yes|no,
//! check[PHASE RULE, ...];`
//! - `ini()`: no INI key; `ini(run uint)`, `ini(permanent string)`, ...: the
//!   key `name` in `[run]` or `[permanent]`, read by that parser of
//!   [`super::ini`] (`uint`, `size`, `boolean`, `string`); `custom`: the key
//!   exists and `ini.rs` reads it by hand.
//! - `check`: rules of [`super::rules`] (`nonzero`, `page_multiple`,
//!   `range(lo, hi)`), run in phase `Upstream` (upstream's checks), `Cloud`
//!   (upstream's, in cloud mode only) or `Ours` (our extensions, after
//!   upstream's so that what upstream rejects fails for upstream's reason).

use super::{GB, KB, MAX_OVERFLOW_POINTERS, MB, PartitionFilter, TB};
use crate::format::comparator::{ComparatorRef, default_comparator};

/// Generates everything listed in the module doc from the rows.
macro_rules! kv_options_table {
    ($(
        $(#[$meta:meta])*
        $name:ident : $ty:ty = $default:expr,
        ini $ini:tt,
        eq $eq:ident,
        check [$($phase:ident $rule:ident $(($($arg:expr),*))?),*];
    )*) => {
        /// Everything that configures a store. Build it with `Default` and
        /// struct update syntax, or load it from an INI file with
        /// [`KvOptions::from_ini_file`].
        ///
        /// Field names, integer types, defaults and declaration order follow
        /// upstream's `include/kv_options.h` (ca395ee).
        #[derive(Clone)]
        pub struct KvOptions {
            $($(#[$meta])* pub $name: $ty,)*
        }

        impl Default for KvOptions {
            fn default() -> KvOptions {
                KvOptions {
                    $($name: $default,)*
                }
            }
        }

        impl std::fmt::Debug for KvOptions {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("KvOptions")
                    $(.field(stringify!($name), &super::fields::Shown(&self.$name)))*
                    .finish()
            }
        }

        /// Compares exactly the fields upstream's `operator==` compares
        /// (the rows marked `eq yes`).
        impl PartialEq for KvOptions {
            fn eq(&self, o: &KvOptions) -> bool {
                true $(&& kv_options_table!(@eq $eq self o $name))*
            }
        }

        impl Eq for KvOptions {}

        /// Every field name, in upstream's declaration order.
        pub const FIELD_NAMES: &[&str] = &[$(stringify!($name)),*];

        impl KvOptions {
            /// The field called `name`, to read it by kind.
            pub(crate) fn field(&self, name: &str) -> Option<&dyn super::fields::FieldValue> {
                match name {
                    $(stringify!($name) => Some(&self.$name),)*
                    _ => None,
                }
            }

            /// The field called `name`, to write it by kind.
            pub(crate) fn field_mut(
                &mut self,
                name: &str,
            ) -> Option<&mut dyn super::fields::FieldValue> {
                match name {
                    $(stringify!($name) => Some(&mut self.$name),)*
                    _ => None,
                }
            }

            /// Runs the rules of `phase`, in row order; the first failure is
            /// returned.
            pub(crate) fn check_rules(&self, phase: super::rules::Phase) -> crate::Result<()> {
                $($(
                    if phase == super::rules::Phase::$phase {
                        super::rules::$rule(
                            stringify!($name),
                            self.$name as u64,
                            phase $(, $($arg as u64),*)?
                        )?;
                    }
                )*)*
                Ok(())
            }
        }

        /// `(section, key)` of every INI key a field has, in row order.
        pub(crate) const INI_FIELD_KEYS: &[(&str, &str)] = &[
            $(kv_options_table!(@key $ini $name)),*
        ];
        // `ini()` rows give an empty section; they are filtered out by
        // `ini.rs`.

        /// Reads every table-parsed key of `section` into `o`.
        pub(crate) fn apply_ini_section(
            section: &mut super::ini::Section<'_>,
            o: &mut KvOptions,
        ) -> Result<(), super::ini::IniError> {
            $(kv_options_table!(@read $ini section o $name);)*
            Ok(())
        }
    };

    (@eq yes $a:ident $b:ident $name:ident) => { $a.$name == $b.$name };
    (@eq no $a:ident $b:ident $name:ident) => { true };

    (@key () $name:ident) => { ("", stringify!($name)) };
    (@key ($section:ident $parser:ident) $name:ident) => {
        (stringify!($section), stringify!($name))
    };

    (@read () $s:ident $o:ident $name:ident) => {};
    (@read ($section:ident custom) $s:ident $o:ident $name:ident) => {};
    (@read ($section:ident $parser:ident) $s:ident $o:ident $name:ident) => {
        if $s.name() == stringify!($section) {
            $s.$parser(stringify!($name), &mut $o.$name)?;
        }
    };
}

kv_options_table! {
    /// Number of shards, each served by one worker thread.
    num_threads: u16 = 1, ini(run uint), eq yes, check[Ours nonzero];
    /// Key order used by every page and search; never persisted.
    comparator: ComparatorRef = default_comparator(), ini(), eq no, check[];
    /// Entries between two restart points in a data page.
    data_page_restart_interval: u16 = 16, ini(run uint), eq yes, check[Ours nonzero];
    /// Entries between two restart points in an index page.
    index_page_restart_interval: u16 = 16, ini(run uint), eq yes, check[Ours nonzero];
    /// Initial capacity reserved in a partition's page mapping table.
    init_page_count: u32 = 1 << 15, ini(run uint), eq yes, check[];
    /// Do not verify page checksums on read (benchmarks only).
    skip_verify_checksum: bool = false, ini(run boolean), eq yes, check[];
    /// Bytes of index pages cached per shard.
    buffer_pool_size: u64 = 32 * MB, ini(run size), eq yes, check[];
    /// Bytes of partition root metadata cached by the whole store.
    root_meta_cache_size: u64 = GB, ini(run size), eq yes, check[];
    /// Manifest size at which a fresh snapshot replaces the log.
    manifest_limit: u32 = (8 * MB) as u32, ini(run uint), eq yes, check[];
    /// Budget of open files, less those already open at start; clamped at
    /// start to what `RLIMIT_NOFILE` leaves (see `io::fd_budget`).
    fd_limit: u32 = 10000, ini(run uint), eq yes, check[];
    /// io_uring submission queue entries per shard.
    io_queue_size: u32 = 4096, ini(run uint), eq yes, check[];
    /// Page writes in flight per shard (non-append mode only).
    max_inflight_write: u32 = 32 << 10, ini(run uint), eq yes, check[];
    /// Most pages a write task submits in one batch.
    max_write_batch_pages: u32 = 256, ini(run uint), eq yes, check[Upstream nonzero];
    /// Entries of the io_uring provided-buffer ring (a power of two, <= 32768).
    buf_ring_size: u16 = 1 << 12, ini(run uint), eq yes, check[];
    /// Stack bytes of each task coroutine (a multiple of the OS page size).
    coroutine_stack_size: u32 = (32 * KB) as u32, ini(run uint), eq yes,
        check[Upstream page_multiple];
    /// Archives kept per partition; non-zero enables the archiver (append mode).
    num_retained_archives: u32 = 0, ini(run uint), eq yes, check[];
    /// Minimum seconds between automatic archives; 0 disables them.
    archive_interval_secs: u32 = 86400, ini(run uint), eq yes, check[];
    /// Most partition archive tasks running at once.
    max_archive_tasks: u16 = 256, ini(run uint), eq yes, check[];
    /// Append mode: compact a data file once space / live data exceeds this.
    file_amplify_factor: u8 = 2, ini(run uint), eq yes, check[];
    /// Cloud mode: bytes the local file cache may occupy.
    local_space_limit: usize = TB as usize, ini(run uint), eq yes, check[];
    /// Cloud mode: at most `local_space_limit / reserve_space_ratio` bytes are
    /// reserved for files being created or downloaded.
    reserve_space_ratio: u16 = 100, ini(run uint), eq yes, check[];
    /// Cloud mode: files uploaded concurrently in one batch.
    max_upload_batch: u32 = 5, ini(run uint), eq yes, check[Cloud nonzero];
    /// Cloud mode: concurrent HTTP requests per shard.
    max_cloud_concurrency: u32 = 20, ini(run uint), eq yes, check[Cloud nonzero];
    /// Cloud mode: threads serving HTTP requests for all shards.
    cloud_request_threads: u16 = 1, ini(run uint), eq yes, check[Cloud nonzero];
    /// Cloud mode: direct-I/O buffers cached per shard.
    direct_io_buffer_pool_size: u32 = 4, ini(run uint), eq yes, check[];
    /// Cloud mode: reuse files already in the local cache at start-up.
    allow_reuse_local_caches: bool = false, ini(run boolean), eq yes, check[];
    /// Data directories, one per disk, partitions spread over them; empty
    /// means an in-memory store. Must not change for an existing store.
    store_path: Vec<String> = Vec::new(), ini(permanent custom), eq yes, check[];
    /// `bucket[/prefix]` of the cloud copy; empty keeps all data local.
    cloud_store_path: String = String::new(), ini(permanent string), eq yes, check[];
    /// Cloud backend implementation (for example "aws", "gcs").
    cloud_provider: String = "aws".to_owned(), ini(permanent string), eq yes, check[];
    /// Cloud endpoint URL override; empty uses the provider's default.
    cloud_endpoint: String = String::new(), ini(permanent string), eq yes, check[];
    /// Cloud region or zone.
    cloud_region: String = "us-east-1".to_owned(), ini(permanent string), eq yes, check[];
    /// Cloud access key id.
    cloud_access_key: String = "minioadmin".to_owned(), ini(permanent string), eq yes,
        check[];
    /// Cloud secret key.
    cloud_secret_key: String = "minioadmin".to_owned(), ini(permanent string), eq yes,
        check[];
    /// Verify the cloud endpoint's TLS certificate.
    cloud_verify_ssl: bool = false, ini(permanent boolean), eq yes, check[];
    /// Bytes per B+tree page (a multiple of the OS page size); persistent.
    data_page_size: u16 = (4 * KB) as u16, ini(permanent custom), eq yes,
        check[Upstream page_multiple, Ours nonzero];
    /// A data file holds `1 << pages_per_file_shift` pages; persistent.
    pages_per_file_shift: u8 = 18, ini(permanent custom), eq yes, check[Ours range(0, 32)];
    /// Page pointers kept per overflow group (1..=128); persistent.
    overflow_pointers: u8 = 16, ini(permanent uint), eq yes,
        check[Upstream range(1, MAX_OVERFLOW_POINTERS)];
    /// Write data pages append-only into fresh files; persistent.
    data_append_mode: bool = false, ini(permanent boolean), eq yes, check[];
    /// Compress values with zstd (may be toggled between runs).
    enable_compression: bool = false, ini(run boolean), eq no, check[];
    /// Cloud mode: download recent files into the local cache at start-up.
    prewarm_cloud_cache: bool = false, ini(run boolean), eq yes, check[];
    /// Cloud mode: prewarm tasks per shard.
    prewarm_task_count: u16 = 3, ini(run uint), eq yes, check[];
    /// Mapping tables kept pooled per shard for reuse.
    mapping_arena_size: usize = 128, ini(), eq no, check[];
    /// Partitions owned by this instance (prewarm, global archive); `None`
    /// means every partition.
    partition_filter: Option<PartitionFilter> = None, ini(), eq no, check[];
}
