// Catch2 v3's <catch2/benchmark/catch_benchmark.hpp>: not provided over Catch2 v2, which lacks
// v3's BENCHMARK header (v2 needs CATCH_CONFIG_ENABLE_BENCHMARKING and has other internals).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/benchmark/catch_benchmark.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's BENCHMARK header (v2 needs CATCH_CONFIG_ENABLE_BENCHMARKING and has other internals); install Catch2 v3 (cpp-compat/README.md)"
