// EloqStore and the request classes (eloq_store.h) over the C ABI.
//
// Each C++ request owns one C request handle, created at its first
// execution. Executing copies the request's arguments into the handle;
// completion copies the results back into the C++ object, then marks it
// done, then runs the user's callback. The C callback finds the C++ object
// through the user-data word, which this layer reserves for that; the
// user's own value stays in KvRequest::user_data_.
#include "eloq_store.h"

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "bridge.h"
#include "utils.h"

namespace eloqstore
{
namespace compat
{
namespace
{
// Waiters for requests executed without a callback share a few mutex and
// condition variable pairs chosen by the request's address: a completing
// thread touches only the pair (never the request) after publishing done,
// so a waiter may destroy the request as soon as it sees done.
struct WaitSlot
{
    std::mutex mu;
    std::condition_variable cv;
};

constexpr size_t kWaitSlots = 64;

WaitSlot &SlotFor(const void *req)
{
    // Never destroyed: completions may run while the process exits.
    static WaitSlot *slots = new WaitSlot[kWaitSlots];
    return slots[(reinterpret_cast<uintptr_t>(req) >> 4) % kWaitSlots];
}

// True on a store thread while it runs a request callback.
thread_local bool t_in_callback = false;

std::string_view View(const uint8_t *p, size_t len)
{
    return {reinterpret_cast<const char *>(p), len};
}

const uint8_t *Bytes(std::string_view s)
{
    return reinterpret_cast<const uint8_t *>(s.data());
}

std::string_view ViewOf(const std::variant<std::string_view, std::string> &v)
{
    return std::visit([](const auto &s) { return std::string_view(s); }, v);
}
}  // namespace

// Friend of KvRequest: the steps of an execution.
struct RequestBridge
{
    // Creates the C handle if needed and copies the arguments into it.
    // Arguments the C ABI refuses mark the handle rejected, so the engine
    // fails the execution with the reason like any other error (an async
    // callback still runs on a store thread). Fails only when no handle
    // can be made.
    static KvError Prepare(KvRequest *req, std::string &why)
    {
        if (req->handle_ == nullptr)
        {
            req->handle_ =
                eloqstore_request_new(static_cast<uint8_t>(req->Type()));
            if (req->handle_ == nullptr)
            {
                why = std::string("unknown request type ") +
                      std::to_string(static_cast<int>(req->Type()));
                return KvError::InvalidArgs;
            }
        }
        eloqstore_request_reject(req->handle_, nullptr, 0);
        std::string reason;
        if (req->LoadArgs(req->handle_, reason) != KvError::NoError &&
            eloqstore_request_reject(
                req->handle_, compat::Bytes(reason), reason.size()) !=
                ELOQSTORE_OK)
        {
            why = std::move(reason);
            return KvError::InvalidArgs;
        }
        return KvError::NoError;
    }

    static void PublishDone(KvRequest *req)
    {
        WaitSlot &slot = SlotFor(req);
        {
            std::lock_guard<std::mutex> lk(slot.mu);
            req->done_.store(true, std::memory_order_release);
        }
        slot.cv.notify_all();
        // `req` may be gone from here on unless a callback holds it.
    }

    static void RunCallback(std::function<void(KvRequest *)> &cb,
                            KvRequest *req)
    {
        const bool outer = t_in_callback;
        t_in_callback = true;
        try
        {
            cb(req);
        }
        catch (const std::exception &e)
        {
            LogError(std::string("a request callback threw: ") + e.what());
        }
        catch (...)
        {
            LogError("a request callback threw an exception");
        }
        t_in_callback = outer;
    }

    // Completes an execution the engine ran: results, done, callback.
    static void Finish(KvRequest *req, const eloqstore_request *h)
    {
        req->err_ = static_cast<KvError>(eloqstore_request_error(h));
        const char *msg = eloqstore_request_error_message(h);
        req->err_detail_ = msg != nullptr ? msg : "";
        req->TakeResults(h);
        // The callback is moved out first: it may resubmit or free `req`.
        std::function<void(KvRequest *)> cb = std::move(req->callback_);
        req->callback_ = nullptr;
        PublishDone(req);
        if (cb)
        {
            RunCallback(cb, req);
        }
    }

    // Completes an execution that never reached the engine.
    static void FinishLocally(KvRequest *req, KvError err, std::string why)
    {
        req->err_ = err;
        req->err_detail_ = std::move(why);
        std::function<void(KvRequest *)> cb = std::move(req->callback_);
        req->callback_ = nullptr;
        PublishDone(req);
        if (cb)
        {
            RunCallback(cb, req);
        }
    }

