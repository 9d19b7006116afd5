// The upstream test harness's replacement for upstream EloqStore's
// tests/common.h (and tests/common.cpp), written for this project over the
// public C++ API: the same names and meaning (option presets, InitStore,
// ValidateFileSizes, key helpers, store clean-up and the S3 helpers of the
// cloud tests), without the AWS SDK or glog. The harness stages it at
// tests/common.h beside upstream's test files, where their
// `#include "common.h"` finds it.
//
// Store directories: upstream's tests use /tmp/eloqstore and /tmp/test-data.
// Here they are $ELOQSTORE_TEST_ROOT/eloqstore and .../test-data when that
// variable is set (the harness gives each test case a fresh directory),
// else the same /tmp paths as upstream.
//
// S3: the cloud helpers talk to opts.cloud_endpoint, or
// http://127.0.0.1:9900 when it is empty (as upstream's suite), with
// opts.cloud_access_key / cloud_secret_key and opts.cloud_region (AWS
// Signature V4, through libcurl).
#pragma once

#include <glog/logging.h>

#include <algorithm>
#include <catch2/catch_message.hpp>
#include <catch2/catch_test_macros.hpp>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../include/common.h"
#include "coding.h"
#include "eloq_store.h"
#include "kv_options.h"
#include "utils.h"

namespace eloqstore_test_support
{
// $ELOQSTORE_TEST_ROOT, or "/tmp".
const std::string &TestRoot();
}  // namespace eloqstore_test_support

inline const std::string eloqstore_test_store_path =
    eloqstore_test_support::TestRoot() + "/eloqstore";
inline const std::string eloqstore_test_cloud_cache_path =
    eloqstore_test_support::TestRoot() + "/test-data";

// Upstream: constexpr char test_path[] = "/tmp/eloqstore".
inline const char *const test_path = eloqstore_test_store_path.c_str();
static const eloqstore::TableIdent test_tbl_id = {"t0", 0};
const eloqstore::KvOptions mem_store_opts = {};
const eloqstore::KvOptions default_opts = {
    .store_path = {test_path},
};

const eloqstore::KvOptions append_opts = {
    .store_path = {test_path},
    .pages_per_file_shift = 8,
    .data_append_mode = true,
};
const eloqstore::KvOptions archive_opts = {
    .num_retained_archives = 1,
    .archive_interval_secs = 0,
    .file_amplify_factor = 2,
    .store_path = {test_path},
    .pages_per_file_shift = 8,
    .data_append_mode = true,
};
const eloqstore::KvOptions cloud_options = {
    .manifest_limit = 1 << 20,
    .fd_limit = 30 + eloqstore::num_reserved_fd,
    .local_space_limit = 200 << 20,
    .store_path = {eloqstore_test_cloud_cache_path},
    .cloud_store_path = "eloqstore/unit-test",
    .pages_per_file_shift = 8,
    .data_append_mode = true,
};
const eloqstore::KvOptions cloud_archive_opts = {
    .manifest_limit = 1 << 20,
    .fd_limit = 30 + eloqstore::num_reserved_fd,
    .num_retained_archives = 1,
    .archive_interval_secs = 0,
    .file_amplify_factor = 2,
    .local_space_limit = 200 << 20,
    .store_path = {eloqstore_test_cloud_cache_path},
    .cloud_store_path = "eloqstore/unit-test",
    .pages_per_file_shift = 8,
    .data_append_mode = true,
};

// Stops the store the previous call returned, removes the local and cloud
// data of `opts` (CleanupStore), and starts a new store with `opts`; the
// test case fails if it does not start. The store lives until the next call
// (or the end of the program).
eloqstore::EloqStore *InitStore(const eloqstore::KvOptions &opts);

// True when no data file under opts.store_path is larger than
// opts.DataFileSize() and no archive larger than opts.manifest_limit (each
// offender logged).
bool ValidateFileSizes(const eloqstore::KvOptions &opts);

// An 8-byte big-endian key of `key` written at ptr (8 bytes), and back.
inline std::string_view ConvertIntKey(char *ptr, uint64_t key)
{
    eloqstore::EncodeFixed64(ptr, eloqstore::ToBigEndian(key));
    return {ptr, sizeof(uint64_t)};
}

inline uint64_t ConvertIntKey(std::string_view key)
{
    return eloqstore::BigEndianToNative(eloqstore::DecodeFixed64(key.data()));
}

// Removes every directory of opts.store_path.
void CleanupLocalStore(eloqstore::KvOptions opts);

// CleanupLocalStore, and deletes every object under opts.cloud_store_path
// ("bucket[/prefix]") when it is set.
void CleanupStore(eloqstore::KvOptions opts);

// Renames the object `src_file` to `dst_file` under cloud_path
// ("bucket[/prefix]"): copy, then delete.
bool MoveCloudFile(const eloqstore::KvOptions &opts,
                   const std::string &cloud_path,
                   const std::string &src_file,
                   const std::string &dst_file);

// The names (relative to it) of the objects under cloud_path joined with
// remote_path; empty when listing fails (the reason is logged).
std::vector<std::string> ListCloudFiles(const eloqstore::KvOptions &opts,
                                        const std::string &cloud_path,
                                        const std::string &remote_path = "");

// Total bytes of the objects under cloud_path; nullopt when listing fails.
std::optional<uint64_t> GetCloudSize(const eloqstore::KvOptions &opts,
                                     const std::string &cloud_path);

// Total bytes of the regular files under `path` (0 when it is missing).
uint64_t DirectorySize(const std::filesystem::path &path);
