// EloqStore-rs C++ interface: basic types (upstream's types.h).
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <utility>

#include "external/span.hpp"

namespace eloqstore
{
using PageId = uint32_t;
constexpr PageId MaxPageId = UINT32_MAX;

using FilePageId = uint64_t;
constexpr FilePageId MaxFilePageId = UINT64_MAX;

using FileId = uint64_t;
static constexpr FileId MaxFileId = UINT64_MAX;

constexpr char FileNameSeparator = '_';
static constexpr char FileNameData[] = "data";
static constexpr char FileNameManifest[] = "manifest";
static constexpr char CurrentTermFileName[] = "CURRENT_TERM";
static constexpr char TmpSuffix[] = ".tmp";
constexpr size_t kDefaultScanPrefetchPageCount = 6;

namespace fs = std::filesystem;

namespace detail
{
// Mixes the hash of `value` into `seed` (the classic hash_combine recipe;
// upstream used Boost's, this header needs no third-party library).
template <typename T>
inline void HashCombine(std::size_t &seed, const T &value)
{
    seed ^= std::hash<T>{}(value) + 0x9e3779b97f4a7c15ULL + (seed << 6) +
            (seed >> 2);
}
}  // namespace detail

// A partition of a table: "<table>.<partition>" on disk.
struct TableIdent
{
    static constexpr char separator = '.';
    friend bool operator==(const TableIdent &lhs, const TableIdent &rhs)
    {
        return lhs.partition_id_ == rhs.partition_id_ &&
               lhs.tbl_name_ == rhs.tbl_name_;
    }
    friend std::ostream &operator<<(std::ostream &os, const TableIdent &tid);

    TableIdent() = default;
    TableIdent(std::string tbl_name, uint32_t id)
        : tbl_name_(std::move(tbl_name)), partition_id_(id)
    {
    }
    // "<table>.<partition>".
    std::string ToString() const;
    // Parses ToString()'s form (split at the last '.'); an invalid (default)
    // ident when the text does not parse.
    static TableIdent FromString(const std::string &str);
    // Which of `num_disks` store paths holds the partition.
    uint8_t DiskIndex(uint8_t num_disks) const;
    // The partition's directory among the store paths `disks`.
    fs::path StorePath(tcb::span<const std::string> disks) const;
    // Which of `num_shards` shards serves the partition.
    uint16_t ShardIndex(uint16_t num_shards) const;
    // True when the table name is not empty.
    bool IsValid() const;

    std::string tbl_name_;
    uint32_t partition_id_{};
};

std::ostream &operator<<(std::ostream &out, const TableIdent &tid);

struct FileKey
{
    bool operator==(const FileKey &other) const
    {
        return tbl_id_ == other.tbl_id_ && filename_ == other.filename_;
    }
    TableIdent tbl_id_;
    std::string filename_;
};

// One entry of a scan result.
struct KvEntry
{
    bool operator==(const KvEntry &other) const
    {
        return timestamp_ == other.timestamp_ &&
               expire_ts_ == other.expire_ts_ && key_ == other.key_ &&
               value_ == other.value_;
    }
    std::string key_;
    std::string value_;
    uint64_t timestamp_{};
    uint64_t expire_ts_{};
};

enum class WriteOp : uint8_t
{
    Upsert = 0,
    Delete
};

// One entry of a BatchWriteRequest.
struct WriteDataEntry
{
    WriteDataEntry() = default;
    WriteDataEntry(std::string key,
                   std::string val,
                   uint64_t ts,
                   WriteOp op,
                   uint64_t expire_ts = 0);
    // Bytewise order of the keys (not the configured comparator), for
    // std::sort over a batch.
    bool operator<(const WriteDataEntry &other) const;

    std::string key_;
    std::string val_;
    uint64_t timestamp_{};
    WriteOp op_{WriteOp::Upsert};
    // Milliseconds since the Unix epoch; 0 means the entry never expires.
    uint64_t expire_ts_{0};
};

}  // namespace eloqstore

template <>
struct std::hash<eloqstore::TableIdent>
{
    std::size_t operator()(const eloqstore::TableIdent &tid) const
    {
        std::size_t seed = 0;
        eloqstore::detail::HashCombine(seed, tid.tbl_name_);
        eloqstore::detail::HashCombine(seed, tid.partition_id_);
        return seed;
    }
};

template <>
struct std::hash<eloqstore::FileKey>
{
    std::size_t operator()(const eloqstore::FileKey &key) const
    {
        std::size_t seed = std::hash<eloqstore::TableIdent>{}(key.tbl_id_);
        eloqstore::detail::HashCombine(seed, key.filename_);
        return seed;
    }
};
