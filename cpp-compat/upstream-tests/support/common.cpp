// The upstream test harness's replacement for upstream EloqStore's
// tests/common.cpp and the helpers of tests/common.h (see common.h).
#include "common.h"

#include <memory>
#include <system_error>

#include "s3_client.h"

namespace eloqstore_test_support
{
const std::string &TestRoot()
{
    static const std::string root = []
    {
        const char *env = std::getenv("ELOQSTORE_TEST_ROOT");
        return std::string(env != nullptr && *env != '\0' ? env : "/tmp");
    }();
    return root;
}

namespace
{
namespace fs = std::filesystem;

constexpr char kDefaultEndpoint[] = "http://127.0.0.1:9900";

s3::Endpoint EndpointOf(const eloqstore::KvOptions &opts)
{
    s3::Endpoint ep;
    ep.url = opts.cloud_endpoint.empty() ? std::string(kDefaultEndpoint)
                                         : opts.cloud_endpoint;
    if (!opts.cloud_region.empty())
    {
        ep.region = opts.cloud_region;
    }
    ep.access_key = opts.cloud_access_key;
    ep.secret_key = opts.cloud_secret_key;
    ep.verify_ssl = !opts.cloud_endpoint.empty() && opts.cloud_verify_ssl;
    return ep;
}

// "bucket[/prefix]" (leading and trailing slashes ignored).
struct CloudPath
{
    std::string bucket;
    std::string prefix;

    // The key prefix of the objects under this path: "prefix/" or "".
    std::string KeyPrefix() const
    {
        return prefix.empty() ? std::string() : prefix + "/";
    }
};

bool ParseCloudPath(const std::string &spec, CloudPath *out)
{
    if (spec.find(':') != std::string::npos)
    {
        LOG(ERROR) << "cloud path must be 'bucket[/prefix]', got " << spec;
        return false;
    }
    size_t b = spec.find_first_not_of('/');
    if (b == std::string::npos)
    {
        return false;
    }
    const size_t slash = spec.find('/', b);
    out->bucket = spec.substr(b, slash == std::string::npos ? slash : slash - b);
    out->prefix.clear();
    if (slash != std::string::npos)
    {
        const size_t first = spec.find_first_not_of('/', slash);
        const size_t last = spec.find_last_not_of('/');
        if (first != std::string::npos && last >= first)
        {
            out->prefix = spec.substr(first, last - first + 1);
        }
    }
    return !out->bucket.empty();
}

bool ListUnder(const eloqstore::KvOptions &opts,
               const std::string &cloud_path,
               CloudPath *path,
               std::vector<s3::Object> *objects)
{
    if (!ParseCloudPath(cloud_path, path))
    {
        return false;
    }
    s3::Client client(EndpointOf(opts));
    std::string error;
    if (!client.List(path->bucket, path->KeyPrefix(), objects, &error))
    {
        LOG(ERROR) << "listing " << cloud_path << " failed: " << error;
        return false;
    }
    return true;
}
}  // namespace
}  // namespace eloqstore_test_support

namespace ets = eloqstore_test_support;

eloqstore::EloqStore *InitStore(const eloqstore::KvOptions &opts)
{
    static std::unique_ptr<eloqstore::EloqStore> store;
    if (store != nullptr && !store->IsStopped())
    {
        store->Stop();
    }
    CleanupStore(opts);
    store = std::make_unique<eloqstore::EloqStore>(opts);
    const eloqstore::KvError err = store->Start();
    INFO("InitStore: Start() returned " << eloqstore::ErrorString(err));
    REQUIRE(err == eloqstore::KvError::NoError);
    return store.get();
}

