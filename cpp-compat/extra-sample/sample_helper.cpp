// Helper file of the sample suite: no test cases, so it goes into the
// helper library linked into every test program.
#include "sample_helper.h"

#include <cstdio>

namespace sample
{
eloqstore::KvOptions MemoryOptions()
{
    eloqstore::KvOptions opts;
    opts.num_threads = 2;
    return opts;
}

std::string SampleKey(int i)
{
    char buf[16];
    std::snprintf(buf, sizeof(buf), "key-%04d", i);
    return buf;
}
}  // namespace sample
