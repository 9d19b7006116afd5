// The upstream test harness's test_util (see test_utils.h), over the public
// C++ API only.
#include "test_utils.h"

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>

#include "coding.h"

namespace test_util
{
namespace es = eloqstore;

namespace
{
uint64_t NowMs()
{
    return utils::UnixTs<std::chrono::milliseconds>();
}

// A readable form of a key or value for messages: printable bytes as they
// are, the others as \xNN, long ones shortened.
std::string Printable(std::string_view bytes, size_t max = 48)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < bytes.size() && i < max; ++i)
    {
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\')
        {
            out.push_back(static_cast<char>(c));
        }
        else
        {
            out += "\\x";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    if (bytes.size() > max)
    {
        out += "...(" + std::to_string(bytes.size()) + " bytes)";
    }
    return out;
}

std::string Describe(const es::KvEntry &e)
{
    std::ostringstream os;
    os << '{' << Printable(e.key_) << " = " << Printable(e.value_)
       << ", ts " << e.timestamp_ << ", expire_ts " << e.expire_ts_ << '}';
    return os.str();
}

bool Expired(const es::KvEntry &e, uint64_t now_ms)
{
    return e.expire_ts_ != 0 && e.expire_ts_ <= now_ms;
}

// The generator behind Value()'s filler and the random choices of the
// testers' own (std::rand drives the choices upstream's tests make).
std::mt19937_64 &Rng()
{
    thread_local std::mt19937_64 rng(0x5eed0e10ULL);
    return rng;
}
}  // namespace

std::string Key(uint64_t key, uint16_t len)
{
    std::string digits = std::to_string(key);
    const size_t width = std::min<size_t>(len, 20);
    if (digits.size() < width)
    {
        digits.insert(0, width - digits.size(), '0');
    }
    if (digits.size() < len)
    {
        digits.append(len - digits.size(), '#');
    }
    return digits;
}

std::string Value(uint64_t val, uint32_t len)
{
    static constexpr std::string_view kAlphabet =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string out = std::to_string(val);
    if (out.size() < len)
    {
        std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
        out.reserve(len);
        while (out.size() < len)
        {
            out.push_back(kAlphabet[pick(Rng())]);
        }
    }
    return out;
}

void EncodeKey(char *dst, uint32_t key)
{
    es::EncodeFixed32(dst, es::ToBigEndian(key));
}

void EncodeKey(std::string *dst, uint32_t key)
{
    dst->resize(sizeof(uint32_t));
    EncodeKey(dst->data(), key);
}

uint32_t DecodeKey(const std::string &key)
{
    if (key.size() != sizeof(uint32_t))
    {
        throw VerificationError("DecodeKey: a " + std::to_string(key.size()) +
                                "-byte key, expected 4: " + Printable(key));
    }
    return es::BigEndianToNative(es::DecodeFixed32(key.data()));
}

void EncodeValue(std::string *dst, uint32_t val)
{
    dst->clear();
    es::PutFixed32(dst, val);
    if (val > dst->size())
    {
        dst->resize(val, '*');
    }
}

uint32_t DecodeValue(const std::string &val)
{
    if (val.size() < sizeof(uint32_t))
    {
        throw VerificationError("DecodeValue: a " + std::to_string(val.size()) +
                                "-byte value");
    }
    const uint32_t n = es::DecodeFixed32(val.data());
    const size_t expected_len = std::max<size_t>(n, sizeof(uint32_t));
    if (val.size() != expected_len)
    {
        throw VerificationError("DecodeValue: value says " + std::to_string(n) +
                                " but holds " + std::to_string(val.size()) +
                                " bytes");
    }
    return n;
}

std::string FormatEntries(tcb::span<es::KvEntry> entries)
{
    std::string out;
    for (const es::KvEntry &e : entries)
    {
        out += '{' + std::to_string(DecodeKey(e.key_)) + ':' +
               std::to_string(DecodeValue(e.value_)) + '}';
    }
    return out;
}

std::pair<std::string, es::KvError> Scan(es::EloqStore *store,
                                         const es::TableIdent &tbl_id,
                                         uint32_t begin,
                                         uint32_t end)
{
    std::string begin_key;
    std::string end_key;
    EncodeKey(&begin_key, begin);
    EncodeKey(&end_key, end);
    es::ScanRequest req;
    req.SetArgs(tbl_id, begin_key, end_key);
    store->ExecSync(&req);
    if (req.Error() != es::KvError::NoError)
    {
        return {std::string(), req.Error()};
    }
    return {FormatEntries(req.Entries()), es::KvError::NoError};
}

// --- MapVerifier ---------------------------------------------------------

MapVerifier::MapVerifier(es::TableIdent tid,
                         es::EloqStore *store,
                         bool validate,
                         uint16_t key_len)
    : tid_(std::move(tid)),
      store_(store),
      auto_validate_(validate),
      key_len_(key_len)
{
}

MapVerifier::~MapVerifier()
{
    if (!auto_clean_ || answer_.empty())
    {
        return;
    }
    try
    {
        Clean();
    }
    catch (const std::exception &e)
    {
        // Destructors must not throw. When the test is already failing
        // (unwinding), its own failure is the one to report.
        std::cerr << "MapVerifier(" << tid_ << "): clean-up failed: "
                  << e.what() << std::endl;
        if (std::uncaught_exceptions() == 0)
        {
            FAIL_CHECK("MapVerifier clean-up failed: " << e.what());
        }
    }
}

void MapVerifier::Fail(const std::string &what) const
{
    std::ostringstream os;
    os << "MapVerifier(" << tid_ << "): " << what;
    throw VerificationError(os.str());
}

uint64_t MapVerifier::ExpireTs(bool with_ttl) const
{
    if (max_ttl_ == 0 || !with_ttl)
    {
        return 0;
    }
    return NowMs() + max_ttl_;
}

void MapVerifier::Upsert(uint64_t key)
{
    Upsert(key, key + 1);
}

void MapVerifier::Upsert(uint64_t begin, uint64_t end)
{
    std::vector<es::WriteDataEntry> batch;
    batch.reserve(end > begin ? end - begin : 0);
    const uint64_t expire_ts = ExpireTs(true);
    for (uint64_t k = begin; k < end; ++k)
    {
        batch.emplace_back(Key(k, key_len_),
                           Value(ts_ + k, val_size_),
                           ts_,
                           es::WriteOp::Upsert,
                           expire_ts);
    }
    es::BatchWriteRequest req;
    req.SetArgs(tid_, std::move(batch));
    ExecWrite(&req);
}

void MapVerifier::Delete(uint64_t begin, uint64_t end)
{
    std::vector<es::WriteDataEntry> batch;
    batch.reserve(end > begin ? end - begin : 0);
    for (uint64_t k = begin; k < end; ++k)
    {
        batch.emplace_back(
            Key(k, key_len_), std::string(), ts_, es::WriteOp::Delete);
    }
    es::BatchWriteRequest req;
    req.SetArgs(tid_, std::move(batch));
    ExecWrite(&req);
}

void MapVerifier::Truncate(uint64_t position, bool delete_all)
{
    es::TruncateRequest req;
    if (delete_all)
    {
        req.SetTableId(tid_);
    }
    else
    {
        req.SetArgs(tid_, Key(position, key_len_));
    }
    ExecWrite(&req);
}

void MapVerifier::WriteRnd(uint64_t begin,
                           uint64_t end,
                           uint8_t del,
                           uint8_t density)
{
    const int del_pct = std::min<int>(del, 100);
    const int density_pct = std::min<int>(density, 100);
    const uint64_t now = NowMs();
    std::vector<es::WriteDataEntry> batch;
    for (uint64_t k = begin; k < end; ++k)
    {
        if (std::rand() % 100 >= density_pct)
        {
            continue;
        }
        if (std::rand() % 100 < del_pct)
        {
            batch.emplace_back(
                Key(k, key_len_), std::string(), ts_, es::WriteOp::Delete);
            continue;
        }
        const uint32_t len =
            val_size_ == 0 ? 0 : 1 + static_cast<uint32_t>(std::rand()) % val_size_;
        uint64_t expire_ts = 0;
        if (max_ttl_ > 0 && std::rand() % 2 == 0)
        {
            // Up to max_ttl ahead; possibly already due.
            expire_ts = now + static_cast<uint32_t>(std::rand()) % max_ttl_;
        }
        batch.emplace_back(Key(k, key_len_),
                           Value(ts_ + k, len),
                           ts_,
                           es::WriteOp::Upsert,
                           expire_ts);
    }
    es::BatchWriteRequest req;
    req.SetArgs(tid_, std::move(batch));
    ExecWrite(&req);
}

void MapVerifier::Clean()
{
    es::TruncateRequest req;
    req.SetArgs(tid_, std::string_view());
    ExecWrite(&req);
}

void MapVerifier::ApplyToModel(es::KvRequest *req)
{
    switch (req->Type())
    {
    case es::RequestType::BatchWrite:
    {
        const auto *batch = static_cast<es::BatchWriteRequest *>(req);
        for (const es::WriteDataEntry &w : batch->batch_)
        {
            auto it = answer_.find(w.key_);
            // A write older than (or as old as) the stored version of the
            // key does not apply.
            if (it != answer_.end() && w.timestamp_ <= it->second.timestamp_)
            {
                continue;
            }
            if (w.op_ == es::WriteOp::Delete)
            {
                if (it != answer_.end())
                {
                    answer_.erase(it);
                }
                continue;
            }
            es::KvEntry e;
            e.key_ = w.key_;
            e.value_ = w.val_;
            e.timestamp_ = w.timestamp_;
            e.expire_ts_ = w.expire_ts_;
            answer_.insert_or_assign(w.key_, std::move(e));
        }
        break;
    }
    case es::RequestType::Truncate:
    {
        const auto *trunc = static_cast<es::TruncateRequest *>(req);
        if (trunc->position_.empty())
        {
            answer_.clear();
        }
        else
        {
            answer_.erase(answer_.lower_bound(std::string(trunc->position_)),
                          answer_.end());
        }
        break;
    }
    default:
        Fail("ExecWrite takes a BatchWriteRequest or a TruncateRequest");
    }
}

void MapVerifier::ExecWrite(es::KvRequest *req)
{
    ApplyToModel(req);
    store_->ExecSync(req);
    if (req->Error() != es::KvError::NoError)
    {
        Fail(std::string("write failed: ") + es::ErrorString(req->Error()) +
             " (" + req->ErrMessage() + ")");
    }
    if (auto_validate_)
    {
        Validate();
    }
    ++ts_;
}

MapVerifier::Model::iterator MapVerifier::DropExpired(Model::iterator from,
                                                      Model::iterator to,
                                                      const char *what)
{
    const uint64_t now = NowMs();
    while (from != to)
    {
        if (!Expired(from->second, now))
        {
            Fail(std::string(what) + ": missing key " +
                 Describe(from->second) + " (the store does not return it)");
        }
        from = answer_.erase(from);
    }
    return from;
}

void MapVerifier::Expect(const es::KvEntry &got, const char *what) const
{
    auto it = answer_.find(got.key_);
    if (it == answer_.end())
    {
        Fail(std::string(what) + ": extra key: the store returned " +
             Describe(got) + ", which was never written or was deleted");
    }
    if (!(it->second == got))
    {
        Fail(std::string(what) + ": wrong value: the store returned " +
             Describe(got) + ", expected " + Describe(it->second));
    }
}

void MapVerifier::Read(uint64_t key)
{
    Read(Key(key, key_len_));
}

void MapVerifier::Read(std::string_view key)
{
    es::ReadRequest req;
    req.SetArgs(tid_, key);
    store_->ExecSync(&req);
    const std::string k(key);
    if (req.Error() == es::KvError::NoError)
    {
        es::KvEntry got;
        got.key_ = k;
        got.value_ = req.value_;
        got.timestamp_ = req.ts_;
        got.expire_ts_ = req.expire_ts_;
        Expect(got, "Read");
        return;
    }
    if (req.Error() != es::KvError::NotFound)
    {
        Fail("Read(" + Printable(k) + ") failed: " + req.ErrMessage());
    }
    auto it = answer_.find(k);
    if (it != answer_.end())
    {
        DropExpired(it, std::next(it), "Read");
    }
}

void MapVerifier::Floor(uint64_t key)
{
    Floor(Key(key, key_len_));
}

void MapVerifier::Floor(std::string_view key)
{
    es::FloorRequest req;
    req.SetArgs(tid_, key);
    store_->ExecSync(&req);
    const std::string k(key);
    // Model entries <= key: the store's floor must be the greatest of them
    // that has not expired.
    auto upper = answer_.upper_bound(k);
    if (req.Error() == es::KvError::NotFound)
    {
        DropExpired(answer_.begin(), upper, "Floor");
        return;
    }
    if (req.Error() != es::KvError::NoError)
    {
        Fail("Floor(" + Printable(k) + ") failed: " + req.ErrMessage());
    }
    if (req.floor_key_ > k)
    {
        Fail("Floor(" + Printable(k) + ") returned the greater key " +
             Printable(req.floor_key_));
    }
    DropExpired(answer_.upper_bound(req.floor_key_), upper, "Floor");
    es::KvEntry got;
    got.key_ = req.floor_key_;
    got.value_ = req.value_;
    got.timestamp_ = req.ts_;
    got.expire_ts_ = req.expire_ts_;
    Expect(got, "Floor");
}

void MapVerifier::Scan(uint64_t begin,
                       uint64_t end,
                       size_t page_entries,
                       size_t page_size)
{
    Scan(Key(begin, key_len_), Key(end, key_len_), page_entries, page_size);
}

void MapVerifier::Scan(std::string_view begin,
                       std::string_view end,
                       size_t page_entries,
                       size_t page_size)
{
    const std::string end_key(end);
    std::string from(begin);
    es::ScanRequest req;
    req.SetPagination(page_entries, page_size);
    req.SetArgs(tid_, from, end_key);
    // Model entries before `cursor` are accounted for.
    auto cursor = answer_.lower_bound(from);
    auto in_range = [&](const std::string &k)
    { return end_key.empty() || k < end_key; };
    std::string last_key;
    bool first_page = true;
    while (true)
    {
        store_->ExecSync(&req);
        if (req.Error() == es::KvError::NotFound)
        {
            break;
        }
        if (req.Error() != es::KvError::NoError)
        {
            Fail("Scan failed: " + std::string(req.ErrMessage()));
        }
        const tcb::span<es::KvEntry> entries = req.Entries();
        const auto [n_entries, n_bytes] = req.ResultSize();
        if (n_entries != entries.size())
        {
            Fail("Scan: ResultSize() says " + std::to_string(n_entries) +
                 " entries, Entries() holds " +
                 std::to_string(entries.size()));
        }
        if (n_entries > page_entries)
        {
            Fail("Scan: a page of " + std::to_string(n_entries) +
                 " entries exceeds the limit of " +
                 std::to_string(page_entries));
        }
        if (n_bytes > page_size && n_entries > 1)
        {
            Fail("Scan: a page of " + std::to_string(n_bytes) +
                 " bytes exceeds the limit of " + std::to_string(page_size));
        }
        for (const es::KvEntry &e : entries)
        {
            if (e.key_ < from || (!first_page && e.key_ <= last_key) ||
                !in_range(e.key_))
            {
                Fail("Scan: key " + Printable(e.key_) +
                     " out of order or out of range");
            }
            first_page = false;
            last_key = e.key_;
            cursor = DropExpired(cursor, answer_.lower_bound(e.key_), "Scan");
            Expect(e, "Scan");
            ++cursor;
        }
        if (!req.HasRemaining())
        {
            break;
        }
        if (entries.empty())
        {
            Fail("Scan: an empty page claims more remain");
        }
        req.SetArgs(tid_, last_key, end_key, false);
    }
    DropExpired(cursor,
                end_key.empty() ? answer_.end() : answer_.lower_bound(end_key),
                "Scan");
}

es::KvError MapVerifier::CheckKey(uint64_t key) const
{
    es::ReadRequest req;
    req.SetArgs(tid_, Key(key, key_len_));
    store_->ExecSync(&req);
    return req.Error();
}

void MapVerifier::Validate()
{
    Scan(std::string_view(), Key(UINT64_MAX, 20), 1000);
}

void MapVerifier::SetAutoValidate(bool v)
{
    auto_validate_ = v;
}

void MapVerifier::SetAutoClean(bool v)
{
    auto_clean_ = v;
}

void MapVerifier::SetValueSize(uint32_t val_size)
{
    val_size_ = val_size;
}

void MapVerifier::SetStore(es::EloqStore *store)
{
    store_ = store;
}

void MapVerifier::SetTimestamp(uint64_t ts)
{
    ts_ = ts;
}

void MapVerifier::SetMaxTTL(uint32_t max_ttl)
{
    max_ttl_ = max_ttl;
}

const std::map<std::string, es::KvEntry> &MapVerifier::DataSet() const
{
    return answer_;
}

void MapVerifier::SwitchDataSet(const std::map<std::string, es::KvEntry> &data)
{
    answer_ = data;
}

// --- ConcurrencyTester ----------------------------------------------------

// Completed requests, by tag, from the store threads' callbacks to the
// thread running Run().
class ConcurrencyTester::Completions
{
public:
    void Push(uint64_t tag)
    {
        {
            std::lock_guard<std::mutex> lk(mu_);
            done_.push_back(tag);
        }
        cv_.notify_one();
    }
    uint64_t Pop()
    {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [this] { return !done_.empty(); });
        const uint64_t tag = done_.front();
        done_.pop_front();
        return tag;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<uint64_t> done_;
};

struct ConcurrencyTester::Partition
{
    uint32_t id{0};
    // The tester's copy: the value number of every key (0: absent).
    std::vector<uint32_t> values;
    // Bumped when a write is sent and when it completes: a scan that saw
    // the same even epoch at both ends overlapped no write.
    uint64_t epoch{0};
    uint64_t last_ts{0};
    uint32_t reads_since_write{0};
    uint32_t writes_done{0};
    es::BatchWriteRequest write;

