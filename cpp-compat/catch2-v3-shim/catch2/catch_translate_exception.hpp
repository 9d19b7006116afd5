// Catch2 v3's <catch2/catch_translate_exception.hpp>: not provided over Catch2 v2, which lacks
// v3's CATCH_TRANSLATE_EXCEPTION header (v2 declares it in its single header under other internals).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/catch_translate_exception.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's CATCH_TRANSLATE_EXCEPTION header (v2 declares it in its single header under other internals); install Catch2 v3 (cpp-compat/README.md)"
