// Catch2 v3's <catch2/generators/catch_generators_all.hpp>: not provided over Catch2 v2, which lacks
// v3's generator headers.
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/generators/catch_generators_all.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's generator headers; install Catch2 v3 (cpp-compat/README.md)"
