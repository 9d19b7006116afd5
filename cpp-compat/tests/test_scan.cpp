// Scans, floors and reads through the C++ API, checked against a model.
#include <catch2/catch_test_macros.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "eloq_store.h"
#include "test_support.h"

using namespace testutil;

TEST_CASE("scan ranges over a partition with deleted keys", "[scan]")
{
    TempDir dir("scan");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"scan", 3});

    part.UpsertRange(0, 1000, 1, 40);
    part.DeleteRange(100, 300, 2);
    part.DeleteRange(500, 510, 2);
    // Deleting keys that were never written is harmless.
    part.DeleteRange(2000, 2010, 2);

    part.CheckScan("", "");
    part.CheckScan(Key(50), Key(150));
    part.CheckScan(Key(100), Key(300));  // entirely deleted: empty
    part.CheckScan(Key(99), Key(301));
    part.CheckScan(Key(505), "");
    part.CheckScan(Key(0), Key(1));
    part.CheckScan(Key(999), Key(1000));
    part.CheckScan(Key(10), Key(20), false);
    part.CheckScan(Key(299), Key(302), false);
    // begin >= end: nothing.
    part.CheckScan(Key(600), Key(600));
    part.CheckScan(Key(700), Key(600));
}

TEST_CASE("reads of present, deleted and absent keys", "[scan]")
{
    TempDir dir("read");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"read", 0});

    // A partition never written: NotFound for reads and scans.
    part.CheckRead(Key(1));
    es::ScanRequest scan;
    scan.SetArgs(part.Table(), "", "");
    store->ExecSync(&scan);
    CHECK(scan.Error() == es::KvError::NotFound);
    CHECK(scan.Entries().empty());

    part.UpsertRange(0, 200, 5, 16);
    part.DeleteRange(50, 60, 6);
    part.CheckAll();
    for (uint64_t i : {0, 49, 50, 59, 60, 199, 200, 1000})
    {
        part.CheckRead(Key(i));
    }
}

TEST_CASE("random writes interleaved with scans, reads and floors", "[scan]")
{
    TempDir dir("random");
    es::KvOptions opts = LocalOptions(dir.str());
    opts.data_page_size = 4096;
    auto store = StartStore(opts);
    ModelPartition part(*store, {"rand", 1});

    std::mt19937_64 rng(20240601);
    uint64_t ts = 1;
    for (int round = 0; round < 30; ++round)
    {
        std::vector<es::WriteDataEntry> batch;
        std::map<std::string, bool> used;
        const int n = 1 + static_cast<int>(rng() % 200);
        for (int i = 0; i < n; ++i)
        {
            const uint64_t k = rng() % 3000;
            if (used.count(Key(k)))
            {
                continue;
            }
            used[Key(k)] = true;
            if (rng() % 4 == 0)
            {
                batch.emplace_back(Key(k), "", ts, es::WriteOp::Delete);
            }
            else
            {
                batch.emplace_back(Key(k), Value(k, ts, rng() % 300), ts,
                                   es::WriteOp::Upsert);
            }
        }
        REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
        ++ts;

        const uint64_t a = rng() % 3000;
        const uint64_t b = a + rng() % 500;
        part.CheckScan(Key(a), Key(b), rng() % 2 == 0);
        part.CheckRead(Key(rng() % 3000));
        part.CheckFloor(Key(rng() % 3000) + "5");
    }
    part.CheckAll();
}

TEST_CASE("floor finds the greatest key not above the search key", "[scan]")
{
    TempDir dir("floor");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"floor", 0});

    // Floor on a partition never written.
    part.CheckFloor(Key(10));

    // Even keys only, some with overflow values (larger than a page).
    std::vector<es::WriteDataEntry> batch;
    for (uint64_t i = 10; i < 400; i += 2)
    {
        const size_t len = i % 50 == 0 ? 9000 : 24;
        batch.emplace_back(Key(i), Value(i, 1, len), 1, es::WriteOp::Upsert);
    }
    REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);

    for (uint64_t i = 0; i < 410; ++i)
    {
        part.CheckFloor(Key(i));
    }
    part.CheckFloor("");
    part.CheckFloor("~");  // above every key
}

