// BatchWriteRequest through the C++ API: batches, timestamps, validation.
#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <random>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "eloq_store.h"
#include "test_support.h"

using namespace testutil;

TEST_CASE("mixed batch writes with reads on an in-memory store", "[batch]")
{
    // An empty store_path: the store lives in memory.
    auto store = StartStore(LocalOptions(""));
    ModelPartition part(*store, {"mem", 0});

    std::mt19937_64 rng(7);
    uint64_t ts = 1;
    for (int round = 0; round < 40; ++round)
    {
        std::vector<es::WriteDataEntry> batch;
        std::map<uint64_t, bool> used;
        for (int i = 0; i < 100; ++i)
        {
            const uint64_t k = rng() % 2000;
            if (!used.emplace(k, true).second)
            {
                continue;
            }
            batch.emplace_back(Key(k), Value(k, ts, 200), ts,
                               rng() % 5 == 0 ? es::WriteOp::Delete
                                              : es::WriteOp::Upsert);
        }
        REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
        ++ts;
        if (round % 8 == 0)
        {
            part.CheckAll();
        }
        part.CheckScan(Key(rng() % 2000), Key(rng() % 2000 + 100));
        part.CheckFloor(Key(rng() % 2000));
    }
    part.CheckAll();
}

TEST_CASE("batch write with big keys", "[batch]")
{
    TempDir dir("bigkey");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"bigkey", 0});
    std::mt19937_64 rng(11);
    auto big_key = [](uint64_t k) { return Key(k) + std::string(190, 'k'); };
    for (uint64_t ts = 1; ts <= 10; ++ts)
    {
        std::vector<es::WriteDataEntry> batch;
        std::map<uint64_t, bool> used;
        for (int i = 0; i < 100; ++i)
        {
            const uint64_t k = rng() % 1000;
            if (used.emplace(k, true).second)
            {
                batch.emplace_back(big_key(k), Value(k, ts, 300), ts,
                                   es::WriteOp::Upsert);
            }
        }
        REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
        part.CheckScan(big_key(rng() % 1000), big_key(rng() % 1000 + 200));
        part.CheckFloor(big_key(rng() % 1000));
    }
    part.CheckAll();
}

TEST_CASE("timestamps decide between writes of the same key", "[batch]")
{
    TempDir dir("ts");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"ts", 0});

    REQUIRE(part.Write({{"k", "v10", 10, es::WriteOp::Upsert}}) ==
            es::KvError::NoError);
    // Older: ignored.
    REQUIRE(part.Write({{"k", "v5", 5, es::WriteOp::Upsert}}) ==
            es::KvError::NoError);
    part.CheckRead("k");
    REQUIRE(part.Model().at("k").value == "v10");
    // Equal: the new write wins.
    REQUIRE(part.Write({{"k", "v10b", 10, es::WriteOp::Upsert}}) ==
            es::KvError::NoError);
    part.CheckRead("k");
    REQUIRE(part.Model().at("k").value == "v10b");
    // An older delete is ignored too.
    REQUIRE(part.Write({{"k", "", 9, es::WriteOp::Delete}}) ==
            es::KvError::NoError);
    part.CheckRead("k");
    // A newer delete removes the key; no tombstone stays behind, so an
    // older write afterwards inserts it again.
    REQUIRE(part.Write({{"k", "", 11, es::WriteOp::Delete}}) ==
            es::KvError::NoError);
    part.CheckRead("k");
    REQUIRE(part.Write({{"k", "v1", 1, es::WriteOp::Upsert}}) ==
            es::KvError::NoError);
    part.CheckRead("k");
    REQUIRE(part.Model().at("k").value == "v1");
    part.CheckAll();
}

