// EloqStore-rs C++ interface: integer encodings used by EloqStore's on-disk
// format (upstream's coding.h). Fixed-width integers are little-endian;
// varints are LEB128 (7 bits per byte, low groups first).
#pragma once

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace eloqstore
{
// Append to *dst.
void PutFixed16(std::string *dst, uint16_t value);
void PutFixed32(std::string *dst, uint32_t value);
void PutFixed64(std::string *dst, uint64_t value);
void PutVarint32(std::string *dst, uint32_t value);
void PutVarint64(std::string *dst, uint64_t value);

// Decode a varint from the front of *input and drop it from *input; false
// (input unchanged) when it is truncated or too long.
bool GetVarint32(std::string_view *input, uint32_t *value);
bool GetVarint64(std::string_view *input, uint64_t *value);

// Decode a varint from [p, limit): a pointer past it, or nullptr.
const char *GetVarint64Ptr(const char *p, const char *limit, uint64_t *v);
const char *GetVarint32PtrFallback(const char *p,
                                   const char *limit,
                                   uint32_t *value);

// Bytes of the varint encoding of v.
int VarintLength(uint64_t v);

// Write a varint at dst (which has room) and return a pointer past it.
char *EncodeVarint32(char *dst, uint32_t value);
size_t Varint32Size(uint32_t value);
char *EncodeVarint64(char *dst, uint64_t value);
size_t Varint64Size(uint64_t value);

inline void EncodeFixed16(char *dst, uint16_t value)
{
    auto *out = reinterpret_cast<uint8_t *>(dst);
    for (int i = 0; i < 2; ++i)
    {
        out[i] = static_cast<uint8_t>(value >> (8 * i));
    }
}

inline void EncodeFixed32(char *dst, uint32_t value)
{
    auto *out = reinterpret_cast<uint8_t *>(dst);
    for (int i = 0; i < 4; ++i)
    {
        out[i] = static_cast<uint8_t>(value >> (8 * i));
    }
}

inline void EncodeFixed64(char *dst, uint64_t value)
{
    auto *out = reinterpret_cast<uint8_t *>(dst);
    for (int i = 0; i < 8; ++i)
    {
        out[i] = static_cast<uint8_t>(value >> (8 * i));
    }
}

inline uint16_t DecodeFixed16(const char *ptr)
{
    const auto *in = reinterpret_cast<const uint8_t *>(ptr);
    return static_cast<uint16_t>(in[0] | (in[1] << 8));
}

inline uint32_t DecodeFixed32(const char *ptr)
{
    const auto *in = reinterpret_cast<const uint8_t *>(ptr);
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
    {
        v = (v << 8) | in[i];
    }
    return v;
}

inline uint64_t DecodeFixed64(const char *ptr)
{
    const auto *in = reinterpret_cast<const uint8_t *>(ptr);
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
    {
        v = (v << 8) | in[i];
    }
    return v;
}

// Host order to big-endian (a byte swap on little-endian hosts).
inline uint64_t ToBigEndian(uint64_t value)
{
    if constexpr (std::endian::native == std::endian::little)
    {
        return __builtin_bswap64(value);
    }
    return value;
}

inline uint32_t ToBigEndian(uint32_t value)
{
    if constexpr (std::endian::native == std::endian::little)
    {
        return __builtin_bswap32(value);
    }
    return value;
}

// Big-endian to host order.
inline uint64_t BigEndianToNative(uint64_t value)
{
    return ToBigEndian(value);
}

inline uint32_t BigEndianToNative(uint32_t value)
{
    return ToBigEndian(value);
}

inline const char *GetVarint32Ptr(const char *p,
                                  const char *limit,
                                  uint32_t *value)
{
    if (p < limit && (static_cast<uint8_t>(*p) & 0x80) == 0)
    {
        *value = static_cast<uint8_t>(*p);
        return p + 1;
    }
    return GetVarint32PtrFallback(p, limit, value);
}

// Signed deltas as unsigned numbers: the magnitude shifted left by one,
// the sign in the lowest bit.
inline uint32_t EncodeInt32Delta(int32_t delta)
{
    if (delta >= 0)
    {
        return static_cast<uint32_t>(delta) << 1;
    }
    return (static_cast<uint32_t>(-static_cast<int64_t>(delta)) << 1) | 1;
}

inline int32_t DecodeInt32Delta(uint32_t val)
{
    auto magnitude = static_cast<int32_t>(val >> 1);
    return (val & 1) ? -magnitude : magnitude;
}

inline uint64_t EncodeInt64Delta(int64_t delta)
{
    if (delta >= 0)
    {
        return static_cast<uint64_t>(delta) << 1;
    }
    return ((0 - static_cast<uint64_t>(delta)) << 1) | 1;
}

inline int64_t DecodeInt64Delta(uint64_t val)
{
    auto magnitude = static_cast<int64_t>(val >> 1);
    return (val & 1) ? -magnitude : magnitude;
}
}  // namespace eloqstore
