// TruncateRequest and DropTableRequest through the C++ API.
#include <catch2/catch_test_macros.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "eloq_store.h"
#include "test_support.h"

using namespace testutil;

namespace
{
// Truncates the model like the engine: drops keys >= position (all when
// the position is empty).
void ModelTruncate(ModelPartition &part, const std::string &position)
{
    auto &m = part.Model();
    if (position.empty())
    {
        m.clear();
    }
    else
    {
        m.erase(m.lower_bound(position), m.end());
    }
}

es::KvError Truncate(es::EloqStore &store,
                     const es::TableIdent &tbl,
                     std::string position)
{
    es::TruncateRequest req;
    req.SetArgs(tbl, std::move(position));
    store.ExecSync(&req);
    return req.Error();
}
}  // namespace

TEST_CASE("truncate removes every key from a position on", "[truncate]")
{
    TempDir dir("trunc");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"trunc", 0});
    part.UpsertRange(0, 3000, 1, 60);

    for (uint64_t pos : {2500, 1000, 999, 10})
    {
        REQUIRE(Truncate(*store, part.Table(), Key(pos)) ==
                es::KvError::NoError);
        ModelTruncate(part, Key(pos));
        part.CheckScan("", "");
        part.CheckRead(Key(pos));
        part.CheckRead(Key(pos - 1));
    }
    // A position between keys.
    REQUIRE(Truncate(*store, part.Table(), Key(5) + "x") ==
            es::KvError::NoError);
    ModelTruncate(part, Key(5) + "x");
    part.CheckAll();
    // Writes after a truncate.
    part.UpsertRange(3, 40, 2, 10);
    part.CheckAll();
    // The empty position clears the partition.
    REQUIRE(Truncate(*store, part.Table(), "") == es::KvError::NoError);
    ModelTruncate(part, "");
    part.CheckAll();
    es::ScanRequest scan;
    scan.SetArgs(part.Table(), "", "");
    store->ExecSync(&scan);
    CHECK(scan.Error() == es::KvError::NoError);
    CHECK(scan.Entries().empty());
}

TEST_CASE("truncate of overflow values, twice", "[truncate]")
{
    TempDir dir("truncov");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"truncov", 1});
    part.UpsertRange(0, 300, 1, 5000);
    REQUIRE(Truncate(*store, part.Table(), Key(200)) == es::KvError::NoError);
    ModelTruncate(part, Key(200));
    part.CheckAll();
    REQUIRE(Truncate(*store, part.Table(), Key(1)) == es::KvError::NoError);
    ModelTruncate(part, Key(1));
    part.CheckAll();
    REQUIRE(part.Model().size() == 1);
}

TEST_CASE("truncate of a partition that does not exist succeeds",
          "[truncate]")
{
    TempDir dir("truncnone");
    auto store = StartStore(LocalOptions(dir.str()));
    CHECK(Truncate(*store, {"none", 3}, "") == es::KvError::NoError);
    CHECK(Truncate(*store, {"none", 3}, "k") == es::KvError::NoError);
    es::ReadRequest read;
    read.SetArgs({"none", 3}, "k");
    store->ExecSync(&read);
    CHECK(read.Error() == es::KvError::NotFound);
}

TEST_CASE("position_ may be set directly before execution", "[truncate]")
{
    TempDir dir("truncpos");
    auto store = StartStore(LocalOptions(dir.str()));
    ModelPartition part(*store, {"pos", 0});
    part.UpsertRange(0, 100, 1, 8);

    es::TruncateRequest req;
    CHECK(req.Type() == es::RequestType::Truncate);
    std::string where = Key(90);
    req.SetArgs(part.Table(), std::string_view(where));
    CHECK(req.position_ == Key(90));
    // The caller's buffer changes before execution: the request reads it
    // when it executes.
    where = Key(50);
    req.position_ = where;
    store->ExecSync(&req);
    REQUIRE(req.Error() == es::KvError::NoError);
    ModelTruncate(part, Key(50));
    part.CheckAll();

    // The owning overload keeps its own copy.
    {
        std::string tmp = Key(20);
        req.SetArgs(part.Table(), std::move(tmp));
    }
    CHECK(req.position_ == Key(20));
    store->ExecSync(&req);
    REQUIRE(req.Error() == es::KvError::NoError);
    ModelTruncate(part, Key(20));
    part.CheckAll();
}

