// KvOptions (fields, defaults, INI files, validation) and the EloqStore
// life cycle through the C++ API.
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#include "eloq_store.h"
#include "kv_options.h"
#include "test_support.h"
#include "utils.h"

using namespace testutil;

// Field types as upstream declares them.
static_assert(std::is_same_v<decltype(es::KvOptions::num_threads), uint16_t>);
static_assert(std::is_same_v<decltype(es::KvOptions::comparator_),
                             const es::Comparator *>);
static_assert(
    std::is_same_v<decltype(es::KvOptions::init_page_count), uint32_t>);
static_assert(
    std::is_same_v<decltype(es::KvOptions::buffer_pool_size), uint64_t>);
static_assert(
    std::is_same_v<decltype(es::KvOptions::file_amplify_factor), uint8_t>);
static_assert(
    std::is_same_v<decltype(es::KvOptions::local_space_limit), size_t>);
static_assert(std::is_same_v<decltype(es::KvOptions::store_path),
                             std::vector<std::string>>);
static_assert(
    std::is_same_v<decltype(es::KvOptions::data_page_size), uint16_t>);
static_assert(
    std::is_same_v<decltype(es::KvOptions::pages_per_file_shift), uint8_t>);
static_assert(
    std::is_same_v<decltype(es::KvOptions::mapping_arena_size), size_t>);
static_assert(std::is_same_v<decltype(es::KvOptions::partition_filter),
                             std::function<bool(const es::TableIdent &)>>);
static_assert(es::KB == 1024 && es::MB == 1 << 20 && es::GB == 1 << 30 &&
              es::TB == 1LL << 40);
static_assert(es::max_overflow_pointers == 128 &&
              es::max_read_pages_batch == 128);

TEST_CASE("defaults are upstream's", "[options]")
{
    const es::KvOptions o;
    CHECK(o.num_threads == 1);
    CHECK(o.comparator_ == es::Comparator::DefaultComparator());
    CHECK(o.data_page_restart_interval == 16);
    CHECK(o.index_page_restart_interval == 16);
    CHECK(o.init_page_count == 32768);
    CHECK_FALSE(o.skip_verify_checksum);
    CHECK(o.buffer_pool_size == 32u << 20);
    CHECK(o.root_meta_cache_size == 1u << 30);
    CHECK(o.manifest_limit == 8u << 20);
    CHECK(o.fd_limit == 10000);
    CHECK(o.io_queue_size == 4096);
    CHECK(o.max_inflight_write == 32768);
    CHECK(o.max_write_batch_pages == 256);
    CHECK(o.buf_ring_size == 4096);
    CHECK(o.coroutine_stack_size == 32 * 1024);
    CHECK(o.num_retained_archives == 0);
    CHECK(o.archive_interval_secs == 86400);
    CHECK(o.max_archive_tasks == 256);
    CHECK(o.file_amplify_factor == 2);
    CHECK(o.local_space_limit == size_t(1) << 40);
    CHECK(o.reserve_space_ratio == 100);
    CHECK(o.max_upload_batch == 5);
    CHECK(o.max_cloud_concurrency == 20);
    CHECK(o.cloud_request_threads == 1);
    CHECK(o.direct_io_buffer_pool_size == 4);
    CHECK_FALSE(o.allow_reuse_local_caches);
    CHECK(o.store_path.empty());
    CHECK(o.cloud_store_path.empty());
    CHECK(o.cloud_provider == "aws");
    CHECK(o.cloud_endpoint.empty());
    CHECK(o.cloud_region == "us-east-1");
    CHECK(o.cloud_access_key == "minioadmin");
    CHECK(o.cloud_secret_key == "minioadmin");
    CHECK_FALSE(o.cloud_verify_ssl);
    CHECK(o.data_page_size == 4096);
    CHECK(o.pages_per_file_shift == 18);
    CHECK(o.overflow_pointers == 16);
    CHECK_FALSE(o.data_append_mode);
    CHECK_FALSE(o.enable_compression);
    CHECK_FALSE(o.prewarm_cloud_cache);
    CHECK(o.prewarm_task_count == 3);
    CHECK(o.mapping_arena_size == 128);
    CHECK_FALSE(o.partition_filter);
    CHECK(o.FilePageOffsetMask() == (1u << 18) - 1);
    CHECK(o.DataFileSize() == size_t(4096) << 18);
}

