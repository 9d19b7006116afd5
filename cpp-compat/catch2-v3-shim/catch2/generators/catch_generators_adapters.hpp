// Catch2 v3 header name mapped onto the single Catch2 v2 header (Debian's
// catch2 package); see cpp-compat/README.md.
#pragma once
#include <catch2/catch.hpp>
