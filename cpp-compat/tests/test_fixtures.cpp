// Stores written by the C++ EloqStore (the shared fixtures) opened through
// the C++ API: every live entry reads back exactly.
//
// The fixtures folder is $ELOQSTORE_FIXTURES, else the build's default
// (ELOQSTORE_FIXTURES_DEFAULT: ../shared/fixtures beside the repository or
// /work/shared/fixtures). Each fixture folder holds options.ini (upstream's
// INI format, store_path relative to the folder), store/ and expected.tsv
// (table, partition, hex key, hex value, timestamp, expire_ts). Every
// fixture is copied to a temporary directory before it is opened; the
// originals are never touched.
#include <sys/stat.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "common.h"
#include "eloq_store.h"
#include "test_support.h"

using namespace testutil;

#ifndef ELOQSTORE_FIXTURES_DEFAULT
#define ELOQSTORE_FIXTURES_DEFAULT "/work/shared/fixtures"
#endif

namespace
{
struct Row
{
    std::string key;
    std::string value;
    uint64_t ts{0};
    uint64_t expire_ts{0};
};

using Partitions = std::map<es::TableIdent, std::vector<Row>,
                            bool (*)(const es::TableIdent &,
                                     const es::TableIdent &)>;

bool TableLess(const es::TableIdent &a, const es::TableIdent &b)
{
    return std::tie(a.tbl_name_, a.partition_id_) <
           std::tie(b.tbl_name_, b.partition_id_);
}

fs::path FixturesDir()
{
    const char *env = std::getenv("ELOQSTORE_FIXTURES");
    if (env != nullptr && *env != '\0')
    {
        return env;
    }
    return ELOQSTORE_FIXTURES_DEFAULT;
}

std::string Unhex(const std::string &hex)
{
    REQUIRE(hex.size() % 2 == 0);
    std::string out(hex.size() / 2, '\0');
    for (size_t i = 0; i < out.size(); ++i)
    {
        out[i] = static_cast<char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
    }
    return out;
}

// The rows of a TSV file in the fixture format (absent file: none).
Partitions ReadTsv(const fs::path &file)
{
    Partitions parts(TableLess);
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line))
    {
        if (line.empty())
        {
            continue;
        }
        std::vector<std::string> f;
        std::stringstream ss(line);
        std::string field;
        while (std::getline(ss, field, '\t'))
        {
            f.push_back(field);
        }
        // An empty value leaves an empty field before the timestamp.
        REQUIRE(f.size() == 6);
        es::TableIdent tbl(f[0], static_cast<uint32_t>(std::stoul(f[1])));
        parts[tbl].push_back(Row{Unhex(f[2]), Unhex(f[3]), std::stoull(f[4]),
                                 std::stoull(f[5])});
    }
    return parts;
}

// Copies a fixture and makes the copy writable (CI lays fixtures out
// read-only).
void CopyWritable(const fs::path &from, const fs::path &to)
{
    fs::copy(from, to, fs::copy_options::recursive);
    fs::permissions(to, fs::perms::owner_all, fs::perm_options::add);
    for (const auto &e : fs::recursive_directory_iterator(to))
    {
        fs::permissions(e.path(),
                        e.is_directory()
                            ? fs::perms::owner_all
                            : fs::perms::owner_read | fs::perms::owner_write,
                        fs::perm_options::add);
    }
}

// Options from the fixture's INI file, store paths resolved against the
// fixture's folder.
es::KvOptions FixtureOptions(const fs::path &folder)
{
    es::KvOptions opts;
    REQUIRE(opts.LoadFromIni((folder / "options.ini").string().c_str()) == 0);
    for (std::string &p : opts.store_path)
    {
        if (!p.empty() && fs::path(p).is_relative())
        {
            p = (folder / p).string();
        }
    }
    return opts;
}

// Partition directories (<table>.<id>) in the store paths.
std::vector<es::TableIdent> PartitionDirs(const es::KvOptions &opts)
{
    std::vector<es::TableIdent> out;
    for (const std::string &p : opts.store_path)
    {
        for (const auto &e : fs::directory_iterator(p))
        {
            es::TableIdent t =
                es::TableIdent::FromString(e.path().filename().string());
            if (e.is_directory() && t.IsValid())
            {
                out.push_back(t);
            }
        }
    }
    return out;
}