bool ValidateFileSizes(const eloqstore::KvOptions &opts)
{
    namespace fs = std::filesystem;
    const uint64_t max_data = opts.DataFileSize();
    const uint64_t max_manifest = opts.manifest_limit;
    bool ok = true;
    for (const std::string &dir : opts.store_path)
    {
        std::error_code ec;
        if (!fs::exists(dir, ec))
        {
            LOG(WARNING) << "ValidateFileSizes: no store directory " << dir;
            continue;
        }
        for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
             it.increment(ec))
        {
            std::error_code fec;
            if (!it->is_regular_file(fec))
            {
                continue;
            }
            const std::string name = it->path().filename().string();
            const uint64_t size = it->file_size(fec);
            if (fec)
            {
                LOG(ERROR) << "ValidateFileSizes: " << it->path() << ": "
                           << fec.message();
                ok = false;
                continue;
            }
            if (name.rfind("data_", 0) == 0 && size > max_data)
            {
                LOG(ERROR) << "ValidateFileSizes: data file " << it->path()
                           << " has " << size << " bytes, limit " << max_data;
                ok = false;
            }
            else if (eloqstore::IsArchiveFile(name) && size > max_manifest)
            {
                LOG(ERROR) << "ValidateFileSizes: archive " << it->path()
                           << " has " << size << " bytes, limit "
                           << max_manifest;
                ok = false;
            }
        }
        if (ec)
        {
            LOG(ERROR) << "ValidateFileSizes: walking " << dir << ": "
                       << ec.message();
            ok = false;
        }
    }
    return ok;
}

void CleanupLocalStore(eloqstore::KvOptions opts)
{
    for (const std::string &dir : opts.store_path)
    {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        if (ec)
        {
            LOG(WARNING) << "CleanupLocalStore: removing " << dir << ": "
                         << ec.message();
        }
    }
}

void CleanupStore(eloqstore::KvOptions opts)
{
    CleanupLocalStore(opts);
    if (opts.cloud_store_path.empty())
    {
        return;
    }
    ets::CloudPath path;
    std::vector<ets::s3::Object> objects;
    if (!ets::ListUnder(opts, opts.cloud_store_path, &path, &objects))
    {
        LOG(WARNING) << "CleanupStore: cannot list " << opts.cloud_store_path
                     << "; its objects are left";
        return;
    }
    ets::s3::Client client(ets::EndpointOf(opts));
    for (const ets::s3::Object &obj : objects)
    {
        std::string error;
        if (!client.Delete(path.bucket, obj.key, &error))
        {
            LOG(WARNING) << "CleanupStore: " << error;
        }
    }
}

bool MoveCloudFile(const eloqstore::KvOptions &opts,
                   const std::string &cloud_path,
                   const std::string &src_file,
                   const std::string &dst_file)
{
    ets::CloudPath path;
    if (!ets::ParseCloudPath(cloud_path, &path))
    {
        return false;
    }
    ets::s3::Client client(ets::EndpointOf(opts));
    std::string error;
    const std::string src = path.KeyPrefix() + src_file;
    const std::string dst = path.KeyPrefix() + dst_file;
    if (!client.Copy(path.bucket, src, dst, &error) ||
        !client.Delete(path.bucket, src, &error))
    {
        LOG(ERROR) << "MoveCloudFile: " << error;
        return false;
    }
    return true;
}

std::vector<std::string> ListCloudFiles(const eloqstore::KvOptions &opts,
                                        const std::string &cloud_path,
                                        const std::string &remote_path)
{
    std::string joined = cloud_path;
    const size_t rel = remote_path.find_first_not_of('/');
    if (rel != std::string::npos)
    {
        if (!joined.empty() && joined.back() != '/')
        {
            joined.push_back('/');
        }
        joined += remote_path.substr(rel);
    }
    ets::CloudPath path;
    std::vector<ets::s3::Object> objects;
    if (!ets::ListUnder(opts, joined, &path, &objects))
    {
        return {};
    }
    const std::string key_prefix = path.KeyPrefix();
    std::vector<std::string> names;
    names.reserve(objects.size());
    for (ets::s3::Object &obj : objects)
    {
        names.push_back(obj.key.substr(key_prefix.size()));
    }
    return names;
}

std::optional<uint64_t> GetCloudSize(const eloqstore::KvOptions &opts,
                                     const std::string &cloud_path)
{
    ets::CloudPath path;
    std::vector<ets::s3::Object> objects;
    if (!ets::ListUnder(opts, cloud_path, &path, &objects))
    {
        return std::nullopt;
    }
    uint64_t total = 0;
    for (const ets::s3::Object &obj : objects)
    {
        total += obj.size;
    }
    return total;
}

uint64_t DirectorySize(const std::filesystem::path &path)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    uint64_t total = 0;
    for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end;
         it.increment(ec))
    {
        std::error_code fec;
        if (it->is_regular_file(fec))
        {
            const uint64_t size = it->file_size(fec);
            if (!fec)
            {
                total += size;
            }
        }
    }
    return total;
}
