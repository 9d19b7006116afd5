// A small S3 client for the upstream test harness's cloud helpers
// (ListCloudFiles, MoveCloudFile, GetCloudSize, CleanupStore): path-style
// requests to an S3-compatible endpoint, signed with AWS Signature V4 by
// libcurl (CURLOPT_AWS_SIGV4, curl >= 7.75). Enough for tests; not a
// general S3 client.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace eloqstore_test_support::s3
{
struct Endpoint
{
    // "http://host:port" or "https://...".
    std::string url;
    std::string region{"us-east-1"};
    std::string access_key;
    std::string secret_key;
    bool verify_ssl{false};
};

struct Object
{
    std::string key;
    uint64_t size{0};
};

// One request at a time; methods return false and set *error (the HTTP
// status and the server's message) on failure.
class Client
{
public:
    explicit Client(Endpoint endpoint);
    ~Client();
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    bool CreateBucket(const std::string &bucket, std::string *error);
    bool Put(const std::string &bucket,
             const std::string &key,
             const std::string &body,
             std::string *error);
    bool Get(const std::string &bucket,
             const std::string &key,
             std::string *body,
             std::string *error);
    // Server-side copy within the bucket.
    bool Copy(const std::string &bucket,
              const std::string &src_key,
              const std::string &dst_key,
              std::string *error);
    // Deleting a missing key succeeds (as S3 does).
    bool Delete(const std::string &bucket,
                const std::string &key,
                std::string *error);
    // Every object whose key starts with `prefix`, in key order, following
    // ListObjectsV2's continuation tokens; max_keys > 0 sets the page size.
    bool List(const std::string &bucket,
              const std::string &prefix,
              std::vector<Object> *out,
              std::string *error,
              int max_keys = 0);

    // RFC 3986 percent-encoding as SigV4 wants it: unreserved characters
    // kept, '/' kept too when keep_slash.
    static std::string UriEncode(const std::string &s, bool keep_slash);

private:
    struct Response
    {
        long status{0};
        std::string body;
    };
    bool Perform(const std::string &method,
                 const std::string &path_and_query,
                 const std::vector<std::string> &headers,
                 const std::string *body,
                 Response *resp,
                 std::string *error);

    Endpoint endpoint_;
    void *curl_{nullptr};
};
}  // namespace eloqstore_test_support::s3
