// A minimal stand-in for glog's <glog/logging.h>, enough for upstream
// EloqStore's tests: LOG(severity) << ..., DLOG, LOG_IF, CHECK(cond) << ...
// and the CHECK_EQ family. Every message goes to stderr (as glog does when
// InitGoogleLogging was not called); FATAL messages and failed checks abort.
//
// CHECK: Catch2 defines a CHECK too. As with the real headers, the one
// included last wins: this header replaces Catch2's (without a warning),
// and Catch2's shim header drops this one before defining its own (see
// cpp-compat/catch2-v3-shim/catch2/catch.hpp). Upstream's test files rely
// on that: delete.cpp's CHECK(a == b || a == c) compiles only as glog's.
#pragma once

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

namespace google
{
enum LogSeverity
{
    GLOG_INFO = 0,
    GLOG_WARNING = 1,
    GLOG_ERROR = 2,
    GLOG_FATAL = 3,
};

// No-ops kept for source compatibility.
inline void InitGoogleLogging(const char *)
{
}
inline void ShutdownGoogleLogging()
{
}

namespace logging_internal
{
// Collects one message and writes it, in one piece, when destroyed.
class Message
{
public:
    Message(int severity, const char *file, int line) : severity_(severity)
    {
        static constexpr char kTag[] = {'I', 'W', 'E', 'F'};
        const char *base = file;
        for (const char *p = file; *p != '\0'; ++p)
        {
            if (*p == '/')
            {
                base = p + 1;
            }
        }
        stream_ << kTag[severity < 0 ? 0 : (severity > 3 ? 3 : severity)]
                << ' ' << base << ':' << line << "] ";
    }
    Message(const Message &) = delete;
    Message &operator=(const Message &) = delete;
    ~Message()
    {
        stream_ << '\n';
        std::cerr << stream_.str() << std::flush;
        if (severity_ >= GLOG_FATAL)
        {
            std::abort();
        }
    }
    std::ostream &stream()
    {
        return stream_;
    }

private:
    int severity_;
    std::ostringstream stream_;
};

// Turns `cond ? (void)0 : Voidify() & stream` into a void expression.
struct Voidify
{
    void operator&(std::ostream &)
    {
    }
};

// Swallows a message that is not logged (DLOG in release builds).
struct NullStream : std::ostream
{
    NullStream() : std::ostream(nullptr)
    {
    }
};
}  // namespace logging_internal
}  // namespace google

#define GLOG_LOG_STREAM_(sev)                                               \
    ::google::logging_internal::Message(                                    \
        ::google::GLOG_##sev, __FILE__, __LINE__)                           \
        .stream()

#define LOG(severity) GLOG_LOG_STREAM_(severity)
#define LOG_IF(severity, cond)                                              \
    !(cond) ? (void) 0                                                      \
            : ::google::logging_internal::Voidify() & LOG(severity)
#define PLOG(severity) LOG(severity)
#define VLOG(level) LOG_IF(INFO, false)

#ifdef NDEBUG
#define DLOG(severity)                                                      \
    true ? (void) 0                                                         \
         : ::google::logging_internal::Voidify() &                          \
               ::google::logging_internal::NullStream()
#define DLOG_IF(severity, cond) DLOG(severity)
#else
#define DLOG(severity) LOG(severity)
#define DLOG_IF(severity, cond) LOG_IF(severity, cond)
#endif

#define GLOG_CHECK_(cond)                                                   \
    LOG_IF(FATAL, !(cond)) << "Check failed: " #cond " "
#ifdef CHECK
#undef CHECK
#endif
#define CHECK(cond) GLOG_CHECK_(cond)
#define ELOQSTORE_GLOG_STANDIN_CHECK 1
#define CHECK_EQ(a, b) GLOG_CHECK_((a) == (b))
#define CHECK_NE(a, b) GLOG_CHECK_((a) != (b))
#define CHECK_LT(a, b) GLOG_CHECK_((a) < (b))
#define CHECK_LE(a, b) GLOG_CHECK_((a) <= (b))
#define CHECK_GT(a, b) GLOG_CHECK_((a) > (b))
#define CHECK_GE(a, b) GLOG_CHECK_((a) >= (b))
#define CHECK_NOTNULL(p) (p)
#ifdef NDEBUG
// Not evaluated, as with glog in release builds.
#define GLOG_DCHECK_(cond) LOG_IF(INFO, false && (cond))
#else
#define GLOG_DCHECK_(cond) GLOG_CHECK_(cond)
#endif
#define DCHECK(cond) GLOG_DCHECK_(cond)
#define DCHECK_EQ(a, b) GLOG_DCHECK_((a) == (b))
#define DCHECK_NE(a, b) GLOG_DCHECK_((a) != (b))
#define DCHECK_LT(a, b) GLOG_DCHECK_((a) < (b))
#define DCHECK_LE(a, b) GLOG_DCHECK_((a) <= (b))
#define DCHECK_GT(a, b) GLOG_DCHECK_((a) > (b))
#define DCHECK_GE(a, b) GLOG_DCHECK_((a) >= (b))
