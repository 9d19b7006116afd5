// EloqStore-rs C++ interface: store options (upstream's kv_options.h).
//
// The fields keep upstream's names, types, defaults and declaration order,
// so C++20 designated initialisers written for upstream compile unchanged.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "comparator.h"
#include "types.h"

namespace eloqstore
{
constexpr int KB = 1 << 10;
constexpr int MB = 1 << 20;
constexpr int GB = 1 << 30;
constexpr int64_t TB = 1LL << 40;

constexpr uint8_t max_overflow_pointers = 128;
constexpr uint16_t max_read_pages_batch = max_overflow_pointers;

struct KvOptions
{
    // Reads upstream's INI format ([run] and [permanent] sections); only the
    // keys present change fields. Returns 0 on success, -1 when the file
    // cannot be read, -2 when a section is missing, else the 1-based line of
    // the first bad line (the reason is logged to stderr). On error the
    // options are left unchanged.
    int LoadFromIni(const char *path);
    // Compares the persisted and tuning fields (not comparator_,
    // enable_compression, mapping_arena_size or partition_filter).
    bool operator==(const KvOptions &other) const;

    // Number of shards (worker threads); partition p is served by shard
    // p % num_threads.
    uint16_t num_threads = 1;

    // Key order; must outlive the store. See comparator.h.
    const Comparator *comparator_ = Comparator::DefaultComparator();
    uint16_t data_page_restart_interval = 16;
    uint16_t index_page_restart_interval = 16;
    uint32_t init_page_count = 1 << 15;

    // Do not verify page checksums when reading (testing only).
    bool skip_verify_checksum = false;
    // Bytes of index pages cached per shard.
    uint64_t buffer_pool_size = 32 * MB;
    // Bytes of partition metadata cached (whole store).
    uint64_t root_meta_cache_size = 1 * GB;
    // Size at which a manifest is replaced by a fresh snapshot.
    uint32_t manifest_limit = 8 * MB;
    // Open-file budget of the process.
    uint32_t fd_limit = 10000;
    // io_uring submission queue entries per shard.
    uint32_t io_queue_size = 4096;
    // Page writes in flight per shard (non-append mode).
    uint32_t max_inflight_write = 32 << 10;
    // Pages per batched write; must not be 0.
    uint32_t max_write_batch_pages = 256;
    // io_uring provided-buffer ring entries (a power of 2, at most 32768).
    uint16_t buf_ring_size = 1 << 12;
    // Stack size of a request task; a multiple of the OS page size.
    uint32_t coroutine_stack_size = 32 * KB;
    // Archives kept by the periodic archiver (append mode); 0 disables it.
    uint32_t num_retained_archives = 0;
    // Seconds between periodic archives; 0 disables them.
    uint32_t archive_interval_secs = 86400;
    // Partition archives a GlobalArchiveRequest runs at once.
    uint16_t max_archive_tasks = 256;
    // Append mode: compact a data file whose space exceeds this multiple of
    // its live data; 0 disables compaction.
    uint8_t file_amplify_factor = 2;
    // Cloud tier only: local cache budget.
    size_t local_space_limit = size_t(1) * TB;
    // Cloud tier only: share of the cache reserved for new files.
    uint16_t reserve_space_ratio = 100;
    // Cloud tier only: files uploaded at once.
    uint32_t max_upload_batch = 5;
    // Cloud tier only: HTTP requests in flight per shard.
    uint32_t max_cloud_concurrency = 20;
    // Cloud tier only: HTTP worker threads.
    uint16_t cloud_request_threads = 1;
    // Cloud tier only: direct-I/O buffers cached per shard.
    uint32_t direct_io_buffer_pool_size = 4;
    // Cloud tier only: reuse files found in the local cache at start.
    bool allow_reuse_local_caches = false;

    // The fields below describe the data on disk: keep them the same for
    // the life of a store.

    // Data directories, one per disk; partitions are spread over them by
    // partition id. Empty: an in-memory store (lost at Stop).
    std::vector<std::string> store_path;
    // "bucket[/prefix]" of the cloud tier; empty: local only. (This engine
    // has no cloud tier: a store with this set fails to start.)
    std::string cloud_store_path;
    std::string cloud_provider = "aws";
    std::string cloud_endpoint;
    std::string cloud_region = "us-east-1";
    std::string cloud_access_key = "minioadmin";
    std::string cloud_secret_key = "minioadmin";
    bool cloud_verify_ssl = false;

    // Page size in bytes; a multiple of the OS page size.
    uint16_t data_page_size = 4 * KB;

    size_t FilePageOffsetMask() const
    {
        return (size_t(1) << pages_per_file_shift) - 1;
    }

    size_t DataFileSize() const
    {
        return static_cast<size_t>(data_page_size) << pages_per_file_shift;
    }
    // A data file holds 1 << pages_per_file_shift pages.
    uint8_t pages_per_file_shift = 18;

    // Pointers per overflow page (1..max_overflow_pointers).
    uint8_t overflow_pointers = 16;
    // Write data pages sequentially into new files (append mode).
    bool data_append_mode = false;
    // Compress values with zstd.
    bool enable_compression = false;
    // Cloud tier only: download recent files at start.
    bool prewarm_cloud_cache = false;
    // Cloud tier only: prewarm tasks per shard.
    uint16_t prewarm_task_count = 3;
    // Pooled mapping tables per shard.
    size_t mapping_arena_size = 128;

    // Which partitions belong to this instance (used by
    // GlobalArchiveRequest); empty: all of them. Called from store threads.
    std::function<bool(const TableIdent &)> partition_filter;
};
}  // namespace eloqstore
