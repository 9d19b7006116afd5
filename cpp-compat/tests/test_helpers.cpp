// The header-level API: error codes, request kinds, TableIdent, and the
// semi-public helpers of coding.h, common.h and utils.h.
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <climits>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "coding.h"
#include "common.h"
#include "eloq_store.h"
#include "error.h"
#include "test_support.h"
#include "types.h"
#include "utils.h"

using namespace testutil;

namespace
{
es::KvError FirstFailure(es::KvError a, es::KvError b)
{
    CHECK_KV_ERR(a);
    CHECK_KV_ERR(b);
    return es::KvError::NoError;
}
}  // namespace

TEST_CASE("error codes, strings and retryability", "[helpers]")
{
    static_assert(static_cast<int>(es::KvError::CloudNoManifest) == 16);
    static_assert(sizeof(es::KvError) == 1);
    const std::map<es::KvError, std::string> strings = {
        {es::KvError::NoError, "Succeed"},
        {es::KvError::InvalidArgs, "Invalid arguments"},
        {es::KvError::NotFound, "Resource not found"},
        {es::KvError::NotRunning, "EloqStore is not running"},
        {es::KvError::Corrupted, "Disk data corrupted"},
        {es::KvError::EndOfFile, "End of file"},
        {es::KvError::OutOfSpace, "Out of disk space"},
        {es::KvError::OutOfMem, "Out of memory"},
        {es::KvError::OpenFileLimit, "Too many opened files"},
        {es::KvError::TryAgain, "Try again later"},
        {es::KvError::Busy, "Device or resource busy"},
        {es::KvError::Timeout, "Operation timeout"},
        {es::KvError::NoPermission, "Operation not permitted"},
        {es::KvError::CloudErr, "Cloud service is unavailable"},
        {es::KvError::IoFail, "I/O failure"},
        {es::KvError::ExpiredTerm, "Expired term"},
        {es::KvError::CloudNoManifest,
         "No manifest found in cloud but the directory is not empty"},
    };
    for (int v = 0; v <= 16; ++v)
    {
        const auto e = static_cast<es::KvError>(v);
        CHECK(es::ErrorString(e) == strings.at(e));
        CHECK(es::IsRetryableErr(e) == (e == es::KvError::OpenFileLimit ||
                                        e == es::KvError::Busy ||
                                        e == es::KvError::TryAgain));
    }
    CHECK(std::string(es::ErrorString(static_cast<es::KvError>(99))) ==
          "Unknown error");
    static_assert(std::string_view(es::ErrorString(es::KvError::NotFound)) ==
                  "Resource not found");
    CHECK(FirstFailure(es::KvError::NoError, es::KvError::Busy) ==
          es::KvError::Busy);
    CHECK(FirstFailure(es::KvError::NoError, es::KvError::NoError) ==
          es::KvError::NoError);
}

TEST_CASE("request kinds", "[helpers]")
{
    std::vector<std::string> objects;
    es::ReadRequest read;
    es::FloorRequest floor;
    es::ScanRequest scan;
    es::ListObjectRequest list(&objects);
    es::BatchWriteRequest write;
    es::TruncateRequest truncate;
    es::DropTableRequest drop;
    es::ArchiveRequest archive;
    es::CompactRequest compact;
    es::CleanExpiredRequest clean;
    es::GlobalArchiveRequest global;
    const std::vector<std::pair<es::KvRequest *, std::string>> all = {
        {&read, "read"},         {&floor, "floor"},
        {&scan, "scan"},         {&list, "list_object"},
        {&write, "batch_write"}, {&truncate, "truncate"},
        {&drop, "drop_table"},   {&archive, "archive"},
        {&compact, "compact"},   {&clean, "clean_expired"},
        {&global, "global_archive"},
    };
    for (size_t i = 0; i < all.size(); ++i)
    {
        es::KvRequest *r = all[i].first;
        CHECK(static_cast<size_t>(r->Type()) == i);
        CHECK(es::RequestTypeToString(r->Type()) == all[i].second);
        CHECK(r->ReadOnly() == (i <= 3));
        CHECK(r->IsDone());
        CHECK(r->Error() == es::KvError::NoError);
        CHECK(std::string(r->ErrMessage()) == "Succeed");
        CHECK_FALSE(r->RetryableErr());
    }
    CHECK(std::string(es::RequestTypeToString(static_cast<es::RequestType>(42))) ==
          "unknown");
    // Write requests share WriteRequest (and its next_ link).
    CHECK(dynamic_cast<es::WriteRequest *>(
              static_cast<es::KvRequest *>(&truncate)) != nullptr);
    CHECK(dynamic_cast<es::WriteRequest *>(
              static_cast<es::KvRequest *>(&scan)) == nullptr);
    archive.SetSnapshotTimestamp(12345);
    CHECK(archive.GetSnapshotTimestamp() == 12345);
    global.SetSnapshotTimestamp(777);
    CHECK(global.GetSnapshotTimestamp() == 777);
    read.SetTableId({"t", 3});
    CHECK(read.TableId() == es::TableIdent("t", 3));
    read.SetArgs({"u", 4}, std::string("key"));
    CHECK(read.Key() == "key");
    CHECK(read.TableId().tbl_name_ == "u");
    floor.SetArgs({"u", 4}, "fk");
    CHECK(floor.Key() == "fk");
}

