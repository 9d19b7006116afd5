// EloqStore-rs C++ interface: small utilities code written for upstream
// EloqStore includes (upstream's utils.h).
#pragma once

#include <cassert>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace chrono = std::chrono;

namespace utils
{
// One object (or common prefix) of a cloud listing.
struct CloudObjectInfo
{
    std::string name;
    std::string path;
    uint64_t size{0};
    bool is_dir{false};
    std::string mod_time;
    std::string continuation_token;
};

// `num` with its `n` lowest bits cleared.
template <typename T>
inline T UnsetLowBits(T num, uint8_t n)
{
    assert(n < sizeof(T) * 8);
    return num & static_cast<T>(~((uint64_t(1) << n) - 1));
}

// Time since the Unix epoch in units of D (e.g. chrono::milliseconds).
template <typename D>
uint64_t UnixTs()
{
    return chrono::duration_cast<D>(
               chrono::system_clock::now().time_since_epoch())
        .count();
}

// Number of entries in a directory.
inline size_t DirEntryCount(std::filesystem::path path)
{
    size_t n = 0;
    for (auto it = std::filesystem::directory_iterator(path);
         it != std::filesystem::directory_iterator();
         ++it)
    {
        ++n;
    }
    return n;
}

// Number of file descriptors this process has open.
[[maybe_unused]] inline size_t CountUsedFD()
{
    return DirEntryCount("/proc/self/fd");
}

// Lets a lambda call itself: MakeYCombinator([](auto self, int n) {...}).
template <typename F>
struct YCombinator
{
    F f;
    template <typename... Args>
    decltype(auto) operator()(Args &&...args) const
    {
        return f(*this, std::forward<Args>(args)...);
    }
};

template <typename F>
YCombinator<std::decay_t<F>> MakeYCombinator(F &&f)
{
    return {std::forward<F>(f)};
}

// A uniformly distributed integer in [0, n).
inline int RandomInt(int n)
{
    static thread_local std::mt19937 gen(std::random_device{}());
    std::uniform_int_distribution<int> dist(0, n - 1);
    return dist(gen);
}

}  // namespace utils
