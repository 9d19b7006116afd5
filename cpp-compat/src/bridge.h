// Internal to the C++ layer: conversions between the C++ classes and the C
// ABI handles, and logging. Not installed.
#pragma once

#include <memory>
#include <string>

#include "eloq_store.h"
#include "eloqstore.h"
#include "kv_options.h"

namespace eloqstore::compat
{
// Writes "[eloqstore ERROR] <msg>" to stderr.
void LogError(const std::string &msg);

// The message of the last failed C ABI call on this thread.
std::string LastCError();

struct OptionsDeleter
{
    void operator()(eloqstore_options *o) const
    {
        eloqstore_options_free(o);
    }
};
using OptionsPtr = std::unique_ptr<eloqstore_options, OptionsDeleter>;

// C options holding every field of `opts`. With `callbacks`, also its
// comparator (unless it is the default one) and partition filter, wrapped
// in C callbacks that call the C++ objects. Null with the reason in `why`
// on failure.
OptionsPtr OptionsToC(const KvOptions &opts, bool callbacks, std::string &why);

// Copies every plain field (all but comparator_ and partition_filter) of
// `c` into `opts`. False with the reason in `why` on failure.
bool OptionsFromC(const eloqstore_options *c, KvOptions &opts, std::string &why);
}  // namespace eloqstore::compat
