// Varint and fixed-width helpers (coding.h).
#include "coding.h"

#include <string>
#include <string_view>

namespace eloqstore
{
void PutFixed16(std::string *dst, uint16_t value)
{
    char buf[2];
    EncodeFixed16(buf, value);
    dst->append(buf, sizeof(buf));
}

void PutFixed32(std::string *dst, uint32_t value)
{
    char buf[4];
    EncodeFixed32(buf, value);
    dst->append(buf, sizeof(buf));
}

void PutFixed64(std::string *dst, uint64_t value)
{
    char buf[8];
    EncodeFixed64(buf, value);
    dst->append(buf, sizeof(buf));
}

char *EncodeVarint64(char *dst, uint64_t value)
{
    auto *out = reinterpret_cast<uint8_t *>(dst);
    while (value >= 0x80)
    {
        *out++ = static_cast<uint8_t>(value | 0x80);
        value >>= 7;
    }
    *out++ = static_cast<uint8_t>(value);
    return reinterpret_cast<char *>(out);
}

char *EncodeVarint32(char *dst, uint32_t value)
{
    return EncodeVarint64(dst, value);
}

int VarintLength(uint64_t v)
{
    int len = 1;
    while (v >= 0x80)
    {
        v >>= 7;
        ++len;
    }
    return len;
}

size_t Varint32Size(uint32_t value)
{
    return static_cast<size_t>(VarintLength(value));
}

size_t Varint64Size(uint64_t value)
{
    return static_cast<size_t>(VarintLength(value));
}

void PutVarint32(std::string *dst, uint32_t value)
{
    char buf[5];
    dst->append(buf, EncodeVarint32(buf, value) - buf);
}

void PutVarint64(std::string *dst, uint64_t value)
{
    char buf[10];
    dst->append(buf, EncodeVarint64(buf, value) - buf);
}

namespace
{
// Decodes at most `max_bytes` bytes of a varint from [p, limit).
const char *DecodeVarint(const char *p,
                         const char *limit,
                         int max_bytes,
                         uint64_t *value)
{
    uint64_t result = 0;
    for (int i = 0; i < max_bytes && p < limit; ++i)
    {
        const auto byte = static_cast<uint8_t>(*p++);
        result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
        if ((byte & 0x80) == 0)
        {
            *value = result;
            return p;
        }
    }
    return nullptr;
}
}  // namespace

const char *GetVarint32PtrFallback(const char *p,
                                   const char *limit,
                                   uint32_t *value)
{
    uint64_t v = 0;
    const char *end = DecodeVarint(p, limit, 5, &v);
    if (end == nullptr || v > UINT32_MAX)
    {
        return nullptr;
    }
    *value = static_cast<uint32_t>(v);
    return end;
}

const char *GetVarint64Ptr(const char *p, const char *limit, uint64_t *v)
{
    return DecodeVarint(p, limit, 10, v);
}

bool GetVarint32(std::string_view *input, uint32_t *value)
{
    const char *begin = input->data();
    const char *end =
        GetVarint32Ptr(begin, begin + input->size(), value);
    if (end == nullptr)
    {
        return false;
    }
    input->remove_prefix(static_cast<size_t>(end - begin));
    return true;
}

bool GetVarint64(std::string_view *input, uint64_t *value)
{
    const char *begin = input->data();
    const char *end = GetVarint64Ptr(begin, begin + input->size(), value);
    if (end == nullptr)
    {
        return false;
    }
    input->remove_prefix(static_cast<size_t>(end - begin));
    return true;
}
}  // namespace eloqstore
