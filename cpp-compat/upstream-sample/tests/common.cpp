// The self-test's stand-in for upstream's tests/common.cpp (which uses the
// AWS SDK): the harness replaces it and must not compile it.
#include "common.h"

#error "the upstream test harness must not compile the suite's own common.cpp"

eloqstore::EloqStore *InitStore(const eloqstore::KvOptions &opts)
{
    Aws::SDKOptions options;
    Aws::InitAPI(options);
    return nullptr;
}
