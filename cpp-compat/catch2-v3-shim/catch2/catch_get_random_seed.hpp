// Catch2 v3's <catch2/catch_get_random_seed.hpp>: not provided over Catch2 v2, which lacks
// Catch::getSeed() as a standalone v3 header (v2 declares rngSeed() instead).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/catch_get_random_seed.hpp> needs Catch2 v3: the Catch2 v2 found lacks Catch::getSeed() as a standalone v3 header (v2 declares rngSeed() instead); install Catch2 v3 (cpp-compat/README.md)"