namespace
{
void CheckDropTable(es::EloqStore &store, const std::string &scratch)
{
    std::vector<std::unique_ptr<ModelPartition>> dropped;
    std::vector<std::unique_ptr<ModelPartition>> kept;
    for (uint32_t p = 0; p < 6; ++p)
    {
        dropped.push_back(
            std::make_unique<ModelPartition>(store, es::TableIdent("gone", p)));
        dropped.back()->UpsertRange(0, 200 + p, 1, 30);
    }
    kept.push_back(
        std::make_unique<ModelPartition>(store, es::TableIdent("gone2", 0)));
    kept.push_back(
        std::make_unique<ModelPartition>(store, es::TableIdent("stay", 1)));
    for (auto &k : kept)
    {
        k->UpsertRange(0, 50, 1, 30);
    }

    es::DropTableRequest drop;
    CHECK(drop.Type() == es::RequestType::DropTable);
    drop.SetArgs("gone");
    CHECK(drop.TableName() == "gone");
    CHECK(drop.TableId() == es::TableIdent("gone", UINT32_MAX));
    store.ExecSync(&drop);
    REQUIRE(drop.Error() == es::KvError::NoError);

    for (auto &d : dropped)
    {
        d->Model().clear();
        es::ScanRequest scan;
        scan.SetArgs(d->Table(), "", "");
        store.ExecSync(&scan);
        CHECK((scan.Error() == es::KvError::NoError ||
               scan.Error() == es::KvError::NotFound));
        CHECK(scan.Entries().empty());
        d->CheckRead(Key(3));
    }
    for (auto &k : kept)
    {
        k->CheckAll();
    }
    // The table can be filled again.
    dropped[2]->UpsertRange(5, 15, 2, 9);
    dropped[2]->CheckAll();

    // Dropping a table that has no partition succeeds.
    drop.SetArgs("never-" + scratch);
    store.ExecSync(&drop);
    CHECK(drop.Error() == es::KvError::NoError);
}
}  // namespace

TEST_CASE("drop table clears every partition of the table", "[drop]")
{
    TempDir dir("drop");
    es::KvOptions opts = LocalOptions("");
    // Two store paths: partitions are spread over both.
    opts.store_path = {dir.sub("d0"), dir.sub("d1")};
    auto store = StartStore(opts);
    CheckDropTable(*store, "disk");
}

TEST_CASE("drop table works in an in-memory store too", "[drop]")
{
    auto store = StartStore(LocalOptions(""));
    CheckDropTable(*store, "mem");
}

TEST_CASE("drop table survives a restart", "[drop]")
{
    TempDir dir("droprestart");
    es::KvOptions opts = LocalOptions(dir.str());
    {
        auto store = StartStore(opts);
        REQUIRE(PutAll(*store, {"t", 0}, {{"a", "1"}}, 1) ==
                es::KvError::NoError);
        REQUIRE(PutAll(*store, {"t", 1}, {{"b", "2"}}, 1) ==
                es::KvError::NoError);
        es::DropTableRequest drop;
        drop.SetArgs("t");
        store->ExecSync(&drop);
        REQUIRE(drop.Error() == es::KvError::NoError);
        store->Stop();
    }
    auto store = StartStore(opts);
    for (uint32_t p : {0u, 1u})
    {
        es::ScanRequest scan;
        scan.SetArgs({"t", p}, "", "");
        store->ExecSync(&scan);
        CHECK(scan.Entries().empty());
    }
}
