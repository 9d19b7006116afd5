// Durability through the C++ API: data survives Stop/Start and new store
// objects; overflow values; append mode; compression toggles; corruption
// is reported.
#include <catch2/catch_test_macros.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "eloq_store.h"
#include "test_support.h"
#include "utils.h"

using namespace testutil;

namespace
{
// Data files (data_<id>_<term>) under a partition directory.
size_t DataFileCount(const fs::path &dir)
{
    size_t n = 0;
    for (const auto &e : fs::directory_iterator(dir))
    {
        // ParseFileName returns views into its argument: keep it alive.
        const std::string name = e.path().filename().string();
        auto [type, suffix] = es::ParseFileName(name);
        es::FileId id = 0;
        uint64_t term = 0;
        if (type == es::FileNameData &&
            es::ParseDataFileSuffix(suffix, id, term))
        {
            ++n;
        }
    }
    return n;
}
}  // namespace

TEST_CASE("data survives restarts of the same and of new store objects",
          "[persist]")
{
    TempDir dir("restart");
    es::KvOptions opts = LocalOptions(dir.str());
    std::vector<std::map<std::string, Stored>> models(3);
    std::mt19937_64 rng(3);
    es::EloqStore store(opts);
    for (int cycle = 0; cycle < 5; ++cycle)
    {
        REQUIRE(store.Start() == es::KvError::NoError);
        REQUIRE_FALSE(store.IsStopped());
        for (uint32_t p = 0; p < 3; ++p)
        {
            ModelPartition part(store, {"persist", p});
            part.Model() = models[p];
            part.CheckAll();
            const uint64_t ts = cycle + 1;
            std::vector<es::WriteDataEntry> batch;
            std::map<uint64_t, bool> used;
            for (int i = 0; i < 300; ++i)
            {
                const uint64_t k = rng() % 1000;
                if (used.emplace(k, true).second)
                {
                    batch.emplace_back(Key(k), Value(k, ts, rng() % 400), ts,
                                       rng() % 6 ? es::WriteOp::Upsert
                                                 : es::WriteOp::Delete);
                }
            }
            REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
            models[p] = part.Model();
        }
        store.Stop();
        REQUIRE(store.IsStopped());
    }
    // A new object over the same directory sees the same data.
    auto again = StartStore(opts);
    for (uint32_t p = 0; p < 3; ++p)
    {
        ModelPartition part(*again, {"persist", p});
        part.Model() = models[p];
        part.CheckAll();
    }
}

TEST_CASE("values from one byte to many megabytes round-trip", "[persist]")
{
    TempDir dir("overflow");
    es::KvOptions opts = LocalOptions(dir.str());
    const es::TableIdent tbl("big", 0);
    std::vector<std::pair<std::string, std::string>> kvs;
    for (int shift = 0; shift <= 25; ++shift)
    {
        kvs.emplace_back(Key(shift), Value(shift, 1, size_t(1) << shift));
    }
    {
        auto store = StartStore(opts);
        for (const auto &[k, v] : kvs)
        {
            REQUIRE(PutAll(*store, tbl, {{k, v}}, 1) == es::KvError::NoError);
        }
        store->Stop();
    }
    auto store = StartStore(opts);
    es::ReadRequest read;
    for (const auto &[k, v] : kvs)
    {
        read.SetArgs(tbl, k);
        store->ExecSync(&read);
        REQUIRE(read.Error() == es::KvError::NoError);
        REQUIRE(read.value_.size() == v.size());
        REQUIRE(read.value_ == v);
        REQUIRE(read.ts_ == 1);
    }
    // Overwrite the largest with a newer, smaller value, and back.
    REQUIRE(PutAll(*store, tbl, {{Key(25), "small"}}, 2) ==
            es::KvError::NoError);
    read.SetArgs(tbl, Key(25));
    store->ExecSync(&read);
    CHECK(read.value_ == "small");
    CHECK(read.ts_ == 2);
    REQUIRE(PutAll(*store, tbl, {{Key(25), kvs.back().second}}, 3) ==
            es::KvError::NoError);
    store->ExecSync(&read);
    CHECK(read.value_ == kvs.back().second);
}

TEST_CASE("random overflow values", "[persist]")
{
    TempDir dir("randov");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"randov", 0});
    std::mt19937_64 rng(17);
    for (uint64_t ts = 1; ts <= 8; ++ts)
    {
        std::vector<es::WriteDataEntry> batch;
        std::map<uint64_t, bool> used;
        for (int i = 0; i < 20; ++i)
        {
            const uint64_t k = rng() % 60;
            if (used.emplace(k, true).second)
            {
                batch.emplace_back(Key(k),
                                   Value(k, ts, 5000 + rng() % (600 * 1024)),
                                   ts, es::WriteOp::Upsert);
            }
        }
        REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
    }
    part.CheckAll();
}

