// The upstream test harness's replacement for upstream EloqStore's internal
// include/test_utils.h, written for this project over the public C++ API
// only: the same names, signatures and meaning as the parts upstream's test
// files use (key and value helpers, MapVerifier, ConcurrencyTester).
// Upstream's ManifestVerifier drives engine internals (page mappers, the
// manifest builder and replayer) and has no counterpart: the test cases that
// use it are excluded (cpp-compat/upstream-tests/excluded.txt).
//
// A disagreement between the store and the model is reported by throwing
// test_util::VerificationError (Catch2 reports it as the test case's
// failure, with the message); upstream's versions abort the process.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common.h"
#include "eloq_store.h"
#include "error.h"
#include "kv_options.h"
#include "types.h"
#include "utils.h"

namespace test_util
{
// Thrown when the store's answer differs from what the test expects.
class VerificationError : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

// The decimal digits of `key`, zero-padded to min(len, 20) digits, then
// padded with '#' to `len` bytes: keys sort as their numbers do.
std::string Key(uint64_t key, uint16_t len = 12);
// The decimal digits of `val` followed by random letters and digits up to
// `len` bytes.
std::string Value(uint64_t val, uint32_t len = 0);

// ConcurrencyTester's encodings: a key is a 4-byte big-endian number; a
// value states its own length n as a 4-byte little-endian number and is
// padded with '*' to n bytes (values below 4 take 4 bytes).
void EncodeKey(char *dst, uint32_t key);
void EncodeKey(std::string *dst, uint32_t key);
uint32_t DecodeKey(const std::string &key);
void EncodeValue(std::string *dst, uint32_t val);
uint32_t DecodeValue(const std::string &val);

// "{key:value}..." of entries in ConcurrencyTester's encodings.
std::string FormatEntries(tcb::span<eloqstore::KvEntry> entries);

// Scans the keys [begin, end) (ConcurrencyTester's encoding) and formats
// them with FormatEntries; the error instead when the scan fails.
std::pair<std::string, eloqstore::KvError> Scan(
    eloqstore::EloqStore *store,
    const eloqstore::TableIdent &tbl_id,
    uint32_t begin,
    uint32_t end);

// A std::map model of one partition. Every write goes to the store and to
// the model; reads, floors and scans compare the store with the model.
// Entries whose expire timestamp has passed may be missing from the store
// (they are then dropped from the model); anything else missing, extra or
// different fails the check. Keys are Key(n, key_len).
class MapVerifier
{
public:
    MapVerifier(eloqstore::TableIdent tid,
                eloqstore::EloqStore *store,
                bool validate = true,
                uint16_t key_len = 7);
    // Truncates the partition (Clean) unless SetAutoClean(false) or the
    // model is empty.
    ~MapVerifier();
    MapVerifier(const MapVerifier &) = delete;
    MapVerifier &operator=(const MapVerifier &) = delete;

    // Writes keys [begin, end) with values of the value size.
    void Upsert(uint64_t key);
    void Upsert(uint64_t begin, uint64_t end);
    void Delete(uint64_t begin, uint64_t end);
    // Deletes the keys >= Key(position), or every key with delete_all.
    void Truncate(uint64_t position, bool delete_all = false);
    // Writes about density% of the keys of [begin, end), del% of those as
    // deletes, the others with random value lengths up to the value size
    // (and, with a max TTL, a random expire time on half of them).
    void WriteRnd(uint64_t begin,
                  uint64_t end,
                  uint8_t del = 20,
                  uint8_t density = 25);
    // Deletes every key of the partition.
    void Clean();
    // Applies a BatchWriteRequest or TruncateRequest to the model, executes
    // it (it must succeed), validates when auto-validation is on, and
    // advances the verifier's timestamp.
    void ExecWrite(eloqstore::KvRequest *req);

    void Read(uint64_t key);
    void Read(std::string_view key);
    void Floor(uint64_t key);
    void Floor(std::string_view key);
    // Scans [begin, end) page by page (at most page_entries entries and
    // page_size bytes a page) and checks every page and the pagination.
    void Scan(uint64_t begin,
              uint64_t end,
              size_t page_entries = SIZE_MAX,
              size_t page_size = SIZE_MAX);
    void Scan(std::string_view begin,
              std::string_view end,
              size_t page_entries = SIZE_MAX,
              size_t page_size = SIZE_MAX);

