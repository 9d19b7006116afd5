//! Engine configuration: upstream's `KvOptions`, its start-up checks
//! (`EloqStore::ValidateOptions`) and its INI loader (see [`ini`]).
//!
//! Every field is defined once, by a row of `options/table.rs` (see there
//! for what a row generates). Field names, integer types, defaults and
//! declaration order follow upstream's `include/kv_options.h` (ca395ee).
//! The comparator is a [`ComparatorRef`] instead of a
//! raw pointer and the partition filter an optional shared closure instead
//! of an empty-able `std::function`.

pub mod cloud;
pub mod fields;
pub mod ini;
mod rules;
mod table;

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::table_ident::TableIdent;

/// Key order: implement [`Comparator`] for a custom one.
pub use crate::format::comparator::{BytewiseComparator, Comparator, ComparatorRef};
pub use ini::IniError;
use rules::Phase;
pub use table::KvOptions;

/// One kibibyte.
pub const KB: u64 = 1 << 10;
/// One mebibyte.
pub const MB: u64 = 1 << 20;
/// One gibibyte.
pub const GB: u64 = 1 << 30;
/// One tebibyte.
pub const TB: u64 = 1 << 40;

/// Upper bound of [`KvOptions::overflow_pointers`].
pub const MAX_OVERFLOW_POINTERS: u8 = 128;
/// Most pages read in one batch (prefetch and overflow chains alike).
pub const MAX_READ_PAGES_BATCH: u16 = MAX_OVERFLOW_POINTERS as u16;
/// Pages a scan prefetches when the caller asks for none.
pub const DEFAULT_SCAN_PREFETCH_PAGE_COUNT: usize = 6;
/// File descriptors kept out of the per-shard budget derived from `fd_limit`.
pub const NUM_RESERVED_FD: u32 = 100;

/// Decides whether this instance owns a table partition; see
/// [`KvOptions::partition_filter`].
pub type PartitionFilter = Arc<dyn Fn(&TableIdent) -> bool + Send + Sync>;

impl KvOptions {
    /// Mask selecting a page's position inside its data file from a file page
    /// id (`pages_per_file() - 1`).
    pub fn file_page_offset_mask(&self) -> usize {
        self.pages_per_file().wrapping_sub(1)
    }

    /// Pages per data file, `1 << pages_per_file_shift`. Saturates at
    /// `usize::MAX` (not a power of two) for a shift of the word size or
    /// more, which no sane configuration uses.
    pub fn pages_per_file(&self) -> usize {
        1usize
            .checked_shl(u32::from(self.pages_per_file_shift))
            .unwrap_or(usize::MAX)
    }

    /// Bytes per data file, `data_page_size << pages_per_file_shift`,
    /// saturating at `usize::MAX` instead of overflowing.
    pub fn data_file_size(&self) -> usize {
        let page = self.data_page_size as usize;
        let shift = u32::from(self.pages_per_file_shift);
        if page == 0 {
            0
        } else if shift >= usize::BITS || page.leading_zeros() < shift {
            usize::MAX
        } else {
            page << shift
        }
    }

    /// Cloud mode: a cloud path is configured.
    pub fn is_cloud(&self) -> bool {
        !self.cloud_store_path.is_empty()
    }

    /// No data directory: the store lives in memory only.
    pub fn is_in_memory(&self) -> bool {
        self.store_path.is_empty()
    }

    /// Makes every relative, non-empty `store_path` entry relative to `base`
    /// (for INI files whose paths are relative to the file's folder; upstream
    /// resolves them against the working directory). Absolute and empty
    /// entries are kept as they are.
    pub fn resolve_store_paths(&mut self, base: &Path) {
        for entry in &mut self.store_path {
            if !entry.is_empty() && Path::new(entry.as_str()).is_relative() {
                *entry = base.join(entry.as_str()).to_string_lossy().into_owned();
            }
        }
    }

    /// Whether this instance owns `table` according to `partition_filter`
    /// (no filter: it owns every partition).
    pub fn owns_partition(&self, table: &TableIdent) -> bool {
        self.partition_filter.as_ref().is_none_or(|f| f(table))
    }

