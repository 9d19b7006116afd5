// ArchiveRequest, GlobalArchiveRequest and CompactRequest (append mode),
// and restoring a partition from an archive.
#include <catch2/catch_test_macros.hpp>
#include <set>
#include <string>
#include <vector>

#include "common.h"
#include "eloq_store.h"
#include "test_support.h"

using namespace testutil;

namespace
{
es::KvOptions AppendOptions(const std::string &dir)
{
    es::KvOptions o = LocalOptions(dir);
    o.data_append_mode = true;
    o.pages_per_file_shift = 8;
    return o;
}

// Archive timestamps found in a partition directory.
std::set<uint64_t> Archives(const fs::path &dir)
{
    std::set<uint64_t> out;
    if (!fs::exists(dir))
    {
        return out;
    }
    for (const auto &e : fs::directory_iterator(dir))
    {
        const std::string name = e.path().filename().string();
        if (es::IsArchiveFile(name))
        {
            auto [type, suffix] = es::ParseFileName(name);
            uint64_t term = 0;
            std::optional<uint64_t> ts;
            REQUIRE(es::ParseManifestFileSuffix(suffix, term, ts));
            CHECK(term == 0);
            out.insert(*ts);
        }
    }
    return out;
}
}  // namespace

TEST_CASE("archive requests write archive manifests", "[archive]")
{
    TempDir dir("archive");
    es::KvOptions opts = AppendOptions(dir.str());
    auto store = StartStore(opts);
    const es::TableIdent tbl("arc", 0);
    const fs::path pdir = fs::path(dir.str()) / tbl.ToString();

    es::ArchiveRequest archive;
    CHECK(archive.Type() == es::RequestType::Archive);
    // Nothing to archive yet.
    archive.SetTableId(tbl);
    store->ExecSync(&archive);
    CHECK(archive.Error() == es::KvError::NotFound);

    ModelPartition part(*store, tbl);
    part.UpsertRange(0, 500, 1, 100);
    archive.SetSnapshotTimestamp(1000);
    store->ExecSync(&archive);
    REQUIRE(archive.Error() == es::KvError::NoError);
    CHECK(Archives(pdir) == std::set<uint64_t>{1000});

    part.UpsertRange(0, 100, 2, 10);
    archive.SetSnapshotTimestamp(2000);
    store->ExecSync(&archive);
    REQUIRE(archive.Error() == es::KvError::NoError);
    // Timestamp 0 means now (microseconds).
    archive.SetSnapshotTimestamp(0);
    const uint64_t before = NowMs() * 1000;
    store->ExecSync(&archive);
    REQUIRE(archive.Error() == es::KvError::NoError);
    auto all = Archives(pdir);
    REQUIRE(all.size() == 3);
    CHECK(*all.rbegin() >= before);
    part.CheckAll();
}

TEST_CASE("archives and compaction need append mode", "[archive]")
{
    TempDir dir("noappend");
    auto store = StartStore(LocalOptions(dir.str()));
    const es::TableIdent tbl("plain", 0);
    REQUIRE(PutAll(*store, tbl, {{"a", "1"}}, 1) == es::KvError::NoError);
    es::ArchiveRequest archive;
    archive.SetTableId(tbl);
    store->ExecSync(&archive);
    CHECK(archive.Error() == es::KvError::InvalidArgs);
    CHECK(std::string(archive.ErrMessage()).find("append") !=
          std::string::npos);
    es::CompactRequest compact;
    compact.SetTableId(tbl);
    store->ExecSync(&compact);
    CHECK(compact.Error() == es::KvError::InvalidArgs);
}