    // The store's answer to reading Key(key) (no comparison).
    eloqstore::KvError CheckKey(uint64_t key) const;

    // Scans the whole partition against the model.
    void Validate();
    void SetAutoValidate(bool v);
    void SetAutoClean(bool v);
    void SetValueSize(uint32_t val_size);
    void SetStore(eloqstore::EloqStore *store);
    void SetTimestamp(uint64_t ts);
    // Upserts get an expire time up to max_ttl milliseconds ahead (0: none).
    void SetMaxTTL(uint32_t max_ttl);

    const std::map<std::string, eloqstore::KvEntry> &DataSet() const;
    void SwitchDataSet(
        const std::map<std::string, eloqstore::KvEntry> &new_dataset);

private:
    using Model = std::map<std::string, eloqstore::KvEntry>;

    void ApplyToModel(eloqstore::KvRequest *req);
    // Drops the model entries of [from, to) that have expired; fails on the
    // first one that has not: the store lost it.
    Model::iterator DropExpired(Model::iterator from,
                                Model::iterator to,
                                const char *what);
    void Expect(const eloqstore::KvEntry &got, const char *what) const;
    [[noreturn]] void Fail(const std::string &what) const;
    uint64_t ExpireTs(bool with_ttl) const;

    const eloqstore::TableIdent tid_;
    eloqstore::EloqStore *store_;
    bool auto_validate_;
    bool auto_clean_{true};
    const uint16_t key_len_;
    uint32_t val_size_{12};
    uint32_t max_ttl_{0};
    uint64_t ts_{0};
    Model answer_;
};

// Readers scan random segments of several partitions while one writer per
// partition rewrites random segments, all through ExecAsyn. Each partition
// holds seg_count segments of seg_size keys; the values of a segment always
// add up to seg_size * val_size (in EncodeValue's encoding), so every scan
// must see that sum (batches are atomic), and a scan that no write overlapped
// must see exactly the tester's copy of the segment.
class ConcurrencyTester
{
public:
    ConcurrencyTester(eloqstore::EloqStore *store,
                      std::string tbl_name,
                      uint32_t n_partitions,
                      uint16_t seg_count,
                      uint8_t seg_size = 16,
                      uint32_t val_size = 10);
    ~ConcurrencyTester();
    ConcurrencyTester(const ConcurrencyTester &) = delete;
    ConcurrencyTester &operator=(const ConcurrencyTester &) = delete;

    // Loads (and checks) the partitions' data from the store, or writes
    // the initial data where a partition is empty.
    void Init();
    // n_readers readers do read_ops verified scans each. A partition's next
    // write starts after write_pause verified scans of it since its last
    // write; with write_pause 0, writes follow each other for read_ops
    // rounds.
    void Run(uint16_t n_readers, uint32_t read_ops, uint32_t write_pause);
    // Deletes all keys of every partition.
    void Clear();

    // Nanoseconds since the Unix epoch (the writes' timestamps).
    static uint64_t CurrentTimestamp();

private:
    struct Partition;
    struct Reader;
    class Completions;

    void StartRead(Reader &reader);
    void FinishRead(Reader &reader, uint32_t write_pause, uint32_t read_ops);
    void StartWrite(Partition &part);
    void Submit(eloqstore::KvRequest *req, uint64_t tag);
    void CheckSegment(const Partition &part,
                      uint32_t seg,
                      tcb::span<eloqstore::KvEntry> entries,
                      bool exact);
    std::string DescribeSegment(const Partition &part,
                                uint32_t seg,
                                tcb::span<eloqstore::KvEntry> entries) const;
    void Fail(std::string what);
    eloqstore::TableIdent TableOf(const Partition &part) const;

    eloqstore::EloqStore *const store_;
    const std::string tbl_name_;
    const uint16_t seg_count_;
    const uint8_t seg_size_;
    const uint32_t val_size_;
    const uint64_t seg_sum_;
    std::vector<std::unique_ptr<Partition>> partitions_;
    std::unique_ptr<Completions> completions_;
    size_t in_flight_{0};
    std::string failure_;
    uint64_t verified_sums_{0};
    uint64_t verified_exact_{0};
};
}  // namespace test_util