TEST_CASE("designated initialisers in upstream's field order", "[options]")
{
    // Every field, in declaration order: this only compiles if the order
    // and the types are upstream's.
    const es::KvOptions all = {
        .num_threads = 2,
        .comparator_ = es::Comparator::DefaultComparator(),
        .data_page_restart_interval = 8,
        .index_page_restart_interval = 12,
        .init_page_count = 1024,
        .skip_verify_checksum = true,
        .buffer_pool_size = 16 * es::MB,
        .root_meta_cache_size = 64 * es::MB,
        .manifest_limit = 4 * es::MB,
        .fd_limit = 2000,
        .io_queue_size = 1024,
        .max_inflight_write = 1024,
        .max_write_batch_pages = 64,
        .buf_ring_size = 1024,
        .coroutine_stack_size = 16 * es::KB,
        .num_retained_archives = 0,
        .archive_interval_secs = 0,
        .max_archive_tasks = 4,
        .file_amplify_factor = 3,
        .local_space_limit = 1ULL << 30,
        .reserve_space_ratio = 50,
        .max_upload_batch = 2,
        .max_cloud_concurrency = 4,
        .cloud_request_threads = 1,
        .direct_io_buffer_pool_size = 2,
        .allow_reuse_local_caches = false,
        .store_path = {},
        .cloud_store_path = "",
        .cloud_provider = "aws",
        .cloud_endpoint = "",
        .cloud_region = "eu-west-1",
        .cloud_access_key = "a",
        .cloud_secret_key = "s",
        .cloud_verify_ssl = false,
        .data_page_size = 8 * es::KB,
        .pages_per_file_shift = 8,
        .overflow_pointers = 32,
        .data_append_mode = false,
        .enable_compression = true,
        .prewarm_cloud_cache = false,
        .prewarm_task_count = 1,
        .mapping_arena_size = 16,
        .partition_filter = [](const es::TableIdent &t)
        { return t.partition_id_ % 2 == 0; },
    };
    CHECK(all.data_page_restart_interval == 8);
    CHECK(all.DataFileSize() == size_t(8 * 1024) << 8);

    // The option sets upstream's tests are written with.
    const es::KvOptions in_memory = {};
    const es::KvOptions on_disk = {.store_path = {"/tmp/x"}};
    const es::KvOptions append = {
        .store_path = {"/tmp/x"},
        .pages_per_file_shift = 8,
        .data_append_mode = true,
    };
    const es::KvOptions archives = {
        .num_retained_archives = 1,
        .archive_interval_secs = 0,
        .file_amplify_factor = 2,
        .store_path = {"/tmp/x"},
        .pages_per_file_shift = 8,
        .data_append_mode = true,
    };
    CHECK(in_memory.store_path.empty());
    CHECK(on_disk.store_path.size() == 1);
    CHECK(append.data_append_mode);
    CHECK(archives.num_retained_archives == 1);

    // An in-memory store from designated initialisers serves requests.
    const es::KvOptions mem = {.num_threads = 2, .data_page_size = 8 * es::KB};
    auto store = StartStore(mem);
    REQUIRE(PutAll(*store, {"t", 1}, {{"k", "v"}}, 1) == es::KvError::NoError);
    CHECK(store->Options().data_page_size == 8 * 1024);
}