TEST_CASE("TableIdent helpers", "[helpers]")
{
    const es::TableIdent t("orders", 42);
    CHECK(t.ToString() == "orders.42");
    CHECK(t.IsValid());
    CHECK_FALSE(es::TableIdent().IsValid());
    CHECK(es::TableIdent().partition_id_ == 0);
    CHECK(es::TableIdent::separator == '.');
    std::ostringstream os;
    os << t;
    CHECK(os.str() == "orders.42");

    CHECK(es::TableIdent::FromString("orders.42") == t);
    CHECK(es::TableIdent::FromString("a.b.7") == es::TableIdent("a.b", 7));
    CHECK_FALSE(es::TableIdent::FromString("nodot").IsValid());
    CHECK_FALSE(es::TableIdent::FromString("t.").IsValid());
    CHECK_FALSE(es::TableIdent::FromString("t.x1").IsValid());
    CHECK_FALSE(es::TableIdent::FromString("t.99999999999").IsValid());
    CHECK(es::TableIdent::FromString("t.4294967295").partition_id_ ==
          UINT32_MAX);

    CHECK(t.DiskIndex(5) == 2);
    CHECK(t.ShardIndex(4) == 2);
    const std::vector<std::string> disks = {"/d0", "/d1", "/d2"};
    CHECK(t.StorePath(disks) == fs::path("/d0/orders.42"));
    CHECK(es::TableIdent("orders", 43).StorePath(disks) ==
          fs::path("/d1/orders.43"));
    tcb::span<const std::string> one(disks.data(), 1);
    CHECK(t.StorePath(one) == fs::path("/d0/orders.42"));

    std::unordered_set<es::TableIdent> set{t, {"orders", 1}, t};
    CHECK(set.size() == 2);
    CHECK(std::hash<es::TableIdent>{}(t) ==
          std::hash<es::TableIdent>{}(es::TableIdent("orders", 42)));
    std::unordered_map<es::FileKey, int> files;
    files[{t, "data_0_0"}] = 1;
    files[{t, "manifest_0"}] = 2;
    files[{t, "data_0_0"}] = 3;
    CHECK(files.size() == 2);
    CHECK((es::FileKey{t, "data_0_0"} == es::FileKey{t, "data_0_0"}));

    es::KvEntry a{"k", "v", 1, 2};
    es::KvEntry b = a;
    CHECK(a == b);
    b.expire_ts_ = 3;
    CHECK_FALSE(a == b);
}

