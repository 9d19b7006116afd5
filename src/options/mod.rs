//! Engine configuration: upstream's `KvOptions`, its start-up checks
//! (`EloqStore::ValidateOptions`) and its INI loader (see [`ini`]).
//!
//! Field names, integer types, defaults and declaration order follow
//! upstream's `include/kv_options.h` (ca395ee). The comparator is a
//! [`ComparatorRef`] instead of a raw pointer and the partition filter an
//! optional shared closure instead of an empty-able `std::function`.

pub mod cloud;
pub mod fields;
pub mod ini;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::comparator::{ComparatorRef, default_comparator};
use crate::format::page::PAGE_ALIGN;
use crate::format::table_ident::TableIdent;

pub use ini::IniError;

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

/// Everything that configures a store. Build it with `Default` and struct
/// update syntax, or load it from an INI file with [`KvOptions::from_ini_file`].
#[derive(Clone)]
pub struct KvOptions {
    /// Number of shards, each served by one worker thread.
    pub num_threads: u16,
    /// Key order used by every page and search; never persisted.
    pub comparator: ComparatorRef,
    /// Entries between two restart points in a data page.
    pub data_page_restart_interval: u16,
    /// Entries between two restart points in an index page.
    pub index_page_restart_interval: u16,
    /// Initial capacity reserved in a partition's page mapping table.
    pub init_page_count: u32,
    /// Do not verify page checksums on read (benchmarks only).
    pub skip_verify_checksum: bool,
    /// Bytes of index pages cached per shard.
    pub buffer_pool_size: u64,
    /// Bytes of partition root metadata cached by the whole store.
    pub root_meta_cache_size: u64,
    /// Manifest size at which a fresh snapshot replaces the log.
    pub manifest_limit: u32,
    /// Budget of open files, less those already open at start; clamped at
    /// start to what `RLIMIT_NOFILE` leaves (see `io::fd_budget`).
    pub fd_limit: u32,
    /// io_uring submission queue entries per shard.
    pub io_queue_size: u32,
    /// Page writes in flight per shard (non-append mode only).
    pub max_inflight_write: u32,
    /// Most pages a write task submits in one batch.
    pub max_write_batch_pages: u32,
    /// Entries of the io_uring provided-buffer ring (a power of two, <= 32768).
    pub buf_ring_size: u16,
    /// Stack bytes of each task coroutine (a multiple of the OS page size).
    pub coroutine_stack_size: u32,
    /// Archives kept per partition; non-zero enables the archiver (append mode).
    pub num_retained_archives: u32,
    /// Minimum seconds between automatic archives; 0 disables them.
    pub archive_interval_secs: u32,
    /// Most partition archive tasks running at once.
    pub max_archive_tasks: u16,
    /// Append mode: compact a data file once space / live data exceeds this.
    pub file_amplify_factor: u8,
    /// Cloud mode: bytes the local file cache may occupy.
    pub local_space_limit: usize,
    /// Cloud mode: at most `local_space_limit / reserve_space_ratio` bytes are
    /// reserved for files being created or downloaded.
    pub reserve_space_ratio: u16,
    /// Cloud mode: files uploaded concurrently in one batch.
    pub max_upload_batch: u32,
    /// Cloud mode: concurrent HTTP requests per shard.
    pub max_cloud_concurrency: u32,
    /// Cloud mode: threads serving HTTP requests for all shards.
    pub cloud_request_threads: u16,
    /// Cloud mode: direct-I/O buffers cached per shard.
    pub direct_io_buffer_pool_size: u32,
    /// Cloud mode: reuse files already in the local cache at start-up.
    pub allow_reuse_local_caches: bool,
    /// Data directories, one per disk, partitions spread over them; empty
    /// means an in-memory store. Must not change for an existing store.
    pub store_path: Vec<String>,
    /// `bucket[/prefix]` of the cloud copy; empty keeps all data local.
    pub cloud_store_path: String,
    /// Cloud backend implementation (for example "aws", "gcs").
    pub cloud_provider: String,
    /// Cloud endpoint URL override; empty uses the provider's default.
    pub cloud_endpoint: String,
    /// Cloud region or zone.
    pub cloud_region: String,
    /// Cloud access key id.
    pub cloud_access_key: String,
    /// Cloud secret key.
    pub cloud_secret_key: String,
    /// Verify the cloud endpoint's TLS certificate.
    pub cloud_verify_ssl: bool,
    /// Bytes per B+tree page (a multiple of the OS page size); persistent.
    pub data_page_size: u16,
    /// A data file holds `1 << pages_per_file_shift` pages; persistent.
    pub pages_per_file_shift: u8,
    /// Page pointers kept per overflow group (1..=128); persistent.
    pub overflow_pointers: u8,
    /// Write data pages append-only into fresh files; persistent.
    pub data_append_mode: bool,
    /// Compress values with zstd (may be toggled between runs).
    pub enable_compression: bool,
    /// Cloud mode: download recent files into the local cache at start-up.
    pub prewarm_cloud_cache: bool,
    /// Cloud mode: prewarm tasks per shard.
    pub prewarm_task_count: u16,
    /// Mapping tables kept pooled per shard for reuse.
    pub mapping_arena_size: usize,
    /// Partitions owned by this instance (prewarm, global archive); `None`
    /// means every partition.
    pub partition_filter: Option<PartitionFilter>,
}