    /// Upstream's `EloqStore::ValidateOptions`: rejects unusable options and
    /// adjusts a few others, logging a warning for each adjustment.
    ///
    /// Checks, in this order (the first failure is returned as `InvalidArgs`
    /// and leaves `self` untouched), each group in the options table's row
    /// order:
    /// 1. `data_page_size` and `coroutine_stack_size` are multiples of the OS
    ///    page size (upstream asks `sysconf(_SC_PAGESIZE)`; we use the 4 KiB
    ///    `PAGE_ALIGN` of every supported platform), `overflow_pointers` is
    ///    in `1..=MAX_OVERFLOW_POINTERS`, `max_write_batch_pages > 0`;
    /// 2. cloud mode only: `cloud_store_path` parses (no `:`, a bucket; see
    ///    [`cloud::parse_cloud_path`]; upstream aborts at start), a
    ///    `store_path` holds the local cache (upstream silently runs in
    ///    memory), `max_cloud_concurrency`, `cloud_request_threads` and
    ///    `max_upload_batch` are non-zero, `max_upload_batch <
    ///    max_cloud_concurrency`, and the data file size is non-zero;
    /// 3. our extensions (upstream accepts these, then misbehaves or divides
    ///    by zero): `num_threads`, `data_page_size`,
    ///    `data_page_restart_interval` and `index_page_restart_interval` are
    ///    non-zero. They come after upstream's checks so that options upstream
    ///    rejects fail with upstream's reason.
    ///
    /// Adjustments, as upstream: in cloud mode a zero `local_space_limit`
    /// becomes 1 TiB, append mode is forced on, `local_space_limit` is raised
    /// to one data file if smaller, and `fd_limit` is clamped to the number of
    /// data files fitting in `local_space_limit`; outside cloud mode
    /// `prewarm_cloud_cache` is switched off.
    pub fn validate(&mut self) -> Result<()> {
        self.check()?;
        self.adjust();
        Ok(())
    }

    /// The failing half of [`KvOptions::validate`]: the rows' rules of
    /// each phase in turn, with upstream's cross-field cloud checks after
    /// the cloud phase.
    fn check(&self) -> Result<()> {
        self.check_rules(Phase::Upstream)?;
        if self.is_cloud() {
            cloud::parse_cloud_path(&self.cloud_store_path)?;
            if self.store_path.is_empty() {
                return Err(Error::invalid_args(
                    "cloud_store_path needs a store_path for the local cache (in-memory stores cannot use the cloud tier)",
                ));
            }
            self.check_rules(Phase::Cloud)?;
            if self.max_upload_batch >= self.max_cloud_concurrency {
                return Err(Error::invalid_args(format!(
                    "max_upload_batch {} must be smaller than max_cloud_concurrency {} in cloud mode",
                    self.max_upload_batch, self.max_cloud_concurrency
                )));
            }
            if self.data_file_size() == 0 {
                return Err(Error::invalid_args(format!(
                    "data file size 0 (data_page_size {} << pages_per_file_shift {}) is invalid in cloud mode",
                    self.data_page_size, self.pages_per_file_shift
                )));
            }
        }
        self.check_rules(Phase::Ours)
    }