TEST_CASE("invalid batches fail with InvalidArgs and change nothing",
          "[batch]")
{
    TempDir dir("invalid");
    auto store = StartStore(LocalOptions(dir.str()));
    const es::TableIdent tbl("inv", 0);
    ModelPartition part(*store, tbl);
    part.UpsertRange(0, 10, 1, 8);

    auto run = [&](std::vector<es::WriteDataEntry> batch)
    {
        es::BatchWriteRequest req;
        req.SetArgs(tbl, std::move(batch));
        store->ExecSync(&req);
        INFO("message: " << req.ErrMessage());
        CHECK(std::string(req.ErrMessage()).size() > 0);
        return req.Error();
    };
    // Unsorted keys.
    CHECK(run({{"b", "1", 2, es::WriteOp::Upsert},
               {"a", "1", 2, es::WriteOp::Upsert}}) ==
          es::KvError::InvalidArgs);
    // Duplicate keys.
    CHECK(run({{"a", "1", 2, es::WriteOp::Upsert},
               {"a", "2", 2, es::WriteOp::Upsert}}) ==
          es::KvError::InvalidArgs);
    // A key longer than half a page.
    CHECK(run({{std::string(3000, 'x'), "1", 2, es::WriteOp::Upsert}}) ==
          es::KvError::InvalidArgs);
    // An operation that is neither Upsert nor Delete.
    CHECK(run({{"a", "1", 2, static_cast<es::WriteOp>(7)}}) ==
          es::KvError::InvalidArgs);
    // Refused asynchronously, the callback still runs on a store thread
    // (never inside ExecAsyn, where a lock the caller holds would deadlock
    // it), and a corrected request then runs.
    {
        es::BatchWriteRequest req;
        req.SetArgs({"inv-async", 0},
                    {{"a", "1", 2, static_cast<es::WriteOp>(7)}});
        std::promise<std::thread::id> where;
        REQUIRE(store->ExecAsyn(&req, 5, [&](es::KvRequest *)
                                { where.set_value(std::this_thread::get_id()); }));
        CHECK(where.get_future().get() != std::this_thread::get_id());
        req.Wait();
        CHECK(req.Error() == es::KvError::InvalidArgs);
        CHECK(std::string(req.ErrMessage()).find("WriteOp") !=
              std::string::npos);
        req.batch_[0].op_ = es::WriteOp::Upsert;
        store->ExecSync(&req);
        CHECK(req.Error() == es::KvError::NoError);
        es::ReadRequest read;
        read.SetArgs({"inv-async", 0}, "a");
        store->ExecSync(&read);
        CHECK(read.value_ == "1");
    }
    // A table name that cannot name a directory is refused.
    {
        es::BatchWriteRequest req;
        req.SetArgs({std::string("a/b"), 0},
                    {{"a", "1", 2, es::WriteOp::Upsert}});
        store->ExecSync(&req);
        CHECK(req.Error() == es::KvError::InvalidArgs);
        CHECK(std::string(req.ErrMessage()).find("table name") !=
              std::string::npos);
    }
    // Table names are byte strings, as in upstream: one that is not UTF-8
    // stores and reads back.
    {
        const es::TableIdent odd(std::string("\xff\xfe", 2), 0);
        es::BatchWriteRequest req;
        req.SetArgs(odd, {{"a", "1", 2, es::WriteOp::Upsert}});
        store->ExecSync(&req);
        CHECK(req.Error() == es::KvError::NoError);
        es::ReadRequest read;
        read.SetArgs(odd, "a");
        store->ExecSync(&read);
        CHECK(read.Error() == es::KvError::NoError);
        CHECK(read.value_ == "1");
    }
    // Nothing changed.
    part.CheckAll();
}

