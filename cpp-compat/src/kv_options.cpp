// KvOptions (kv_options.h) and its conversion to and from the C ABI's
// eloqstore_options.
#include "kv_options.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge.h"

// Every field of KvOptions, by kind. The C ABI knows each by the same
// name; tests check that these lists and the C ABI's field list agree.
#define ELOQSTORE_UINT_FIELDS(X)      \
    X(num_threads)                    \
    X(data_page_restart_interval)     \
    X(index_page_restart_interval)    \
    X(init_page_count)                \
    X(buffer_pool_size)               \
    X(root_meta_cache_size)           \
    X(manifest_limit)                 \
    X(fd_limit)                       \
    X(io_queue_size)                  \
    X(max_inflight_write)             \
    X(max_write_batch_pages)          \
    X(buf_ring_size)                  \
    X(coroutine_stack_size)           \
    X(num_retained_archives)          \
    X(archive_interval_secs)          \
    X(max_archive_tasks)              \
    X(file_amplify_factor)            \
    X(local_space_limit)              \
    X(reserve_space_ratio)            \
    X(max_upload_batch)               \
    X(max_cloud_concurrency)          \
    X(cloud_request_threads)          \
    X(direct_io_buffer_pool_size)     \
    X(data_page_size)                 \
    X(pages_per_file_shift)           \
    X(overflow_pointers)              \
    X(prewarm_task_count)             \
    X(mapping_arena_size)

#define ELOQSTORE_BOOL_FIELDS(X) \
    X(skip_verify_checksum)      \
    X(allow_reuse_local_caches)  \
    X(cloud_verify_ssl)          \
    X(data_append_mode)          \
    X(enable_compression)        \
    X(prewarm_cloud_cache)

#define ELOQSTORE_STRING_FIELDS(X) \
    X(cloud_store_path)            \
    X(cloud_provider)              \
    X(cloud_endpoint)              \
    X(cloud_region)                \
    X(cloud_access_key)            \
    X(cloud_secret_key)

