// EloqStore-rs C++ interface: file-name helpers and small shared constants
// (upstream's common.h). File names are those of the on-disk format:
// "data_<file id>_<term>", "manifest_<term>" and archives
// "manifest_<term>_<timestamp>".
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "coding.h"
#include "types.h"

namespace eloqstore
{
// File descriptors kept out of the fd_limit budget for the process's other
// files.
constexpr uint32_t num_reserved_fd = 100;

// The OS page size, which page buffers and direct I/O are aligned to.
inline const size_t page_align = static_cast<size_t>(sysconf(_SC_PAGESIZE));

// Term of each data file, as stored in manifests.
using FileIdTermMapping = std::unordered_map<FileId, uint64_t>;

// Replaces dst with `mapping`: a fixed32 byte count, then varint64 pairs
// (file id, term). (Upstream documents "appends" but replaces, and so do
// we: callers written against it rely on what it does.)
inline void SerializeFileIdTermMapping(const FileIdTermMapping &mapping,
                                       std::string &dst)
{
    dst.assign(4, '\0');
    for (const auto &[file_id, term] : mapping)
    {
        PutVarint64(&dst, file_id);
        PutVarint64(&dst, term);
    }
    EncodeFixed32(dst.data(), static_cast<uint32_t>(dst.size() - 4));
}

// Reads what SerializeFileIdTermMapping wrote into `mapping`; false (and
// `mapping` cleared) when the bytes are truncated or malformed.
inline bool DeserializeFileIdTermMapping(std::string_view input,
                                         FileIdTermMapping &mapping)
{
    if (input.size() < 4)
    {
        return false;
    }
    const uint32_t len = DecodeFixed32(input.data());
    if (input.size() - 4 < len)
    {
        return false;
    }
    std::string_view body = input.substr(4, len);
    while (!body.empty())
    {
        uint64_t file_id = 0;
        uint64_t term = 0;
        if (!GetVarint64(&body, &file_id) || !GetVarint64(&body, &term))
        {
            mapping.clear();
            return false;
        }
        mapping[file_id] = term;
    }
    return true;
}

// Splits a file name at its first '_': ("data", "1_2") for "data_1_2";
// the suffix is empty when there is no '_'.
inline std::pair<std::string_view, std::string_view> ParseFileName(
    std::string_view name)
{
    const size_t sep = name.find(FileNameSeparator);
    if (sep == std::string_view::npos)
    {
        return {name, std::string_view{}};
    }
    return {name.substr(0, sep), name.substr(sep + 1)};
}

// Parses all of `str` as strtoull does in base 10 (leading blanks and a
// sign accepted, "-1" wraps), as upstream; `out` is written whenever `str`
// is not empty. Unlike upstream, never reads past the end of `str`.
inline bool ParseUint64(std::string_view str, uint64_t &out)
{
    if (str.empty())
    {
        return false;
    }
    const std::string copy(str);
    errno = 0;
    char *end = nullptr;
    out = std::strtoull(copy.c_str(), &end, 10);
    return errno == 0 && end == copy.c_str() + copy.size();
}

// "<file id>_<term>" (the suffix of a data file name).
inline bool ParseDataFileSuffix(std::string_view suffix,
                                FileId &file_id,
                                uint64_t &term)
{
    file_id = 0;
    term = 0;
    const size_t sep = suffix.find(FileNameSeparator);
    if (sep == std::string_view::npos)
    {
        return false;
    }
    uint64_t id = 0;
    uint64_t t = 0;
    if (!ParseUint64(suffix.substr(0, sep), id) ||
        !ParseUint64(suffix.substr(sep + 1), t))
    {
        return false;
    }
    file_id = id;
    term = t;
    return true;
}

// "<term>" (a manifest) or "<term>_<timestamp>" (an archive).
inline bool ParseManifestFileSuffix(std::string_view suffix,
                                    uint64_t &term,
                                    std::optional<uint64_t> &timestamp)
{
    term = 0;
    timestamp.reset();
    const size_t sep = suffix.find(FileNameSeparator);
    uint64_t t = 0;
    if (sep == std::string_view::npos)
    {
        if (!ParseUint64(suffix, t))
        {
            return false;
        }
        term = t;
        return true;
    }
    uint64_t ts = 0;
    if (!ParseUint64(suffix.substr(0, sep), t) ||
        !ParseUint64(suffix.substr(sep + 1), ts))
    {
        return false;
    }
    term = t;
    timestamp = ts;
    return true;
}

// The term in a manifest or archive file name; 0 for other names.
inline uint64_t ManifestTermFromFilename(std::string_view filename)
{
    auto [type, suffix] = ParseFileName(filename);
    uint64_t term = 0;
    std::optional<uint64_t> ts;
    if (type != FileNameManifest || !ParseManifestFileSuffix(suffix, term, ts))
    {
        return 0;
    }
    return term;
}

inline std::string DataFileName(FileId file_id, uint64_t term)
{
    std::string name(FileNameData);
    name += FileNameSeparator;
    name += std::to_string(file_id);
    name += FileNameSeparator;
    name += std::to_string(term);
    return name;
}

inline std::string ManifestFileName(uint64_t term)
{
    std::string name(FileNameManifest);
    name += FileNameSeparator;
    name += std::to_string(term);
    return name;
}

inline std::string ArchiveName(uint64_t term, uint64_t ts)
{
    std::string name = ManifestFileName(term);
    name += FileNameSeparator;
    name += std::to_string(ts);
    return name;
}

// True for "manifest_<term>_<timestamp>".
inline bool IsArchiveFile(std::string_view filename)
{
    auto [type, suffix] = ParseFileName(filename);
    uint64_t term = 0;
    std::optional<uint64_t> ts;
    return type == FileNameManifest &&
           ParseManifestFileSuffix(suffix, term, ts) && ts.has_value();
}

}  // namespace eloqstore
