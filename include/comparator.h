// EloqStore-rs C++ interface: key ordering (upstream's comparator.h).
#pragma once

#include <string>
#include <string_view>

namespace eloqstore
{
// A total order over keys. Set KvOptions::comparator_ to use one; the object
// must outlive every store using it, and its methods are called from the
// store's threads concurrently (they must be thread-safe). The order is not
// recorded on disk: always open a store with the order that wrote it.
class Comparator
{
public:
    virtual ~Comparator() = default;

    // Negative, zero or positive as `a` sorts before, equal to or after `b`.
    virtual int Compare(std::string_view a, std::string_view b) const = 0;

    // A name identifying the order.
    virtual const char *Name() const = 0;

    // LevelDB style: may shorten *start to a key in [*start, limit).
    virtual void FindShortestSeparator(std::string *start,
                                       std::string_view limit) const = 0;

    // For left < right, a short key k with left < k <= right (the view may
    // refer into `right`). The engine stores it in index pages as the
    // boundary between two data pages.
    virtual std::string_view FindShortestSeparator(
        std::string_view left, std::string_view right) const = 0;

    // May change *key into a short key >= *key.
    virtual void FindShortSuccessor(std::string *key) const = 0;

    // The process-wide bytewise order ("leveldb.BytewiseComparator").
    static const Comparator *DefaultComparator();
};
}  // namespace eloqstore