impl Default for KvOptions {
    fn default() -> KvOptions {
        KvOptions {
            num_threads: 1,
            comparator: default_comparator(),
            data_page_restart_interval: 16,
            index_page_restart_interval: 16,
            init_page_count: 1 << 15,
            skip_verify_checksum: false,
            buffer_pool_size: 32 * MB,
            root_meta_cache_size: GB,
            manifest_limit: (8 * MB) as u32,
            fd_limit: 10000,
            io_queue_size: 4096,
            max_inflight_write: 32 << 10,
            max_write_batch_pages: 256,
            buf_ring_size: 1 << 12,
            coroutine_stack_size: (32 * KB) as u32,
            num_retained_archives: 0,
            archive_interval_secs: 86400,
            max_archive_tasks: 256,
            file_amplify_factor: 2,
            local_space_limit: TB as usize,
            reserve_space_ratio: 100,
            max_upload_batch: 5,
            max_cloud_concurrency: 20,
            cloud_request_threads: 1,
            direct_io_buffer_pool_size: 4,
            allow_reuse_local_caches: false,
            store_path: Vec::new(),
            cloud_store_path: String::new(),
            cloud_provider: "aws".to_owned(),
            cloud_endpoint: String::new(),
            cloud_region: "us-east-1".to_owned(),
            cloud_access_key: "minioadmin".to_owned(),
            cloud_secret_key: "minioadmin".to_owned(),
            cloud_verify_ssl: false,
            data_page_size: (4 * KB) as u16,
            pages_per_file_shift: 18,
            overflow_pointers: 16,
            data_append_mode: false,
            enable_compression: false,
            prewarm_cloud_cache: false,
            prewarm_task_count: 3,
            mapping_arena_size: 128,
            partition_filter: None,
        }
    }
}

