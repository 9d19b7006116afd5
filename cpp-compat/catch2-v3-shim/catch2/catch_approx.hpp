// Catch2 v3 header name mapped onto the single Catch2 v2 header; v2 has
// Catch::Approx too (as Catch::Detail::Approx).
#pragma once
#include <catch2/catch.hpp>

// v3 spells it Catch::Approx.
namespace Catch
{
using ::Catch::Detail::Approx;
}
