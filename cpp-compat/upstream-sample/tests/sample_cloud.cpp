// Self-test of the upstream test harness's S3 path, in the shape of
// upstream's cloud test files: common.h's cloud_options preset, InitStore,
// MapVerifier, ListCloudFiles and CleanupStore against the S3 server the
// harness starts for cases on its S3 list. Upstream's own cases use the
// default endpoint (127.0.0.1:9900); this sample takes the fixture's
// address from $ELOQSTORE_S3_TEST_ENDPOINT so that CI can run it on
// another port.
#include <catch2/catch_test_macros.hpp>
#include <algorithm>
#include <cstdlib>

#include "common.h"
#include "test_utils.h"

using namespace test_util;

TEST_CASE("sample: a cloud store through the S3 fixture", "[sample][cloud]")
{
    eloqstore::KvOptions opts = cloud_options;
    const char *endpoint = std::getenv("ELOQSTORE_S3_TEST_ENDPOINT");
    REQUIRE(endpoint != nullptr);
    opts.cloud_endpoint = endpoint;
    opts.cloud_store_path = "eloqstore/sample-cloud";
    eloqstore::EloqStore *store = InitStore(opts);
    MapVerifier verify(test_tbl_id, store);
    verify.SetAutoClean(false);
    verify.SetValueSize(2000);
    verify.Upsert(0, 300);
    verify.Validate();

    std::vector<std::string> files =
        ListCloudFiles(opts, opts.cloud_store_path, test_tbl_id.ToString());
    auto has = [&](const std::string &name)
    { return std::find(files.begin(), files.end(), name) != files.end(); };
    REQUIRE(has("CURRENT_TERM"));
    REQUIRE(has("manifest_0"));
    REQUIRE(has("data_0_0"));

    // The bucket alone holds the store: wipe the cache and read it back.
    store->Stop();
    CleanupLocalStore(opts);
    REQUIRE(store->Start() == eloqstore::KvError::NoError);
    verify.Validate();
    store->Stop();

    CleanupStore(opts);
    REQUIRE(ListCloudFiles(opts, opts.cloud_store_path).empty());
}