impl fmt::Debug for KvOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvOptions")
            .field("num_threads", &self.num_threads)
            .field("comparator", &self.comparator.name())
            .field(
                "data_page_restart_interval",
                &self.data_page_restart_interval,
            )
            .field(
                "index_page_restart_interval",
                &self.index_page_restart_interval,
            )
            .field("init_page_count", &self.init_page_count)
            .field("skip_verify_checksum", &self.skip_verify_checksum)
            .field("buffer_pool_size", &self.buffer_pool_size)
            .field("root_meta_cache_size", &self.root_meta_cache_size)
            .field("manifest_limit", &self.manifest_limit)
            .field("fd_limit", &self.fd_limit)
            .field("io_queue_size", &self.io_queue_size)
            .field("max_inflight_write", &self.max_inflight_write)
            .field("max_write_batch_pages", &self.max_write_batch_pages)
            .field("buf_ring_size", &self.buf_ring_size)
            .field("coroutine_stack_size", &self.coroutine_stack_size)
            .field("num_retained_archives", &self.num_retained_archives)
            .field("archive_interval_secs", &self.archive_interval_secs)
            .field("max_archive_tasks", &self.max_archive_tasks)
            .field("file_amplify_factor", &self.file_amplify_factor)
            .field("local_space_limit", &self.local_space_limit)
            .field("reserve_space_ratio", &self.reserve_space_ratio)
            .field("max_upload_batch", &self.max_upload_batch)
            .field("max_cloud_concurrency", &self.max_cloud_concurrency)
            .field("cloud_request_threads", &self.cloud_request_threads)
            .field(
                "direct_io_buffer_pool_size",
                &self.direct_io_buffer_pool_size,
            )
            .field("allow_reuse_local_caches", &self.allow_reuse_local_caches)
            .field("store_path", &self.store_path)
            .field("cloud_store_path", &self.cloud_store_path)
            .field("cloud_provider", &self.cloud_provider)
            .field("cloud_endpoint", &self.cloud_endpoint)
            .field("cloud_region", &self.cloud_region)
            .field("cloud_access_key", &self.cloud_access_key)
            .field("cloud_secret_key", &self.cloud_secret_key)
            .field("cloud_verify_ssl", &self.cloud_verify_ssl)
            .field("data_page_size", &self.data_page_size)
            .field("pages_per_file_shift", &self.pages_per_file_shift)
            .field("overflow_pointers", &self.overflow_pointers)
            .field("data_append_mode", &self.data_append_mode)
            .field("enable_compression", &self.enable_compression)
            .field("prewarm_cloud_cache", &self.prewarm_cloud_cache)
            .field("prewarm_task_count", &self.prewarm_task_count)
            .field("mapping_arena_size", &self.mapping_arena_size)
            .field(
                "partition_filter",
                &if self.partition_filter.is_some() {
                    "set"
                } else {
                    "unset"
                },
            )
            .finish()
    }
}

/// Compares exactly the fields upstream's `operator==` compares: everything
/// except `comparator`, `enable_compression`, `mapping_arena_size` and
/// `partition_filter`.
impl PartialEq for KvOptions {
    fn eq(&self, o: &KvOptions) -> bool {
        self.num_threads == o.num_threads
            && self.data_page_restart_interval == o.data_page_restart_interval
            && self.index_page_restart_interval == o.index_page_restart_interval
            && self.init_page_count == o.init_page_count
            && self.skip_verify_checksum == o.skip_verify_checksum
            && self.buffer_pool_size == o.buffer_pool_size
            && self.root_meta_cache_size == o.root_meta_cache_size
            && self.manifest_limit == o.manifest_limit
            && self.fd_limit == o.fd_limit
            && self.io_queue_size == o.io_queue_size
            && self.max_inflight_write == o.max_inflight_write
            && self.max_write_batch_pages == o.max_write_batch_pages
            && self.buf_ring_size == o.buf_ring_size
            && self.coroutine_stack_size == o.coroutine_stack_size
            && self.num_retained_archives == o.num_retained_archives
            && self.archive_interval_secs == o.archive_interval_secs
            && self.max_archive_tasks == o.max_archive_tasks
            && self.file_amplify_factor == o.file_amplify_factor
            && self.local_space_limit == o.local_space_limit
            && self.reserve_space_ratio == o.reserve_space_ratio
            && self.max_upload_batch == o.max_upload_batch
            && self.max_cloud_concurrency == o.max_cloud_concurrency
            && self.cloud_request_threads == o.cloud_request_threads
            && self.direct_io_buffer_pool_size == o.direct_io_buffer_pool_size
            && self.allow_reuse_local_caches == o.allow_reuse_local_caches
            && self.prewarm_cloud_cache == o.prewarm_cloud_cache
            && self.prewarm_task_count == o.prewarm_task_count
            && self.store_path == o.store_path
            && self.cloud_store_path == o.cloud_store_path
            && self.cloud_provider == o.cloud_provider
            && self.cloud_endpoint == o.cloud_endpoint
            && self.cloud_region == o.cloud_region
            && self.cloud_access_key == o.cloud_access_key
            && self.cloud_secret_key == o.cloud_secret_key
            && self.cloud_verify_ssl == o.cloud_verify_ssl
            && self.data_page_size == o.data_page_size
            && self.pages_per_file_shift == o.pages_per_file_shift
            && self.overflow_pointers == o.overflow_pointers
            && self.data_append_mode == o.data_append_mode
    }
}

