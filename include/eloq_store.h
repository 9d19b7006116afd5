// EloqStore-rs C++ interface: the store and its requests (upstream's
// eloq_store.h).
//
// These classes keep upstream's names, public members and methods. They are
// implemented over the library's C ABI (eloqstore.h): a request's arguments
// are handed to the engine when it is executed, and its outputs (value_,
// Entries(), ...) are filled in before it reports done and before its
// callback runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "error.h"
#include "kv_options.h"
#include "types.h"

// Handles of the C ABI (include/eloqstore.h); opaque here.
struct eloqstore_request;
struct eloqstore_store;

namespace utils
{
struct CloudObjectInfo;
}  // namespace utils

namespace eloqstore
{
enum class RequestType : uint8_t
{
    Read,
    Floor,
    Scan,
    ListObject,
    BatchWrite,
    Truncate,
    DropTable,
    Archive,
    Compact,
    CleanExpired,
    GlobalArchive
};

inline const char *RequestTypeToString(RequestType type)
{
    switch (type)
    {
    case RequestType::Read:
        return "read";
    case RequestType::Floor:
        return "floor";
    case RequestType::Scan:
        return "scan";
    case RequestType::ListObject:
        return "list_object";
    case RequestType::BatchWrite:
        return "batch_write";
    case RequestType::Truncate:
        return "truncate";
    case RequestType::DropTable:
        return "drop_table";
    case RequestType::Archive:
        return "archive";
    case RequestType::Compact:
        return "compact";
    case RequestType::CleanExpired:
        return "clean_expired";
    case RequestType::GlobalArchive:
        return "global_archive";
    }
    return "unknown";
}

class EloqStore;
namespace compat
{
struct RequestBridge;
}  // namespace compat

// The base of every request. A request is not copyable; it may be executed
// again once done. Do not change or destroy a request while it is in
// flight (IsDone() false).
class KvRequest
{
public:
    KvRequest() = default;
    virtual ~KvRequest();
    virtual RequestType Type() const = 0;
    // Read, Floor, Scan and ListObject do not change data.
    bool ReadOnly() const;
    // The outcome of the last execution.
    KvError Error() const;
    bool RetryableErr() const;
    // What went wrong in the last execution: the engine's message naming
    // the cause, or ErrorString(Error()) when there is none.
    const char *ErrMessage() const;
    void SetTableId(TableIdent tbl_id);
    const TableIdent &TableId() const;
    // The value given to EloqStore::ExecAsyn (0 otherwise).
    uint64_t UserData() const;

    // True unless the request is in flight (a new request is done).
    bool IsDone() const;
    // Blocks until the request is done.
    void Wait() const;

protected:
    // Completes the request without the engine (used for requests that
    // fail before reaching it).
    void SetDone(KvError err);

    TableIdent tbl_id_;
    uint64_t user_data_{0};
    std::function<void(KvRequest *)> callback_{nullptr};
    std::atomic<bool> done_{true};
    KvError err_{KvError::NoError};

    // Hands the request's arguments to its C handle (the table here; each
    // request type adds its own).
    virtual KvError LoadArgs(::eloqstore_request *req, std::string &why);
    // Copies the results of a completed execution out of the C handle.
    virtual void TakeResults(const ::eloqstore_request *req);

private:
    ::eloqstore_request *handle_{nullptr};
    std::string err_detail_;

    friend class EloqStore;
    friend struct compat::RequestBridge;
};

class ReadRequest : public KvRequest
{
public:
    RequestType Type() const override
    {
        return RequestType::Read;
    }
    // The key bytes are copied when the request executes; a string_view (or
    // const char*) key must stay valid until then.
    void SetArgs(TableIdent tbl_id, const char *key);
    void SetArgs(TableIdent tbl_id, std::string_view key);
    void SetArgs(TableIdent tbl_id, std::string key);
    std::string_view Key() const;

    // output
    std::string value_;
    uint64_t ts_{0};
    uint64_t expire_ts_{0};

private:
    KvError LoadArgs(::eloqstore_request *req, std::string &why) override;
    void TakeResults(const ::eloqstore_request *req) override;

    // input
    std::variant<std::string_view, std::string> key_;
};

// Finds the greatest key not greater than the search key; NotFound when
// there is none.
class FloorRequest : public KvRequest
{
public:
    RequestType Type() const override
    {
        return RequestType::Floor;
    }
    void SetArgs(TableIdent tbl_id, const char *key);
    void SetArgs(TableIdent tid, std::string_view key);
    void SetArgs(TableIdent tid, std::string key);
    std::string_view Key() const;

    // output
    std::string floor_key_;
    std::string value_;
    uint64_t ts_{0};
    uint64_t expire_ts_{0};

private:
    KvError LoadArgs(::eloqstore_request *req, std::string &why) override;
    void TakeResults(const ::eloqstore_request *req) override;