TEST_CASE("ValidateOptions rejects unusable options", "[options]")
{
    const long page = sysconf(_SC_PAGESIZE);
    auto invalid = [](auto change)
    {
        es::KvOptions o;
        change(o);
        const es::KvOptions before = o;
        const bool ok = es::EloqStore::ValidateOptions(o);
        // A rejected set is left as it was.
        CHECK(o == before);
        return !ok;
    };
    CHECK(invalid([&](es::KvOptions &o)
                  { o.data_page_size = static_cast<uint16_t>(page + 512); }));
    CHECK(invalid([&](es::KvOptions &o)
                  { o.coroutine_stack_size = static_cast<uint32_t>(page) + 1; }));
    CHECK(invalid([](es::KvOptions &o) { o.overflow_pointers = 0; }));
    CHECK(invalid([](es::KvOptions &o) { o.overflow_pointers = 129; }));
    CHECK(invalid([](es::KvOptions &o) { o.max_write_batch_pages = 0; }));
    auto cloud = [](es::KvOptions &o) { o.cloud_store_path = "bucket/prefix"; };
    CHECK(invalid([&](es::KvOptions &o)
                  {
                      cloud(o);
                      o.max_cloud_concurrency = 0;
                  }));
    CHECK(invalid([&](es::KvOptions &o)
                  {
                      cloud(o);
                      o.cloud_request_threads = 0;
                  }));
    CHECK(invalid([&](es::KvOptions &o)
                  {
                      cloud(o);
                      o.max_upload_batch = 0;
                  }));
    CHECK(invalid([&](es::KvOptions &o)
                  {
                      cloud(o);
                      o.max_upload_batch = o.max_cloud_concurrency;
                  }));

    es::KvOptions ok;
    ok.overflow_pointers = 128;
    CHECK(es::EloqStore::ValidateOptions(ok));
}

TEST_CASE("ValidateOptions applies upstream's adjustments", "[options]")
{
    // Outside cloud mode, prewarming is switched off.
    es::KvOptions local;
    local.prewarm_cloud_cache = true;
    REQUIRE(es::EloqStore::ValidateOptions(local));
    CHECK_FALSE(local.prewarm_cloud_cache);

    // Cloud mode: append mode forced, budgets adjusted.
    es::KvOptions cloud;
    cloud.cloud_store_path = "bucket";
    cloud.store_path = {"/tmp/cache"};
    cloud.local_space_limit = 0;
    REQUIRE(es::EloqStore::ValidateOptions(cloud));
    CHECK(cloud.data_append_mode);
    CHECK(cloud.local_space_limit == size_t(1) << 40);

    // A cloud path without a store path for the cache is refused (upstream
    // would silently run in memory, ignoring the bucket).
    es::KvOptions no_cache;
    no_cache.cloud_store_path = "bucket";
    CHECK_FALSE(es::EloqStore::ValidateOptions(no_cache));

    es::KvOptions small;
    small.cloud_store_path = "bucket";
    small.store_path = {"/tmp/cache"};
    small.pages_per_file_shift = 8;  // 1 MiB files
    small.local_space_limit = 1000;
    small.fd_limit = 10000;
    REQUIRE(es::EloqStore::ValidateOptions(small));
    CHECK(small.local_space_limit == small.DataFileSize());
    CHECK(small.fd_limit == 1);

    es::KvOptions clamp;
    clamp.cloud_store_path = "bucket";
    clamp.store_path = {"/tmp/cache"};
    clamp.pages_per_file_shift = 8;
    clamp.local_space_limit = 10 * clamp.DataFileSize();
    REQUIRE(es::EloqStore::ValidateOptions(clamp));
    CHECK(clamp.fd_limit == 10);
}

TEST_CASE("a store with invalid options does not start and does not crash",
          "[options]")
{
    es::KvOptions o;
    o.overflow_pointers = 0;
    es::EloqStore store(o);
    CHECK(store.IsStopped());
    CHECK(store.Start() == es::KvError::InvalidArgs);
    CHECK(store.IsStopped());
    CHECK(store.Options().overflow_pointers == 0);
    es::ReadRequest read;
    read.SetArgs({"t", 0}, "k");
    store.ExecSync(&read);
    CHECK(read.Error() == es::KvError::NotRunning);
    CHECK(std::string(read.ErrMessage()).find("overflow_pointers") !=
          std::string::npos);
    CHECK_FALSE(store.ExecAsyn(&read));
    store.Stop();

    // A null comparator is refused the same way.
    es::KvOptions nullcmp;
    nullcmp.comparator_ = nullptr;
    es::EloqStore store2(nullcmp);
    CHECK(store2.Start() == es::KvError::InvalidArgs);
}

