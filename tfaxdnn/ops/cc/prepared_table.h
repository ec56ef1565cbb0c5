// The per-table preparations of the kernels (range; column-major, row-major and int16 copies), cached per table
// *content* across calls: a layer passes the same table on every call, and preparing it cost 60-100 us per call
// (half of a batch-1 conv's time). Bounded: the kPreparedTables most recently used tables (< 1 MiB each).
#ifndef TFAXDNN_PREPARED_TABLE_H_
#define TFAXDNN_PREPARED_TABLE_H_

#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

#include "lut_gemm.h"

namespace tfaxdnn {

constexpr size_t kPreparedTables = 8;

class PreparedTable {
 public:
  explicit PreparedTable(const int32_t* lut) : lut_(lut, lut + kTableSize * kTableSize), range_(lut) {}

  bool Holds(const int32_t* lut) const { return std::memcmp(lut_.data(), lut, lut_.size() * sizeof(int32_t)) == 0; }
  const TableRange& range() const { return range_; }

  // lut - lo as uint16, column-major [w][a] (tap tables). Needs range().FitsInt16().
  const uint16_t* Columns16() const {
    std::call_once(columns16_once_, [this] {
      columns16_.resize(lut_.size());
      ColumnTable16(lut_.data(), range_.lo, columns16_.data());
    });
    return columns16_.data();
  }
  // lut - lo as uint16, row-major [a][w] (transposed tap tables). Needs range().FitsInt16().
  const uint16_t* Rows16() const {
    std::call_once(rows16_once_, [this] {
      rows16_.resize(lut_.size());
      for (size_t i = 0; i < lut_.size(); ++i) rows16_[i] = static_cast<uint16_t>(lut_[i] - range_.lo);
    });
    return rows16_.data();
  }
  // lut - Int16Bias() as int16, row-major (row permutes). Needs range().FitsInt16().
  const int16_t* Biased16() const {
    std::call_once(biased16_once_, [this] {
      biased16_.resize(lut_.size());
      const int64_t bias = range_.Int16Bias();
      for (size_t i = 0; i < lut_.size(); ++i) biased16_[i] = static_cast<int16_t>(int64_t(lut_[i]) - bias);
    });
    return biased16_.data();
  }
  // lut as int32, column-major [w][a] (depthwise channel tables).
  const int32_t* Columns32() const {
    std::call_once(columns32_once_, [this] {
      columns32_.resize(lut_.size());
      TransposeTiled(lut_.data(), kTableSize, kTableSize, columns32_.data(), [](int32_t v) { return v; });
    });
    return columns32_.data();
  }

 private:
  const std::vector<int32_t> lut_;
  const TableRange range_;
  mutable std::once_flag columns16_once_, rows16_once_, biased16_once_, columns32_once_;
  mutable std::vector<uint16_t> columns16_, rows16_;
  mutable std::vector<int16_t> biased16_;
  mutable std::vector<int32_t> columns32_;
};

// The preparations of `lut` (256 x 256 int32): a cached entry whose table equals it, or a new one (evicting the
// least recently used beyond kPreparedTables). Safe to call from concurrent kernels; entries stay valid while held.
inline std::shared_ptr<const PreparedTable> Prepare(const int32_t* lut) {
  static std::mutex mu;
  static std::list<std::shared_ptr<const PreparedTable>> recent;  // most recently used first
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = recent.begin(); it != recent.end(); ++it)
      if ((*it)->Holds(lut)) {
        recent.splice(recent.begin(), recent, it);
        return recent.front();
      }
  }
  auto table = std::make_shared<const PreparedTable>(lut);  // outside the lock: a full pass over the table
  std::lock_guard<std::mutex> lock(mu);
  recent.push_front(table);
  if (recent.size() > kPreparedTables) recent.pop_back();
  return table;
}

}  // namespace tfaxdnn

#endif  // TFAXDNN_PREPARED_TABLE_H_