TEST_CASE("fixed-width and varint coding", "[helpers]")
{
    char buf[16];
    es::EncodeFixed16(buf, 0x1234);
    CHECK(static_cast<uint8_t>(buf[0]) == 0x34);
    CHECK(es::DecodeFixed16(buf) == 0x1234);
    es::EncodeFixed32(buf, 0xdeadbeef);
    CHECK(static_cast<uint8_t>(buf[0]) == 0xef);
    CHECK(static_cast<uint8_t>(buf[3]) == 0xde);
    CHECK(es::DecodeFixed32(buf) == 0xdeadbeef);
    es::EncodeFixed64(buf, 0x0102030405060708ULL);
    CHECK(static_cast<uint8_t>(buf[0]) == 0x08);
    CHECK(es::DecodeFixed64(buf) == 0x0102030405060708ULL);

    std::string s;
    es::PutFixed16(&s, 1);
    es::PutFixed32(&s, 2);
    es::PutFixed64(&s, 3);
    REQUIRE(s.size() == 14);
    CHECK(es::DecodeFixed16(s.data()) == 1);
    CHECK(es::DecodeFixed32(s.data() + 2) == 2);
    CHECK(es::DecodeFixed64(s.data() + 6) == 3);

    const std::vector<uint64_t> values = {0,
                                          1,
                                          127,
                                          128,
                                          300,
                                          16383,
                                          16384,
                                          UINT32_MAX,
                                          uint64_t(UINT32_MAX) + 1,
                                          UINT64_MAX};
    std::string enc;
    for (uint64_t v : values)
    {
        es::PutVarint64(&enc, v);
        if (v <= UINT32_MAX)
        {
            es::PutVarint32(&enc, static_cast<uint32_t>(v));
        }
    }
    std::string_view in(enc);
    for (uint64_t v : values)
    {
        uint64_t got = 0;
        REQUIRE(es::GetVarint64(&in, &got));
        CHECK(got == v);
        if (v <= UINT32_MAX)
        {
            uint32_t got32 = 0;
            REQUIRE(es::GetVarint32(&in, &got32));
            CHECK(got32 == v);
        }
    }
    CHECK(in.empty());

    CHECK(es::VarintLength(0) == 1);
    CHECK(es::VarintLength(127) == 1);
    CHECK(es::VarintLength(128) == 2);
    CHECK(es::VarintLength(UINT64_MAX) == 10);
    CHECK(es::Varint32Size(UINT32_MAX) == 5);
    CHECK(es::Varint64Size(300) == 2);
    CHECK(es::EncodeVarint32(buf, 300) == buf + 2);
    CHECK(es::EncodeVarint64(buf, UINT64_MAX) == buf + 10);
    uint64_t v64 = 0;
    CHECK(es::GetVarint64Ptr(buf, buf + 10, &v64) == buf + 10);
    CHECK(v64 == UINT64_MAX);
    uint32_t v32 = 0;
    es::EncodeVarint32(buf, 5);
    CHECK(es::GetVarint32Ptr(buf, buf + 1, &v32) == buf + 1);
    CHECK(v32 == 5);

    // Truncated or over-long input fails and leaves the input alone.
    std::string trunc;
    es::PutVarint64(&trunc, 1ULL << 40);
    trunc.pop_back();
    std::string_view tv(trunc);
    CHECK_FALSE(es::GetVarint64(&tv, &v64));
    CHECK(tv.size() == trunc.size());
    std::string big;
    es::PutVarint64(&big, uint64_t(UINT32_MAX) + 1);
    std::string_view bv(big);
    CHECK_FALSE(es::GetVarint32(&bv, &v32));

    CHECK(es::ToBigEndian(uint32_t(0x01020304)) == 0x04030201u);
    CHECK(es::ToBigEndian(uint64_t(0x0102030405060708ULL)) ==
          0x0807060504030201ULL);
    CHECK(es::BigEndianToNative(es::ToBigEndian(uint32_t(77))) == 77u);
    CHECK(es::BigEndianToNative(es::ToBigEndian(uint64_t(1) << 50)) ==
          uint64_t(1) << 50);

    for (int32_t d : {0, 1, -1, 1000, -1000, INT32_MAX >> 1, -(INT32_MAX >> 1)})
    {
        CHECK(es::DecodeInt32Delta(es::EncodeInt32Delta(d)) == d);
    }
    CHECK(es::EncodeInt32Delta(-1) == 3);
    CHECK(es::EncodeInt32Delta(2) == 4);
    for (int64_t d : {int64_t(0), int64_t(5), int64_t(-5), INT64_MAX >> 1,
                      -(INT64_MAX >> 1)})
    {
        CHECK(es::DecodeInt64Delta(es::EncodeInt64Delta(d)) == d);
    }
}

