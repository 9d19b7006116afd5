// Self-test of the upstream test harness, in the shape of upstream's test
// files: common.h's presets and InitStore, test_utils.h's MapVerifier,
// ConcurrencyTester and key helpers, glog's LOG, Catch2 v3 header names.
#include <glog/logging.h>

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>

#include "common.h"
#include "test_utils.h"

using namespace test_util;
namespace fs = std::filesystem;

TEST_CASE("sample: MapVerifier over a persistent store", "[sample]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    MapVerifier verify(test_tbl_id, store);
    verify.SetValueSize(300);
    verify.Upsert(0, 500);
    verify.Delete(100, 200);
    verify.WriteRnd(0, 1000, 20, 50);
    verify.Scan(0, 1000, 50, 4096);
    verify.Floor(150);
    LOG(INFO) << "sample: " << verify.DataSet().size() << " keys";
    store->Stop();
    REQUIRE(store->Start() == eloqstore::KvError::NoError);
    verify.Validate();
    REQUIRE(ValidateFileSizes(default_opts));
}

TEST_CASE("sample: append mode and an in-memory store", "[sample]")
{
    eloqstore::EloqStore *store = InitStore(append_opts);
    {
        MapVerifier verify(test_tbl_id, store, false);
        verify.SetValueSize(5000);
        verify.WriteRnd(0, 300, 10, 80);
        verify.Validate();
    }  // (cleans up while its store runs: InitStore replaces the store)

    store = InitStore(mem_store_opts);
    MapVerifier mem(test_tbl_id, store);
    mem.Upsert(1, 100);
    mem.Truncate(50);
    mem.Read(10);
    mem.Read(60);
}

TEST_CASE("sample: ConcurrencyTester", "[sample]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    ConcurrencyTester tester(store, "t1", 2, 16);
    tester.Init();
    tester.Run(10, 5, 4);
    tester.Clear();
}

// Each case runs in a fresh directory: a file left by one case is not
// there for the next, whichever runs first.
TEST_CASE("sample: fresh directory (1)", "[sample]")
{
    const fs::path marker = fs::path(test_path) / "marker";
    REQUIRE_FALSE(fs::exists(marker));
    fs::create_directories(test_path);
    std::ofstream(marker) << "1";
    REQUIRE_FALSE(fs::exists(fs::temp_directory_path() / "marker"));
    std::ofstream(fs::temp_directory_path() / "marker") << "1";
}

TEST_CASE("sample: fresh directory (2)", "[sample]")
{
    const fs::path marker = fs::path(test_path) / "marker";
    REQUIRE_FALSE(fs::exists(marker));
    fs::create_directories(test_path);
    std::ofstream(marker) << "2";
    REQUIRE_FALSE(fs::exists(fs::temp_directory_path() / "marker"));
    std::ofstream(fs::temp_directory_path() / "marker") << "2";
}
