// Catch2 v3's <catch2/catch_all.hpp>: not provided over Catch2 v2, which lacks
// the whole v3 API in one header (v3-only names such as Catch::Matchers::ContainsSubstring, Catch::Matchers::WithinRel, CATCH_CONFIG_* split into catch_user_config.hpp).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/catch_all.hpp> needs Catch2 v3: the Catch2 v2 found lacks the whole v3 API in one header (v3-only names such as Catch::Matchers::ContainsSubstring, Catch::Matchers::WithinRel, CATCH_CONFIG_* split into catch_user_config.hpp); install Catch2 v3 (cpp-compat/README.md)"