    static eloqstore_request *Handle(KvRequest *req)
    {
        return req->handle_;
    }

    static bool InFlight(const KvRequest *req)
    {
        return !req->done_.load(std::memory_order_acquire);
    }

    static void BeginFlight(KvRequest *req)
    {
        req->done_.store(false, std::memory_order_release);
    }

    static void SetUserPart(KvRequest *req,
                            uint64_t data,
                            std::function<void(KvRequest *)> cb)
    {
        req->user_data_ = data;
        req->callback_ = std::move(cb);
    }
};

namespace
{
// The C completion callback: `user_data` is the C++ request.
extern "C" void OnRequestDone(eloqstore_request *h, uint64_t user_data)
{
    RequestBridge::Finish(reinterpret_cast<KvRequest *>(user_data), h);
}
}  // namespace
}  // namespace compat

using compat::RequestBridge;

// ---- KvRequest ----

KvRequest::~KvRequest()
{
    if (!done_.load(std::memory_order_acquire))
    {
        // Type() is not callable here (the derived part is gone).
        compat::LogError(
            "a request is destroyed while in flight; waiting for it to "
            "complete");
        Wait();
    }
    eloqstore_request_free(handle_);
}

bool KvRequest::ReadOnly() const
{
    return Type() < RequestType::BatchWrite;
}

KvError KvRequest::Error() const
{
    return err_;
}

bool KvRequest::RetryableErr() const
{
    return IsRetryableErr(err_);
}

const char *KvRequest::ErrMessage() const
{
    if (err_ == KvError::NoError || err_detail_.empty())
    {
        return ErrorString(err_);
    }
    return err_detail_.c_str();
}

void KvRequest::SetTableId(TableIdent tbl_id)
{
    tbl_id_ = std::move(tbl_id);
}

const TableIdent &KvRequest::TableId() const
{
    return tbl_id_;
}

uint64_t KvRequest::UserData() const
{
    return user_data_;
}

bool KvRequest::IsDone() const
{
    return done_.load(std::memory_order_acquire);
}

void KvRequest::Wait() const
{
    if (done_.load(std::memory_order_acquire))
    {
        return;
    }
    compat::WaitSlot &slot = compat::SlotFor(this);
    std::unique_lock<std::mutex> lk(slot.mu);
    slot.cv.wait(lk,
                 [this] { return done_.load(std::memory_order_acquire); });
}

void KvRequest::SetDone(KvError err)
{
    RequestBridge::FinishLocally(this, err, std::string());
}

KvError KvRequest::LoadArgs(eloqstore_request *req, std::string &why)
{
    const std::string &name = tbl_id_.tbl_name_;
    if (eloqstore_request_set_table(req,
                                    compat::Bytes(name),
                                    name.size(),
                                    tbl_id_.partition_id_) != ELOQSTORE_OK)
    {
        why = "the table name could not be passed to the engine";
        return KvError::InvalidArgs;
    }
    return KvError::NoError;
}

void KvRequest::TakeResults(const eloqstore_request *)
{
}

// ---- Read and Floor ----

namespace
{
KvError LoadKey(eloqstore_request *req, std::string_view key, std::string &why)
{
    if (eloqstore_request_set_key(req, compat::Bytes(key), key.size()) !=
        ELOQSTORE_OK)
    {
        why = "the key cannot be set";
        return KvError::InvalidArgs;
    }
    return KvError::NoError;
}
}  // namespace

void ReadRequest::SetArgs(TableIdent tbl_id, const char *key)
{
    SetArgs(std::move(tbl_id),
            key != nullptr ? std::string_view(key) : std::string_view());
}

void ReadRequest::SetArgs(TableIdent tbl_id, std::string_view key)
{
    tbl_id_ = std::move(tbl_id);
    key_ = key;
}

void ReadRequest::SetArgs(TableIdent tbl_id, std::string key)
{
    tbl_id_ = std::move(tbl_id);
    key_ = std::move(key);
}

std::string_view ReadRequest::Key() const
{
    return compat::ViewOf(key_);
}

KvError ReadRequest::LoadArgs(eloqstore_request *req, std::string &why)
{
    KvError err = KvRequest::LoadArgs(req, why);
    return err != KvError::NoError ? err : LoadKey(req, Key(), why);
}

void ReadRequest::TakeResults(const eloqstore_request *req)
{
    eloqstore_entry e{};
    if (err_ == KvError::NoError &&
        eloqstore_request_result(req, &e) == ELOQSTORE_OK)
    {
        value_.assign(compat::View(e.value, e.value_len));
        ts_ = e.timestamp;
        expire_ts_ = e.expire_ts;
    }
}

void FloorRequest::SetArgs(TableIdent tbl_id, const char *key)
{
    SetArgs(std::move(tbl_id),
            key != nullptr ? std::string_view(key) : std::string_view());
}

void FloorRequest::SetArgs(TableIdent tid, std::string_view key)
{
    tbl_id_ = std::move(tid);
    key_ = key;
}

void FloorRequest::SetArgs(TableIdent tid, std::string key)
{
    tbl_id_ = std::move(tid);
    key_ = std::move(key);
}

std::string_view FloorRequest::Key() const
{
    return compat::ViewOf(key_);
}

KvError FloorRequest::LoadArgs(eloqstore_request *req, std::string &why)
{
    KvError err = KvRequest::LoadArgs(req, why);
    return err != KvError::NoError ? err : LoadKey(req, Key(), why);
}

void FloorRequest::TakeResults(const eloqstore_request *req)
{
    eloqstore_entry e{};
    if (err_ == KvError::NoError &&
        eloqstore_request_result(req, &e) == ELOQSTORE_OK)
    {
        floor_key_.assign(compat::View(e.key, e.key_len));
        value_.assign(compat::View(e.value, e.value_len));
        ts_ = e.timestamp;
        expire_ts_ = e.expire_ts;
    }
}

// ---- ListObject ----

KvError ListObjectRequest::LoadArgs(eloqstore_request *req, std::string &why)
{
    KvError err = KvRequest::LoadArgs(req, why);
    if (err != KvError::NoError)
    {
        return err;
    }
    if (eloqstore_list_set_args(req,
                                compat::Bytes(remote_path_),
                                remote_path_.size(),
                                recursive_,
                                compat::Bytes(continuation_token_),
                                continuation_token_.size()) != ELOQSTORE_OK)
    {
        why = "the remote path or continuation token is not UTF-8";
        return KvError::InvalidArgs;
    }
    return KvError::NoError;
}

void ListObjectRequest::TakeResults(const eloqstore_request *req)
{
    // A failed listing leaves the outputs alone; a page replaces them.
    if (err_ != KvError::NoError)
    {
        return;
    }
    if (objects_ != nullptr)
    {
        objects_->clear();
    }
    if (details_ != nullptr)
    {
        details_->clear();
    }
    next_continuation_token_.clear();
    const size_t n = eloqstore_list_count(req);
    for (size_t i = 0; i < n; i++)
    {
        eloqstore_object_info o{};
        if (eloqstore_list_item(req, i, &o) != ELOQSTORE_OK)
        {
            continue;
        }
        std::string name(compat::View(o.name, o.name_len));
        if (details_ != nullptr)
        {
            utils::CloudObjectInfo info;
            info.name = name;
            info.path.assign(compat::View(o.path, o.path_len));
            info.size = o.size;
            info.is_dir = o.is_dir;
            info.mod_time.assign(compat::View(o.mod_time, o.mod_time_len));
            details_->push_back(std::move(info));
        }
        if (objects_ != nullptr)
        {
            objects_->push_back(std::move(name));
        }
    }
    const uint8_t *token = nullptr;
    size_t len = 0;
    if (eloqstore_list_next_token(req, &token, &len) == ELOQSTORE_OK)
    {
        next_continuation_token_.assign(compat::View(token, len));
    }
}

// ---- Scan ----

void ScanRequest::SetArgs(TableIdent tbl_id,
                          std::string_view begin,
                          std::string_view end,
                          bool begin_inclusive)
{
    tbl_id_ = std::move(tbl_id);
    begin_key_ = begin;
    end_key_ = end;
    begin_inclusive_ = begin_inclusive;
}

void ScanRequest::SetArgs(TableIdent tbl_id,
                          std::string begin,
                          std::string end,
                          bool begin_inclusive)
{
    tbl_id_ = std::move(tbl_id);
    begin_key_ = std::move(begin);
    end_key_ = std::move(end);
    begin_inclusive_ = begin_inclusive;
}

void ScanRequest::SetArgs(TableIdent tbl_id,
                          const char *begin,
                          const char *end,
                          bool begin_inclusive)
{
    std::string_view b;
    std::string_view e;
    if (begin != nullptr)
    {
        b = begin;
        if (end != nullptr)
        {
            e = end;
        }
    }
    SetArgs(std::move(tbl_id), b, e, begin_inclusive);
}

void ScanRequest::SetPagination(size_t entries, size_t size)
{
    page_entries_ = entries == 0 ? SIZE_MAX : entries;
    page_size_ = size == 0 ? SIZE_MAX : size;
}

void ScanRequest::SetPrefetchPageNum(size_t pages)
{
    constexpr size_t kMaxPrefetch = 128;
    if (pages == 0)
    {
        pages = kDefaultScanPrefetchPageCount;
    }
    prefetch_page_num_ = pages < kMaxPrefetch ? pages : kMaxPrefetch;
}

size_t ScanRequest::PrefetchPageNum() const
{
    return prefetch_page_num_;
}

std::string_view ScanRequest::BeginKey() const
{
    return compat::ViewOf(begin_key_);
}

std::string_view ScanRequest::EndKey() const
{
    return compat::ViewOf(end_key_);
}

tcb::span<KvEntry> ScanRequest::Entries()
{
    return tcb::span<KvEntry>(entries_.data(), num_entries_);
}

std::pair<size_t, size_t> ScanRequest::ResultSize() const
{
    size_t bytes = 0;
    for (size_t i = 0; i < num_entries_; ++i)
    {
        bytes += entries_[i].key_.size() + entries_[i].value_.size() +
                 2 * sizeof(uint64_t);
    }
    return {num_entries_, bytes};
}

bool ScanRequest::HasRemaining() const
{
    return has_remaining_;
}

KvError ScanRequest::LoadArgs(eloqstore_request *req, std::string &why)
{
    KvError err = KvRequest::LoadArgs(req, why);
    if (err != KvError::NoError)
    {
        return err;
    }
    const std::string_view b = BeginKey();
    const std::string_view e = EndKey();
    if (eloqstore_scan_set_range(req,
                                 compat::Bytes(b),
                                 b.size(),
                                 compat::Bytes(e),
                                 e.size(),
                                 begin_inclusive_) != ELOQSTORE_OK ||
        eloqstore_scan_set_pagination(
            req,
            page_entries_ == SIZE_MAX ? 0 : page_entries_,
            page_size_ == SIZE_MAX ? 0 : page_size_) != ELOQSTORE_OK ||
        eloqstore_scan_set_prefetch(req, prefetch_page_num_) != ELOQSTORE_OK)
    {
        why = "the scan range or limits cannot be set";
        return KvError::InvalidArgs;
    }
    return KvError::NoError;
}

void ScanRequest::TakeResults(const eloqstore_request *req)
{
    const eloqstore_entry *all = nullptr;
    size_t n = 0;
    if (eloqstore_scan_entries(req, &all, &n) != ELOQSTORE_OK)
    {
        n = 0;
    }
    entries_.resize(n);
    for (size_t i = 0; i < n; ++i)
    {
        const eloqstore_entry &e = all[i];
        KvEntry &out = entries_[i];
        out.key_.assign(compat::View(e.key, e.key_len));
        out.value_.assign(compat::View(e.value, e.value_len));
        out.timestamp_ = e.timestamp;
        out.expire_ts_ = e.expire_ts;
    }
    num_entries_ = n;
    has_remaining_ = eloqstore_scan_has_remaining(req);
}

// ---- Writes ----

void BatchWriteRequest::SetArgs(TableIdent tid,
                                std::vector<WriteDataEntry> &&batch)
{
    tbl_id_ = std::move(tid);
    batch_ = std::move(batch);
}

void BatchWriteRequest::AddWrite(std::string key,
                                 std::string value,
                                 uint64_t ts,
                                 WriteOp op)
{
    batch_.emplace_back(std::move(key), std::move(value), ts, op);
}

void BatchWriteRequest::Clear()
{
    batch_.clear();
    batch_.shrink_to_fit();
}

KvError BatchWriteRequest::LoadArgs(eloqstore_request *req, std::string &why)
{
    KvError err = KvRequest::LoadArgs(req, why);
    if (err != KvError::NoError)
    {
        return err;
    }
    // The keys and values are lent, not copied: this request (and its
    // batch_) stays untouched until it completes, as upstream requires.
    std::vector<eloqstore_batch_entry> entries(batch_.size());
    for (size_t i = 0; i < batch_.size(); ++i)
    {
        const WriteDataEntry &e = batch_[i];
        if (e.op_ != WriteOp::Upsert && e.op_ != WriteOp::Delete)
        {
            why = "batch entry " + std::to_string(i) +
                  " cannot be used: its WriteOp " +
                  std::to_string(static_cast<int>(e.op_)) +
                  " is neither Upsert nor Delete";
            return KvError::InvalidArgs;
        }
        entries[i] = eloqstore_batch_entry{compat::Bytes(e.key_),
                                           e.key_.size(),
                                           compat::Bytes(e.val_),
                                           e.val_.size(),
                                           e.timestamp_,
                                           e.expire_ts_,
                                           static_cast<uint8_t>(e.op_)};
    }
    if (eloqstore_batch_lend(req, entries.data(), entries.size()) !=
        ELOQSTORE_OK)
    {
        why = "the batch cannot be lent to the engine";
        return KvError::InvalidArgs;
    }
    return KvError::NoError;
}

void TruncateRequest::SetArgs(TableIdent tid, std::string_view position)
{
    tbl_id_ = std::move(tid);
    position_storage_.clear();
    position_ = position;
}

void TruncateRequest::SetArgs(TableIdent tid, std::string position)
{
    tbl_id_ = std::move(tid);
    position_storage_ = std::move(position);
    position_ = position_storage_;
}

KvError TruncateRequest::LoadArgs(eloqstore_request *req, std::string &why)
{
    KvError err = KvRequest::LoadArgs(req, why);
    if (err != KvError::NoError)
    {
        return err;
    }
    if (eloqstore_truncate_set_position(
            req, compat::Bytes(position_), position_.size()) != ELOQSTORE_OK)
    {
        why = "the truncate position cannot be set";
        return KvError::InvalidArgs;
    }
    return KvError::NoError;
}

void DropTableRequest::SetArgs(std::string table_name)
{
    table_name_ = std::move(table_name);
    if (table_name_.empty())
    {
        tbl_id_ = TableIdent();
    }
    else
    {
        tbl_id_ = TableIdent(table_name_, UINT32_MAX);
    }
}

const std::string &DropTableRequest::TableName() const
{
    return table_name_;
}

KvError DropTableRequest::LoadArgs(eloqstore_request *req, std::string &why)
{
    KvError err = KvRequest::LoadArgs(req, why);
    if (err != KvError::NoError)
    {
        return err;
    }
    if (eloqstore_drop_table_set_name(
            req, compat::Bytes(table_name_), table_name_.size()) !=
        ELOQSTORE_OK)
    {
        why = "the table name could not be passed to the engine";
        return KvError::InvalidArgs;
    }
    return KvError::NoError;
}

KvError ArchiveRequest::LoadArgs(eloqstore_request *req, std::string &why)
{
    KvError err = KvRequest::LoadArgs(req, why);
    if (err != KvError::NoError)
    {
        return err;
    }
    if (eloqstore_archive_set_timestamp(req, snapshot_ts_) != ELOQSTORE_OK)
    {
        why = "the archive timestamp cannot be set";
        return KvError::InvalidArgs;
    }
    return KvError::NoError;
}

KvError GlobalArchiveRequest::LoadArgs(eloqstore_request *req,
                                       std::string &why)
{
    KvError err = KvRequest::LoadArgs(req, why);
    if (err != KvError::NoError)
    {
        return err;
    }
    if (eloqstore_archive_set_timestamp(req, snapshot_ts_) != ELOQSTORE_OK)
    {
        why = "the archive timestamp cannot be set";
        return KvError::InvalidArgs;
    }
    return KvError::NoError;
}

// ---- EloqStore ----

EloqStore::EloqStore(const KvOptions &opts) : options_(opts)
{
    std::string why;
    compat::OptionsPtr c = compat::OptionsToC(options_, true, why);
    if (!c)
    {
        init_error_ = why;
    }
    else if (!eloqstore_options_validate(c.get()))
    {
        init_error_ = compat::LastCError();
    }
    else if (!compat::OptionsFromC(c.get(), options_, why))
    {
        init_error_ = why;
    }
    else if (eloqstore_store_new(c.get(), &store_) != ELOQSTORE_OK)
    {
        store_ = nullptr;
        init_error_ = compat::LastCError();
    }
    if (store_ == nullptr)
    {
        if (init_error_.empty())
        {
            init_error_ = "the store cannot be created";
        }
        init_error_ = "invalid KvOptions: " + init_error_;
        compat::LogError(init_error_ +
                         " (the store will not start: Start() returns "
                         "InvalidArgs)");
    }
}

EloqStore::~EloqStore()
{
    eloqstore_store_free(store_);
}

KvError EloqStore::Start(uint64_t term)
{
    if (store_ == nullptr)
    {
        compat::LogError("EloqStore::Start: " + init_error_);
        return KvError::InvalidArgs;
    }
    const eloqstore_error err = eloqstore_store_start(store_, term);
    if (err != ELOQSTORE_OK)
    {
        compat::LogError("EloqStore::Start: " + compat::LastCError());
    }
    else
    {
        // 0 in local mode, as upstream.
        term_ = eloqstore_store_term(store_);
    }
    return static_cast<KvError>(err);
}

void EloqStore::Stop()
{
    eloqstore_store_stop(store_);
}

bool EloqStore::IsStopped() const
{
    return eloqstore_store_is_stopped(store_);
}

const KvOptions &EloqStore::Options() const
{
    return options_;
}

bool EloqStore::ValidateOptions(KvOptions &opts)
{
    std::string why;
    compat::OptionsPtr c = compat::OptionsToC(opts, false, why);
    if (!c)
    {
        compat::LogError("ValidateOptions: " + why);
        return false;
    }
    if (!eloqstore_options_validate(c.get()))
    {
        compat::LogError("ValidateOptions: " + compat::LastCError());
        return false;
    }
    if (!compat::OptionsFromC(c.get(), opts, why))
    {
        compat::LogError("ValidateOptions: " + why);
        return false;
    }
    return true;
}

bool EloqStore::ExecAsyn(KvRequest *req)
{
    return SendRequest(req, 0, nullptr);
}

bool EloqStore::SendRequest(KvRequest *req,
                            uint64_t data,
                            std::function<void(KvRequest *)> callback)
{
    if (req == nullptr)
    {
        compat::LogError("ExecAsyn: the request is null");
        return false;
    }
    if (RequestBridge::InFlight(req))
    {
        compat::LogError(std::string("ExecAsyn: the ") +
                         RequestTypeToString(req->Type()) +
                         " request is still in flight");
        return false;
    }
    // As upstream, the user data and callback are set even when the store
    // turns the request away.
    RequestBridge::SetUserPart(req, data, std::move(callback));
    if (store_ == nullptr || eloqstore_store_is_stopped(store_))
    {
        return false;
    }
    std::string why;
    const KvError err = RequestBridge::Prepare(req, why);
    if (err != KvError::NoError)
    {
        // Accepted, and completed at once with the reason.
        RequestBridge::FinishLocally(req, err, std::move(why));
        return true;
    }
    RequestBridge::BeginFlight(req);
    if (!eloqstore_store_exec_async(store_,
                                    RequestBridge::Handle(req),
                                    compat::OnRequestDone,
                                    reinterpret_cast<uintptr_t>(req)))
    {
        // Stopped meanwhile: the request was not submitted.
        RequestBridge::SetUserPart(req, data, nullptr);
        RequestBridge::PublishDone(req);
        return false;
    }
    return true;
}

void EloqStore::ExecSync(KvRequest *req)
{
    if (req == nullptr)
    {
        compat::LogError("ExecSync: the request is null");
        return;
    }
    if (RequestBridge::InFlight(req))
    {
        compat::LogError(std::string("ExecSync: the ") +
                         RequestTypeToString(req->Type()) +
                         " request is still in flight; not executed again");
        return;
    }
    RequestBridge::SetUserPart(req, 0, nullptr);
    if (compat::t_in_callback)
    {
        std::string why =
            "ExecSync was called from a request callback, where waiting "
            "would block a store thread; use ExecAsyn there";
        compat::LogError(why);
        RequestBridge::FinishLocally(req, KvError::InvalidArgs, std::move(why));
        return;
    }
    if (store_ == nullptr)
    {
        RequestBridge::FinishLocally(req, KvError::NotRunning, init_error_);
        return;
    }
    std::string why;
    const KvError err = RequestBridge::Prepare(req, why);
    if (err != KvError::NoError)
    {
        RequestBridge::FinishLocally(req, err, std::move(why));
        return;
    }
    RequestBridge::BeginFlight(req);
    eloqstore_store_exec_sync(store_, RequestBridge::Handle(req));
    RequestBridge::Finish(req, RequestBridge::Handle(req));
}
}  // namespace eloqstore
