// Self-test of the upstream test harness: a file that does not build
// against this library (it uses an engine internal in a case that is not
// excluded). Its cases must be reported as failing, with the compiler's
// message, and the other files must still build and run.
#include <catch2/catch_test_macros.hpp>

#include "async_io_manager.h"
#include "common.h"

TEST_CASE("sample: broken file, first case", "[sample][broken]")
{
    eloqstore::KvOptions opts;
    eloqstore::IouringMgr io_mgr(&opts, 1000);
    REQUIRE(true);
}

TEST_CASE("sample: broken file, second case", "[sample][broken]")
{
    REQUIRE(true);
}
