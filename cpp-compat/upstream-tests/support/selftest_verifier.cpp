// Tests of the replacement test support itself (registered as
// upstream.support.<case>): the helpers keep upstream's meaning, and
// MapVerifier / ConcurrencyTester notice a store that returns a wrong value,
// loses a key or has an extra one, when the store is changed behind their
// backs.
// common.h first: Catch2, included by it after glog, then owns CHECK.
#include "common.h"
#include "test_utils.h"

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

using test_util::Key;
using test_util::MapVerifier;
using test_util::Value;

namespace
{
// The message of the VerificationError `f` throws ("" when it does not).
std::string FailureOf(const std::function<void()> &f)
{
    try
    {
        f();
    }
    catch (const test_util::VerificationError &e)
    {
        return e.what();
    }
    return "";
}

bool Mentions(const std::string &message, const std::string &what)
{
    INFO("message: " << message);
    return message.find(what) != std::string::npos;
}

// Writes to the store directly, as a bug in the store would.
void WriteBehindItsBack(eloqstore::EloqStore *store,
                        std::vector<eloqstore::WriteDataEntry> batch)
{
    eloqstore::BatchWriteRequest req;
    req.SetArgs(test_tbl_id, std::move(batch));
    store->ExecSync(&req);
    REQUIRE(req.Error() == eloqstore::KvError::NoError);
}

// Timestamps above any the verifier uses in these tests.
constexpr uint64_t kLaterTs = 1000000;
}  // namespace

TEST_CASE("key and value helpers keep upstream's formats", "[support]")
{
    CHECK(Key(5, 7) == "0000005");
    CHECK(Key(12345678, 7) == "12345678");
    CHECK(Key(3, 25) == std::string(19, '0') + "3" + std::string(5, '#'));
    CHECK(Key(3) < Key(20));
    CHECK(Key(9, 7) < Key(10, 7));
    const std::string v = Value(42, 16);
    CHECK(v.size() == 16);
    CHECK(v.rfind("42", 0) == 0);
    CHECK(Value(42) == "42");

    std::string k;
    test_util::EncodeKey(&k, 0x01020304);
    CHECK(k == std::string("\x01\x02\x03\x04", 4));
    CHECK(test_util::DecodeKey(k) == 0x01020304u);
    std::string val;
    test_util::EncodeValue(&val, 10);
    CHECK(val.size() == 10);
    CHECK(test_util::DecodeValue(val) == 10u);
    test_util::EncodeValue(&val, 2);
    CHECK(val.size() == 4);
    CHECK(test_util::DecodeValue(val) == 2u);
    val.push_back('x');
    CHECK_THROWS_AS(test_util::DecodeValue(val), test_util::VerificationError);

    char buf[8];
    CHECK(ConvertIntKey(ConvertIntKey(buf, 0x1122334455667788ULL)) ==
          0x1122334455667788ULL);
    CHECK(buf[0] == 0x11);
}

TEST_CASE("test_path lies under the case's own directory", "[support]")
{
    const char *root = std::getenv("ELOQSTORE_TEST_ROOT");
    REQUIRE(root != nullptr);
    CHECK(std::string(test_path) == std::string(root) + "/eloqstore");
    REQUIRE(default_opts.store_path.size() == 1);
    CHECK(default_opts.store_path[0] == test_path);
    CHECK(cloud_options.store_path[0] == std::string(root) + "/test-data");
    CHECK(cloud_options.cloud_store_path == "eloqstore/unit-test");

    eloqstore::EloqStore *store = InitStore(default_opts);
    MapVerifier verify(test_tbl_id, store);
    verify.Upsert(0, 10);
    CHECK(std::filesystem::exists(std::filesystem::path(test_path) /
                                  test_tbl_id.ToString()));
    CHECK(ValidateFileSizes(default_opts));
}

