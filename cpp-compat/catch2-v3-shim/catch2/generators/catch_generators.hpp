// Catch2 v3's <catch2/generators/catch_generators.hpp>: not provided over Catch2 v2, which lacks
// v3's GENERATE machinery (GeneratorWrapper, as<T>, GENERATE_REF/GENERATE_COPY as v3 defines them).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/generators/catch_generators.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's GENERATE machinery (GeneratorWrapper, as<T>, GENERATE_REF/GENERATE_COPY as v3 defines them); install Catch2 v3 (cpp-compat/README.md)"
