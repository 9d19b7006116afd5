// Catch2 v3's <catch2/catch_session.hpp>: not provided over Catch2 v2, which lacks
// v3's Catch::Session with a separately linked main (v2 needs CATCH_CONFIG_RUNNER defined in exactly one file).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/catch_session.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's Catch::Session with a separately linked main (v2 needs CATCH_CONFIG_RUNNER defined in exactly one file); install Catch2 v3 (cpp-compat/README.md)"
