// Several client threads, asynchronous requests and callbacks.
#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "eloq_store.h"
#include "test_support.h"

using namespace testutil;

namespace
{
// Counts completions; Wait() blocks until `n` arrived.
class Latch
{
public:
    void Arrive()
    {
        std::lock_guard<std::mutex> lk(mu_);
        ++count_;
        cv_.notify_all();
    }
    // False after two minutes without `n` arrivals. No Catch2 assertion
    // here: client threads use it too.
    bool WaitFor(int n)
    {
        std::unique_lock<std::mutex> lk(mu_);
        return cv_.wait_for(lk, std::chrono::seconds(120),
                            [&] { return count_ >= n; });
    }
    void Wait(int n)
    {
        REQUIRE(WaitFor(n));
    }
    int Count()
    {
        std::lock_guard<std::mutex> lk(mu_);
        return count_;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int count_{0};
};
}  // namespace

TEST_CASE("concurrent async batches to one partition apply in order",
          "[concurrency]")
{
    TempDir dir("fifo");
    auto store = StartStore(LocalOptions(dir.str()));
    const es::TableIdent tbl("fifo", 0);
    constexpr int kBatches = 128;
    std::vector<std::unique_ptr<es::BatchWriteRequest>> reqs;
    std::mutex mu;
    std::vector<uint64_t> order;
    Latch latch;
    for (int b = 0; b < kBatches; ++b)
    {
        auto req = std::make_unique<es::BatchWriteRequest>();
        std::vector<es::WriteDataEntry> batch;
        for (int k = 0; k < 100; ++k)
        {
            batch.emplace_back(Key(k), "v" + std::to_string(b), b,
                               es::WriteOp::Upsert);
        }
        req->SetArgs(tbl, std::move(batch));
        reqs.push_back(std::move(req));
    }
    for (int b = 0; b < kBatches; ++b)
    {
        REQUIRE(store->ExecAsyn(reqs[b].get(), b,
                                [&](es::KvRequest *r)
                                {
                                    {
                                        std::lock_guard<std::mutex> lk(mu);
                                        order.push_back(r->UserData());
                                    }
                                    latch.Arrive();
                                }));
    }
    latch.Wait(kBatches);
    for (auto &r : reqs)
    {
        REQUIRE(r->IsDone());
        REQUIRE(r->Error() == es::KvError::NoError);
    }
    // Writes of one partition complete in arrival order.
    for (int b = 0; b < kBatches; ++b)
    {
        REQUIRE(order[b] == static_cast<uint64_t>(b));
    }
    es::ScanRequest scan;
    scan.SetArgs(tbl, "", "");
    store->ExecSync(&scan);
    REQUIRE(scan.Entries().size() == 100);
    for (const es::KvEntry &e : scan.Entries())
    {
        REQUIRE(e.value_ == "v127");
        REQUIRE(e.timestamp_ == 127);
    }
}

TEST_CASE("readers see atomic batches while writers move amounts",
          "[concurrency]")
{
    TempDir dir("sums");
    es::KvOptions opts = LocalOptions("");
    opts.store_path = {dir.sub("p0"), dir.sub("p1"), dir.sub("p2")};
    opts.num_threads = 4;
    auto store = StartStore(opts);
    constexpr uint32_t kPartitions = 10;
    constexpr int kKeys = 40;
    constexpr int64_t kTotal = 100000;

    // Each partition holds kKeys counters summing to kTotal.
    for (uint32_t p = 0; p < kPartitions; ++p)
    {
        std::vector<std::pair<std::string, std::string>> kvs;
        for (int k = 0; k < kKeys; ++k)
        {
            kvs.emplace_back(Key(k), std::to_string(kTotal / kKeys));
        }
        REQUIRE(PutAll(*store, {"sum", p}, kvs, 1) == es::KvError::NoError);
    }

    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    std::atomic<int> scans{0};
    // One writer per partition group (writes of a partition keep their
    // timestamps increasing).
    auto writer = [&](uint32_t first, uint32_t step, uint64_t seed)
    {
        std::mt19937_64 rng(seed);
        std::vector<uint64_t> ts(kPartitions, 1);
        std::vector<std::vector<int64_t>> vals(
            kPartitions, std::vector<int64_t>(kKeys, kTotal / kKeys));
        for (int round = 0; round < 150; ++round)
        {
            const uint32_t p =
                first + step * static_cast<uint32_t>(rng() % (kPartitions / step));
            int a = rng() % kKeys;
            int b = rng() % kKeys;
            if (a == b)
            {
                continue;
            }
            if (a > b)
            {
                std::swap(a, b);
            }
            const int64_t amount = static_cast<int64_t>(rng() % 50);
            vals[p][a] -= amount;
            vals[p][b] += amount;
            ++ts[p];
            es::BatchWriteRequest req;
            req.SetArgs({"sum", p},
                        {{Key(a), std::to_string(vals[p][a]), ts[p],
                          es::WriteOp::Upsert},
                         {Key(b), std::to_string(vals[p][b]), ts[p],
                          es::WriteOp::Upsert}});
            store->ExecSync(&req);
            if (req.Error() != es::KvError::NoError)
            {
                ++failures;
            }
        }
    };
    auto reader = [&](uint64_t seed)
    {
        std::mt19937_64 rng(seed);
        es::ScanRequest scan;
        while (!stop.load())
        {
            const uint32_t p = rng() % kPartitions;
            scan.SetArgs({"sum", p}, "", "");
            store->ExecSync(&scan);
            int64_t sum = 0;
            for (const es::KvEntry &e : scan.Entries())
            {
                sum += std::stoll(e.value_);
            }
            if (scan.Error() != es::KvError::NoError ||
                scan.Entries().size() != kKeys || sum != kTotal)
            {
                ++failures;
            }
            ++scans;
        }
    };
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r)
    {
        readers.emplace_back(reader, 100 + r);
    }
    {
        // Writer i owns partitions i, i + 2, i + 4, ...
        std::thread w0(writer, 0, 2, 1);
        std::thread w1(writer, 1, 2, 2);
        w0.join();
        w1.join();
    }
    stop = true;
    for (auto &t : readers)
    {
        t.join();
    }
    CHECK(failures.load() == 0);
    CHECK(scans.load() > 0);
}

