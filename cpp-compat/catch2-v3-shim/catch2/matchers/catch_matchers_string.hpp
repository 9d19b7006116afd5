// Catch2 v3's <catch2/matchers/catch_matchers_string.hpp>: not provided over Catch2 v2, which lacks
// v3's ContainsSubstring, StartsWith, EndsWith with v3 names (v2 spells the first Contains).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/matchers/catch_matchers_string.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's ContainsSubstring, StartsWith, EndsWith with v3 names (v2 spells the first Contains); install Catch2 v3 (cpp-compat/README.md)"