    /// The adjusting half of [`KvOptions::validate`]; runs only on options
    /// that passed [`KvOptions::check`].
    fn adjust(&mut self) {
        if self.is_cloud() {
            if self.local_space_limit == 0 {
                self.local_space_limit = TB as usize;
                log::warn!(
                    "local_space_limit is 0 in cloud mode, using {}",
                    self.local_space_limit
                );
            }
            if !self.data_append_mode {
                log::warn!("cloud mode requires append write mode, enabling data_append_mode");
                self.data_append_mode = true;
            }
            let file_bytes = self.data_file_size();
            let mut max_files = self.local_space_limit / file_bytes;
            if max_files == 0 {
                self.local_space_limit = file_bytes;
                max_files = 1;
                log::warn!(
                    "local_space_limit cannot hold one data file, raising it to {file_bytes}"
                );
            }
            if self.fd_limit as usize > max_files {
                log::warn!(
                    "fd_limit {} files of {file_bytes} bytes exceed local_space_limit {}, clamping fd_limit to {max_files}",
                    self.fd_limit,
                    self.local_space_limit
                );
                // max_files < fd_limit, so it fits.
                self.fd_limit = max_files as u32;
            }
        } else if self.prewarm_cloud_cache {
            log::warn!("prewarm_cloud_cache needs cloud_store_path, disabling it");
            self.prewarm_cloud_cache = false;
        }

        if self.data_append_mode {
            if self.is_cloud() && self.data_file_size() > (8 << 20) {
                log::warn!("a data file size of at most 8 MiB is recommended in cloud append mode");
            }
        } else if self.data_file_size() < (512 << 20) {
            log::warn!("a data file size of at least 512 MiB is recommended in non-append mode");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::KvError;

    #[test]
    fn defaults_match_upstream() {
        let o = KvOptions::default();
        assert_eq!(o.num_threads, 1);
        assert_eq!(o.comparator.name(), "leveldb.BytewiseComparator");
        assert_eq!(o.data_page_restart_interval, 16);
        assert_eq!(o.index_page_restart_interval, 16);
        assert_eq!(o.init_page_count, 32768);
        assert!(!o.skip_verify_checksum);
        assert_eq!(o.buffer_pool_size, 32 << 20);
        assert_eq!(o.root_meta_cache_size, 1 << 30);
        assert_eq!(o.manifest_limit, 8 << 20);
        assert_eq!(o.fd_limit, 10000);
        assert_eq!(o.io_queue_size, 4096);
        assert_eq!(o.max_inflight_write, 32768);
        assert_eq!(o.max_write_batch_pages, 256);
        assert_eq!(o.buf_ring_size, 4096);
        assert_eq!(o.coroutine_stack_size, 32 << 10);
        assert_eq!(o.num_retained_archives, 0);
        assert_eq!(o.archive_interval_secs, 86400);
        assert_eq!(o.max_archive_tasks, 256);
        assert_eq!(o.file_amplify_factor, 2);
        assert_eq!(o.local_space_limit, 1usize << 40);
        assert_eq!(o.reserve_space_ratio, 100);
        assert_eq!(o.max_upload_batch, 5);
        assert_eq!(o.max_cloud_concurrency, 20);
        assert_eq!(o.cloud_request_threads, 1);
        assert_eq!(o.direct_io_buffer_pool_size, 4);
        assert!(!o.allow_reuse_local_caches);
        assert!(o.store_path.is_empty());
        assert_eq!(o.cloud_store_path, "");
        assert_eq!(o.cloud_provider, "aws");
        assert_eq!(o.cloud_endpoint, "");
        assert_eq!(o.cloud_region, "us-east-1");
        assert_eq!(o.cloud_access_key, "minioadmin");
        assert_eq!(o.cloud_secret_key, "minioadmin");
        assert!(!o.cloud_verify_ssl);
        assert_eq!(o.data_page_size, 4096);
        assert_eq!(o.pages_per_file_shift, 18);
        assert_eq!(o.overflow_pointers, 16);
        assert!(!o.data_append_mode);
        assert!(!o.enable_compression);
        assert!(!o.prewarm_cloud_cache);
        assert_eq!(o.prewarm_task_count, 3);
        assert_eq!(o.mapping_arena_size, 128);
        assert!(o.partition_filter.is_none());

        assert!(o.is_in_memory());
        assert!(!o.is_cloud());
        assert_eq!(o.pages_per_file(), 1 << 18);
        assert_eq!(o.file_page_offset_mask(), (1 << 18) - 1);
        assert_eq!(o.data_file_size(), 1 << 30);
    }

    #[test]
    fn constants() {
        assert_eq!((KB, MB, GB, TB), (1024, 1 << 20, 1 << 30, 1 << 40));
        assert_eq!(MAX_OVERFLOW_POINTERS, 128);
        assert_eq!(MAX_READ_PAGES_BATCH, 128);
        assert_eq!(DEFAULT_SCAN_PREFETCH_PAGE_COUNT, 6);
        assert_eq!(NUM_RESERVED_FD, 100);
    }

    /// Found by the c_abi fuzzer: a shift of 64 or more made the page
    /// allocator's file-id shift overflow (a panic on the shard thread).
    #[test]
    fn pages_per_file_shift_is_bounded() {
        let mut o = KvOptions {
            pages_per_file_shift: 64,
            ..KvOptions::default()
        };
        let e = o.validate().unwrap_err();
        assert_eq!(e.code(), KvError::InvalidArgs);
        assert!(e.message().contains("pages_per_file_shift"), "{e}");
        o.pages_per_file_shift = 32;
        o.validate().unwrap();
    }

    #[test]
    fn derived_sizes() {
        let mut o = KvOptions {
            data_page_size: 8192,
            pages_per_file_shift: 0,
            ..KvOptions::default()
        };
        assert_eq!(o.pages_per_file(), 1);
        assert_eq!(o.file_page_offset_mask(), 0);
        assert_eq!(o.data_file_size(), 8192);
        o.pages_per_file_shift = 10;
        assert_eq!(o.data_file_size(), 8 << 20);
        assert_eq!(o.file_page_offset_mask(), 1023);
        o.pages_per_file_shift = 255;
        assert_eq!(o.pages_per_file(), usize::MAX);
        assert_eq!(o.data_file_size(), usize::MAX);
        o.pages_per_file_shift = 60;
        assert_eq!(o.data_file_size(), usize::MAX);
        o.data_page_size = 0;
        assert_eq!(o.data_file_size(), 0);
    }

    #[test]
    fn resolve_relative_store_paths() {
        let mut o = KvOptions {
            store_path: vec![
                "store/disk0".into(),
                "/abs/disk1".into(),
                String::new(),
                "./x".into(),
            ],
            ..KvOptions::default()
        };
        o.resolve_store_paths(Path::new("/fixtures/multi"));
        assert_eq!(
            o.store_path,
            [
                "/fixtures/multi/store/disk0",
                "/abs/disk1",
                "",
                "/fixtures/multi/./x"
            ]
        );
    }

    #[test]
    fn debug_names_comparator_and_filter() {
        let mut o = KvOptions::default();
        let s = format!("{o:?}");
        assert!(s.contains("leveldb.BytewiseComparator"), "{s}");
        assert!(s.contains("partition_filter: \"unset\""), "{s}");
        o.partition_filter = Some(Arc::new(|_: &TableIdent| true));
        assert!(format!("{o:?}").contains("partition_filter: \"set\""));
    }

    #[test]
    fn partition_filter_ownership() {
        let t0 = TableIdent::new("t", 0);
        let t1 = TableIdent::new("t", 1);
        let mut o = KvOptions::default();
        assert!(o.owns_partition(&t0) && o.owns_partition(&t1));
        o.partition_filter = Some(Arc::new(|t: &TableIdent| t.partition_id.is_multiple_of(2)));
        assert!(o.owns_partition(&t0));
        assert!(!o.owns_partition(&t1));
    }

    #[test]
    fn equality_ignores_exactly_upstreams_fields() {
        struct Reverse;
        impl crate::format::comparator::Comparator for Reverse {
            fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
                b.cmp(a)
            }
            fn name(&self) -> &str {
                "reverse"
            }
        }
        let base = KvOptions::default();
        let ignored = KvOptions {
            comparator: Arc::new(Reverse),
            enable_compression: true,
            mapping_arena_size: 7,
            partition_filter: Some(Arc::new(|_: &TableIdent| false)),
            ..KvOptions::default()
        };
        assert_eq!(base, ignored);
        assert_eq!(base, base.clone());

        type Change = (&'static str, fn(&mut KvOptions));
        let changes: Vec<Change> = vec![
            ("num_threads", |o| o.num_threads = 2),
            ("data_page_restart_interval", |o| {
                o.data_page_restart_interval = 2
            }),
            ("index_page_restart_interval", |o| {
                o.index_page_restart_interval = 2
            }),
            ("init_page_count", |o| o.init_page_count = 2),
            ("skip_verify_checksum", |o| o.skip_verify_checksum = true),
            ("buffer_pool_size", |o| o.buffer_pool_size = 2),
            ("root_meta_cache_size", |o| o.root_meta_cache_size = 2),
            ("manifest_limit", |o| o.manifest_limit = 2),
            ("fd_limit", |o| o.fd_limit = 2),
            ("io_queue_size", |o| o.io_queue_size = 2),
            ("max_inflight_write", |o| o.max_inflight_write = 2),
            ("max_write_batch_pages", |o| o.max_write_batch_pages = 2),
            ("buf_ring_size", |o| o.buf_ring_size = 2),
            ("coroutine_stack_size", |o| o.coroutine_stack_size = 2),
            ("num_retained_archives", |o| o.num_retained_archives = 2),
            ("archive_interval_secs", |o| o.archive_interval_secs = 2),
            ("max_archive_tasks", |o| o.max_archive_tasks = 2),
            ("file_amplify_factor", |o| o.file_amplify_factor = 3),
            ("local_space_limit", |o| o.local_space_limit = 2),
            ("reserve_space_ratio", |o| o.reserve_space_ratio = 2),
            ("max_upload_batch", |o| o.max_upload_batch = 2),
            ("max_cloud_concurrency", |o| o.max_cloud_concurrency = 2),
            ("cloud_request_threads", |o| o.cloud_request_threads = 2),
            ("direct_io_buffer_pool_size", |o| {
                o.direct_io_buffer_pool_size = 2
            }),
            ("allow_reuse_local_caches", |o| {
                o.allow_reuse_local_caches = true
            }),
            ("prewarm_cloud_cache", |o| o.prewarm_cloud_cache = true),
            ("prewarm_task_count", |o| o.prewarm_task_count = 2),
            ("store_path", |o| o.store_path = vec!["x".into()]),
            ("cloud_store_path", |o| o.cloud_store_path = "x".into()),
            ("cloud_provider", |o| o.cloud_provider = "x".into()),
            ("cloud_endpoint", |o| o.cloud_endpoint = "x".into()),
            ("cloud_region", |o| o.cloud_region = "x".into()),
            ("cloud_access_key", |o| o.cloud_access_key = "x".into()),
            ("cloud_secret_key", |o| o.cloud_secret_key = "x".into()),
            ("cloud_verify_ssl", |o| o.cloud_verify_ssl = true),
            ("data_page_size", |o| o.data_page_size = 8192),
            ("pages_per_file_shift", |o| o.pages_per_file_shift = 3),
            ("overflow_pointers", |o| o.overflow_pointers = 3),
            ("data_append_mode", |o| o.data_append_mode = true),
        ];
        for (name, change) in changes {
            let mut o = KvOptions::default();
            change(&mut o);
            assert_ne!(base, o, "changing {name} must break equality");
        }
    }

    /// Cloud-mode options that pass validation unchanged.
    fn cloud() -> KvOptions {
        KvOptions {
            cloud_store_path: "bucket/prefix".into(),
            store_path: vec!["/tmp/x".into()],
            data_append_mode: true,
            pages_per_file_shift: 10, // 4 MiB files
            ..KvOptions::default()
        }
    }

    #[test]
    fn defaults_validate_unchanged() {
        let mut o = KvOptions::default();
        o.validate().unwrap();
        assert_eq!(o, KvOptions::default());
        let mut c = cloud();
        c.validate().unwrap();
        assert_eq!(c, cloud());
        assert_eq!(c.fd_limit, 10000);
    }

    fn expect_invalid(o: KvOptions, needles: &[&str]) {
        let mut copy = o.clone();
        let err = copy.validate().unwrap_err();
        assert_eq!(err.code(), KvError::InvalidArgs);
        for n in needles {
            assert!(err.message().contains(n), "{:?} lacks {n:?}", err.message());
        }
        assert_eq!(copy, o, "a failed validate must not modify the options");
    }

    #[test]
    fn validate_failures() {
        let d = KvOptions::default;
        expect_invalid(
            KvOptions {
                data_page_size: 4096 + 512,
                ..d()
            },
            &["data_page_size", "4608"],
        );
        expect_invalid(
            KvOptions {
                coroutine_stack_size: 10000,
                ..d()
            },
            &["coroutine_stack_size", "10000"],
        );
        expect_invalid(
            KvOptions {
                overflow_pointers: 0,
                ..d()
            },
            &["overflow_pointers", "0"],
        );
        expect_invalid(
            KvOptions {
                overflow_pointers: 129,
                ..d()
            },
            &["overflow_pointers", "129"],
        );
        expect_invalid(
            KvOptions {
                max_write_batch_pages: 0,
                ..d()
            },
            &["max_write_batch_pages", "0"],
        );
        // 128 pointers is the inclusive maximum.
        KvOptions {
            overflow_pointers: 128,
            ..d()
        }
        .validate()
        .unwrap();

        // Cloud-only rules.
        expect_invalid(
            KvOptions {
                max_cloud_concurrency: 0,
                ..cloud()
            },
            &["max_cloud_concurrency", "0"],
        );
        expect_invalid(
            KvOptions {
                cloud_request_threads: 0,
                ..cloud()
            },
            &["cloud_request_threads", "0"],
        );
        expect_invalid(
            KvOptions {
                max_upload_batch: 0,
                ..cloud()
            },
            &["max_upload_batch", "0"],
        );
        expect_invalid(
            KvOptions {
                max_upload_batch: 20,
                ..cloud()
            },
            &["max_upload_batch", "20", "max_cloud_concurrency"],
        );
        expect_invalid(
            KvOptions {
                data_page_size: 0,
                ..cloud()
            },
            &["data file size", "data_page_size 0"],
        );
        for (path, needle) in [
            ("remote:bucket/p", "':'"),
            ("/", "no bucket"),
            ("b/p//q", "empty path segment"),
        ] {
            expect_invalid(
                KvOptions {
                    cloud_store_path: path.into(),
                    ..cloud()
                },
                &["cloud_store_path", needle],
            );
        }
        expect_invalid(
            KvOptions {
                store_path: Vec::new(),
                ..cloud()
            },
            &["cloud_store_path", "store_path"],
        );
        // The same values outside cloud mode are fine.
        let mut o = KvOptions {
            max_cloud_concurrency: 0,
            cloud_request_threads: 0,
            max_upload_batch: 0,
            ..d()
        };
        o.validate().unwrap();

        // Our extensions.
        for (name, o) in [
            (
                "num_threads",
                KvOptions {
                    num_threads: 0,
                    ..d()
                },
            ),
            (
                "data_page_size",
                KvOptions {
                    data_page_size: 0,
                    ..d()
                },
            ),
            (
                "data_page_restart_interval",
                KvOptions {
                    data_page_restart_interval: 0,
                    ..d()
                },
            ),
            (
                "index_page_restart_interval",
                KvOptions {
                    index_page_restart_interval: 0,
                    ..d()
                },
            ),
        ] {
            expect_invalid(o, &[name, "0"]);
        }
    }

    #[test]
    fn validate_cloud_adjustments() {
        // A zero local_space_limit becomes 1 TiB.
        let mut o = KvOptions {
            local_space_limit: 0,
            ..cloud()
        };
        o.validate().unwrap();
        assert_eq!(o.local_space_limit, 1 << 40);
        assert_eq!(o.fd_limit, 10000);

        // Append mode is forced on.
        let mut o = KvOptions {
            data_append_mode: false,
            ..cloud()
        };
        o.validate().unwrap();
        assert!(o.data_append_mode);

        // A limit below one file is raised to one file, and fd_limit to 1.
        let mut o = KvOptions {
            local_space_limit: 1000,
            ..cloud()
        };
        o.validate().unwrap();
        assert_eq!(o.local_space_limit, 4 << 20);
        assert_eq!(o.fd_limit, 1);

        // fd_limit is clamped to the files fitting in local_space_limit...
        let mut o = KvOptions {
            local_space_limit: (40 << 20) + 5,
            ..cloud()
        };
        o.validate().unwrap();
        assert_eq!(o.fd_limit, 10);
        assert_eq!(o.local_space_limit, (40 << 20) + 5);

        // ...but never raised.
        let mut o = KvOptions {
            local_space_limit: 40 << 20,
            fd_limit: 3,
            ..cloud()
        };
        o.validate().unwrap();
        assert_eq!(o.fd_limit, 3);

        // Prewarm stays on in cloud mode.
        let mut o = KvOptions {
            prewarm_cloud_cache: true,
            ..cloud()
        };
        o.validate().unwrap();
        assert!(o.prewarm_cloud_cache);
    }

    #[test]
    fn validate_local_adjustments() {
        let mut o = KvOptions {
            prewarm_cloud_cache: true,
            local_space_limit: 0,
            fd_limit: 1 << 30,
            ..KvOptions::default()
        };
        o.validate().unwrap();
        assert!(!o.prewarm_cloud_cache);
        // Cloud-only adjustments do not apply.
        assert_eq!(o.local_space_limit, 0);
        assert_eq!(o.fd_limit, 1 << 30);
        assert!(!o.data_append_mode);
    }
}
