// Helpers shared by the C++ API tests: temporary store directories, key
// and value generators, and a std::map model of one partition that every
// read, floor and scan is checked against.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "eloq_store.h"

namespace testutil
{
namespace es = eloqstore;
namespace fs = std::filesystem;

// A fresh directory under $TMPDIR (or /tmp), removed with its content.
class TempDir
{
public:
    explicit TempDir(const std::string &tag = "store")
    {
        const char *tmp = std::getenv("TMPDIR");
        std::string tmpl = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") +
                           "/eloqstore-cxx-" + tag + "-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        REQUIRE(mkdtemp(buf.data()) != nullptr);
        path_ = buf.data();
    }
    ~TempDir()
    {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;

    const fs::path &path() const
    {
        return path_;
    }
    std::string str() const
    {
        return path_.string();
    }
    // A path inside the directory (not created).
    std::string sub(const std::string &name) const
    {
        return (path_ / name).string();
    }

private:
    fs::path path_;
};

inline uint64_t NowMs()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
}

// Zero-padded decimal keys sort bytewise in numeric order.
inline std::string Key(uint64_t i, int width = 10)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%0*llu", width,
                  static_cast<unsigned long long>(i));
    return buf;
}

// A deterministic value of `len` bytes for (i, ts); any byte values.
inline std::string Value(uint64_t i, uint64_t ts, size_t len)
{
    std::string v(len, '\0');
    uint64_t x = i * 0x9e3779b97f4a7c15ULL + ts * 0xbf58476d1ce4e5b9ULL + 1;
    for (size_t j = 0; j < len; ++j)
    {
        x ^= x >> 31;
        x *= 0x94d049bb133111ebULL;
        v[j] = static_cast<char>(x >> 56);
    }
    return v;
}

// Options for a store in `dir` (an in-memory store when `dir` is empty).
inline es::KvOptions LocalOptions(const std::string &dir)
{
    es::KvOptions o;
    if (!dir.empty())
    {
        o.store_path = {dir};
    }
    o.num_threads = 2;
    // Small files keep the tests' disk use low.
    o.pages_per_file_shift = 10;
    return o;
}

struct Stored
{
    std::string value;
    uint64_t ts{0};
    uint64_t expire_ts{0};
};

// One partition of a running store, mirrored by a std::map.
class ModelPartition
{
public:
    ModelPartition(es::EloqStore &store, es::TableIdent tbl)
        : store_(store), tbl_(std::move(tbl))
    {
    }

    const es::TableIdent &Table() const
    {
        return tbl_;
    }

    // Executes the batch (sorted here) and, when it succeeds, applies it
    // to the model with the engine's rules: an older timestamp loses, equal
    // or newer wins; an upsert already expired deletes the key.
    es::KvError Write(std::vector<es::WriteDataEntry> batch)
    {
        std::sort(batch.begin(), batch.end());
        es::BatchWriteRequest req;
        req.SetArgs(tbl_, std::vector<es::WriteDataEntry>(batch));
        store_.ExecSync(&req);
        if (req.Error() != es::KvError::NoError)
        {
            return req.Error();
        }
        const uint64_t now = NowMs();
        for (const es::WriteDataEntry &e : batch)
        {
            auto it = model_.find(e.key_);
            if (it != model_.end() && e.timestamp_ < it->second.ts)
            {
                continue;
            }
            const bool expired = e.expire_ts_ != 0 && e.expire_ts_ <= now;
            if (e.op_ == es::WriteOp::Delete || expired)
            {
                if (it != model_.end())
                {
                    model_.erase(it);
                }
            }
            else
            {
                model_[e.key_] = Stored{e.val_, e.timestamp_, e.expire_ts_};
            }
        }
        return es::KvError::NoError;
    }

    // Upserts keys [first, last) with values of `len` bytes.
    void UpsertRange(uint64_t first, uint64_t last, uint64_t ts, size_t len)
    {
        std::vector<es::WriteDataEntry> batch;
        for (uint64_t i = first; i < last; ++i)
        {
            batch.emplace_back(Key(i), Value(i, ts, len), ts,
                               es::WriteOp::Upsert);
        }
        REQUIRE(Write(std::move(batch)) == es::KvError::NoError);
    }

    // Deletes keys [first, last).
    void DeleteRange(uint64_t first, uint64_t last, uint64_t ts)
    {
        std::vector<es::WriteDataEntry> batch;
        for (uint64_t i = first; i < last; ++i)
        {
            batch.emplace_back(Key(i), "", ts, es::WriteOp::Delete);
        }
        REQUIRE(Write(std::move(batch)) == es::KvError::NoError);
    }

