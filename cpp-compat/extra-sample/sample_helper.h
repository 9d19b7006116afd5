// Helpers of the sample suite (cpp-compat/extra-sample), built as the
// helper library of ELOQSTORE_EXTRA_TESTS_DIR.
#pragma once

#include <string>

#include "kv_options.h"

namespace sample
{
// Options of an in-memory store with two shards.
eloqstore::KvOptions MemoryOptions();
// "key-0007" for 7.
std::string SampleKey(int i);
}  // namespace sample
