// The default bytewise key order (comparator.h).
#include "comparator.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace eloqstore
{
namespace
{
// Keys ordered as unsigned byte strings, a prefix before its extensions.
class Bytewise final : public Comparator
{
public:
    int Compare(std::string_view a, std::string_view b) const override
    {
        // char_traits<char> compares bytes as unsigned char.
        const int c = a.compare(b);
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }

    const char *Name() const override
    {
        return "leveldb.BytewiseComparator";
    }

    void FindShortestSeparator(std::string *start,
                               std::string_view limit) const override
    {
        const size_t common = CommonPrefix(*start, limit);
        if (common >= std::min(start->size(), limit.size()))
        {
            // One is a prefix of the other: nothing shorter in between.
            return;
        }
        const auto byte = static_cast<uint8_t>((*start)[common]);
        if (byte < 0xff && byte + 1 < static_cast<uint8_t>(limit[common]))
        {
            (*start)[common] = static_cast<char>(byte + 1);
            start->resize(common + 1);
        }
    }

    std::string_view FindShortestSeparator(
        std::string_view left, std::string_view right) const override
    {
        // The first byte where right exceeds left ends the separator.
        const size_t common = CommonPrefix(left, right);
        return right.substr(0, std::min(common + 1, right.size()));
    }

    void FindShortSuccessor(std::string *key) const override
    {
        for (size_t i = 0; i < key->size(); ++i)
        {
            const auto byte = static_cast<uint8_t>((*key)[i]);
            if (byte != 0xff)
            {
                (*key)[i] = static_cast<char>(byte + 1);
                key->resize(i + 1);
                return;
            }
        }
    }

private:
    static size_t CommonPrefix(std::string_view a, std::string_view b)
    {
        const size_t n = std::min(a.size(), b.size());
        size_t i = 0;
        while (i < n && a[i] == b[i])
        {
            ++i;
        }
        return i;
    }
};
}  // namespace

const Comparator *Comparator::DefaultComparator()
{
    static const Bytewise bytewise;
    return &bytewise;
}
}  // namespace eloqstore