TEST_CASE("a partition restored from an archive", "[archive]")
{
    TempDir dir("restore");
    es::KvOptions opts = AppendOptions(dir.sub("store"));
    const es::TableIdent tbl("restore", 1);
    const fs::path pdir = fs::path(dir.sub("store")) / tbl.ToString();
    std::map<std::string, Stored> archived;
    std::map<std::string, Stored> latest;
    {
        auto store = StartStore(opts);
        ModelPartition part(*store, tbl);
        part.UpsertRange(0, 100, 1, 50);
        archived = part.Model();
        es::ArchiveRequest archive;
        archive.SetTableId(tbl);
        archive.SetSnapshotTimestamp(42);
        store->ExecSync(&archive);
        REQUIRE(archive.Error() == es::KvError::NoError);
        part.UpsertRange(100, 200, 2, 50);
        part.DeleteRange(0, 10, 3);
        latest = part.Model();
        store->Stop();
    }
    const fs::path manifest = pdir / es::ManifestFileName(0);
    const fs::path backup = fs::path(dir.str()) / "manifest.backup";
    fs::copy_file(manifest, backup);
    fs::copy_file(pdir / es::ArchiveName(0, 42), manifest,
                  fs::copy_options::overwrite_existing);
    {
        auto store = StartStore(opts);
        ModelPartition part(*store, tbl);
        part.Model() = archived;
        part.CheckAll();
        store->Stop();
    }
    fs::copy_file(backup, manifest, fs::copy_options::overwrite_existing);
    auto store = StartStore(opts);
    ModelPartition part(*store, tbl);
    part.Model() = latest;
    part.CheckAll();
}

TEST_CASE("global archive shares one timestamp and honours the filter",
          "[archive]")
{
    TempDir dir("global");
    es::KvOptions opts = AppendOptions(dir.str());
    opts.max_archive_tasks = 2;  // fewer than the partitions
    opts.partition_filter = [](const es::TableIdent &t)
    { return t.tbl_name_ == "g" && t.partition_id_ % 2 == 0; };
    auto store = StartStore(opts);
    for (uint32_t p = 0; p < 7; ++p)
    {
        REQUIRE(PutAll(*store, {"g", p}, {{"k", std::to_string(p)}}, 1) ==
                es::KvError::NoError);
    }
    REQUIRE(PutAll(*store, {"other", 0}, {{"k", "x"}}, 1) ==
            es::KvError::NoError);

    es::GlobalArchiveRequest global;
    CHECK(global.Type() == es::RequestType::GlobalArchive);
    global.SetSnapshotTimestamp(123456789);
    store->ExecSync(&global);
    REQUIRE(global.Error() == es::KvError::NoError);
    for (uint32_t p = 0; p < 7; ++p)
    {
        const auto got =
            Archives(fs::path(dir.str()) / es::TableIdent("g", p).ToString());
        if (p % 2 == 0)
        {
            CHECK(got == std::set<uint64_t>{123456789});
        }
        else
        {
            CHECK(got.empty());
        }
    }
    CHECK(Archives(fs::path(dir.str()) / "other.0").empty());

    // Asynchronously, with a callback.
    global.SetSnapshotTimestamp(555);
    std::atomic<bool> called{false};
    REQUIRE(store->ExecAsyn(&global, 9, [&](es::KvRequest *) { called = true; }));
    global.Wait();
    REQUIRE(global.Error() == es::KvError::NoError);
    CHECK(Archives(fs::path(dir.str()) / "g.4").count(555) == 1);
}

TEST_CASE("compaction in append mode keeps the data", "[archive]")
{
    TempDir dir("compact");
    es::KvOptions opts = AppendOptions(dir.str());
    opts.pages_per_file_shift = 3;
    auto store = StartStore(opts);
    ModelPartition part(*store, {"cmp", 0});
    for (uint64_t ts = 1; ts <= 10; ++ts)
    {
        part.UpsertRange(0, 300, ts, 300);
        part.DeleteRange(ts * 20, ts * 20 + 10, ts);
        es::CompactRequest compact;
        compact.SetTableId(part.Table());
        store->ExecSync(&compact);
        REQUIRE(compact.Error() == es::KvError::NoError);
    }
    part.CheckAll();
    // A partition never written: nothing to do.
    es::CompactRequest none;
    none.SetTableId({"cmp", 99});
    store->ExecSync(&none);
    CHECK(none.Error() == es::KvError::NoError);
}