    // Model entries visible now (expired ones are never returned).
    std::vector<std::pair<std::string, Stored>> Live(
        std::string_view begin = {},
        std::string_view end = {},
        bool begin_inclusive = true) const
    {
        const uint64_t now = NowMs();
        std::vector<std::pair<std::string, Stored>> out;
        for (const auto &[k, v] : model_)
        {
            if (!begin.empty() &&
                (k < begin || (!begin_inclusive && k == begin)))
            {
                continue;
            }
            if (!end.empty() && k >= end)
            {
                break;
            }
            if (v.expire_ts != 0 && v.expire_ts <= now)
            {
                continue;
            }
            out.emplace_back(k, v);
        }
        return out;
    }

    // A scan of [begin, end) returns exactly the model's entries.
    void CheckScan(const std::string &begin,
                   const std::string &end,
                   bool begin_inclusive = true)
    {
        es::ScanRequest scan;
        scan.SetArgs(tbl_, begin, end, begin_inclusive);
        store_.ExecSync(&scan);
        const auto want = Live(begin, end, begin_inclusive);
        if (scan.Error() == es::KvError::NotFound)
        {
            // A partition never written.
            REQUIRE(want.empty());
            return;
        }
        REQUIRE(scan.Error() == es::KvError::NoError);
        tcb::span<es::KvEntry> got = scan.Entries();
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < got.size(); ++i)
        {
            INFO("entry " << i << " key " << want[i].first);
            REQUIRE(got[i].key_ == want[i].first);
            REQUIRE(got[i].value_ == want[i].second.value);
            REQUIRE(got[i].timestamp_ == want[i].second.ts);
            REQUIRE(got[i].expire_ts_ == want[i].second.expire_ts);
        }
        REQUIRE_FALSE(scan.HasRemaining());
    }

    void CheckRead(const std::string &key)
    {
        es::ReadRequest read;
        read.SetArgs(tbl_, key);
        store_.ExecSync(&read);
        INFO("read " << key);
        const auto live = Live();
        auto it = std::find_if(live.begin(), live.end(),
                               [&](const auto &p) { return p.first == key; });
        if (it == live.end())
        {
            REQUIRE(read.Error() == es::KvError::NotFound);
            return;
        }
        REQUIRE(read.Error() == es::KvError::NoError);
        REQUIRE(read.value_ == it->second.value);
        REQUIRE(read.ts_ == it->second.ts);
        REQUIRE(read.expire_ts_ == it->second.expire_ts);
    }

    void CheckFloor(const std::string &key)
    {
        es::FloorRequest floor;
        floor.SetArgs(tbl_, key);
        store_.ExecSync(&floor);
        INFO("floor " << key);
        const auto live = Live();
        const std::pair<std::string, Stored> *best = nullptr;
        for (const auto &p : live)
        {
            if (p.first <= key)
            {
                best = &p;
            }
        }
        if (best == nullptr)
        {
            REQUIRE(floor.Error() == es::KvError::NotFound);
            return;
        }
        REQUIRE(floor.Error() == es::KvError::NoError);
        REQUIRE(floor.floor_key_ == best->first);
        REQUIRE(floor.value_ == best->second.value);
        REQUIRE(floor.ts_ == best->second.ts);
        REQUIRE(floor.expire_ts_ == best->second.expire_ts);
    }

    // Full scan, plus a read of every model key and of a few absent ones.
    void CheckAll()
    {
        CheckScan("", "");
        for (const auto &[k, v] : model_)
        {
            CheckRead(k);
        }
        CheckRead("");
        CheckRead("~absent");
    }

    std::map<std::string, Stored> &Model()
    {
        return model_;
    }

private:
    es::EloqStore &store_;
    es::TableIdent tbl_;
    std::map<std::string, Stored> model_;
};

// Starts a store over `opts`, requiring success.
inline std::unique_ptr<es::EloqStore> StartStore(const es::KvOptions &opts)
{
    auto store = std::make_unique<es::EloqStore>(opts);
    REQUIRE(store->Start() == es::KvError::NoError);
    return store;
}

// Executes a batch of (key, value) upserts with one timestamp.
inline es::KvError PutAll(es::EloqStore &store,
                          const es::TableIdent &tbl,
                          const std::vector<std::pair<std::string, std::string>>
                              &kvs,
                          uint64_t ts)
{
    es::BatchWriteRequest req;
    req.SetTableId(tbl);
    for (const auto &[k, v] : kvs)
    {
        req.AddWrite(k, v, ts, es::WriteOp::Upsert);
    }
    store.ExecSync(&req);
    return req.Error();
}
}  // namespace testutil