TEST_CASE("MapVerifier agrees with an untouched store", "[support]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    MapVerifier verify(test_tbl_id, store);
    verify.SetValueSize(100);
    verify.Upsert(0, 200);
    verify.Delete(50, 70);
    verify.WriteRnd(0, 300, 30, 60);
    verify.Truncate(250);
    verify.Read(10);
    verify.Read(60);
    verify.Floor(65);
    verify.Floor(Key(1000, 7));
    verify.Scan(0, 300, 7, 500);
    verify.Validate();
    CHECK(verify.CheckKey(10) == eloqstore::KvError::NoError);
    CHECK(verify.CheckKey(260) == eloqstore::KvError::NotFound);
    CHECK(verify.DataSet().count(Key(10, 7)) == 1);
}

TEST_CASE("MapVerifier catches a wrong value", "[support]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    MapVerifier verify(test_tbl_id, store, false);
    verify.Upsert(0, 10);
    verify.Validate();
    WriteBehindItsBack(store,
                       {{Key(5, 7), "tampered", kLaterTs,
                         eloqstore::WriteOp::Upsert}});
    CHECK(Mentions(FailureOf([&] { verify.Validate(); }), "wrong value"));
    CHECK(Mentions(FailureOf([&] { verify.Read(5); }), "wrong value"));
    CHECK(Mentions(FailureOf([&] { verify.Floor(5); }), "wrong value"));
    CHECK(Mentions(FailureOf([&] { verify.Scan(4, 6); }), "wrong value"));
    // Keys the tampering did not touch still check out.
    verify.Read(4);
    verify.Scan(6, 10);
}

TEST_CASE("MapVerifier catches a wrong timestamp", "[support]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    MapVerifier verify(test_tbl_id, store, false);
    verify.Upsert(0, 10);
    const eloqstore::KvEntry &e = verify.DataSet().at(Key(3, 7));
    WriteBehindItsBack(store,
                       {{Key(3, 7), e.value_, kLaterTs,
                         eloqstore::WriteOp::Upsert}});
    CHECK(Mentions(FailureOf([&] { verify.Read(3); }), "wrong value"));
}

TEST_CASE("MapVerifier catches a missing key", "[support]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    MapVerifier verify(test_tbl_id, store, false);
    verify.Upsert(0, 10);
    WriteBehindItsBack(store,
                       {{Key(3, 7), "", kLaterTs, eloqstore::WriteOp::Delete}});
    CHECK(Mentions(FailureOf([&] { verify.Validate(); }), "missing key"));
    CHECK(Mentions(FailureOf([&] { verify.Read(3); }), "missing key"));
    CHECK(Mentions(FailureOf([&] { verify.Floor(3); }), "missing key"));
    CHECK(Mentions(FailureOf([&] { verify.Scan(0, 5, 2); }), "missing key"));
}

TEST_CASE("MapVerifier catches a missing last key and a lost partition",
          "[support]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    MapVerifier verify(test_tbl_id, store, false);
    verify.Upsert(0, 10);
    WriteBehindItsBack(store,
                       {{Key(9, 7), "", kLaterTs, eloqstore::WriteOp::Delete}});
    CHECK(Mentions(FailureOf([&] { verify.Validate(); }), "missing key"));
    eloqstore::TruncateRequest trunc;
    trunc.SetTableId(test_tbl_id);
    store->ExecSync(&trunc);
    REQUIRE(trunc.Error() == eloqstore::KvError::NoError);
    CHECK(Mentions(FailureOf([&] { verify.Validate(); }), "missing key"));
    CHECK(Mentions(FailureOf([&] { verify.Floor(100); }), "missing key"));
}

TEST_CASE("MapVerifier catches an extra key", "[support]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    MapVerifier verify(test_tbl_id, store, false);
    verify.Upsert(0, 10);
    WriteBehindItsBack(store,
                       {{Key(100, 7), "extra", kLaterTs,
                         eloqstore::WriteOp::Upsert}});
    CHECK(Mentions(FailureOf([&] { verify.Validate(); }), "extra key"));
    CHECK(Mentions(FailureOf([&] { verify.Read(100); }), "extra key"));
    CHECK(Mentions(FailureOf([&] { verify.Floor(150); }), "extra key"));
    CHECK(Mentions(FailureOf([&] { verify.Scan(50, 200); }), "extra key"));
}

