// Tests of the test support's S3 client and cloud helpers against the S3
// test server of the harness (registered as upstream.support.<case> with
// the S3 fixture). They reach the server, bucket eloqstore, at
// $ELOQSTORE_S3_TEST_ENDPOINT (default http://127.0.0.1:9900); the server
// (s3s-fs) refuses a request whose AWS Signature V4 is wrong.
// common.h first: Catch2, included by it after glog, then owns CHECK.
#include "common.h"
#include "s3_client.h"

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <cstdio>
#include <string>
#include <vector>

namespace s3 = eloqstore_test_support::s3;

namespace
{
using Names = std::vector<std::string>;

std::string EndpointUrl()
{
    const char *env = std::getenv("ELOQSTORE_S3_TEST_ENDPOINT");
    return env != nullptr && *env != '\0' ? env : "http://127.0.0.1:9900";
}

s3::Endpoint TestEndpoint()
{
    s3::Endpoint ep;
    ep.url = EndpointUrl();
    ep.access_key = cloud_options.cloud_access_key;
    ep.secret_key = cloud_options.cloud_secret_key;
    return ep;
}

// KvOptions whose cloud path is bucket eloqstore, prefix `prefix`.
eloqstore::KvOptions OptionsAt(const std::string &prefix)
{
    eloqstore::KvOptions opts = cloud_options;
    opts.cloud_store_path = "eloqstore/" + prefix;
    opts.cloud_endpoint = EndpointUrl();
    return opts;
}
}  // namespace

TEST_CASE("S3 client: put, get, copy, move, delete", "[support][s3]")
{
    s3::Client client(TestEndpoint());
    std::string err;
    const eloqstore::KvOptions opts = OptionsAt("selftest-basic");
    CleanupStore(opts);
    REQUIRE(client.Put("eloqstore", "selftest-basic/a/one", "first", &err));
    REQUIRE(client.Put("eloqstore", "selftest-basic/a/two", "second!", &err));
    std::string body;
    REQUIRE(client.Get("eloqstore", "selftest-basic/a/two", &body, &err));
    CHECK(body == "second!");
    REQUIRE(client.Copy("eloqstore", "selftest-basic/a/one",
                        "selftest-basic/b/one", &err));
    REQUIRE(client.Get("eloqstore", "selftest-basic/b/one", &body, &err));
    CHECK(body == "first");

    CHECK(ListCloudFiles(opts, opts.cloud_store_path) ==
          Names({"a/one", "a/two", "b/one"}));
    CHECK(ListCloudFiles(opts, opts.cloud_store_path, "a") ==
          Names({"one", "two"}));
    CHECK(ListCloudFiles(opts, opts.cloud_store_path, "/a/") ==
          Names({"one", "two"}));
    CHECK(GetCloudSize(opts, opts.cloud_store_path) == 5u + 7u + 5u);

    REQUIRE(MoveCloudFile(opts, opts.cloud_store_path, "a/two", "c/two"));
    CHECK(ListCloudFiles(opts, opts.cloud_store_path) ==
          Names({"a/one", "b/one", "c/two"}));
    CHECK_FALSE(MoveCloudFile(opts, opts.cloud_store_path, "a/missing", "x"));

    REQUIRE(client.Delete("eloqstore", "selftest-basic/a/one", &err));
    // Deleting what is not there succeeds, as with S3.
    REQUIRE(client.Delete("eloqstore", "selftest-basic/a/one", &err));
    CHECK_FALSE(client.Get("eloqstore", "selftest-basic/a/one", &body, &err));
    CHECK(err.find("404") != std::string::npos);

    CleanupStore(opts);
    CHECK(ListCloudFiles(opts, opts.cloud_store_path).empty());
    CHECK(GetCloudSize(opts, opts.cloud_store_path) == 0u);
}