TEST_CASE("Options() is the validated copy", "[options]")
{
    TempDir dir("opts");
    es::KvOptions o = LocalOptions(dir.str());
    o.prewarm_cloud_cache = true;
    o.num_threads = 3;
    es::EloqStore store(o);
    CHECK_FALSE(store.Options().prewarm_cloud_cache);
    CHECK(store.Options().num_threads == 3);
    CHECK(store.Options().store_path == o.store_path);
    CHECK(store.Options().comparator_ == es::Comparator::DefaultComparator());
    CHECK(store.Term() == 0);
    CHECK(store.CloudService() == nullptr);
    CHECK(store.GetPrewarmService() == nullptr);
    CHECK_FALSE(store.EnableMetrics());
}

TEST_CASE("cloud options refused, and ListObject outside cloud mode", "[options]")
{
    TempDir dir("cloud");
    es::KvOptions o = LocalOptions(dir.str());
    // Upstream aborts on these; here the store does not start.
    for (const char *bad : {"remote:bucket", "/", "bucket/a//b"})
    {
        o.cloud_store_path = bad;
        es::EloqStore store(o);
        CHECK(store.Start() == es::KvError::InvalidArgs);
        CHECK(store.IsStopped());
    }
    o.cloud_store_path = "bucket/prefix";
    o.store_path.clear();
    CHECK_FALSE(es::EloqStore::ValidateOptions(o));

    // ListObject needs the cloud tier: it fails, saying so, and leaves
    // the outputs alone.
    auto local = StartStore(LocalOptions(dir.sub("local")));
    std::vector<std::string> objects{"untouched"};
    std::vector<utils::CloudObjectInfo> details;
    es::ListObjectRequest list(&objects);
    CHECK(list.Type() == es::RequestType::ListObject);
    CHECK(list.ReadOnly());
    list.SetRemotePath("t.0");
    list.SetRecursive(true);
    list.SetDetails(&details);
    list.SetContinuationToken("tok");
    CHECK(list.RemotePath() == "t.0");
    CHECK(list.Recursive());
    CHECK(list.GetDetails() == &details);
    CHECK(list.GetObjects() == &objects);
    CHECK(list.GetContinuationToken() == "tok");
    CHECK_FALSE(list.HasMoreResults());
    local->ExecSync(&list);
    CHECK(list.Error() == es::KvError::InvalidArgs);
    CHECK(std::string(list.ErrMessage()).find("cloud") != std::string::npos);
    CHECK(objects == std::vector<std::string>{"untouched"});
}

TEST_CASE("Start prepares and checks the store paths", "[options]")
{
    TempDir dir("paths");
    {
        // A missing directory is created.
        es::EloqStore store(LocalOptions(dir.sub("a/b/c")));
        REQUIRE(store.Start() == es::KvError::NoError);
        CHECK(fs::is_directory(dir.sub("a/b/c")));
    }
    {
        // A path that is a file.
        std::ofstream(dir.sub("file")) << "x";
        es::EloqStore store(LocalOptions(dir.sub("file")));
        CHECK(store.Start() == es::KvError::InvalidArgs);
    }
    {
        // A store directory holding a regular file.
        fs::create_directories(dir.sub("junk"));
        std::ofstream(dir.sub("junk/stray.txt")) << "x";
        es::EloqStore store(LocalOptions(dir.sub("junk")));
        CHECK(store.Start() == es::KvError::InvalidArgs);
    }
}