TEST_CASE("scan results are paginated by entry count and byte size", "[scan]")
{
    TempDir dir("page");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"page", 2});

    std::vector<es::WriteDataEntry> batch;
    for (uint64_t i = 0; i < 500; ++i)
    {
        // Every 37th value is an overflow value.
        const size_t len = i % 37 == 0 ? 10 * 1024 : 20 + i % 80;
        batch.emplace_back(Key(i), Value(i, 1, len), 1, es::WriteOp::Upsert);
    }
    REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
    const auto want = part.Live(Key(20), Key(480));

    struct Limits
    {
        size_t entries;
        size_t bytes;
    };
    for (Limits lim : {Limits{7, 0}, Limits{0, 2000}, Limits{25, 3000},
                       Limits{1, 0}, Limits{0, 1}, Limits{1000, 0}})
    {
        INFO("limits " << lim.entries << " entries, " << lim.bytes
                       << " bytes");
        std::vector<es::KvEntry> all;
        es::ScanRequest scan;
        std::string begin = Key(20);
        bool inclusive = true;
        int pages = 0;
        while (true)
        {
            scan.SetArgs(part.Table(), begin, Key(480), inclusive);
            scan.SetPagination(lim.entries, lim.bytes);
            store->ExecSync(&scan);
            REQUIRE(scan.Error() == es::KvError::NoError);
            ++pages;
            auto page = scan.Entries();
            const auto [count, bytes] = scan.ResultSize();
            REQUIRE(count == page.size());
            size_t sum = 0;
            for (const es::KvEntry &e : page)
            {
                sum += e.key_.size() + e.value_.size() + 16;
            }
            REQUIRE(bytes == sum);
            if (lim.entries != 0)
            {
                REQUIRE(page.size() <= lim.entries);
            }
            if (lim.bytes != 0 && page.size() > 1)
            {
                REQUIRE(bytes <= lim.bytes);
            }
            all.insert(all.end(), page.begin(), page.end());
            if (!scan.HasRemaining())
            {
                break;
            }
            REQUIRE_FALSE(page.empty());
            begin = page.back().key_;
            inclusive = false;
            REQUIRE(pages < 1000);
        }
        REQUIRE(all.size() == want.size());
        for (size_t i = 0; i < all.size(); ++i)
        {
            REQUIRE(all[i].key_ == want[i].first);
            REQUIRE(all[i].value_ == want[i].second.value);
        }
        if (lim.entries == 1 || lim.bytes == 1)
        {
            // One entry per page (the first entry always fits).
            REQUIRE(pages == static_cast<int>(want.size()));
        }
    }
}

TEST_CASE("scan argument forms and accessors", "[scan]")
{
    TempDir dir("args");
    auto store = StartStore(LocalOptions(dir.str()));
    const es::TableIdent tbl("args", 0);
    REQUIRE(PutAll(*store, tbl,
                   {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}, 1) ==
            es::KvError::NoError);

    es::ScanRequest scan;
    CHECK(scan.Type() == es::RequestType::Scan);
    CHECK(scan.ReadOnly());
    CHECK(scan.PrefetchPageNum() == es::kDefaultScanPrefetchPageCount);
    scan.SetPrefetchPageNum(0);
    CHECK(scan.PrefetchPageNum() == es::kDefaultScanPrefetchPageCount);
    scan.SetPrefetchPageNum(100000);
    CHECK(scan.PrefetchPageNum() == 128);
    scan.SetPrefetchPageNum(2);
    CHECK(scan.PrefetchPageNum() == 2);

    auto keys = [&]
    {
        store->ExecSync(&scan);
        REQUIRE(scan.Error() == es::KvError::NoError);
        std::string s;
        for (const es::KvEntry &e : scan.Entries())
        {
            s += e.key_;
        }
        return s;
    };

    // const char*: a null begin scans everything; a null end is unbounded.
    scan.SetArgs(tbl, static_cast<const char *>(nullptr), nullptr);
    CHECK(keys() == "abcd");
    scan.SetArgs(tbl, "b", static_cast<const char *>(nullptr));
    CHECK(keys() == "bcd");
    scan.SetArgs(tbl, "b", "d");
    CHECK(scan.BeginKey() == "b");
    CHECK(scan.EndKey() == "d");
    CHECK(keys() == "bc");
    scan.SetArgs(tbl, "b", "d", false);
    CHECK(keys() == "c");

    // string_view: the caller's bytes, read at execution time.
    std::string begin = "a";
    std::string end = "c";
    scan.SetArgs(tbl, std::string_view(begin), std::string_view(end));
    begin = "b";  // same length, changed before execution
    CHECK(keys() == "b");

    // std::string: owned copies.
    {
        std::string b = "c";
        std::string e;
        scan.SetArgs(tbl, std::move(b), std::move(e));
    }
    CHECK(scan.BeginKey() == "c");
    CHECK(scan.EndKey().empty());
    CHECK(keys() == "cd");

    // Entries() is a tcb::span over the results.
    tcb::span<es::KvEntry> entries = scan.Entries();
    REQUIRE(entries.size() == 2);
    CHECK(entries[0] == es::KvEntry{"c", "3", 1, 0});
    CHECK(entries[1].value_ == "4");
    CHECK(scan.ResultSize() == std::make_pair<size_t, size_t>(2, 2 * 18));
}

TEST_CASE("a scan sees one snapshot while writes continue", "[scan]")
{
    TempDir dir("snap");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"snap", 0});
    part.UpsertRange(0, 2000, 1, 100);

    // Page through the partition while rewriting it between pages: each page
    // is consistent (values of one timestamp per page are not required, but
    // each entry is one the model held at some point).
    es::ScanRequest scan;
    std::string begin;
    bool inclusive = true;
    uint64_t ts = 2;
    size_t seen = 0;
    do
    {
        scan.SetArgs(part.Table(), begin, "", inclusive);
        scan.SetPagination(150, 0);
        store->ExecSync(&scan);
        REQUIRE(scan.Error() == es::KvError::NoError);
        for (const es::KvEntry &e : scan.Entries())
        {
            const uint64_t k = std::stoull(e.key_);
            REQUIRE(e.timestamp_ >= 1);
            REQUIRE(e.timestamp_ < ts);
            REQUIRE(e.value_ == Value(k, e.timestamp_, 100));
        }
        seen += scan.Entries().size();
        if (!scan.Entries().empty())
        {
            begin = scan.Entries().back().key_;
            inclusive = false;
        }
        part.UpsertRange(0, 2000, ts++, 100);
    } while (scan.HasRemaining());
    CHECK(seen == 2000);
    part.CheckAll();
}