impl Eq for KvOptions {}

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
    /// and leaves `self` untouched):
    /// 1. `data_page_size` and `coroutine_stack_size` are multiples of the OS
    ///    page size (upstream asks `sysconf(_SC_PAGESIZE)`; we use the 4 KiB
    ///    [`PAGE_ALIGN`] of every supported platform);
    /// 2. `overflow_pointers` is in `1..=MAX_OVERFLOW_POINTERS`;
    /// 3. `max_write_batch_pages > 0`;
    /// 4. cloud mode only: `cloud_store_path` parses (no `:`, a bucket; see
    ///    [`cloud::parse_cloud_path`]; upstream aborts at start), a
    ///    `store_path` holds the local cache (upstream silently runs in
    ///    memory), `max_cloud_concurrency`, `cloud_request_threads` and
    ///    `max_upload_batch` are non-zero, `max_upload_batch <
    ///    max_cloud_concurrency`, and the data file size is non-zero;
    /// 5. our extensions (upstream accepts these, then misbehaves or divides
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

    /// The failing half of [`KvOptions::validate`].
    fn check(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::invalid_args(msg));
        if !(self.data_page_size as usize).is_multiple_of(PAGE_ALIGN) {
            return fail(format!(
                "data_page_size {} is not a multiple of the OS page size {PAGE_ALIGN}",
                self.data_page_size
            ));
        }
        if !(self.coroutine_stack_size as usize).is_multiple_of(PAGE_ALIGN) {
            return fail(format!(
                "coroutine_stack_size {} is not a multiple of the OS page size {PAGE_ALIGN}",
                self.coroutine_stack_size
            ));
        }
        if self.overflow_pointers == 0 || self.overflow_pointers > MAX_OVERFLOW_POINTERS {
            return fail(format!(
                "overflow_pointers {} is outside 1..={MAX_OVERFLOW_POINTERS}",
                self.overflow_pointers
            ));
        }
        if self.max_write_batch_pages == 0 {
            return fail("max_write_batch_pages 0 must be greater than 0".to_owned());
        }
        if self.is_cloud() {
            cloud::parse_cloud_path(&self.cloud_store_path)?;
            if self.store_path.is_empty() {
                return fail(
                    "cloud_store_path needs a store_path for the local cache (in-memory stores cannot use the cloud tier)"
                        .into(),
                );
            }
            if self.max_cloud_concurrency == 0 {
                return fail("max_cloud_concurrency 0 must be greater than 0 in cloud mode".into());
            }
            if self.cloud_request_threads == 0 {
                return fail("cloud_request_threads 0 must be greater than 0 in cloud mode".into());
            }
            if self.max_upload_batch == 0 {
                return fail("max_upload_batch 0 must be greater than 0 in cloud mode".into());
            }
            if self.max_upload_batch >= self.max_cloud_concurrency {
                return fail(format!(
                    "max_upload_batch {} must be smaller than max_cloud_concurrency {} in cloud mode",
                    self.max_upload_batch, self.max_cloud_concurrency
                ));
            }
            if self.data_file_size() == 0 {
                return fail(format!(
                    "data file size 0 (data_page_size {} << pages_per_file_shift {}) is invalid in cloud mode",
                    self.data_page_size, self.pages_per_file_shift
                ));
            }
        }
        // Our extensions.
        for (name, value) in [
            ("num_threads", self.num_threads),
            ("data_page_size", self.data_page_size),
            (
                "data_page_restart_interval",
                self.data_page_restart_interval,
            ),
            (
                "index_page_restart_interval",
                self.index_page_restart_interval,
            ),
        ] {
            if value == 0 {
                return fail(format!("{name} {value} must be greater than 0"));
            }
        }
        Ok(())
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
