// EloqStore-rs: `tcb::span` for code written against upstream EloqStore,
// which shipped Tristan Brindle's C++11 span. In C++20 that is std::span, so
// the names below are aliases of the standard ones.
#pragma once

#include <cstddef>
#include <iterator>
#include <span>
#include <type_traits>

namespace tcb
{
using std::as_bytes;
using std::as_writable_bytes;
using std::dynamic_extent;
using std::span;

// tcb::make_span, deducing the element type like the original helper.
template <typename T>
constexpr span<T> make_span(T *ptr, std::size_t count)
{
    return span<T>(ptr, count);
}

template <typename T>
constexpr span<T> make_span(T *first, T *last)
{
    return span<T>(first, last);
}

template <typename T, std::size_t N>
constexpr span<T, N> make_span(T (&arr)[N]) noexcept
{
    return span<T, N>(arr);
}

template <typename Container>
constexpr auto make_span(Container &cont)
    -> span<typename std::remove_pointer_t<decltype(std::data(cont))>>
{
    return {std::data(cont), std::size(cont)};
}
}  // namespace tcb
