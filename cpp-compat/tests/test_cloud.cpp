// The cloud tier through upstream's C++ API, against the S3 server of the
// ctest fixture `s3` ($ELOQSTORE_S3_ENDPOINT): Start(term) and Term(),
// writes and reads with the local cache wiped in between,
// ListObjectRequest with details and continuation tokens, a newer term
// fencing an older owner, and an unreachable service at Start.

#include <unistd.h>

#include <set>

#include "test_support.h"
#include "utils.h"

using namespace testutil;

namespace
{
std::string Endpoint()
{
    const char *e = std::getenv("ELOQSTORE_S3_ENDPOINT");
    REQUIRE(e != nullptr);
    return e;
}

std::string UniquePrefix(const std::string &tag)
{
    return "cxx-" + tag + "-" + std::to_string(getpid()) + "-" +
           std::to_string(std::chrono::steady_clock::now()
                              .time_since_epoch()
                              .count());
}

es::KvOptions CloudOptions(const TempDir &cache, const std::string &prefix)
{
    es::KvOptions o;
    o.num_threads = 2;
    o.store_path = {(cache.path() / "cache").string()};
    o.cloud_store_path = "eloqstore/" + prefix;
    o.cloud_endpoint = Endpoint();
    o.pages_per_file_shift = 1;  // 8 KiB data files: many objects
    o.fd_limit = 1000;
    o.data_append_mode = true;
    return o;
}

void Put(es::EloqStore &store, const es::TableIdent &tbl, int from, int to)
{
    es::BatchWriteRequest w;
    std::vector<es::WriteDataEntry> batch;
    for (int i = from; i < to; i++)
    {
        char k[16];
        snprintf(k, sizeof k, "k%06d", i);
        batch.emplace_back(
            k, std::string(3000, char('a' + i % 26)), 1, es::WriteOp::Upsert);
    }
    w.SetArgs(tbl, std::move(batch));
    store.ExecSync(&w);
    REQUIRE(w.Error() == es::KvError::NoError);
}

es::KvError Get(es::EloqStore &store, const es::TableIdent &tbl, int i)
{
    char k[16];
    snprintf(k, sizeof k, "k%06d", i);
    es::ReadRequest r;
    r.SetArgs(tbl, std::string(k));
    store.ExecSync(&r);
    if (r.Error() == es::KvError::NoError)
    {
        CHECK(r.value_ == std::string(3000, char('a' + i % 26)));
    }
    return r.Error();
}
}  // namespace

TEST_CASE("cloud store: terms, cold reads and listings", "[cloud]")
{
    TempDir dir("cloud");
    const std::string prefix = UniquePrefix("list");
    es::KvOptions opts = CloudOptions(dir, prefix);
    es::TableIdent tbl("t", 0);
    {
        es::EloqStore store(opts);
        CHECK(store.Term() == 0);
        REQUIRE(store.Start(5) == es::KvError::NoError);
        CHECK(store.Term() == 5);
        Put(store, tbl, 0, 2200);

        std::vector<std::string> objects;
        std::vector<utils::CloudObjectInfo> details;
        es::ListObjectRequest list(&objects);
        list.SetDetails(&details);
        list.SetRemotePath("t.0");
        std::set<std::string> names;
        int pages = 0;
        do
        {
            list.SetContinuationToken(*list.GetNextContinuationToken());
            store.ExecSync(&list);
            REQUIRE(list.Error() == es::KvError::NoError);
            pages++;
            REQUIRE(objects.size() == details.size());
            for (size_t i = 0; i < details.size(); i++)
            {
                CHECK(details[i].name == objects[i]);
                CHECK(details[i].path == details[i].name);
                CHECK_FALSE(details[i].is_dir);
                CHECK(details[i].size > 0);
                CHECK_FALSE(details[i].mod_time.empty());
                CHECK(names.insert(details[i].name).second);
            }
        } while (list.HasMoreResults());
        CHECK(pages >= 2);
        CHECK(names.size() > 1000);
        CHECK(names.count("manifest_5") == 1);
        CHECK(names.count("CURRENT_TERM") == 1);

        // The root: the partition is a directory.
        es::ListObjectRequest root(&objects);
        root.SetDetails(&details);
        store.ExecSync(&root);
        REQUIRE(root.Error() == es::KvError::NoError);
        REQUIRE(details.size() == 1);
        CHECK(details[0].is_dir);
        CHECK(details[0].name == "t.0");
        CHECK_FALSE(root.HasMoreResults());
        store.Stop();
    }
    // A cold cache: everything comes from the bucket.
    fs::remove_all(dir.path() / "cache");
    {
        es::EloqStore store(opts);
        REQUIRE(store.Start(5) == es::KvError::NoError);
        for (int i : {0, 777, 2199})
        {
            CHECK(Get(store, tbl, i) == es::KvError::NoError);
        }
        CHECK(Get(store, tbl, 5000) == es::KvError::NotFound);

        // A newer owner (term 6, its own cache) fences this one.
        TempDir other("cloud-b");
        es::KvOptions o2 = CloudOptions(other, prefix);
        es::EloqStore newer(o2);
        REQUIRE(newer.Start(6) == es::KvError::NoError);
        CHECK(Get(newer, tbl, 1) == es::KvError::NoError);
        es::BatchWriteRequest w;
        w.SetArgs(tbl, {es::WriteDataEntry("k999999", "stale", 9,
                                           es::WriteOp::Upsert)});
        store.ExecSync(&w);
        CHECK(w.Error() == es::KvError::ExpiredTerm);
        CHECK(Get(newer, tbl, 999999) == es::KvError::NotFound);
    }
}

TEST_CASE("cloud store: an unreachable service fails Start", "[cloud]")
{
    TempDir dir("cloud-down");
    es::KvOptions opts = CloudOptions(dir, UniquePrefix("down"));
    opts.cloud_endpoint = "http://127.0.0.1:1";
    es::EloqStore store(opts);
    CHECK(store.Start(0) == es::KvError::CloudErr);
    CHECK(store.IsStopped());
    // ListObject on a local store is refused.
    TempDir local("local");
    es::KvOptions lo;
    lo.store_path = {local.str()};
    es::EloqStore l(lo);
    REQUIRE(l.Start() == es::KvError::NoError);
    std::vector<std::string> objects{"stale"};
    es::ListObjectRequest list(&objects);
    l.ExecSync(&list);
    CHECK(list.Error() == es::KvError::InvalidArgs);
    // A failed listing leaves the outputs alone, as upstream (it fills
    // them only from a parsed page).
    CHECK(objects == std::vector<std::string>{"stale"});
}
