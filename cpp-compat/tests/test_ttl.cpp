// Entries with an expiry time (WriteDataEntry::expire_ts_, ms since the
// epoch): an expired entry is never returned, cleaned up or not.
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "eloq_store.h"
#include "test_support.h"

using namespace testutil;

namespace
{
void SleepMs(int ms)
{
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}
}  // namespace

TEST_CASE("entries with a future expiry are returned with it", "[ttl]")
{
    TempDir dir("ttlfar");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"ttl", 0});
    const uint64_t far = NowMs() + 3600 * 1000;
    REQUIRE(part.Write({{"a", "1", 1, es::WriteOp::Upsert, far},
                        {"b", "2", 1, es::WriteOp::Upsert, 0},
                        {"c", "3", 1, es::WriteOp::Upsert, far + 1}}) ==
            es::KvError::NoError);
    part.CheckAll();
    es::ReadRequest read;
    read.SetArgs(part.Table(), "c");
    store->ExecSync(&read);
    REQUIRE(read.Error() == es::KvError::NoError);
    CHECK(read.expire_ts_ == far + 1);
}

TEST_CASE("an upsert that has already expired deletes the key", "[ttl]")
{
    TempDir dir("ttlpast");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"ttl", 1});
    part.UpsertRange(0, 20, 1, 10);
    std::vector<es::WriteDataEntry> batch;
    for (uint64_t i = 5; i < 25; ++i)
    {
        // expire_ts 1: long past.
        batch.emplace_back(Key(i), Value(i, 2, 10), 2, es::WriteOp::Upsert, 1);
    }
    REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
    part.CheckAll();
    REQUIRE(part.Model().size() == 5);

    // Large values that are already expired, then again small ones.
    std::vector<es::WriteDataEntry> big;
    for (uint64_t i = 0; i < 10; ++i)
    {
        big.emplace_back(Key(i), std::string(20000, 'v'), 3,
                         es::WriteOp::Upsert, 1);
    }
    REQUIRE(part.Write(std::move(big)) == es::KvError::NoError);
    part.CheckAll();
    REQUIRE(part.Model().empty());
}

TEST_CASE("expired entries disappear from reads, floors and scans", "[ttl]")
{
    TempDir dir("ttlshort");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"ttl", 2});
    const uint64_t soon = NowMs() + 400;
    std::vector<es::WriteDataEntry> batch;
    for (uint64_t i = 0; i < 300; ++i)
    {
        // Even keys expire soon; odd keys never.
        batch.emplace_back(Key(i), Value(i, 1, i % 60 == 0 ? 9000 : 30), 1,
                           es::WriteOp::Upsert, i % 2 == 0 ? soon : 0);
    }
    REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
    if (NowMs() + 100 < soon)
    {
        // Still live: all 300 are there.
        es::ScanRequest scan;
        scan.SetArgs(part.Table(), "", "");
        store->ExecSync(&scan);
        REQUIRE(scan.Error() == es::KvError::NoError);
        if (NowMs() < soon)
        {
            CHECK(scan.Entries().size() == 300);
        }
    }
    while (NowMs() <= soon + 5)
    {
        SleepMs(50);
    }
    // No write happened since: nothing has cleaned them up, yet they are
    // gone for every read path.
    part.CheckAll();
    for (uint64_t i = 0; i < 20; ++i)
    {
        part.CheckFloor(Key(i));
    }
    REQUIRE(part.Live().size() == 150);
}

TEST_CASE("floor reports the floor entry's own expiry", "[ttl]")
{
    TempDir dir("ttlfloor");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"ttl", 3});
    const uint64_t t1 = NowMs() + 3600 * 1000;
    const uint64_t t2 = t1 + 777;
    std::vector<es::WriteDataEntry> batch;
    for (uint64_t i = 0; i < 200; ++i)
    {
        batch.emplace_back(Key(i * 2), Value(i, 1, 20), 1, es::WriteOp::Upsert,
                           i % 2 ? t1 : (i % 3 ? t2 : 0));
    }
    REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
    for (uint64_t i = 0; i < 402; ++i)
    {
        part.CheckFloor(Key(i));
    }
}

TEST_CASE("floor skips expired entries", "[ttl]")
{
    TempDir dir("ttlskip");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"ttl", 4});
    const uint64_t soon = NowMs() + 300;
    REQUIRE(part.Write({{"a", "1", 1, es::WriteOp::Upsert, 0},
                        {"b", "2", 1, es::WriteOp::Upsert, soon},
                        {"c", "3", 1, es::WriteOp::Upsert, soon}}) ==
            es::KvError::NoError);
    while (NowMs() <= soon + 5)
    {
        SleepMs(50);
    }
    es::FloorRequest floor;
    floor.SetArgs(part.Table(), "d");
    store->ExecSync(&floor);
    REQUIRE(floor.Error() == es::KvError::NoError);
    CHECK(floor.floor_key_ == "a");
    CHECK(floor.value_ == "1");
    CHECK(floor.expire_ts_ == 0);
}

TEST_CASE("expired entries stay gone across writes, cleanup and restart",
          "[ttl]")
{
    TempDir dir("ttlclean");
    es::KvOptions opts = LocalOptions(dir.str());
    const es::TableIdent tbl("ttl", 5);
    std::map<std::string, Stored> model_after;
    {
        auto store = StartStore(opts);
        ModelPartition part(*store, tbl);
        std::mt19937_64 rng(5);
        const uint64_t soon = NowMs() + 300;
        const uint64_t far = NowMs() + 3600 * 1000;
        for (uint64_t ts = 1; ts <= 5; ++ts)
        {
            std::vector<es::WriteDataEntry> batch;
            for (uint64_t i = 0; i < 400; ++i)
            {
                const uint64_t r = rng() % 3;
                batch.emplace_back(Key(i), Value(i, ts, 10 + rng() % 200), ts,
                                   es::WriteOp::Upsert,
                                   r == 0 ? 0 : (r == 1 ? soon : far));
            }
            REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
        }
        while (NowMs() <= soon + 5)
        {
            SleepMs(50);
        }
        part.CheckAll();

        // An explicit clean-up pass changes nothing visible.
        es::CleanExpiredRequest clean;
        CHECK(clean.Type() == es::RequestType::CleanExpired);
        clean.SetTableId(tbl);
        store->ExecSync(&clean);
        REQUIRE(clean.Error() == es::KvError::NoError);
        part.CheckAll();

        // A later write (which may trigger background clean-up).
        part.UpsertRange(1000, 1010, 6, 5);
        part.CheckAll();
        model_after = part.Model();
        store->Stop();
    }
    auto store = StartStore(opts);
    ModelPartition part(*store, tbl);
    part.Model() = model_after;
    part.CheckAll();
}
