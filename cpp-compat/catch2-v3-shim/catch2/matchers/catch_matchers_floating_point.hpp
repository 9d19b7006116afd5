// Catch2 v3's <catch2/matchers/catch_matchers_floating_point.hpp>: not provided over Catch2 v2, which lacks
// v3's WithinRel/WithinAbs/WithinULP and IsNaN.
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/matchers/catch_matchers_floating_point.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's WithinRel/WithinAbs/WithinULP and IsNaN; install Catch2 v3 (cpp-compat/README.md)"
