// Catch2 v3 header name mapped onto Catch2 v2: a file that runs Catch2
// itself (Catch::Session) must be the one translation unit that compiles
// v2's implementation, so this defines CATCH_CONFIG_RUNNER first. Such a
// program does not link Catch2's main library.
#pragma once
#ifndef CATCH_CONFIG_RUNNER
#define CATCH_CONFIG_RUNNER
#endif
#include <catch2/catch.hpp>
