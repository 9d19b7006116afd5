// Catch2 v3's <catch2/interfaces/catch_interfaces_reporter.hpp>: not provided over Catch2 v2, which lacks
// v3's reporter interfaces (IEventListener, ReporterConfig; v2 has IStreamingReporter).
// Install Catch2 v3 to build tests that include it; see cpp-compat/README.md.
#pragma once
#error "<catch2/interfaces/catch_interfaces_reporter.hpp> needs Catch2 v3: the Catch2 v2 found lacks v3's reporter interfaces (IEventListener, ReporterConfig; v2 has IStreamingReporter); install Catch2 v3 (cpp-compat/README.md)"
