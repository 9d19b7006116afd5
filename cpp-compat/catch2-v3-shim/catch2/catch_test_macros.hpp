// Catch2 v3's <catch2/catch_test_macros.hpp> over the single Catch2 v2 header (Debian's
// catch2 package): v2 defines the same names. Only the headers whose v3
// names v2 provides are mapped; the others stop the build with #error
// naming what v2 lacks. See cpp-compat/README.md.
#pragma once
#include <catch2/catch.hpp>