TEST_CASE("MapVerifier lets expired entries go, and only those", "[support]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    MapVerifier verify(test_tbl_id, store, false);
    verify.SetMaxTTL(50);
    verify.Upsert(0, 20);
    verify.SetMaxTTL(0);
    verify.Upsert(20, 30);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    // The store no longer returns 0..19 (or still does, as upstream's
    // engine may until its clean-up runs); either way the check passes and
    // the model keeps 20..29.
    verify.Validate();
    verify.Read(5);
    verify.Floor(10);
    CHECK(verify.DataSet().size() >= 10);
    CHECK(verify.DataSet().count(Key(25, 7)) == 1);
    // An entry without an expire time may not vanish.
    WriteBehindItsBack(store,
                       {{Key(25, 7), "", kLaterTs, eloqstore::WriteOp::Delete}});
    CHECK(Mentions(FailureOf([&] { verify.Validate(); }), "missing key"));
}

TEST_CASE("MapVerifier follows ExecWrite's timestamp rule", "[support]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    MapVerifier verify(test_tbl_id, store);
    eloqstore::BatchWriteRequest req;
    req.SetTableId(test_tbl_id);
    req.AddWrite(Key(1, 7), "v2", 2, eloqstore::WriteOp::Upsert);
    verify.ExecWrite(&req);
    req.batch_.clear();
    // An older write does not replace the newer value, in the store or
    // the model.
    req.AddWrite(Key(1, 7), "v1", 1, eloqstore::WriteOp::Upsert);
    verify.ExecWrite(&req);
    CHECK(verify.DataSet().at(Key(1, 7)).value_ == "v2");
    verify.Read(1);
}

TEST_CASE("ConcurrencyTester runs and checks a partition", "[support]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    test_util::ConcurrencyTester tester(store, "ct", 2, 8, 4, 12);
    tester.Init();
    tester.Run(4, 20, 3);
    tester.Run(2, 5, 0);
    // A second tester loads what the first left and checks it.
    test_util::ConcurrencyTester again(store, "ct", 2, 8, 4, 12);
    again.Init();
    again.Clear();
}

TEST_CASE("ConcurrencyTester catches a torn segment", "[support]")
{
    eloqstore::EloqStore *store = InitStore(default_opts);
    test_util::ConcurrencyTester tester(store, "ct", 1, 4, 4, 12);
    tester.Init();
    // One value changed behind the tester's back: its segment no longer
    // adds up.
    std::string key;
    std::string val;
    test_util::EncodeKey(&key, 5);
    test_util::EncodeValue(&val, 13);
    eloqstore::BatchWriteRequest req;
    req.SetArgs({"ct", 0}, {{key, val, test_util::ConcurrencyTester::CurrentTimestamp(),
                             eloqstore::WriteOp::Upsert}});
    store->ExecSync(&req);
    REQUIRE(req.Error() == eloqstore::KvError::NoError);
    const std::string failure = FailureOf([&] { tester.Run(2, 50, 1000); });
    CHECK(Mentions(failure, "add up to"));
    // Loading the partition notices it too.
    test_util::ConcurrencyTester loader(store, "ct", 1, 4, 4, 12);
    CHECK(Mentions(FailureOf([&] { loader.Init(); }), "adds up to"));
}

TEST_CASE("the glog stand-in logs", "[support]")
{
    LOG(INFO) << "info line from the glog stand-in";
    LOG(WARNING) << "warning line " << 42;
    DLOG(INFO) << "debug line";
    LOG_IF(ERROR, false) << "never";
    CHECK_EQ(2, 2);
    // Catch2 was included after glog here: CHECK is Catch2's.
#ifdef ELOQSTORE_GLOG_STANDIN_CHECK
    FAIL("CHECK is still glog's after Catch2 was included");
#endif
    CHECK(1 + 1 == 2);
}