    // input
    std::variant<std::string_view, std::string> key_;
};

class ScanRequest : public KvRequest
{
public:
    RequestType Type() const override
    {
        return RequestType::Scan;
    }
    // Keys in [begin, end), or (begin, end) when begin_inclusive is false.
    // An empty begin starts at the first key, an empty end does not bound
    // the scan. With const char*, a null begin scans the whole partition
    // and a null end is unbounded.
    void SetArgs(TableIdent tbl_id,
                 std::string_view begin,
                 std::string_view end,
                 bool begin_inclusive = true);
    void SetArgs(TableIdent tbl_id,
                 std::string begin,
                 std::string end,
                 bool begin_inclusive = true);
    void SetArgs(TableIdent tbl_id,
                 const char *begin,
                 const char *end,
                 bool begin_inclusive = true);

    // Limits one execution to `entries` entries and `size` bytes (key +
    // value + 16 per entry; the first entry is always returned); 0 means
    // no limit. Continue with SetArgs(tbl, last key, end, false).
    void SetPagination(size_t entries, size_t size);
    // Leaf pages read ahead (0 means the default of 6; at most 128).
    void SetPrefetchPageNum(size_t pages);
    size_t PrefetchPageNum() const;

    std::string_view BeginKey() const;
    std::string_view EndKey() const;

    // The entries of the last execution, in key order.
    tcb::span<KvEntry> Entries();

    // (entries, bytes) of the last execution.
    std::pair<size_t, size_t> ResultSize() const;
    // True when the last execution stopped at a pagination limit while more
    // keys remained in range.
    bool HasRemaining() const;

private:
    KvError LoadArgs(::eloqstore_request *req, std::string &why) override;
    void TakeResults(const ::eloqstore_request *req) override;

    // input
    bool begin_inclusive_{true};
    // output
    bool has_remaining_{false};
    // input
    std::variant<std::string_view, std::string> begin_key_;
    std::variant<std::string_view, std::string> end_key_;
    size_t page_entries_{SIZE_MAX};
    size_t page_size_{SIZE_MAX};
    // output
    std::vector<KvEntry> entries_;
    size_t num_entries_{0};
    size_t prefetch_page_num_{kDefaultScanPrefetchPageCount};
};

// Lists one page of the cloud tier's objects under RemotePath() (relative
// to cloud_store_path; "" is its root): every key below it when
// Recursive(), else one level with sub-directories as is_dir entries.
// Fills *objects (names) and *details (when set), and the token for the
// next page (HasMoreResults()). Outside cloud mode it fails with
// InvalidArgs.
class ListObjectRequest : public KvRequest
{
public:
    RequestType Type() const override
    {
        return RequestType::ListObject;
    }

    explicit ListObjectRequest(std::vector<std::string> *objects)
        : objects_(objects)
    {
    }

    void SetRemotePath(std::string remote_path)
    {
        remote_path_ = std::move(remote_path);
    }
    void SetRecursive(bool recursive)
    {
        recursive_ = recursive;
    }

    const std::string &RemotePath() const
    {
        return remote_path_;
    }

    void SetDetails(std::vector<utils::CloudObjectInfo> *details)
    {
        details_ = details;
    }

    std::vector<std::string> *GetObjects()
    {
        return objects_;
    }

    std::vector<utils::CloudObjectInfo> *GetDetails() const
    {
        return details_;
    }
    bool Recursive() const
    {
        return recursive_;
    }

    void SetContinuationToken(std::string token)
    {
        continuation_token_ = std::move(token);
    }

    const std::string &GetContinuationToken() const
    {
        return continuation_token_;
    }

    std::string *GetNextContinuationToken()
    {
        return &next_continuation_token_;
    }

    bool HasMoreResults() const
    {
        return !next_continuation_token_.empty();
    }

private:
    KvError LoadArgs(::eloqstore_request *req, std::string &why) override;
    void TakeResults(const ::eloqstore_request *req) override;

    std::vector<std::string> *objects_;
    std::vector<utils::CloudObjectInfo> *details_{nullptr};
    std::string remote_path_;
    bool recursive_{false};
    std::string continuation_token_;
    std::string next_continuation_token_;
};

class WriteRequest : public KvRequest
{
public:
    // Free for the caller's use while the request is idle (e.g. to chain
    // spare requests); the engine does not touch it.
    WriteRequest *next_{nullptr};
};

// Writes a batch atomically: all of it becomes visible and durable at once,
// or none of it. Keys must be sorted by the store's comparator and unique
// (InvalidArgs otherwise).
class BatchWriteRequest : public WriteRequest
{
public:
    RequestType Type() const override
    {
        return RequestType::BatchWrite;
    }
    void SetArgs(TableIdent tid, std::vector<WriteDataEntry> &&batch);
    void AddWrite(std::string key, std::string value, uint64_t ts, WriteOp op);
    // Empties the batch and releases its memory.
    void Clear();

