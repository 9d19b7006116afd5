// Catch2 v3's <catch2/matchers/catch_matchers.hpp>: not provided over Catch2 v2, which lacks
// v3's matcher base (MatcherBase, REQUIRE_THAT with v3's MatcherGenericBase).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/matchers/catch_matchers.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's matcher base (MatcherBase, REQUIRE_THAT with v3's MatcherGenericBase); install Catch2 v3 (cpp-compat/README.md)"