TEST_CASE("async reads from many threads fill outputs before callbacks",
          "[concurrency]")
{
    TempDir dir("async");
    auto store = StartStore(LocalOptions(dir.str()));
    std::vector<std::pair<std::string, std::string>> kvs;
    for (int k = 0; k < 500; ++k)
    {
        kvs.emplace_back(Key(k), Value(k, 1, 50));
    }
    for (uint32_t p = 0; p < 4; ++p)
    {
        REQUIRE(PutAll(*store, {"async", p}, kvs, 1) == es::KvError::NoError);
    }

    std::atomic<int> bad{0};
    auto client = [&](int id)
    {
        constexpr int kReqs = 200;
        std::vector<std::unique_ptr<es::ReadRequest>> reqs;
        Latch latch;
        for (int i = 0; i < kReqs; ++i)
        {
            auto r = std::make_unique<es::ReadRequest>();
            const int k = (i * 7 + id) % 500;
            r->SetArgs({"async", static_cast<uint32_t>(i % 4)}, Key(k));
            const uint64_t data = static_cast<uint64_t>(id) * 1000000 + k;
            const bool sent = store->ExecAsyn(
                r.get(), data,
                [&, data](es::KvRequest *req)
                {
                    auto *read = static_cast<es::ReadRequest *>(req);
                    const uint64_t key = data % 1000000;
                    if (!req->IsDone() || req->UserData() != data ||
                        read->Error() != es::KvError::NoError ||
                        read->value_ != Value(key, 1, 50) || read->ts_ != 1)
                    {
                        ++bad;
                    }
                    latch.Arrive();
                });
            if (!sent)
            {
                ++bad;
                latch.Arrive();
            }
            reqs.push_back(std::move(r));
        }
        if (!latch.WaitFor(kReqs))
        {
            ++bad;
        }
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
    {
        threads.emplace_back(client, t);
    }
    for (auto &t : threads)
    {
        t.join();
    }
    CHECK(bad.load() == 0);
}

TEST_CASE("requests without a callback: IsDone, Wait and user data",
          "[concurrency]")
{
    TempDir dir("poll");
    auto store = StartStore(LocalOptions(dir.str()));
    const es::TableIdent tbl("poll", 0);
    REQUIRE(PutAll(*store, tbl, {{"k", "v"}}, 4) == es::KvError::NoError);

    es::ReadRequest read;
    CHECK(read.IsDone());  // never submitted
    CHECK(read.UserData() == 0);
    read.SetArgs(tbl, "k");
    REQUIRE(store->ExecAsyn(&read));
    read.Wait();
    CHECK(read.IsDone());
    CHECK(read.Error() == es::KvError::NoError);
    CHECK(read.value_ == "v");
    CHECK(read.UserData() == 0);

    // Busy polling, as upstream's example does.
    es::FloorRequest floor;
    floor.SetArgs(tbl, "z");
    REQUIRE(store->ExecAsyn(&floor));
    while (!floor.IsDone())
    {
        std::this_thread::yield();
    }
    CHECK(floor.floor_key_ == "k");

    // With a callback and user data; Wait() works as well.
    std::atomic<uint64_t> seen{0};
    REQUIRE(store->ExecAsyn(&read, 42,
                            [&](es::KvRequest *r) { seen = r->UserData(); }));
    read.Wait();
    // The callback runs right after done is published.
    for (int i = 0; i < 1000 && seen.load() == 0; ++i)
    {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(seen.load() == 42);
    CHECK(read.UserData() == 42);
    // ExecSync resets the user data.
    store->ExecSync(&read);
    CHECK(read.UserData() == 0);
}

TEST_CASE("a callback may resubmit its request", "[concurrency]")
{
    TempDir dir("chain");
    auto store = StartStore(LocalOptions(dir.str()));
    const es::TableIdent tbl("chain", 1);
    es::BatchWriteRequest write;
    std::atomic<int> rounds{0};
    Latch latch;
    std::function<void(es::KvRequest *)> next = [&](es::KvRequest *r)
    {
        auto *w = static_cast<es::BatchWriteRequest *>(r);
        if (w->Error() != es::KvError::NoError)
        {
            latch.Arrive();
            return;
        }
        const int n = ++rounds;
        if (n == 50)
        {
            latch.Arrive();
            return;
        }
        w->SetArgs(tbl, {{Key(n), std::to_string(n), 1, es::WriteOp::Upsert}});
        if (!store->ExecAsyn(w, n, next))
        {
            latch.Arrive();
        }
    };
    write.SetArgs(tbl, {{Key(0), "0", 1, es::WriteOp::Upsert}});
    REQUIRE(store->ExecAsyn(&write, 0, next));
    latch.Wait(1);
    REQUIRE(rounds.load() == 50);
    write.Wait();
    es::ScanRequest scan;
    scan.SetArgs(tbl, "", "");
    store->ExecSync(&scan);
    CHECK(scan.Entries().size() == 50);
}

TEST_CASE("ExecSync inside a callback fails instead of blocking",
          "[concurrency]")
{
    TempDir dir("nested");
    auto store = StartStore(LocalOptions(dir.str()));
    const es::TableIdent tbl("nested", 0);
    REQUIRE(PutAll(*store, tbl, {{"a", "1"}}, 1) == es::KvError::NoError);
    es::ReadRequest outer;
    es::ReadRequest inner;
    outer.SetArgs(tbl, "a");
    inner.SetArgs(tbl, "a");
    Latch latch;
    REQUIRE(store->ExecAsyn(&outer, 1,
                            [&](es::KvRequest *)
                            {
                                store->ExecSync(&inner);
                                latch.Arrive();
                            }));
    latch.Wait(1);
    CHECK(inner.IsDone());
    CHECK(inner.Error() == es::KvError::InvalidArgs);
    CHECK(std::string(inner.ErrMessage()).find("callback") !=
          std::string::npos);
    // Outside callbacks it works.
    store->ExecSync(&inner);
    CHECK(inner.Error() == es::KvError::NoError);
}

TEST_CASE("a request freed by its own callback", "[concurrency]")
{
    TempDir dir("selfdelete");
    auto store = StartStore(LocalOptions(dir.str()));
    const es::TableIdent tbl("sd", 0);
    REQUIRE(PutAll(*store, tbl, {{"a", "1"}}, 1) == es::KvError::NoError);
    Latch latch;
    std::atomic<int> ok{0};
    for (int i = 0; i < 100; ++i)
    {
        auto *read = new es::ReadRequest();
        read->SetArgs(tbl, "a");
        REQUIRE(store->ExecAsyn(read, i,
                                [&](es::KvRequest *r)
                                {
                                    if (static_cast<es::ReadRequest *>(r)
                                            ->value_ == "1")
                                    {
                                        ++ok;
                                    }
                                    delete r;
                                    latch.Arrive();
                                }));
    }
    latch.Wait(100);
    CHECK(ok.load() == 100);
}

TEST_CASE("stopped stores refuse requests; Stop completes those in flight",
          "[concurrency]")
{
    TempDir dir("stop");
    es::KvOptions opts = LocalOptions(dir.str());
    es::EloqStore store(opts);
    const es::TableIdent tbl("stop", 0);

    // Never started.
    CHECK(store.IsStopped());
    es::ReadRequest read;
    read.SetArgs(tbl, "a");
    store.ExecSync(&read);
    CHECK(read.Error() == es::KvError::NotRunning);
    CHECK(read.IsDone());
    bool called = false;
    CHECK_FALSE(store.ExecAsyn(&read, 1, [&](es::KvRequest *) { called = true; }));
    CHECK_FALSE(called);
    CHECK_FALSE(store.ExecAsyn(&read));

    REQUIRE(store.Start() == es::KvError::NoError);
    REQUIRE(PutAll(store, tbl, {{"a", "1"}}, 1) == es::KvError::NoError);
    // Many requests in flight when Stop is called: all complete first.
    std::vector<std::unique_ptr<es::ReadRequest>> reqs;
    std::atomic<int> done{0};
    for (int i = 0; i < 300; ++i)
    {
        reqs.push_back(std::make_unique<es::ReadRequest>());
        reqs.back()->SetArgs(tbl, "a");
        REQUIRE(store.ExecAsyn(reqs.back().get(), i,
                               [&](es::KvRequest *) { ++done; }));
    }
    store.Stop();
    CHECK(done.load() == 300);
    for (auto &r : reqs)
    {
        CHECK(r->IsDone());
        CHECK(r->Error() == es::KvError::NoError);
    }
    CHECK(store.IsStopped());
    store.ExecSync(&read);
    CHECK(read.Error() == es::KvError::NotRunning);
    CHECK_FALSE(store.ExecAsyn(&read));
    // Stop again is harmless; so is a second Start.
    store.Stop();
    REQUIRE(store.Start() == es::KvError::NoError);
    REQUIRE(store.Start() == es::KvError::NoError);
    store.ExecSync(&read);
    CHECK(read.Error() == es::KvError::NoError);
    CHECK(read.value_ == "1");
}

TEST_CASE("sync clients on many threads and partitions", "[concurrency]")
{
    TempDir dir("hard");
    es::KvOptions opts = LocalOptions("");
    opts.store_path = {dir.sub("a"), dir.sub("b"), dir.sub("c")};
    opts.num_threads = 4;
    auto store = StartStore(opts);
    std::atomic<int> errors{0};
    auto client = [&](uint32_t id)
    {
        // Each client owns two partitions and checks them against models.
        try
        {
            for (uint32_t p : {id, id + 4})
            {
                ModelPartition part(*store, {"hard", p});
                std::mt19937_64 rng(id * 31 + p);
                for (uint64_t ts = 1; ts <= 15; ++ts)
                {
                    std::vector<es::WriteDataEntry> batch;
                    std::map<uint64_t, bool> used;
                    for (int i = 0; i < 100; ++i)
                    {
                        const uint64_t k = rng() % 800;
                        if (used.emplace(k, true).second)
                        {
                            batch.emplace_back(
                                Key(k), Value(k, ts, rng() % 500), ts,
                                rng() % 5 ? es::WriteOp::Upsert
                                          : es::WriteOp::Delete);
                        }
                    }
                    if (part.Write(std::move(batch)) != es::KvError::NoError)
                    {
                        ++errors;
                    }
                }
                // Check without Catch assertions (not thread-safe in v2).
                es::ScanRequest scan;
                scan.SetArgs(part.Table(), "", "");
                store->ExecSync(&scan);
                const auto want = part.Live();
                if (scan.Error() != es::KvError::NoError ||
                    scan.Entries().size() != want.size())
                {
                    ++errors;
                    continue;
                }
                for (size_t i = 0; i < want.size(); ++i)
                {
                    if (scan.Entries()[i].key_ != want[i].first ||
                        scan.Entries()[i].value_ != want[i].second.value)
                    {
                        ++errors;
                    }
                }
            }
        }
        catch (...)
        {
            ++errors;
        }
    };
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < 4; ++t)
    {
        threads.emplace_back(client, t);
    }
    for (auto &t : threads)
    {
        t.join();
    }
    CHECK(errors.load() == 0);
}

namespace
{
std::mutex g_mu;
std::condition_variable g_cv;
bool g_ready = false;

// A plain function as the callback, as upstream's example passes one.
void WakeUp(es::KvRequest *)
{
    std::lock_guard<std::mutex> lk(g_mu);
    g_ready = true;
    g_cv.notify_one();
}
}  // namespace

TEST_CASE("a plain function as the callback", "[concurrency]")
{
    TempDir dir("fnptr");
    auto store = StartStore(LocalOptions(dir.str()));
    const es::TableIdent tbl("fn", 1);
    es::BatchWriteRequest write;
    std::vector<es::WriteDataEntry> entries;
    entries.emplace_back("key1", "val1", 1, es::WriteOp::Upsert);
    entries.emplace_back("key2", "val2", 1, es::WriteOp::Upsert);
    write.SetArgs(tbl, std::move(entries));
    g_ready = false;
    REQUIRE(store->ExecAsyn(&write, 0, WakeUp));
    {
        std::unique_lock<std::mutex> lk(g_mu);
        REQUIRE(g_cv.wait_for(lk, std::chrono::seconds(60), [] { return g_ready; }));
    }
    REQUIRE(write.Error() == es::KvError::NoError);

    g_ready = false;
    es::ScanRequest scan;
    scan.SetArgs(tbl, "key1", "key3");
    REQUIRE(store->ExecAsyn(&scan, 0, &WakeUp));
    {
        std::unique_lock<std::mutex> lk(g_mu);
        REQUIRE(g_cv.wait_for(lk, std::chrono::seconds(60), [] { return g_ready; }));
    }
    REQUIRE(scan.Entries().size() == 2);
    CHECK(scan.Entries()[1].value_ == "val2");
}