    // input
    std::vector<WriteDataEntry> batch_;

private:
    KvError LoadArgs(::eloqstore_request *req, std::string &why) override;
};

// Deletes every key >= position_ (an empty position deletes all).
class TruncateRequest : public WriteRequest
{
public:
    RequestType Type() const override
    {
        return RequestType::Truncate;
    }
    // The view must stay valid until the request executes.
    void SetArgs(TableIdent tid, std::string_view position);
    void SetArgs(TableIdent tid, std::string position);

    // input
    std::string_view position_;

private:
    KvError LoadArgs(::eloqstore_request *req, std::string &why) override;

    std::string position_storage_;
};

// Deletes all data of every partition of a table.
class DropTableRequest : public KvRequest
{
public:
    RequestType Type() const override
    {
        return RequestType::DropTable;
    }
    void SetArgs(std::string table_name);
    const std::string &TableName() const;

private:
    KvError LoadArgs(::eloqstore_request *req, std::string &why) override;

    std::string table_name_;
};

// Keeps the partition's current version as an archive (append mode).
class ArchiveRequest : public WriteRequest
{
public:
    RequestType Type() const override
    {
        return RequestType::Archive;
    }

    // Archive timestamp (microseconds); 0 means now.
    void SetSnapshotTimestamp(uint64_t ts)
    {
        snapshot_ts_ = ts;
    }

    uint64_t GetSnapshotTimestamp() const
    {
        return snapshot_ts_;
    }

private:
    KvError LoadArgs(::eloqstore_request *req, std::string &why) override;

    uint64_t snapshot_ts_{0};
};

// Archives every partition this instance owns (KvOptions::partition_filter)
// with one shared timestamp.
class GlobalArchiveRequest : public KvRequest
{
public:
    RequestType Type() const override
    {
        return RequestType::GlobalArchive;
    }

    void SetSnapshotTimestamp(uint64_t ts)
    {
        snapshot_ts_ = ts;
    }

    uint64_t GetSnapshotTimestamp() const
    {
        return snapshot_ts_;
    }

private:
    KvError LoadArgs(::eloqstore_request *req, std::string &why) override;

    uint64_t snapshot_ts_{0};
};

// Compacts the partition's sparse data files (append mode).
class CompactRequest : public WriteRequest
{
public:
    RequestType Type() const override
    {
        return RequestType::Compact;
    }
};

// Removes the partition's expired entries now.
class CleanExpiredRequest : public WriteRequest
{
public:
    RequestType Type() const override
    {
        return RequestType::CleanExpired;
    }
};

class PrewarmService;
class CloudStorageService;

class EloqStore
{
public:
    // Validates a copy of `opts` (see ValidateOptions). Invalid options do
    // not abort the process: the reason is logged and Start() returns
    // KvError::InvalidArgs.
    EloqStore(const KvOptions &opts);
    EloqStore(const EloqStore &) = delete;
    EloqStore(EloqStore &&) = delete;
    ~EloqStore();
    // Starts the worker threads. `term` is the process term of a cloud
    // store (local stores ignore it and keep term 0).
    KvError Start(uint64_t term = 0);
    // Completes every submitted request, then stops. May be called again,
    // and Start() may follow.
    void Stop();
    bool IsStopped() const;
    // The validated options.
    const KvOptions &Options() const;
    // Upstream's internal cloud services are not part of this library's
    // API: both return null (the cloud tier works without them).
    CloudStorageService *CloudService() const
    {
        return nullptr;
    }
    PrewarmService *GetPrewarmService() const
    {
        return nullptr;
    }

    uint64_t Term() const
    {
        return term_;
    }

    // Checks `opts` and applies upstream's adjustments to it; false (with
    // the reason logged) when they cannot be used.
    static bool ValidateOptions(KvOptions &opts);

    // Submits `req`; `callback(req)` runs on a store thread once the
    // request is done and its outputs are filled. False (callback not
    // called) when the store is not running or the request is in flight.
    template <typename F>
    bool ExecAsyn(KvRequest *req, uint64_t data, F callback)
    {
        return SendRequest(
            req, data, std::function<void(KvRequest *)>(std::move(callback)));
    }
    // Submits `req` without a callback: poll IsDone() or call Wait().
    bool ExecAsyn(KvRequest *req);
    // Runs `req` to completion on the calling thread's behalf. On a store
    // that is not running the request completes with NotRunning. Not from
    // a request callback (the request fails with InvalidArgs there).
    void ExecSync(KvRequest *req);

    bool EnableMetrics() const
    {
        return false;
    }

private:
    bool SendRequest(KvRequest *req,
                     uint64_t data,
                     std::function<void(KvRequest *)> callback);

    KvOptions options_;
    ::eloqstore_store *store_{nullptr};
    // Why the store could not be created (invalid options), else empty.
    std::string init_error_;
    uint64_t term_{0};
};
}  // namespace eloqstore