// A full scan, 500 entries per page.
std::vector<es::KvEntry> ScanAll(es::EloqStore &store,
                                 const es::TableIdent &tbl,
                                 es::KvError &err)
{
    std::vector<es::KvEntry> all;
    es::ScanRequest scan;
    std::string begin;
    bool inclusive = true;
    do
    {
        scan.SetArgs(tbl, begin, "", inclusive);
        scan.SetPagination(500, 0);
        store.ExecSync(&scan);
        err = scan.Error();
        if (err != es::KvError::NoError)
        {
            return all;
        }
        for (const es::KvEntry &e : scan.Entries())
        {
            all.push_back(e);
        }
        if (!scan.Entries().empty())
        {
            begin = scan.Entries().back().key_;
            inclusive = false;
        }
    } while (scan.HasRemaining());
    return all;
}

// Checks that the store holds exactly `expected` (minus what has expired
// by now) in every partition named by it, by `also` or by a directory.
void CheckContent(es::EloqStore &store,
                  const es::KvOptions &opts,
                  const Partitions &expected,
                  const Partitions &also,
                  size_t &live_checked)
{
    std::set<es::TableIdent, bool (*)(const es::TableIdent &,
                                      const es::TableIdent &)>
        tables(TableLess);
    for (const auto &[t, rows] : expected)
    {
        tables.insert(t);
    }
    for (const auto &[t, rows] : also)
    {
        tables.insert(t);
    }
    for (const es::TableIdent &t : PartitionDirs(opts))
    {
        tables.insert(t);
    }
    REQUIRE_FALSE(tables.empty());
    for (const es::TableIdent &tbl : tables)
    {
        INFO("partition " << tbl);
        const uint64_t now = NowMs();
        std::vector<Row> want;
        auto it = expected.find(tbl);
        if (it != expected.end())
        {
            for (const Row &r : it->second)
            {
                // Entries whose expiry has passed are never returned.
                if (r.expire_ts == 0 || r.expire_ts > now + 60 * 1000)
                {
                    want.push_back(r);
                }
                else if (r.expire_ts > now)
                {
                    // Expiring within the minute: too close to call.
                    want.push_back(Row{r.key, "?", 0, 0});
                }
            }
        }
        es::KvError err = es::KvError::NoError;
        const auto got = ScanAll(store, tbl, err);
        if (want.empty())
        {
            CHECK((err == es::KvError::NoError ||
                   err == es::KvError::NotFound));
            CHECK(got.empty());
            continue;
        }
        REQUIRE(err == es::KvError::NoError);
        size_t gi = 0;
        for (const Row &r : want)
        {
            if (r.value == "?")
            {
                if (gi < got.size() && got[gi].key_ == r.key)
                {
                    ++gi;
                }
                continue;
            }
            REQUIRE(gi < got.size());
            REQUIRE(got[gi].key_ == r.key);
            REQUIRE(got[gi].value_ == r.value);
            REQUIRE(got[gi].timestamp_ == r.ts);
            REQUIRE(got[gi].expire_ts_ == r.expire_ts);
            ++gi;
            ++live_checked;
        }
        REQUIRE(gi == got.size());

        // Point reads and floors of a sample.
        es::ReadRequest read;
        es::FloorRequest floor;
        for (size_t i = 0; i < want.size(); i += 97)
        {
            const Row &r = want[i];
            if (r.value == "?")
            {
                continue;
            }
            read.SetArgs(tbl, r.key);
            store.ExecSync(&read);
            REQUIRE(read.Error() == es::KvError::NoError);
            REQUIRE(read.value_ == r.value);
            REQUIRE(read.ts_ == r.ts);
            REQUIRE(read.expire_ts_ == r.expire_ts);
            floor.SetArgs(tbl, r.key + std::string(1, '\0'));
            store.ExecSync(&floor);
            REQUIRE(floor.Error() == es::KvError::NoError);
            REQUIRE(floor.floor_key_ == r.key);
        }
    }
}
}  // namespace

