// Catch2 v3's <catch2/reporters/catch_reporter_registrars.hpp>: not provided over Catch2 v2, which lacks
// v3's reporter registration (CATCH_REGISTER_REPORTER over v3's IEventListener; v2's reporter interface differs).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/reporters/catch_reporter_registrars.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's reporter registration (CATCH_REGISTER_REPORTER over v3's IEventListener; v2's reporter interface differs); install Catch2 v3 (cpp-compat/README.md)"