TEST_CASE("append mode: overwrites, compaction and restarts", "[persist]")
{
    TempDir dir("append");
    es::KvOptions opts = LocalOptions(dir.str());
    opts.data_append_mode = true;
    opts.pages_per_file_shift = 4;  // 16 pages per file: many files
    const es::TableIdent tbl("app", 1);
    std::map<std::string, Stored> model;
    size_t first_round_files = 0;
    size_t max_files = 0;
    size_t after_compact = 0;
    for (int cycle = 0; cycle < 3; ++cycle)
    {
        auto store = StartStore(opts);
        ModelPartition part(*store, tbl);
        part.Model() = model;
        part.CheckAll();
        for (int round = 0; round < 10; ++round)
        {
            const uint64_t ts = cycle * 100 + round + 1;
            part.UpsertRange(0, 400, ts, 200);
            const size_t files =
                DataFileCount(fs::path(dir.str()) / tbl.ToString());
            if (first_round_files == 0)
            {
                first_round_files = files;
            }
            max_files = std::max(max_files, files);
        }
        es::CompactRequest compact;
        CHECK(compact.Type() == es::RequestType::Compact);
        compact.SetTableId(tbl);
        store->ExecSync(&compact);
        REQUIRE(compact.Error() == es::KvError::NoError);
        after_compact = std::max(
            after_compact,
            DataFileCount(fs::path(dir.str()) / tbl.ToString()));
        part.CheckAll();
        model = part.Model();
        store->Stop();
    }
    // 30 rewrites of the same keys: compaction and file GC keep the number
    // of files near what one copy of the data needs (background compaction
    // may lag behind the writes; an explicit compaction catches up).
    INFO("files after the first write: " << first_round_files
                                         << ", at most: " << max_files
                                         << ", after compacting: "
                                         << after_compact);
    CHECK(after_compact <= 3 * first_round_files);
    CHECK(max_files <= 10 * first_round_files);
}

TEST_CASE("compression can be switched on and off across restarts",
          "[persist]")
{
    TempDir dir("compress");
    const es::TableIdent tbl("zip", 0);
    std::map<std::string, Stored> model;
    for (int cycle = 0; cycle < 4; ++cycle)
    {
        es::KvOptions opts = LocalOptions(dir.str());
        opts.enable_compression = cycle % 2 == 1;
        auto store = StartStore(opts);
        ModelPartition part(*store, tbl);
        part.Model() = model;
        part.CheckAll();
        std::vector<es::WriteDataEntry> batch;
        for (uint64_t i = 0; i < 300; ++i)
        {
            // Compressible text values of varied sizes.
            std::string v;
            while (v.size() < 50 + (i * 37 + cycle * 11) % 3000)
            {
                v += "eloqstore value " + std::to_string(i % 7) + " ";
            }
            batch.emplace_back(Key(i * 4 + cycle), v, cycle + 1,
                               es::WriteOp::Upsert);
        }
        REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
        part.CheckAll();
        model = part.Model();
        store->Stop();
    }
}

TEST_CASE("a corrupted page is reported as Corrupted", "[persist]")
{
    TempDir dir("corrupt");
    es::KvOptions opts = LocalOptions(dir.str());
    const es::TableIdent tbl("bad", 0);
    {
        auto store = StartStore(opts);
        REQUIRE(PutAll(*store, tbl, {{"a", "1"}, {"b", "2"}}, 1) ==
                es::KvError::NoError);
        store->Stop();
    }
    const fs::path file =
        fs::path(dir.str()) / tbl.ToString() / es::DataFileName(0, 0);
    REQUIRE(fs::exists(file));
    {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        REQUIRE(f.good());
        f.seekg(10);
        char c = 0;
        f.read(&c, 1);
        c = static_cast<char>(c ^ 0x5a);
        f.seekp(10);
        f.write(&c, 1);
    }
    auto store = StartStore(opts);
    es::ScanRequest scan;
    scan.SetArgs(tbl, "", "");
    store->ExecSync(&scan);
    CHECK(scan.Error() == es::KvError::Corrupted);
    CHECK(std::string(scan.ErrMessage()).size() > 0);
    es::ReadRequest read;
    read.SetArgs(tbl, "a");
    store->ExecSync(&read);
    CHECK(read.Error() == es::KvError::Corrupted);
    CHECK_FALSE(read.RetryableErr());
}

TEST_CASE("a small open-file budget with many small files", "[persist]")
{
    TempDir dir("fds");
    es::KvOptions opts = LocalOptions(dir.str());
    opts.num_threads = 1;
    opts.pages_per_file_shift = 1;  // 2 pages per data file
    opts.fd_limit =
        static_cast<uint32_t>(utils::CountUsedFD()) + es::num_reserved_fd + 8;
    auto store = StartStore(opts);
    std::vector<std::unique_ptr<ModelPartition>> parts;
    for (uint32_t p = 0; p < 6; ++p)
    {
        parts.push_back(
            std::make_unique<ModelPartition>(*store, es::TableIdent("fd", p)));
        parts.back()->UpsertRange(0, 300, 1, 100);
    }
    for (auto &part : parts)
    {
        part->UpsertRange(100, 200, 2, 150);
        part->CheckAll();
    }
}

TEST_CASE("partitions spread over several store paths persist", "[persist]")
{
    TempDir dir("multi");
    es::KvOptions opts = LocalOptions("");
    opts.store_path = {dir.sub("a"), dir.sub("b"), dir.sub("c")};
    opts.num_threads = 3;
    std::vector<std::map<std::string, Stored>> models(7);
    {
        auto store = StartStore(opts);
        for (uint32_t p = 0; p < 7; ++p)
        {
            ModelPartition part(*store, {"multi", p});
            part.UpsertRange(p * 10, p * 10 + 100, 1, 20);
            models[p] = part.Model();
        }
        store->Stop();
    }
    for (uint32_t p = 0; p < 7; ++p)
    {
        // Partition p lives on store path p % 3.
        const es::TableIdent tbl("multi", p);
        CHECK(fs::exists(tbl.StorePath(opts.store_path)));
        CHECK(tbl.StorePath(opts.store_path).parent_path() ==
              fs::path(opts.store_path[p % 3]));
    }
    auto store = StartStore(opts);
    for (uint32_t p = 0; p < 7; ++p)
    {
        ModelPartition part(*store, {"multi", p});
        part.Model() = models[p];
        part.CheckAll();
    }
}
