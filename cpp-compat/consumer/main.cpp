// A small program written against upstream EloqStore's C++ API, built
// against the installed library. Usage: app <store directory>
#include <cstdio>
#include <string>
#include <vector>

#include "eloq_store.h"
#include "kv_options.h"

int main(int argc, char **argv)
{
    if (argc != 2)
    {
        std::fprintf(stderr, "usage: %s <store directory>\n", argv[0]);
        return 2;
    }
    const eloqstore::KvOptions opts = {
        .num_threads = 2,
        .store_path = {argv[1]},
        .pages_per_file_shift = 8,
    };
    eloqstore::EloqStore store(opts);
    if (store.Start() != eloqstore::KvError::NoError)
    {
        std::fprintf(stderr, "Start failed\n");
        return 1;
    }
    const eloqstore::TableIdent tbl("consumer", 1);
    eloqstore::BatchWriteRequest write;
    std::vector<eloqstore::WriteDataEntry> batch;
    for (int i = 0; i < 10; ++i)
    {
        batch.emplace_back("key" + std::to_string(i), "value" + std::to_string(i),
                           1, eloqstore::WriteOp::Upsert);
    }
    write.SetArgs(tbl, std::move(batch));
    store.ExecSync(&write);
    eloqstore::ScanRequest scan;
    scan.SetArgs(tbl, "key2", "key5");
    store.ExecSync(&scan);
    if (write.Error() != eloqstore::KvError::NoError ||
        scan.Error() != eloqstore::KvError::NoError ||
        scan.Entries().size() != 3 || scan.Entries()[0].value_ != "value2")
    {
        std::fprintf(stderr, "unexpected results: %s %s\n", write.ErrMessage(),
                     scan.ErrMessage());
        return 1;
    }
    store.Stop();
    std::printf("consumer ok\n");
    return 0;
}