TEST_CASE("store life cycle", "[options]")
{
    TempDir dir("life");
    es::EloqStore store(LocalOptions(dir.str()));
    CHECK(store.IsStopped());
    store.Stop();  // before Start: harmless
    REQUIRE(store.Start() == es::KvError::NoError);
    CHECK_FALSE(store.IsStopped());
    CHECK(store.Start() == es::KvError::NoError);  // again: harmless
    CHECK_FALSE(store.IsStopped());
    store.Stop();
    CHECK(store.IsStopped());
    store.Stop();
    CHECK(store.IsStopped());
    REQUIRE(store.Start(7) == es::KvError::NoError);
    CHECK(store.Term() == 0);  // local stores ignore the term
    // The destructor stops a running store.
}

namespace
{
std::string WriteIni(const TempDir &dir,
                     const std::string &name,
                     const std::string &text)
{
    const std::string path = dir.sub(name);
    std::ofstream(path) << text;
    return path;
}
}  // namespace

TEST_CASE("LoadFromIni reads every key", "[options][ini]")
{
    TempDir dir("ini");
    const std::string path = WriteIni(dir, "all.ini", R"([run]
num_threads = 4
data_page_restart_interval = 8
index_page_restart_interval = 12
init_page_count = 0x400
skip_verify_checksum = yes
buffer_pool_size = 64MB
root_meta_cache_size = 2 GB
manifest_limit = 1048576
fd_limit = 5000
io_queue_size = 512
max_inflight_write = 100
max_write_batch_pages = 32
buf_ring_size = 512
coroutine_stack_size = 65536
num_retained_archives = 3
archive_interval_secs = 60
max_archive_tasks = 9
file_amplify_factor = 4
local_space_limit = 123456789
reserve_space_ratio = 7
max_upload_batch = 3
max_cloud_concurrency = 30
cloud_request_threads = 2
direct_io_buffer_pool_size = 6
allow_reuse_local_caches = on
prewarm_cloud_cache = TRUE
prewarm_task_count = 5

[permanent]
store_path = /data/a:/data/b /data/c
cloud_store_path = bucket/pre
cloud_provider = gcs
cloud_endpoint = http://localhost:9000
cloud_region = local
cloud_access_key = ak
cloud_secret_key = sk
cloud_verify_ssl = 1
data_page_size = 8KB
data_file_size = 64MB
overflow_pointers = 64
data_append_mode = true
)");
    es::KvOptions o;
    REQUIRE(o.LoadFromIni(path.c_str()) == 0);
    CHECK(o.num_threads == 4);
    CHECK(o.data_page_restart_interval == 8);
    CHECK(o.index_page_restart_interval == 12);
    CHECK(o.init_page_count == 1024);
    CHECK(o.skip_verify_checksum);
    CHECK(o.buffer_pool_size == 64u << 20);
    CHECK(o.root_meta_cache_size == 2ULL << 30);
    CHECK(o.manifest_limit == 1048576);
    CHECK(o.fd_limit == 5000);
    CHECK(o.io_queue_size == 512);
    CHECK(o.max_inflight_write == 100);
    CHECK(o.max_write_batch_pages == 32);
    CHECK(o.buf_ring_size == 512);
    CHECK(o.coroutine_stack_size == 65536);
    CHECK(o.num_retained_archives == 3);
    CHECK(o.archive_interval_secs == 60);
    CHECK(o.max_archive_tasks == 9);
    CHECK(o.file_amplify_factor == 4);
    CHECK(o.local_space_limit == 123456789);
    CHECK(o.reserve_space_ratio == 7);
    CHECK(o.max_upload_batch == 3);
    CHECK(o.max_cloud_concurrency == 30);
    CHECK(o.cloud_request_threads == 2);
    CHECK(o.direct_io_buffer_pool_size == 6);
    CHECK(o.allow_reuse_local_caches);
    CHECK(o.prewarm_cloud_cache);
    CHECK(o.prewarm_task_count == 5);
    CHECK(o.store_path ==
          std::vector<std::string>{"/data/a", "/data/b", "/data/c"});
    CHECK(o.cloud_store_path == "bucket/pre");
    CHECK(o.cloud_provider == "gcs");
    CHECK(o.cloud_endpoint == "http://localhost:9000");
    CHECK(o.cloud_region == "local");
    CHECK(o.cloud_access_key == "ak");
    CHECK(o.cloud_secret_key == "sk");
    CHECK(o.cloud_verify_ssl);
    CHECK(o.data_page_size == 8192);
    CHECK(o.pages_per_file_shift == 13);  // 64 MiB / 8 KiB = 2^13
    CHECK(o.overflow_pointers == 64);
    CHECK(o.data_append_mode);

    // The same values set by hand compare equal.
    es::KvOptions same = o;
    CHECK(same == o);
    same.comparator_ = nullptr;       // not compared
    same.enable_compression = true;   // not compared
    same.mapping_arena_size = 1;      // not compared
    same.partition_filter = [](const es::TableIdent &) { return false; };
    CHECK(same == o);
    same.fd_limit = 1;
    CHECK_FALSE(same == o);
}

