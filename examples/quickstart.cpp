// Quickstart: the C++ API of EloqStore-rs, which is upstream EloqStore's.
//
//   g++ -std=c++20 quickstart.cpp $(pkg-config --cflags --libs eloqstore)
//   ./a.out [store directory]
//
// Opens a store, writes a batch, reads a key, finds a floor key, scans the
// partition page by page, and runs a read asynchronously with a callback.
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "eloq_store.h"

namespace es = eloqstore;

static int Fail(const char *what, const es::KvRequest &req)
{
    std::fprintf(stderr, "%s failed: %s\n", what, req.ErrMessage());
    return 1;
}

int main(int argc, char **argv)
{
    const std::filesystem::path dir =
        argc > 1 ? std::filesystem::path(argv[1])
                 : std::filesystem::temp_directory_path() /
                       ("eloqstore-quickstart-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);

    es::KvOptions opts;
    opts.store_path = {dir.string()};
    opts.num_threads = 2;
    es::EloqStore store(opts);
    if (es::KvError err = store.Start(); err != es::KvError::NoError)
    {
        std::fprintf(stderr, "Start failed: %s\n", es::ErrorString(err));
        return 1;
    }

    const es::TableIdent users("users", 0);

    // 1. One atomic batch: keys sorted, each with a timestamp.
    es::BatchWriteRequest write;
    std::vector<es::WriteDataEntry> batch;
    for (int i = 0; i < 100; ++i)
    {
        char key[16];
        std::snprintf(key, sizeof(key), "user%03d", i);
        batch.emplace_back(key, "profile of " + std::string(key), 1,
                           es::WriteOp::Upsert);
    }
    write.SetArgs(users, std::move(batch));
    store.ExecSync(&write);
    if (write.Error() != es::KvError::NoError)
    {
        return Fail("batch write", write);
    }

    // 2. Read one key.
    es::ReadRequest read;
    read.SetArgs(users, "user042");
    store.ExecSync(&read);
    if (read.Error() != es::KvError::NoError)
    {
        return Fail("read", read);
    }
    std::printf("user042 -> %s (ts %lu)\n", read.value_.c_str(),
                static_cast<unsigned long>(read.ts_));

    // 3. The greatest key <= "user0425": user042.
    es::FloorRequest floor;
    floor.SetArgs(users, "user0425");
    store.ExecSync(&floor);
    if (floor.Error() != es::KvError::NoError || floor.floor_key_ != "user042")
    {
        return Fail("floor", floor);
    }
    std::printf("floor(user0425) = %s\n", floor.floor_key_.c_str());

    // 4. Scan [user010, user050) 16 entries at a time.
    es::ScanRequest scan;
    std::string begin = "user010";
    const std::string end = "user050";
    bool inclusive = true;
    size_t total = 0;
    int pages = 0;
    do
    {
        scan.SetArgs(users, begin, end, inclusive);
        scan.SetPagination(16, 0);
        store.ExecSync(&scan);
        if (scan.Error() != es::KvError::NoError)
        {
            return Fail("scan", scan);
        }
        tcb::span<es::KvEntry> entries = scan.Entries();
        total += entries.size();
        ++pages;
        if (!entries.empty())
        {
            begin = entries.back().key_;
            inclusive = false;  // continue after the last key returned
        }
    } while (scan.HasRemaining());
    std::printf("scanned %zu keys in %d pages\n", total, pages);
    if (total != 40)
    {
        std::fprintf(stderr, "expected 40 keys\n");
        return 1;
    }

    // 5. Asynchronous read: the callback runs on a store thread once the
    // request's outputs are filled.
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    es::ReadRequest async_read;
    async_read.SetArgs(users, std::string("user099"));
    bool sent = store.ExecAsyn(&async_read, 7,
                               [&](es::KvRequest *req)
                               {
                                   std::lock_guard<std::mutex> lk(mu);
                                   done = req->UserData() == 7;
                                   cv.notify_one();
                               });
    if (!sent)
    {
        std::fprintf(stderr, "ExecAsyn refused the request\n");
        return 1;
    }
    {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return done; });
    }
    if (async_read.Error() != es::KvError::NoError)
    {
        return Fail("async read", async_read);
    }
    std::printf("async user099 -> %s\n", async_read.value_.c_str());

    store.Stop();
    std::filesystem::remove_all(dir);
    std::printf("ok\n");
    return 0;
}