TEST_CASE("file names of the on-disk format", "[helpers]")
{
    CHECK(es::num_reserved_fd == 100);
    CHECK(es::page_align == static_cast<size_t>(sysconf(_SC_PAGESIZE)));
    CHECK(es::DataFileName(12, 0) == "data_12_0");
    CHECK(es::DataFileName(3, 7) == "data_3_7");
    CHECK(es::ManifestFileName(0) == "manifest_0");
    CHECK(es::ManifestFileName(5) == "manifest_5");
    CHECK(es::ArchiveName(2, 123456789) == "manifest_2_123456789");

    auto [type, suffix] = es::ParseFileName("data_1_2_3");
    CHECK(type == "data");
    CHECK(suffix == "1_2_3");
    auto [t2, s2] = es::ParseFileName("manifest");
    CHECK(t2 == "manifest");
    CHECK(s2.empty());
    auto [t3, s3] = es::ParseFileName("");
    CHECK(t3.empty());
    CHECK(s3.empty());

    es::FileId id = 0;
    uint64_t term = 0;
    CHECK(es::ParseDataFileSuffix("123_5", id, term));
    CHECK(id == 123);
    CHECK(term == 5);
    for (const char *bad : {"", "123", "abc", "123_abc", "abc_5", "1_", "_1",
                            "1_2x"})
    {
        INFO(bad);
        CHECK_FALSE(es::ParseDataFileSuffix(bad, id, term));
        CHECK(id == 0);  // outputs reset on failure, as upstream
        CHECK(term == 0);
    }
    // Numbers follow strtoull, as upstream: a sign is accepted.
    CHECK(es::ParseDataFileSuffix("1_+2", id, term));
    CHECK(term == 2);
    CHECK(es::ParseDataFileSuffix("1_-2", id, term));
    CHECK(term == UINT64_MAX - 1);

    std::optional<uint64_t> ts;
    CHECK(es::ParseManifestFileSuffix("5", term, ts));
    CHECK(term == 5);
    CHECK_FALSE(ts.has_value());
    CHECK(es::ParseManifestFileSuffix("5_123456789", term, ts));
    CHECK(term == 5);
    CHECK(ts == 123456789u);
    for (const char *bad : {"", "x", "5_", "_5", "5_x", "5x"})
    {
        INFO(bad);
        CHECK_FALSE(es::ParseManifestFileSuffix(bad, term, ts));
    }

    CHECK(es::IsArchiveFile("manifest_0_99"));
    CHECK_FALSE(es::IsArchiveFile("manifest_0"));
    CHECK_FALSE(es::IsArchiveFile("data_0_99"));
    CHECK_FALSE(es::IsArchiveFile("manifest_a_b"));
    CHECK(es::ManifestTermFromFilename("manifest_7") == 7);
    CHECK(es::ManifestTermFromFilename("manifest_7_1") == 7);
    CHECK(es::ManifestTermFromFilename("data_7_1") == 0);

    uint64_t n = 0;
    CHECK(es::ParseUint64("18446744073709551615", n));
    CHECK(n == UINT64_MAX);
    CHECK_FALSE(es::ParseUint64("18446744073709551616", n));
    CHECK_FALSE(es::ParseUint64("", n));
    CHECK_FALSE(es::ParseUint64("12a", n));
    // strtoull's rules, as upstream: blanks and a sign are accepted.
    CHECK(es::ParseUint64(" 1", n));
    CHECK(n == 1);
    CHECK(es::ParseUint64("-1", n));
    CHECK(n == UINT64_MAX);
    // Only the view is parsed, not what follows it in memory.
    const std::string longer = "123456";
    CHECK(es::ParseUint64(std::string_view(longer).substr(0, 3), n));
    CHECK(n == 123);

    // Generated names parse back.
    for (uint64_t f : {0ULL, 1ULL, 999999ULL})
    {
        for (uint64_t tm : {0ULL, 3ULL, 1ULL << 40})
        {
            const std::string data = es::DataFileName(f, tm);
            const std::string archive = es::ArchiveName(tm, f);
            auto [ty, sx] = es::ParseFileName(data);
            REQUIRE(ty == es::FileNameData);
            REQUIRE(es::ParseDataFileSuffix(sx, id, term));
            CHECK(id == f);
            CHECK(term == tm);
            auto [my, mx] = es::ParseFileName(archive);
            REQUIRE(my == es::FileNameManifest);
            REQUIRE(es::ParseManifestFileSuffix(mx, term, ts));
            CHECK(term == tm);
            CHECK(ts == f);
        }
    }
}

