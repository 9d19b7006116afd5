// TableIdent and WriteDataEntry (types.h).
#include "types.h"

#include <ostream>
#include <string>

namespace eloqstore
{
std::ostream &operator<<(std::ostream &out, const TableIdent &tid)
{
    return out << tid.tbl_name_ << TableIdent::separator << tid.partition_id_;
}

std::string TableIdent::ToString() const
{
    std::string s = tbl_name_;
    s += separator;
    s += std::to_string(partition_id_);
    return s;
}

TableIdent TableIdent::FromString(const std::string &str)
{
    const size_t dot = str.rfind(separator);
    if (dot == std::string::npos || dot + 1 == str.size())
    {
        return {};
    }
    uint64_t id = 0;
    for (size_t i = dot + 1; i < str.size(); ++i)
    {
        const char c = str[i];
        if (c < '0' || c > '9')
        {
            return {};
        }
        id = id * 10 + static_cast<uint64_t>(c - '0');
        if (id > UINT32_MAX)
        {
            return {};
        }
    }
    return {str.substr(0, dot), static_cast<uint32_t>(id)};
}

uint8_t TableIdent::DiskIndex(uint8_t num_disks) const
{
    return num_disks == 0 ? 0 : static_cast<uint8_t>(partition_id_ % num_disks);
}

fs::path TableIdent::StorePath(tcb::span<const std::string> disks) const
{
    if (disks.empty())
    {
        return fs::path(ToString());
    }
    fs::path dir(disks[DiskIndex(static_cast<uint8_t>(disks.size()))]);
    dir /= ToString();
    return dir;
}

uint16_t TableIdent::ShardIndex(uint16_t num_shards) const
{
    return num_shards == 0 ? 0
                           : static_cast<uint16_t>(partition_id_ % num_shards);
}

bool TableIdent::IsValid() const
{
    return !tbl_name_.empty();
}

WriteDataEntry::WriteDataEntry(std::string key,
                               std::string val,
                               uint64_t ts,
                               WriteOp op,
                               uint64_t expire_ts)
    : key_(std::move(key)),
      val_(std::move(val)),
      timestamp_(ts),
      op_(op),
      expire_ts_(expire_ts)
{
}

bool WriteDataEntry::operator<(const WriteDataEntry &other) const
{
    return key_ < other.key_;
}
}  // namespace eloqstore