namespace eloqstore
{
namespace compat
{
void LogError(const std::string &msg)
{
    std::fprintf(stderr, "[eloqstore ERROR] %s\n", msg.c_str());
    std::fflush(stderr);
}

std::string LastCError()
{
    const char *m = eloqstore_last_error_message();
    return m != nullptr ? std::string(m) : std::string();
}

namespace
{
// The C comparator callbacks over a C++ Comparator (the context). The
// engine calls them from its threads.
int CompareKeys(void *ctx,
                const uint8_t *a,
                size_t a_len,
                const uint8_t *b,
                size_t b_len) noexcept
{
    const auto *cmp = static_cast<const Comparator *>(ctx);
    try
    {
        return cmp->Compare(
            std::string_view(reinterpret_cast<const char *>(a), a_len),
            std::string_view(reinterpret_cast<const char *>(b), b_len));
    }
    catch (const std::exception &e)
    {
        LogError(std::string("Comparator::Compare threw: ") + e.what());
    }
    catch (...)
    {
        LogError("Comparator::Compare threw an exception");
    }
    // A key order that cannot answer leaves the tree unusable.
    std::terminate();
}

size_t SeparateKeys(void *ctx,
                    const uint8_t *left,
                    size_t left_len,
                    const uint8_t *right,
                    size_t right_len,
                    uint8_t *out) noexcept
{
    const auto *cmp = static_cast<const Comparator *>(ctx);
    try
    {
        std::string_view sep = cmp->FindShortestSeparator(
            std::string_view(reinterpret_cast<const char *>(left), left_len),
            std::string_view(reinterpret_cast<const char *>(right),
                             right_len));
        if (sep.empty() || sep.size() > right_len)
        {
            return 0;  // The engine then uses `right` itself.
        }
        std::memcpy(out, sep.data(), sep.size());
        return sep.size();
    }
    catch (const std::exception &e)
    {
        LogError(std::string("Comparator::FindShortestSeparator threw: ") +
                 e.what());
    }
    catch (...)
    {
        LogError("Comparator::FindShortestSeparator threw an exception");
    }
    return 0;
}

using PartitionFilter = std::function<bool(const TableIdent &)>;

bool FilterPartition(void *ctx,
                     const uint8_t *table,
                     size_t table_len,
                     uint32_t partition) noexcept
{
    const auto *filter = static_cast<const PartitionFilter *>(ctx);
    try
    {
        return (*filter)(TableIdent(
            std::string(reinterpret_cast<const char *>(table), table_len),
            partition));
    }
    catch (const std::exception &e)
    {
        LogError(std::string("partition_filter threw: ") + e.what() +
                 "; the partition is treated as not owned");
    }
    catch (...)
    {
        LogError(
            "partition_filter threw an exception; the partition is treated "
            "as not owned");
    }
    return false;
}

void DestroyFilter(void *ctx) noexcept
{
    delete static_cast<PartitionFilter *>(ctx);
}

bool Check(eloqstore_error err, const char *field, std::string &why)
{
    if (err == ELOQSTORE_OK)
    {
        return true;
    }
    why = std::string("option ") + field + ": " + LastCError();
    return false;
}

bool GetString(const eloqstore_options *c,
               const char *field,
               std::string &out,
               std::string &why)
{
    size_t len = 0;
    if (!Check(eloqstore_options_get_string(c, field, nullptr, 0, &len),
               field,
               why))
    {
        return false;
    }
    std::vector<char> buf(len + 1);
    if (!Check(eloqstore_options_get_string(
                   c, field, buf.data(), buf.size(), &len),
               field,
               why))
    {
        return false;
    }
    out.assign(buf.data(), len);
    return true;
}

// The kind of each field the lists above cover, as the C ABI numbers them.
bool FieldsMatchCAbi(std::string &why)
{
    std::vector<std::pair<const char *, int>> ours;
#define NAME_UINT(f) ours.emplace_back(#f, 0);
#define NAME_BOOL(f) ours.emplace_back(#f, 1);
#define NAME_STRING(f) ours.emplace_back(#f, 2);
    ELOQSTORE_UINT_FIELDS(NAME_UINT)
    ELOQSTORE_BOOL_FIELDS(NAME_BOOL)
    ELOQSTORE_STRING_FIELDS(NAME_STRING)
#undef NAME_UINT
#undef NAME_BOOL
#undef NAME_STRING
    ours.emplace_back("store_path", 3);
    ours.emplace_back("comparator", 4);
    ours.emplace_back("partition_filter", 4);
    for (const auto &[name, kind] : ours)
    {
        if (eloqstore_options_field_kind(name) != kind)
        {
            why = std::string("the C ABI has no option field ") + name +
                  " of the kind the C++ layer expects (mismatched library "
                  "build)";
            return false;
        }
    }
    if (eloqstore_options_field_count() != ours.size())
    {
        for (size_t i = 0; i < eloqstore_options_field_count(); ++i)
        {
            const char *name = eloqstore_options_field_name(i);
            bool known = false;
            for (const auto &f : ours)
            {
                known = known || std::strcmp(f.first, name) == 0;
            }
            if (!known)
            {
                why = std::string("the C ABI option field ") + name +
                      " has no KvOptions member in the C++ layer "
                      "(mismatched library build)";
                return false;
            }
        }
        why = "the C ABI and the C++ layer disagree on the option fields";
        return false;
    }
    return true;
}
}  // namespace

OptionsPtr OptionsToC(const KvOptions &opts, bool callbacks, std::string &why)
{
    static std::string mismatch;
    static const bool consistent = FieldsMatchCAbi(mismatch);
    if (!consistent)
    {
        why = mismatch;
        return nullptr;
    }
    OptionsPtr c(eloqstore_options_new());
    if (!c)
    {
        why = "cannot allocate options";
        return nullptr;
    }
#define SET_UINT(f)                                                      \
    if (!Check(eloqstore_options_set_uint(                               \
                   c.get(), #f, static_cast<uint64_t>(opts.f)),          \
               #f,                                                       \
               why))                                                     \
    {                                                                    \
        return nullptr;                                                  \
    }
#define SET_BOOL(f)                                                        \
    if (!Check(eloqstore_options_set_bool(c.get(), #f, opts.f), #f, why)) \
    {                                                                      \
        return nullptr;                                                    \
    }
#define SET_STRING(f)                                                   \
    if (!Check(eloqstore_options_set_string(                            \
                   c.get(),                                             \
                   #f,                                                  \
                   reinterpret_cast<const uint8_t *>(opts.f.data()),    \
                   opts.f.size()),                                      \
               #f,                                                      \
               why))                                                    \
    {                                                                   \
        return nullptr;                                                 \
    }
    ELOQSTORE_UINT_FIELDS(SET_UINT)
    ELOQSTORE_BOOL_FIELDS(SET_BOOL)
    ELOQSTORE_STRING_FIELDS(SET_STRING)
#undef SET_UINT
#undef SET_BOOL
#undef SET_STRING

    std::vector<const char *> paths;
    paths.reserve(opts.store_path.size());
    for (const std::string &p : opts.store_path)
    {
        if (p.find('\0') != std::string::npos)
        {
            why = "option store_path: a path contains a NUL byte";
            return nullptr;
        }
        paths.push_back(p.c_str());
    }
    if (!Check(eloqstore_options_set_store_paths(
                   c.get(), paths.data(), paths.size()),
               "store_path",
               why))
    {
        return nullptr;
    }

    if (!callbacks)
    {
        return c;
    }
    if (opts.comparator_ == nullptr)
    {
        why = "option comparator_: it is null (use "
              "Comparator::DefaultComparator() for the bytewise order)";
        return nullptr;
    }
    if (opts.comparator_ != Comparator::DefaultComparator())
    {
        // The engine's built-in bytewise order serves the default one.
        eloqstore_comparator *cmp =
            eloqstore_comparator_new(const_cast<Comparator *>(opts.comparator_),
                                     CompareKeys,
                                     opts.comparator_->Name(),
                                     SeparateKeys,
                                     nullptr);
        if (cmp == nullptr)
        {
            why = "option comparator_: " + LastCError();
            return nullptr;
        }
        const eloqstore_error err =
            eloqstore_options_set_comparator(c.get(), cmp);
        eloqstore_comparator_free(cmp);  // The options keep their reference.
        if (!Check(err, "comparator_", why))
        {
            return nullptr;
        }
    }
    if (opts.partition_filter)
    {
        auto *filter = new PartitionFilter(opts.partition_filter);
        const eloqstore_error err = eloqstore_options_set_partition_filter(
            c.get(), filter, FilterPartition, DestroyFilter);
        if (err != ELOQSTORE_OK)
        {
            delete filter;
            Check(err, "partition_filter", why);
            return nullptr;
        }
    }
    return c;
}

bool OptionsFromC(const eloqstore_options *c, KvOptions &opts, std::string &why)
{
    // Read everything first so that a failure leaves `opts` unchanged.
    KvOptions out = opts;
    uint64_t u = 0;
    bool b = false;
#define GET_UINT(f)                                                         \
    if (!Check(eloqstore_options_get_uint(c, #f, &u), #f, why))             \
    {                                                                       \
        return false;                                                       \
    }                                                                       \
    out.f = static_cast<decltype(out.f)>(u);
#define GET_BOOL(f)                                                 \
    if (!Check(eloqstore_options_get_bool(c, #f, &b), #f, why))     \
    {                                                               \
        return false;                                               \
    }                                                               \
    out.f = b;
#define GET_STRING(f)                    \
    if (!GetString(c, #f, out.f, why))   \
    {                                    \
        return false;                    \
    }
    ELOQSTORE_UINT_FIELDS(GET_UINT)
    ELOQSTORE_BOOL_FIELDS(GET_BOOL)
    ELOQSTORE_STRING_FIELDS(GET_STRING)
#undef GET_UINT
#undef GET_BOOL
#undef GET_STRING

    const size_t n = eloqstore_options_store_path_count(c);
    out.store_path.clear();
    out.store_path.reserve(n);
    for (size_t i = 0; i < n; ++i)
    {
        size_t len = 0;
        if (!Check(eloqstore_options_get_store_path(c, i, nullptr, 0, &len),
                   "store_path",
                   why))
        {
            return false;
        }
        std::vector<char> buf(len + 1);
        if (!Check(eloqstore_options_get_store_path(
                       c, i, buf.data(), buf.size(), &len),
                   "store_path",
                   why))
        {
            return false;
        }
        out.store_path.emplace_back(buf.data(), len);
    }
    opts = std::move(out);
    return true;
}

}  // namespace compat

int KvOptions::LoadFromIni(const char *path)
{
    std::string why;
    compat::OptionsPtr c = compat::OptionsToC(*this, false, why);
    if (!c)
    {
        compat::LogError(std::string("LoadFromIni: ") + why);
        return -1;
    }
    const int rc = eloqstore_options_load_ini(c.get(), path);
    if (rc != 0)
    {
        compat::LogError(std::string("LoadFromIni(") +
                         (path != nullptr ? path : "(null)") +
                         "): " + compat::LastCError());
        return rc;
    }
    if (!compat::OptionsFromC(c.get(), *this, why))
    {
        compat::LogError(std::string("LoadFromIni: ") + why);
        return -1;
    }
    return 0;
}

bool KvOptions::operator==(const KvOptions &other) const
{
    const KvOptions &o = other;
    return num_threads == o.num_threads &&
           data_page_restart_interval == o.data_page_restart_interval &&
           index_page_restart_interval == o.index_page_restart_interval &&
           init_page_count == o.init_page_count &&
           skip_verify_checksum == o.skip_verify_checksum &&
           buffer_pool_size == o.buffer_pool_size &&
           root_meta_cache_size == o.root_meta_cache_size &&
           manifest_limit == o.manifest_limit && fd_limit == o.fd_limit &&
           io_queue_size == o.io_queue_size &&
           max_inflight_write == o.max_inflight_write &&
           max_write_batch_pages == o.max_write_batch_pages &&
           buf_ring_size == o.buf_ring_size &&
           coroutine_stack_size == o.coroutine_stack_size &&
           num_retained_archives == o.num_retained_archives &&
           archive_interval_secs == o.archive_interval_secs &&
           max_archive_tasks == o.max_archive_tasks &&
           file_amplify_factor == o.file_amplify_factor &&
           local_space_limit == o.local_space_limit &&
           reserve_space_ratio == o.reserve_space_ratio &&
           max_upload_batch == o.max_upload_batch &&
           max_cloud_concurrency == o.max_cloud_concurrency &&
           cloud_request_threads == o.cloud_request_threads &&
           direct_io_buffer_pool_size == o.direct_io_buffer_pool_size &&
           allow_reuse_local_caches == o.allow_reuse_local_caches &&
           prewarm_cloud_cache == o.prewarm_cloud_cache &&
           prewarm_task_count == o.prewarm_task_count &&
           store_path == o.store_path &&
           cloud_store_path == o.cloud_store_path &&
           cloud_provider == o.cloud_provider &&
           cloud_endpoint == o.cloud_endpoint &&
           cloud_region == o.cloud_region &&
           cloud_access_key == o.cloud_access_key &&
           cloud_secret_key == o.cloud_secret_key &&
           cloud_verify_ssl == o.cloud_verify_ssl &&
           data_page_size == o.data_page_size &&
           pages_per_file_shift == o.pages_per_file_shift &&
           overflow_pointers == o.overflow_pointers &&
           data_append_mode == o.data_append_mode;
}
}  // namespace eloqstore
