// Self-test of the upstream test harness: a file that includes engine
// internals. One case uses them (excluded by name in ../excluded.txt, so
// it is cut from the compiled copy); the other cases only include the
// headers, which the harness replaces by empty stand-ins.
#include <catch2/catch_test_macros.hpp>
#include <string>

#include "../include/common.h"
#include "../include/manifest_buffer.h"
#include "common.h"
#include "storage/page_mapper.h"
#include "tasks/task_manager.h"

TEST_CASE("sample: uses engine internals", "[sample][internals]")
{
    // Would not compile against this library: excluded.
    eloqstore::TaskManager::SetPoolSizesForTest(1, 1, 1, 1, 1);
    eloqstore::MappingSnapshot::MappingTbl tbl;
    REQUIRE(tbl.size() == 0);
}

TEST_CASE("sample: public helpers next to internal includes", "[sample]")
{
    std::string buf;
    eloqstore::FileIdTermMapping mapping;
    mapping[7] = 3;
    eloqstore::SerializeFileIdTermMapping(mapping, buf);
    eloqstore::FileIdTermMapping back;
    std::string_view view(buf);
    REQUIRE(eloqstore::DeserializeFileIdTermMapping(view, back));
    REQUIRE(back.at(7) == 3);
    REQUIRE(eloqstore::IsArchiveFile(eloqstore::ArchiveName(1, 123)));
}

#ifndef NDEBUG
TEST_CASE("sample: built with assertions on", "[sample]")
{
    // Upstream's files use assert() and NDEBUG-only cases; the harness
    // compiles them without NDEBUG.
    SUCCEED();
}
#endif
