// A test file in the style of upstream's suite: Catch2 v3 header names,
// upstream's C++ API, and a helper from another file.
#include <catch2/catch_test_macros.hpp>
#include <string>
#include <vector>

#include "eloq_store.h"
#include "sample_helper.h"

TEST_CASE("sample: write then scan an in-memory store", "[sample]")
{
    eloqstore::EloqStore store(sample::MemoryOptions());
    REQUIRE(store.Start() == eloqstore::KvError::NoError);
    const eloqstore::TableIdent tbl("sample", 0);

    eloqstore::BatchWriteRequest write;
    std::vector<eloqstore::WriteDataEntry> batch;
    for (int i = 0; i < 50; ++i)
    {
        batch.emplace_back(sample::SampleKey(i), std::to_string(i), 1,
                           eloqstore::WriteOp::Upsert);
    }
    write.SetArgs(tbl, std::move(batch));
    store.ExecSync(&write);
    REQUIRE(write.Error() == eloqstore::KvError::NoError);

    eloqstore::ScanRequest scan;
    scan.SetArgs(tbl, sample::SampleKey(10), sample::SampleKey(20));
    store.ExecSync(&scan);
    REQUIRE(scan.Error() == eloqstore::KvError::NoError);
    REQUIRE(scan.Entries().size() == 10);
    CHECK(scan.Entries()[0].value_ == "10");
}

TEST_CASE("sample: reading a missing key gives NotFound", "[sample]")
{
    eloqstore::EloqStore store(sample::MemoryOptions());
    REQUIRE(store.Start() == eloqstore::KvError::NoError);
    eloqstore::ReadRequest read;
    read.SetArgs(eloqstore::TableIdent("sample", 1), sample::SampleKey(1));
    store.ExecSync(&read);
    CHECK(read.Error() == eloqstore::KvError::NotFound);
}