TEST_CASE("file-term mapping serialisation", "[helpers]")
{
    es::FileIdTermMapping m{{1, 5}, {300, 7}, {UINT64_MAX, 0}};
    // Replaces what the buffer held (upstream's behaviour).
    std::string buf = "previous contents";
    es::SerializeFileIdTermMapping(m, buf);
    CHECK(es::DecodeFixed32(buf.data()) == buf.size() - 4);
    es::FileIdTermMapping back;
    REQUIRE(es::DeserializeFileIdTermMapping(buf, back));
    CHECK(back == m);

    std::string empty;
    es::SerializeFileIdTermMapping({}, empty);
    CHECK(empty == std::string(4, '\0'));
    es::FileIdTermMapping none;
    CHECK(es::DeserializeFileIdTermMapping(empty, none));
    CHECK(none.empty());

    // Length larger than the bytes present.
    std::string lying;
    es::PutFixed32(&lying, 10);
    lying += "ab";
    CHECK_FALSE(es::DeserializeFileIdTermMapping(lying, none));
    // A truncated varint inside.
    std::string cut;
    es::PutFixed32(&cut, 2);
    cut += static_cast<char>(0x81);
    cut += static_cast<char>(0x80);
    es::FileIdTermMapping partial{{9, 9}};
    CHECK_FALSE(es::DeserializeFileIdTermMapping(cut, partial));
    CHECK(partial.empty());
    CHECK_FALSE(es::DeserializeFileIdTermMapping("abc", none));
}

TEST_CASE("utils helpers", "[helpers]")
{
    const uint64_t ms = utils::UnixTs<chrono::milliseconds>();
    const uint64_t us = utils::UnixTs<chrono::microseconds>();
    const uint64_t s = utils::UnixTs<chrono::seconds>();
    CHECK(ms > 1600000000000ULL);
    CHECK(us / 1000 >= ms);
    CHECK(s <= ms / 1000 + 1);

    TempDir dir("utils");
    CHECK(utils::DirEntryCount(dir.path()) == 0);
    std::ofstream(dir.sub("a")) << "1";
    fs::create_directory(dir.sub("b"));
    CHECK(utils::DirEntryCount(dir.path()) == 2);
    CHECK(utils::CountUsedFD() >= 3);

    for (int i = 0; i < 1000; ++i)
    {
        const int r = utils::RandomInt(7);
        REQUIRE(r >= 0);
        REQUIRE(r < 7);
    }
    CHECK(utils::UnsetLowBits<uint64_t>(0xffff, 4) == 0xfff0);
    CHECK(utils::UnsetLowBits<uint32_t>(37, 0) == 37);

    auto fact = utils::MakeYCombinator(
        [](auto self, int n) -> int { return n <= 1 ? 1 : n * self(n - 1); });
    CHECK(fact(5) == 120);

    utils::CloudObjectInfo info;
    CHECK(info.size == 0);
    CHECK_FALSE(info.is_dir);
    CHECK(info.name.empty());

    // tcb::span is std::span.
    std::vector<int> v{1, 2, 3};
    tcb::span<int> sp(v);
    CHECK(sp.size() == 3);
    CHECK(tcb::make_span(v).subspan(1).front() == 2);
}

TEST_CASE("the default comparator is bytewise", "[helpers]")
{
    const es::Comparator *c = es::Comparator::DefaultComparator();
    REQUIRE(c == es::Comparator::DefaultComparator());
    CHECK(std::string(c->Name()) == "leveldb.BytewiseComparator");
    CHECK(c->Compare("", "") == 0);
    CHECK(c->Compare("", "a") < 0);
    CHECK(c->Compare("a", "") > 0);
    CHECK(c->Compare("a", "ab") < 0);
    CHECK(c->Compare("b", "ab") > 0);
    CHECK(c->Compare(std::string("\x01", 1), std::string("\xff", 1)) < 0);
    CHECK(c->Compare("abc", "abc") == 0);

    CHECK(c->FindShortestSeparator("abc", "abd") == "abd");
    CHECK(c->FindShortestSeparator("abc", "b") == "b");
    CHECK(c->FindShortestSeparator("ab", "abzz") == "abz");
    CHECK(c->FindShortestSeparator("", "x") == "x");
    std::string start = "abc1234";
    c->FindShortestSeparator(&start, "abe");
    CHECK(start == "abd");
    start = "abc";
    c->FindShortestSeparator(&start, "abd");  // no room in between
    CHECK(start == "abc");
    start = "ab";
    c->FindShortestSeparator(&start, "abc");  // prefix
    CHECK(start == "ab");

    std::string key = "abc";
    c->FindShortSuccessor(&key);
    CHECK(key == "b");
    key = std::string("\xff\xff\x01\x02", 4);
    c->FindShortSuccessor(&key);
    CHECK(key == std::string("\xff\xff\x02", 3));
    key = std::string("\xff\xff", 2);
    c->FindShortSuccessor(&key);
    CHECK(key == std::string("\xff\xff", 2));
}