TEST_CASE("empty batches, AddWrite, Clear and reuse of a request", "[batch]")
{
    TempDir dir("reuse");
    auto store = StartStore(LocalOptions(dir.str()));
    const es::TableIdent tbl("reuse", 4);

    es::BatchWriteRequest req;
    CHECK(req.Type() == es::RequestType::BatchWrite);
    CHECK_FALSE(req.ReadOnly());
    CHECK(req.IsDone());
    CHECK(req.next_ == nullptr);

    // An empty batch succeeds and writes nothing.
    req.SetArgs(tbl, {});
    store->ExecSync(&req);
    CHECK(req.Error() == es::KvError::NoError);
    es::ReadRequest read;
    read.SetArgs(tbl, "a");
    store->ExecSync(&read);
    CHECK(read.Error() == es::KvError::NotFound);

    // AddWrite appends (expire_ts 0); batch_ is public and may be edited.
    req.AddWrite("a", "1", 1, es::WriteOp::Upsert);
    req.AddWrite("b", "2", 1, es::WriteOp::Upsert);
    req.batch_.emplace_back("c", "3", 1, es::WriteOp::Upsert, 0);
    req.batch_[0].val_ = "one";
    REQUIRE(req.batch_.size() == 3);
    CHECK(req.batch_[1].expire_ts_ == 0);
    store->ExecSync(&req);
    REQUIRE(req.Error() == es::KvError::NoError);
    CHECK(req.TableId() == tbl);

    read.SetArgs(tbl, "a");
    store->ExecSync(&read);
    REQUIRE(read.Error() == es::KvError::NoError);
    CHECK(read.value_ == "one");

    // Clear empties the batch; the same request writes again.
    req.Clear();
    CHECK(req.batch_.empty());
    req.AddWrite("a", "", 2, es::WriteOp::Delete);
    store->ExecSync(&req);
    REQUIRE(req.Error() == es::KvError::NoError);
    store->ExecSync(&read);
    CHECK(read.Error() == es::KvError::NotFound);

    // next_ is the caller's: chain spare requests through it.
    es::BatchWriteRequest spare1;
    es::BatchWriteRequest spare2;
    es::WriteRequest *free_list = nullptr;
    for (es::WriteRequest *w : {static_cast<es::WriteRequest *>(&spare1),
                                static_cast<es::WriteRequest *>(&spare2)})
    {
        w->next_ = free_list;
        free_list = w;
    }
    int n = 0;
    for (es::WriteRequest *w = free_list; w != nullptr; w = w->next_)
    {
        auto *b = static_cast<es::BatchWriteRequest *>(w);
        b->SetArgs(tbl, {{"z" + std::to_string(n), "v", 3,
                          es::WriteOp::Upsert}});
        store->ExecSync(b);
        CHECK(b->Error() == es::KvError::NoError);
        ++n;
    }
    CHECK(n == 2);
}

TEST_CASE("WriteDataEntry orders by key bytes", "[batch]")
{
    std::vector<es::WriteDataEntry> v;
    v.emplace_back("b", "", 1, es::WriteOp::Upsert);
    v.emplace_back(std::string("\xff", 1), "", 1, es::WriteOp::Upsert);
    v.emplace_back("a", "", 1, es::WriteOp::Delete);
    v.emplace_back("ab", "", 1, es::WriteOp::Upsert);
    std::sort(v.begin(), v.end());
    CHECK(v[0].key_ == "a");
    CHECK(v[1].key_ == "ab");
    CHECK(v[2].key_ == "b");
    CHECK(v[3].key_ == std::string("\xff", 1));
    es::WriteDataEntry d;
    CHECK(d.expire_ts_ == 0);
    es::WriteDataEntry e("k", "v", 9, es::WriteOp::Upsert, 1234);
    CHECK(e.key_ == "k");
    CHECK(e.val_ == "v");
    CHECK(e.timestamp_ == 9);
    CHECK(e.op_ == es::WriteOp::Upsert);
    CHECK(e.expire_ts_ == 1234);
}

TEST_CASE("many partitions on one shard with a tiny index cache", "[batch]")
{
    TempDir dir("tiny");
    es::KvOptions opts = LocalOptions(dir.str());
    opts.num_threads = 1;
    // Room for very few index pages: the engine must still serve
    // everything correctly (it evicts instead of failing).
    opts.buffer_pool_size = 4 * opts.data_page_size;
    auto store = StartStore(opts);

    std::vector<std::unique_ptr<ModelPartition>> parts;
    for (uint32_t p = 0; p < 12; ++p)
    {
        parts.push_back(
            std::make_unique<ModelPartition>(*store, es::TableIdent("tiny", p)));
    }
    for (uint64_t ts = 1; ts <= 3; ++ts)
    {
        for (auto &part : parts)
        {
            part->UpsertRange(ts * 100, ts * 100 + 600, ts, 64);
        }
    }
    for (auto &part : parts)
    {
        part->CheckScan("", "");
        part->CheckRead(Key(350));
    }
}