TEST_CASE("every C++-written fixture store reads back exactly", "[fixtures]")
{
    const fs::path root = FixturesDir();
    INFO("fixtures folder " << root
                            << " (set ELOQSTORE_FIXTURES to override)");
    REQUIRE(fs::is_directory(root));
    std::vector<fs::path> fixtures;
    for (const auto &e : fs::directory_iterator(root))
    {
        if (e.is_directory() && fs::exists(e.path() / "options.ini") &&
            fs::exists(e.path() / "expected.tsv"))
        {
            fixtures.push_back(e.path());
        }
    }
    std::sort(fixtures.begin(), fixtures.end());
    REQUIRE_FALSE(fixtures.empty());

    for (const fs::path &fx : fixtures)
    {
        DYNAMIC_SECTION("fixture " << fx.filename().string())
        {
            TempDir tmp("fixture");
            const fs::path copy = tmp.path() / fx.filename();
            CopyWritable(fx, copy);
            const es::KvOptions opts = FixtureOptions(copy);
            const Partitions expected = ReadTsv(copy / "expected.tsv");
            const Partitions expired = ReadTsv(copy / "expired.tsv");
            REQUIRE_FALSE(expected.empty());

            size_t live = 0;
            {
                auto store = StartStore(opts);
                CheckContent(*store, opts, expected, expired, live);
                // Entries listed as expired are gone for point reads too.
                for (const auto &[tbl, rows] : expired)
                {
                    for (const Row &r : rows)
                    {
                        if (r.expire_ts != 0 && r.expire_ts <= NowMs())
                        {
                            es::ReadRequest read;
                            read.SetArgs(tbl, r.key);
                            store->ExecSync(&read);
                            CHECK(read.Error() == es::KvError::NotFound);
                        }
                    }
                }
                store->Stop();
            }
            CHECK(live > 0);

            // An archive fixture: restoring the archive manifest gives the
            // archived content.
            const Partitions archived = ReadTsv(copy / "archived.tsv");
            if (!archived.empty())
            {
                for (const auto &[tbl, rows] : archived)
                {
                    const fs::path pdir = tbl.StorePath(opts.store_path);
                    fs::path archive;
                    for (const auto &e : fs::directory_iterator(pdir))
                    {
                        if (es::IsArchiveFile(e.path().filename().string()))
                        {
                            archive = e.path();
                        }
                    }
                    REQUIRE_FALSE(archive.empty());
                    fs::copy_file(archive, pdir / es::ManifestFileName(0),
                                  fs::copy_options::overwrite_existing);
                }
                auto store = StartStore(opts);
                size_t archived_live = 0;
                CheckContent(*store, opts, archived, Partitions(TableLess),
                             archived_live);
                CHECK(archived_live > 0);
            }
        }
    }
}

TEST_CASE("a fixture store accepts writes through the C++ API", "[fixtures]")
{
    const fs::path fx = FixturesDir() / "basic";
    REQUIRE(fs::exists(fx / "options.ini"));
    TempDir tmp("fixture-write");
    const fs::path copy = tmp.path() / "basic";
    CopyWritable(fx, copy);
    const es::KvOptions opts = FixtureOptions(copy);
    const Partitions expected = ReadTsv(copy / "expected.tsv");
    REQUIRE_FALSE(expected.empty());
    const auto &[tbl, rows] = *expected.begin();
    {
        auto store = StartStore(opts);
        ModelPartition part(*store, tbl);
        for (const Row &r : rows)
        {
            part.Model()[r.key] = Stored{r.value, r.ts, r.expire_ts};
        }
        // Overwrite a slice of the C++-written keys and add new ones.
        std::vector<es::WriteDataEntry> batch;
        for (size_t i = 0; i < rows.size(); i += 10)
        {
            batch.emplace_back(rows[i].key, "rewritten", rows[i].ts + 1,
                               es::WriteOp::Upsert);
        }
        REQUIRE(part.Write(std::move(batch)) == es::KvError::NoError);
        part.CheckScan("", "");
        store->Stop();
        // And again after a restart.
        REQUIRE(store->Start() == es::KvError::NoError);
        part.CheckScan("", "");
    }
}
