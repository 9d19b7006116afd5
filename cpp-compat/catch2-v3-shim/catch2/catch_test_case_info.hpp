// Catch2 v3's <catch2/catch_test_case_info.hpp>: not provided over Catch2 v2, which lacks
// v3's Catch::TestCaseInfo (v2's TestCaseInfo has other members: no tags as Tag objects).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/catch_test_case_info.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's Catch::TestCaseInfo (v2's TestCaseInfo has other members: no tags as Tag objects); install Catch2 v3 (cpp-compat/README.md)"