TEST_CASE("S3 client: listings page through more than 1000 objects",
          "[support][s3]")
{
    s3::Client client(TestEndpoint());
    std::string err;
    const eloqstore::KvOptions opts = OptionsAt("selftest-many");
    CleanupStore(opts);
    constexpr int kObjects = 1234;
    uint64_t bytes = 0;
    for (int i = 0; i < kObjects; ++i)
    {
        char name[32];
        std::snprintf(name, sizeof(name), "obj-%05d", i);
        const std::string body(static_cast<size_t>(i % 17), 'x');
        bytes += body.size();
        REQUIRE(client.Put("eloqstore", std::string("selftest-many/") + name,
                           body, &err));
    }
    // The server's own page size (1000 at most), then small pages.
    for (int page : {0, 100})
    {
        std::vector<s3::Object> objects;
        REQUIRE(client.List("eloqstore", "selftest-many/", &objects, &err, page));
        REQUIRE(objects.size() == static_cast<size_t>(kObjects));
        for (int i = 0; i < kObjects; ++i)
        {
            char name[32];
            std::snprintf(name, sizeof(name), "selftest-many/obj-%05d", i);
            CHECK(objects[i].key == name);
            CHECK(objects[i].size == static_cast<uint64_t>(i % 17));
        }
    }
    const std::vector<std::string> names =
        ListCloudFiles(opts, opts.cloud_store_path);
    REQUIRE(names.size() == static_cast<size_t>(kObjects));
    CHECK(names.front() == "obj-00000");
    CHECK(GetCloudSize(opts, opts.cloud_store_path) == bytes);
    CleanupStore(opts);
    CHECK(ListCloudFiles(opts, opts.cloud_store_path).empty());
}

TEST_CASE("S3 client: keys that need escaping", "[support][s3]")
{
    s3::Client client(TestEndpoint());
    std::string err;
    const eloqstore::KvOptions opts = OptionsAt("selftest-escape");
    CleanupStore(opts);
    const std::vector<std::string> keys = {
        "selftest-escape/plain", "selftest-escape/with space",
        "selftest-escape/a+b=c&d", "selftest-escape/per%cent",
        "selftest-escape/<xml>&amp;", "selftest-escape/\xc3\xbcnicode"};
    for (const std::string &k : keys)
    {
        INFO(k);
        REQUIRE(client.Put("eloqstore", k, k, &err));
        std::string body;
        REQUIRE(client.Get("eloqstore", k, &body, &err));
        CHECK(body == k);
    }
    std::vector<s3::Object> objects;
    REQUIRE(client.List("eloqstore", "selftest-escape/", &objects, &err));
    std::vector<std::string> listed;
    for (const s3::Object &o : objects)
    {
        listed.push_back(o.key);
    }
    std::vector<std::string> sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    CHECK(listed == sorted);
    REQUIRE(client.Copy("eloqstore", "selftest-escape/with space",
                        "selftest-escape/copy of a+b", &err));
    CleanupStore(opts);
    CHECK(ListCloudFiles(opts, opts.cloud_store_path).empty());
}

TEST_CASE("S3 client: failures are reported", "[support][s3]")
{
    s3::Client client(TestEndpoint());
    std::string err;
    std::vector<s3::Object> objects;
    CHECK_FALSE(client.List("no-such-bucket-eloqstore", "", &objects, &err));
    CHECK(err.find("NoSuchBucket") != std::string::npos);

    s3::Endpoint closed = TestEndpoint();
    closed.url = "http://127.0.0.1:1";
    s3::Client nowhere(closed);
    CHECK_FALSE(nowhere.Put("eloqstore", "k", "v", &err));
    CHECK_FALSE(err.empty());
    eloqstore::KvOptions opts = OptionsAt("x");
    opts.cloud_endpoint = closed.url;
    CHECK(ListCloudFiles(opts, opts.cloud_store_path).empty());
    CHECK_FALSE(GetCloudSize(opts, opts.cloud_store_path).has_value());
}

TEST_CASE("S3 client: a request signed with the wrong secret is refused",
          "[support][s3]")
{
    // Shows that the endpoint checks signatures, so that the other cases'
    // passing means the client signs correctly.
    s3::Endpoint ep = TestEndpoint();
    ep.secret_key = "not-the-secret";
    s3::Client client(ep);
    std::string err;
    CHECK_FALSE(client.Put("eloqstore", "selftest-badsig/k", "v", &err));
    CHECK(err.find("SignatureDoesNotMatch") != std::string::npos);
    std::vector<s3::Object> objects;
    CHECK_FALSE(client.List("eloqstore", "", &objects, &err));
    CHECK(err.find("403") != std::string::npos);
}
