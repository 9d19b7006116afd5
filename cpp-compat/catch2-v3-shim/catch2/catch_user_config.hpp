// Catch2 v3's <catch2/catch_user_config.hpp>: not provided over Catch2 v2, which lacks
// v3's generated configuration header (v2 is configured by CATCH_CONFIG_* macros before its single header).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/catch_user_config.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's generated configuration header (v2 is configured by CATCH_CONFIG_* macros before its single header); install Catch2 v3 (cpp-compat/README.md)"
