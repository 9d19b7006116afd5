// A user's C++ Comparator ordering the keys of the Rust engine.
#include <algorithm>
#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <random>
#include <string>
#include <vector>

#include "comparator.h"
#include "eloq_store.h"
#include "test_support.h"

using namespace testutil;

namespace
{
// Unpadded decimal numbers in numeric order ("9" < "10"): shorter first,
// then bytewise. Counts its calls.
class NumericComparator : public es::Comparator
{
public:
    int Compare(std::string_view a, std::string_view b) const override
    {
        ++compares;
        if (a.size() != b.size())
        {
            return a.size() < b.size() ? -1 : 1;
        }
        const int c = a.compare(b);
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    const char *Name() const override
    {
        return "test.Numeric";
    }
    void FindShortestSeparator(std::string *, std::string_view) const override
    {
    }
    std::string_view FindShortestSeparator(std::string_view,
                                           std::string_view right) const override
    {
        ++separators;
        return right;
    }
    void FindShortSuccessor(std::string *) const override
    {
    }

    mutable std::atomic<uint64_t> compares{0};
    mutable std::atomic<uint64_t> separators{0};
};

// Bytewise descending. Its separator is deliberately wrong (the left key,
// which is not in (left, right]): the engine must notice and use right.
class ReverseComparator : public es::Comparator
{
public:
    int Compare(std::string_view a, std::string_view b) const override
    {
        return -es::Comparator::DefaultComparator()->Compare(a, b);
    }
    const char *Name() const override
    {
        return "test.Reverse";
    }
    void FindShortestSeparator(std::string *, std::string_view) const override
    {
    }
    std::string_view FindShortestSeparator(std::string_view left,
                                           std::string_view) const override
    {
        return left;
    }
    void FindShortSuccessor(std::string *) const override
    {
    }
};

std::vector<std::string> ScanKeys(es::EloqStore &store,
                                  const es::TableIdent &tbl,
                                  const std::string &begin,
                                  const std::string &end)
{
    es::ScanRequest scan;
    scan.SetArgs(tbl, begin, end);
    store.ExecSync(&scan);
    REQUIRE(scan.Error() == es::KvError::NoError);
    std::vector<std::string> keys;
    for (const es::KvEntry &e : scan.Entries())
    {
        keys.push_back(e.key_);
    }
    return keys;
}

std::vector<es::WriteDataEntry> NumericBatch(uint64_t first,
                                             uint64_t last,
                                             uint64_t ts)
{
    // Sorted by the numeric order, which is the loop order.
    std::vector<es::WriteDataEntry> batch;
    for (uint64_t i = first; i < last; ++i)
    {
        batch.emplace_back(std::to_string(i), Value(i, ts, 100), ts,
                           es::WriteOp::Upsert);
    }
    return batch;
}
}  // namespace

TEST_CASE("a custom comparator orders keys, ranges and floors",
          "[comparator]")
{
    TempDir dir("numeric");
    NumericComparator cmp;
    es::KvOptions opts = LocalOptions(dir.str());
    opts.comparator_ = &cmp;
    const es::TableIdent tbl("num", 0);
    {
        auto store = StartStore(opts);
        CHECK(store->Options().comparator_ == &cmp);
        // Enough keys for many data pages (separators are needed).
        for (uint64_t first = 0; first < 6000; first += 1000)
        {
            es::BatchWriteRequest w;
            w.SetArgs(tbl, NumericBatch(first, first + 1000, 1));
            store->ExecSync(&w);
            REQUIRE(w.Error() == es::KvError::NoError);
        }
        CHECK(cmp.compares.load() > 0);
        CHECK(cmp.separators.load() > 0);

        auto keys = ScanKeys(*store, tbl, "", "");
        REQUIRE(keys.size() == 6000);
        for (size_t i = 0; i < keys.size(); ++i)
        {
            REQUIRE(keys[i] == std::to_string(i));
        }
        // [95, 105) numerically: 95..104 (bytewise it would be empty).
        keys = ScanKeys(*store, tbl, "95", "105");
        REQUIRE(keys.size() == 10);
        CHECK(keys.front() == "95");
        CHECK(keys.back() == "104");

        es::FloorRequest floor;
        floor.SetArgs(tbl, "99999");  // above every key numerically
        store->ExecSync(&floor);
        REQUIRE(floor.Error() == es::KvError::NoError);
        CHECK(floor.floor_key_ == "5999");

        // A batch sorted bytewise but not numerically is refused.
        es::BatchWriteRequest bad;
        bad.SetArgs(tbl, {{"10", "x", 2, es::WriteOp::Upsert},
                          {"9", "x", 2, es::WriteOp::Upsert}});
        store->ExecSync(&bad);
        CHECK(bad.Error() == es::KvError::InvalidArgs);

        // Truncate uses the order too: keys >= 1000 numerically go.
        es::TruncateRequest trunc;
        trunc.SetArgs(tbl, std::string("1000"));
        store->ExecSync(&trunc);
        REQUIRE(trunc.Error() == es::KvError::NoError);
        keys = ScanKeys(*store, tbl, "", "");
        REQUIRE(keys.size() == 1000);
        CHECK(keys.back() == "999");
        store->Stop();
    }
    // Reopened with the same order.
    auto store = StartStore(opts);
    auto keys = ScanKeys(*store, tbl, "500", "");
    REQUIRE(keys.size() == 500);
    CHECK(keys.front() == "500");
    es::ReadRequest read;
    read.SetArgs(tbl, "777");
    store->ExecSync(&read);
    REQUIRE(read.Error() == es::KvError::NoError);
    CHECK(read.value_ == Value(777, 1, 100));
}

TEST_CASE("a descending comparator with an invalid separator", "[comparator]")
{
    TempDir dir("reverse");
    ReverseComparator cmp;
    es::KvOptions opts = LocalOptions(dir.str());
    opts.comparator_ = &cmp;
    auto store = StartStore(opts);
    const es::TableIdent tbl("rev", 2);

    std::vector<std::string> all;
    for (uint64_t i = 0; i < 4000; ++i)
    {
        all.push_back(Key(i));
    }
    std::mt19937_64 rng(1);
    for (int round = 0; round < 4; ++round)
    {
        std::vector<es::WriteDataEntry> batch;
        for (const std::string &k : all)
        {
            if (rng() % 2)
            {
                batch.emplace_back(k, k + "-value-" + std::to_string(round),
                                   round + 1, es::WriteOp::Upsert);
            }
        }
        // Descending order for this comparator.
        std::reverse(batch.begin(), batch.end());
        es::BatchWriteRequest w;
        w.SetArgs(tbl, std::move(batch));
        store->ExecSync(&w);
        REQUIRE(w.Error() == es::KvError::NoError);
    }
    const auto stored = ScanKeys(*store, tbl, "", "");
    REQUIRE(stored.size() > 3000);
    CHECK(std::is_sorted(stored.rbegin(), stored.rend()));
    auto keys = stored;
    // [Key(100), Key(50)) in descending order: keys 100 down to 51.
    keys = ScanKeys(*store, tbl, Key(100), Key(50));
    for (const std::string &k : keys)
    {
        CHECK(k <= Key(100));
        CHECK(k > Key(50));
    }
    CHECK(std::is_sorted(keys.rbegin(), keys.rend()));
    // Floor in descending order: the greatest key not above the search key
    // under this order is the smallest bytewise key >= it.
    es::FloorRequest floor;
    floor.SetArgs(tbl, Key(0));
    store->ExecSync(&floor);
    REQUIRE(floor.Error() == es::KvError::NoError);
    CHECK(floor.floor_key_ == stored.back());
    floor.SetArgs(tbl, Key(5000));  // below every key in this order
    store->ExecSync(&floor);
    CHECK(floor.Error() == es::KvError::NotFound);
}
