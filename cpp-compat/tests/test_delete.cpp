// Deletes through BatchWriteRequest, checked against a model.
#include <catch2/catch_test_macros.hpp>
#include <random>
#include <string>
#include <vector>

#include "eloq_store.h"
#include "test_support.h"

using namespace testutil;

TEST_CASE("deletes of ranges, including keys never written", "[delete]")
{
    TempDir dir("del");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"del", 0});

    part.UpsertRange(0, 500, 1, 50);
    part.DeleteRange(0, 100, 2);
    part.CheckAll();
    part.DeleteRange(450, 700, 2);  // half of them never existed
    part.CheckAll();
    part.UpsertRange(50, 150, 3, 70);
    part.DeleteRange(120, 130, 4);
    part.CheckAll();
    part.CheckScan(Key(40), Key(160));
}

TEST_CASE("deleting from a partition that does not exist succeeds",
          "[delete]")
{
    TempDir dir("delempty");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"nothing", 9});
    part.DeleteRange(0, 50, 1);
    part.CheckRead(Key(1));
    part.CheckFloor(Key(1));
}

TEST_CASE("deleting everything in chunks shrinks the tree", "[delete]")
{
    TempDir dir("shrink");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"shrink", 1});
    // Enough keys for a multi-level tree.
    part.UpsertRange(0, 20000, 1, 100);
    part.CheckScan(Key(1000), Key(1100));
    uint64_t ts = 2;
    for (uint64_t first = 0; first < 20000; first += 2500)
    {
        part.DeleteRange(first, first + 2500, ts++);
        part.CheckScan(Key(first), Key(first + 5000));
        part.CheckRead(Key(first + 2600));
    }
    part.CheckAll();
    REQUIRE(part.Model().empty());
    // And the partition can grow again.
    part.UpsertRange(10, 20, ts, 10);
    part.CheckAll();
}

TEST_CASE("random upserts and deletes with scans", "[delete]")
{
    TempDir dir("randdel");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"randdel", 2});
    std::mt19937_64 rng(99);
    for (uint64_t ts = 1; ts <= 60; ++ts)
    {
        std::vector<es::WriteDataEntry> batch;
        std::map<uint64_t, bool> used;
        for (int i = 0; i < 300; ++i)
        {
            const uint64_t k = rng() % 5000;
            if (!used.emplace(k, true).second)
            {
                continue;
            }
            if (rng() % 2)
            {
                batch.emplace_back(Key(k), "", ts, es::WriteOp::Delete);
            }
            else
            {
                batch.emplace_back(Key(k), Value(k, ts, rng() % 64), ts,
                                   es::WriteOp::Upsert);
            }
        }
        REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
        const uint64_t a = rng() % 5000;
        part.CheckScan(Key(a), Key(a + rng() % 1000));
    }
    part.CheckAll();
}