    bool Writing() const
    {
        return epoch % 2 == 1;
    }
};

struct ConcurrencyTester::Reader
{
    uint32_t id{0};
    uint32_t partition{0};
    uint32_t segment{0};
    uint64_t epoch_at_start{0};
    uint32_t verified{0};
    bool done{false};
    std::string begin_key;
    std::string end_key;
    es::ScanRequest scan;
};

namespace
{
constexpr uint64_t kWriteTag = uint64_t(1) << 63;
}

ConcurrencyTester::ConcurrencyTester(es::EloqStore *store,
                                     std::string tbl_name,
                                     uint32_t n_partitions,
                                     uint16_t seg_count,
                                     uint8_t seg_size,
                                     uint32_t val_size)
    : store_(store),
      tbl_name_(std::move(tbl_name)),
      seg_count_(seg_count),
      seg_size_(seg_size),
      val_size_(val_size),
      seg_sum_(uint64_t(seg_size) * val_size),
      completions_(std::make_unique<Completions>())
{
    if (val_size < sizeof(uint32_t) || seg_size == 0 || seg_count == 0 ||
        n_partitions == 0)
    {
        throw std::invalid_argument(
            "ConcurrencyTester: val_size must be >= 4 and the counts > 0");
    }
    for (uint32_t i = 0; i < n_partitions; ++i)
    {
        auto part = std::make_unique<Partition>();
        part->id = i;
        partitions_.push_back(std::move(part));
    }
}

ConcurrencyTester::~ConcurrencyTester() = default;

uint64_t ConcurrencyTester::CurrentTimestamp()
{
    return utils::UnixTs<std::chrono::nanoseconds>();
}

es::TableIdent ConcurrencyTester::TableOf(const Partition &part) const
{
    return es::TableIdent(tbl_name_, part.id);
}

void ConcurrencyTester::Fail(std::string what)
{
    if (failure_.empty())
    {
        failure_ = "ConcurrencyTester(" + tbl_name_ + "): " + std::move(what);
    }
}

std::string ConcurrencyTester::DescribeSegment(
    const Partition &part,
    uint32_t seg,
    tcb::span<es::KvEntry> entries) const
{
    const uint32_t first = seg * seg_size_;
    std::string out = "partition " + std::to_string(part.id) + " segment " +
                      std::to_string(seg) + " keys [" + std::to_string(first) +
                      ", " + std::to_string(first + seg_size_) + ")\n  tester: ";
    for (uint32_t k = first; k < first + seg_size_; ++k)
    {
        if (part.values[k] != 0)
        {
            out += '{' + std::to_string(k) + ':' +
                   std::to_string(part.values[k]) + '}';
        }
    }
    out += "\n  store:  ";
    try
    {
        out += FormatEntries(entries);
    }
    catch (const std::exception &e)
    {
        out += e.what();
    }
    return out;
}

void ConcurrencyTester::CheckSegment(const Partition &part,
                                     uint32_t seg,
                                     tcb::span<es::KvEntry> entries,
                                     bool exact)
{
    const uint32_t first = seg * seg_size_;
    const uint32_t last = first + seg_size_;
    try
    {
        uint64_t sum = 0;
        for (const es::KvEntry &e : entries)
        {
            const uint32_t k = DecodeKey(e.key_);
            if (k < first || k >= last)
            {
                throw VerificationError("key " + std::to_string(k) +
                                        " outside the scanned segment");
            }
            sum += DecodeValue(e.value_);
        }
        if (sum != seg_sum_)
        {
            throw VerificationError("values add up to " + std::to_string(sum) +
                                    ", expected " + std::to_string(seg_sum_) +
                                    " (a batch was seen in part)");
        }
        ++verified_sums_;
        if (!exact)
        {
            return;
        }
        size_t i = 0;
        for (uint32_t k = first; k < last; ++k)
        {
            if (part.values[k] == 0)
            {
                continue;
            }
            if (i == entries.size() || DecodeKey(entries[i].key_) != k ||
                DecodeValue(entries[i].value_) != part.values[k])
            {
                throw VerificationError("content differs from the tester's");
            }
            ++i;
        }
        if (i != entries.size())
        {
            throw VerificationError("the store has keys the tester deleted");
        }
        ++verified_exact_;
    }
    catch (const VerificationError &e)
    {
        Fail(std::string(e.what()) + "\n" +
             DescribeSegment(part, seg, entries));
    }
}

void ConcurrencyTester::Submit(es::KvRequest *req, uint64_t tag)
{
    Completions *done = completions_.get();
    const bool ok = store_->ExecAsyn(
        req, tag, [done](es::KvRequest *r) { done->Push(r->UserData()); });
    if (!ok)
    {
        Fail("ExecAsyn refused a request (is the store running?)");
        return;
    }
    ++in_flight_;
}

void ConcurrencyTester::StartRead(Reader &reader)
{
    reader.partition = (reader.partition + 1) % partitions_.size();
    const Partition &part = *partitions_[reader.partition];
    reader.segment = static_cast<uint32_t>(std::rand()) % seg_count_;
    reader.epoch_at_start = part.epoch;
    EncodeKey(&reader.begin_key, reader.segment * seg_size_);
    EncodeKey(&reader.end_key, (reader.segment + 1) * seg_size_);
    reader.scan.SetArgs(TableOf(part), reader.begin_key, reader.end_key);
    Submit(&reader.scan, reader.id);
}

void ConcurrencyTester::StartWrite(Partition &part)
{
    // Rewrite a random run of segments: from a random one to the last,
    // each taken with probability 1/2 (the first always). Every rewritten
    // segment gets new values that still add up to seg_sum_: random shares
    // of up to 3 * val_size handed to random keys; keys left with nothing
    // are deleted.
    std::vector<uint32_t> fresh(seg_size_);
    std::vector<es::WriteDataEntry> batch;
    uint64_t ts = std::max(CurrentTimestamp(), part.last_ts + 1);
    part.last_ts = ts;
    const uint32_t start = static_cast<uint32_t>(std::rand()) % seg_count_;
    for (uint32_t seg = start; seg < seg_count_; ++seg)
    {
        if (seg != start && std::rand() % 2 == 0)
        {
            continue;
        }
        std::fill(fresh.begin(), fresh.end(), 0);
        uint64_t left = seg_sum_;
        while (left > 0)
        {
            const uint64_t share = std::min<uint64_t>(
                left, 1 + static_cast<uint64_t>(std::rand()) % (3 * val_size_));
            fresh[static_cast<uint32_t>(std::rand()) % seg_size_] +=
                static_cast<uint32_t>(share);
            left -= share;
        }
        for (uint32_t i = 0; i < seg_size_; ++i)
        {
            const uint32_t k = seg * seg_size_ + i;
            if (fresh[i] == 0 && part.values[k] == 0)
            {
                continue;
            }
            es::WriteDataEntry &w = batch.emplace_back();
            EncodeKey(&w.key_, k);
            w.timestamp_ = ts;
            if (fresh[i] == 0)
            {
                w.op_ = es::WriteOp::Delete;
            }
            else
            {
                EncodeValue(&w.val_, fresh[i]);
                w.op_ = es::WriteOp::Upsert;
            }
            part.values[k] = fresh[i];
        }
    }
    part.write.SetArgs(TableOf(part), std::move(batch));
    ++part.epoch;  // odd: writing
    part.reads_since_write = 0;
    Submit(&part.write, kWriteTag | part.id);
}

void ConcurrencyTester::FinishRead(Reader &reader,
                                   uint32_t write_pause,
                                   uint32_t read_ops)
{
    Partition &part = *partitions_[reader.partition];
    if (reader.scan.RetryableErr())
    {
        // Not counted; the reader tries again.
        return;
    }
    if (reader.scan.Error() != es::KvError::NoError)
    {
        Fail("scan failed: " + std::string(reader.scan.ErrMessage()));
        return;
    }
    const bool exact =
        !part.Writing() && part.epoch == reader.epoch_at_start;
    CheckSegment(part, reader.segment, reader.scan.Entries(), exact);
    ++reader.verified;
    ++part.reads_since_write;
    if (reader.verified >= read_ops)
    {
        reader.done = true;
    }
    if (!part.Writing() && part.reads_since_write >= write_pause &&
        (write_pause != 0 || part.writes_done < read_ops))
    {
        StartWrite(part);
    }
}

void ConcurrencyTester::Init()
{
    const uint32_t n_keys = uint32_t(seg_count_) * seg_size_;
    for (auto &p : partitions_)
    {
        Partition &part = *p;
        part.values.assign(n_keys, 0);
        es::ScanRequest scan;
        scan.SetArgs(TableOf(part), std::string_view(), std::string_view());
        store_->ExecSync(&scan);
        if (scan.Error() != es::KvError::NoError &&
            scan.Error() != es::KvError::NotFound)
        {
            throw VerificationError("ConcurrencyTester: loading partition " +
                                    std::to_string(part.id) + " failed: " +
                                    scan.ErrMessage());
        }
        if (scan.Error() == es::KvError::NoError && !scan.Entries().empty())
        {
            for (const es::KvEntry &e : scan.Entries())
            {
                const uint32_t k = DecodeKey(e.key_);
                if (k >= n_keys)
                {
                    throw VerificationError(
                        "ConcurrencyTester: partition " +
                        std::to_string(part.id) + " holds key " +
                        std::to_string(k) + " beyond its segments");
                }
                part.values[k] = DecodeValue(e.value_);
                part.last_ts = std::max(part.last_ts, e.timestamp_);
            }
            for (uint32_t seg = 0; seg < seg_count_; ++seg)
            {
                uint64_t sum = 0;
                for (uint32_t i = 0; i < seg_size_; ++i)
                {
                    sum += part.values[seg * seg_size_ + i];
                }
                if (sum != seg_sum_)
                {
                    throw VerificationError(
                        "ConcurrencyTester: stored segment adds up to " +
                        std::to_string(sum) + "\n" +
                        DescribeSegment(part, seg, {}));
                }
            }
            continue;
        }
        const uint64_t ts = std::max(CurrentTimestamp(), part.last_ts + 1);
        part.last_ts = ts;
        std::vector<es::WriteDataEntry> batch(n_keys);
        for (uint32_t k = 0; k < n_keys; ++k)
        {
            EncodeKey(&batch[k].key_, k);
            EncodeValue(&batch[k].val_, val_size_);
            batch[k].timestamp_ = ts;
            batch[k].op_ = es::WriteOp::Upsert;
            part.values[k] = val_size_;
        }
        part.write.SetArgs(TableOf(part), std::move(batch));
        store_->ExecSync(&part.write);
        if (part.write.Error() != es::KvError::NoError)
        {
            throw VerificationError(
                "ConcurrencyTester: initial write of partition " +
                std::to_string(part.id) + " failed: " +
                part.write.ErrMessage());
        }
    }
}

void ConcurrencyTester::Run(uint16_t n_readers,
                            uint32_t read_ops,
                            uint32_t write_pause)
{
    std::vector<std::unique_ptr<Reader>> readers;
    for (uint16_t i = 0; i < n_readers; ++i)
    {
        auto r = std::make_unique<Reader>();
        r->id = i;
        // StartRead moves to the next partition first.
        r->partition = (i + partitions_.size() - 1) % partitions_.size();
        readers.push_back(std::move(r));
    }
    for (auto &r : readers)
    {
        if (read_ops == 0)
        {
            r->done = true;
            continue;
        }
        StartRead(*r);
    }
    // After a failure nothing new is sent; the requests in flight are
    // waited for (they point into `readers` and partitions_).
    while (in_flight_ > 0)
    {
        const uint64_t tag = completions_->Pop();
        --in_flight_;
        if (tag & kWriteTag)
        {
            Partition &part = *partitions_[tag & ~kWriteTag];
            if (part.write.RetryableErr() && failure_.empty())
            {
                Submit(&part.write, tag);
                continue;
            }
            if (part.write.Error() != es::KvError::NoError)
            {
                Fail("write to partition " + std::to_string(part.id) +
                     " failed: " + part.write.ErrMessage());
            }
            ++part.epoch;  // even: idle
            ++part.writes_done;
            if (failure_.empty() && write_pause == 0 &&
                part.writes_done < read_ops)
            {
                StartWrite(part);
            }
            continue;
        }
        Reader &reader = *readers[tag];
        FinishRead(reader, write_pause, read_ops);
        if (!failure_.empty())
        {
            continue;
        }
        if (!reader.done)
        {
            StartRead(reader);
        }
    }
    if (!failure_.empty())
    {
        throw VerificationError(failure_);
    }
    std::cerr << "ConcurrencyTester(" << tbl_name_ << "): " << verified_sums_
              << " scans verified, " << verified_exact_ << " of them exactly"
              << std::endl;
}

void ConcurrencyTester::Clear()
{
    for (auto &p : partitions_)
    {
        es::TruncateRequest req;
        req.SetArgs(TableOf(*p), std::string_view());
        store_->ExecSync(&req);
        if (req.Error() != es::KvError::NoError)
        {
            throw VerificationError("ConcurrencyTester: clearing partition " +
                                    std::to_string(p->id) + " failed: " +
                                    req.ErrMessage());
        }
    }
}
}  // namespace test_util
