// Catch2 v3's <catch2/catch_template_test_macros.hpp>: not provided over Catch2 v2, which lacks
// v3's TEMPLATE_TEST_CASE header (v2's template test cases differ in TEMPLATE_LIST_TEST_CASE and signature forms).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/catch_template_test_macros.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's TEMPLATE_TEST_CASE header (v2's template test cases differ in TEMPLATE_LIST_TEST_CASE and signature forms); install Catch2 v3 (cpp-compat/README.md)"
