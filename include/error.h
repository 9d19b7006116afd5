// EloqStore-rs C++ interface: error codes (upstream's error.h).
//
// The numeric values of KvError are those of the C++ EloqStore and of the
// C ABI's eloqstore_error; code that stores or compares them keeps working.
#pragma once

#include <cstdint>

// Returns early from the enclosing function when `err` is an error.
#define CHECK_KV_ERR(err)                       \
    if ((err) != ::eloqstore::KvError::NoError) \
    {                                           \
        return err;                             \
    }

namespace eloqstore
{
enum struct KvError : uint8_t
{
    NoError = 0,
    InvalidArgs,
    NotFound,
    NotRunning,
    Corrupted,
    EndOfFile,
    OutOfSpace,
    OutOfMem,
    OpenFileLimit,
    TryAgain,
    Busy,
    Timeout,
    NoPermission,
    CloudErr,
    IoFail,
    ExpiredTerm,
    CloudNoManifest,
};

// The fixed human-readable text of an error code.
constexpr const char *ErrorString(KvError err)
{
    switch (err)
    {
    case KvError::NoError:
        return "Succeed";
    case KvError::InvalidArgs:
        return "Invalid arguments";
    case KvError::NotFound:
        return "Resource not found";
    case KvError::NotRunning:
        return "EloqStore is not running";
    case KvError::Corrupted:
        return "Disk data corrupted";
    case KvError::EndOfFile:
        return "End of file";
    case KvError::OutOfSpace:
        return "Out of disk space";
    case KvError::OutOfMem:
        return "Out of memory";
    case KvError::OpenFileLimit:
        return "Too many opened files";
    case KvError::TryAgain:
        return "Try again later";
    case KvError::Busy:
        return "Device or resource busy";
    case KvError::Timeout:
        return "Operation timeout";
    case KvError::NoPermission:
        return "Operation not permitted";
    case KvError::CloudErr:
        return "Cloud service is unavailable";
    case KvError::IoFail:
        return "I/O failure";
    case KvError::ExpiredTerm:
        return "Expired term";
    case KvError::CloudNoManifest:
        return "No manifest found in cloud but the directory is not empty";
    }
    return "Unknown error";
}

// Errors worth retrying later: resource exhaustion that may pass.
constexpr bool IsRetryableErr(KvError err)
{
    return err == KvError::OpenFileLimit || err == KvError::Busy ||
           err == KvError::TryAgain;
}

}  // namespace eloqstore
