// Catch2 v3's <catch2/generators/catch_generators_random.hpp>: not provided over Catch2 v2, which lacks
// v3's random generators (v2's random() takes other arguments and seeds differently).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/generators/catch_generators_random.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's random generators (v2's random() takes other arguments and seeds differently); install Catch2 v3 (cpp-compat/README.md)"
