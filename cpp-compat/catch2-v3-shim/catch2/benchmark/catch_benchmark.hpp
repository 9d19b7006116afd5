// Catch2 v3 header name mapped onto Catch2 v2, whose benchmarks must be
// switched on before its header is first included.
#pragma once
#ifndef CATCH_CONFIG_ENABLE_BENCHMARKING
#define CATCH_CONFIG_ENABLE_BENCHMARKING
#endif
#include <catch2/catch.hpp>
