// Interposes on Catch2 v2's single header (found next on the include path)
// for every shim header of this directory. If the glog stand-in of the
// upstream test harness (cpp-compat/upstream-tests/support/glog) defined
// its fatal CHECK first, it is dropped here, so that Catch2 defines its own
// without a redefinition warning: test files get Catch2's CHECK whichever
// of the two they include first.
#pragma once
#ifdef ELOQSTORE_GLOG_STANDIN_CHECK
#undef CHECK
#undef ELOQSTORE_GLOG_STANDIN_CHECK
#endif
#include_next <catch2/catch.hpp>