TEST_CASE("LoadFromIni keeps fields whose keys are absent", "[options][ini]")
{
    TempDir dir("inipart");
    const std::string path = WriteIni(dir, "part.ini",
                                      "; comment\n[run]\nnum_threads = 3\n"
                                      "[permanent]\nstore_path = rel/dir\n");
    es::KvOptions o;
    o.fd_limit = 77;
    o.enable_compression = true;
    REQUIRE(o.LoadFromIni(path.c_str()) == 0);
    CHECK(o.num_threads == 3);
    CHECK(o.fd_limit == 77);
    CHECK(o.enable_compression);
    CHECK(o.store_path == std::vector<std::string>{"rel/dir"});
    CHECK(o.data_page_size == 4096);
}

TEST_CASE("LoadFromIni error codes leave the options unchanged",
          "[options][ini]")
{
    TempDir dir("inierr");
    es::KvOptions o;
    o.num_threads = 9;
    const es::KvOptions before = o;

    CHECK(o.LoadFromIni(dir.sub("missing.ini").c_str()) == -1);
    CHECK(o == before);

    const std::string no_perm = WriteIni(dir, "noperm.ini",
                                         "[run]\nnum_threads = 2\n");
    CHECK(o.LoadFromIni(no_perm.c_str()) == -2);
    CHECK(o == before);
    CHECK(o.num_threads == 9);

    const std::string no_run = WriteIni(dir, "norun.ini",
                                        "[permanent]\ndata_append_mode = 1\n");
    CHECK(o.LoadFromIni(no_run.c_str()) == -2);

    // A bad value: the code is the line number.
    const std::string bad = WriteIni(
        dir, "bad.ini",
        "[run]\nnum_threads = 2\nfd_limit = lots\n[permanent]\n"
        "data_append_mode = true\n");
    CHECK(o.LoadFromIni(bad.c_str()) == 3);
    CHECK(o == before);

    // An unknown key is reported too (a typo would lose a setting).
    const std::string typo = WriteIni(
        dir, "typo.ini",
        "[run]\nnum_threads = 2\n[permanent]\ndata_apend_mode = true\n");
    CHECK(o.LoadFromIni(typo.c_str()) == 4);

    // A line that is not key = value.
    const std::string garbage =
        WriteIni(dir, "garbage.ini", "[run]\nthis is not ini\n");
    CHECK(o.LoadFromIni(garbage.c_str()) == 2);
    CHECK(o == before);
}

TEST_CASE("options loaded from an INI file open a store", "[options][ini]")
{
    TempDir dir("inistore");
    const std::string path = WriteIni(
        dir, "store.ini",
        "[run]\nnum_threads = 2\nbuffer_pool_size = 8MB\n[permanent]\n"
        "store_path = " +
            dir.sub("data") +
            "\ndata_page_size = 4KB\ndata_file_size = 1MB\n"
            "data_append_mode = true\n");
    es::KvOptions o;
    REQUIRE(o.LoadFromIni(path.c_str()) == 0);
    CHECK(o.pages_per_file_shift == 8);
    auto store = StartStore(o);
    ModelPartition part(*store, {"ini", 1});
    part.UpsertRange(0, 500, 1, 100);
    part.CheckAll();
}
