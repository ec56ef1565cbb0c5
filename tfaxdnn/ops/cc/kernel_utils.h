// Shared pieces of the LUT kernels: input validation, weight packing, and the threaded blocked driver
// (gather activation codes -> LutGemm -> exact zero-point epilogue -> int32 output).
#ifndef TFAXDNN_KERNEL_UTILS_H_
#define TFAXDNN_KERNEL_UTILS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lut_gemm.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"

namespace tfaxdnn {

using tensorflow::OpKernelContext;
using tensorflow::Tensor;

template <typename T>
constexpr int CodeMin() { return std::numeric_limits<T>::min(); }
template <typename T>
constexpr int CodeMax() { return std::numeric_limits<T>::max(); }
template <typename T>
const char* CodeName() { return std::is_signed<T>::value ? "int8" : "uint8"; }

inline std::string ShapeStr(const Tensor& t) { return t.shape().DebugString(); }

// The table input: int32 [256, 256].
inline absl::Status CheckTable(const std::string& op, const Tensor& table) {
  if (table.dims() != 2 || table.dim_size(0) != kTableSize || table.dim_size(1) != kTableSize)
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": table must have shape [256,256], got ", ShapeStr(table)));
  return absl::OkStatus();
}

// A scalar zero point in the operand's code range.
template <typename T>
absl::Status ReadScalarZeroPoint(const std::string& op, const std::string& name, const Tensor& t,
                                 int32_t* value) {
  if (t.dims() != 0)
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " must be a scalar, got shape ", ShapeStr(t)));
  *value = t.scalar<int32_t>()();
  if (*value < CodeMin<T>() || *value > CodeMax<T>())
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " must lie in [", CodeMin<T>(), ", ",
                                                   CodeMax<T>(), "] for ", CodeName<T>(), " codes, got ", *value));
  return absl::OkStatus();
}

// A scalar or per-output-channel zero point, broadcast to `channels` values.
template <typename T>
absl::Status ReadChannelZeroPoints(const std::string& op, const std::string& name, const Tensor& t,
                                   int64_t channels, std::vector<int32_t>* values) {
  if (t.dims() == 0) {
    values->assign(channels, t.scalar<int32_t>()());
  } else if (t.dims() == 1 && t.dim_size(0) == channels) {
    auto v = t.vec<int32_t>();
    values->assign(v.data(), v.data() + channels);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " must be a scalar or a vector of ", channels,
                                                   " output-channel values, got shape ", ShapeStr(t)));
  }
  for (int64_t o = 0; o < channels; ++o) {
    const int32_t z = (*values)[o];
    if (z < CodeMin<T>() || z > CodeMax<T>())
      return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, "[", o, "] must lie in [", CodeMin<T>(),
                                                     ", ", CodeMax<T>(), "] for ", CodeName<T>(), " codes, got ", z));
  }
  return absl::OkStatus();
}

// The problem handed to the driver: G independent groups (depthwise channels; 1 otherwise), each
// [P positions] x [K taps] x [O outputs]. Output element (p, g, o) lives at out[p * ldo + g * O + o].
struct LutProblem {
  int64_t groups = 1, P = 0, K = 0, O = 0, ldo = 0;
  const uint8_t* widx = nullptr;  // [G][K][O] weight column indices
  const int32_t* lut = nullptr;
  int index_offset = 0;           // 128 for int8, 0 for uint8
  int32_t za = 0;                 // activation zero point
  const int32_t* zw = nullptr;    // [G*O] weight zero points
  const int64_t* wsum = nullptr;  // [G*O] sum over taps of weight codes
};

// Strategy 3 thresholds: positions that amortise the tap-table builds, and positions per work unit.
constexpr int64_t kTapMinPositions = 1024;
constexpr int64_t kTapUnitPositions = 4096;

// gather(group, p0, pb, xt) must fill xt[i * K + k] with the table index of tap k at position p0 + i.
using GatherFn = std::function<void(int64_t, int64_t, int64_t, uint8_t*)>;

// The 16-bit strategies chosen for a problem and their shared, read-only data (built once per call).
struct Int16Plan {
  bool tap = false;               // 16-bit tap tables (many positions)
  bool rows16 = false;            // word-permute row lookups (few positions, wide outputs; AVX-512BW builds)
  int width = kTapBlock;          // outputs per tap-table block: 32, or 16 when O <= 16
  std::vector<uint16_t> columns;  // tap: the table minus its smallest entry, column-major
  int32_t bias16 = 0;             // rows16: lut16 = table - bias16
  std::vector<int16_t> lut16;     // rows16: the table as int16
};

inline void PrepareInt16(const LutProblem& pr, const TableRange& range, Int16Plan* plan) {
  if (pr.K >= 65536 || !range.FitsInt16()) return;  // 32-bit sums of 16-bit entries must fit
  plan->tap = pr.P >= kTapMinPositions && pr.O >= 8;
  plan->rows16 = !plan->tap && kHaveRowPermutes && pr.O >= 32;
  plan->width = pr.O <= 16 ? 16 : kTapBlock;
  if (plan->tap) {
    plan->columns.resize(kTableSize * kTableSize);
    ColumnTable16(pr.lut, range.lo, plan->columns.data());
  }
  if (plan->rows16) {
    plan->bias16 = range.Int16Bias();
    plan->lut16.resize(kTableSize * kTableSize);
    for (int i = 0; i < kTableSize * kTableSize; ++i) plan->lut16[i] = static_cast<int16_t>(pr.lut[i] - plan->bias16);
  }
}

// Runs the problem on TF's intra-op pool: units = groups x output blocks x position blocks (one output block,
// all outputs, except for the tap-table strategy).
inline absl::Status RunLutProblem(OpKernelContext* ctx, const std::string& op, const LutProblem& pr,
                                  const GatherFn& gather, int32_t* out) {
  if (pr.P == 0 || pr.O == 0) return absl::OkStatus();
  const TableRange range(pr.lut);
  const bool need_int64 = pr.K * range.MaxAbs() > std::numeric_limits<int32_t>::max();
  bool any_zw = false;
  for (int64_t i = 0; i < pr.groups * pr.O; ++i) any_zw |= pr.zw[i] != 0;

  auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  const int64_t threads = std::max(1, pool->NumThreads());
  Int16Plan i16;
  PrepareInt16(pr, range, &i16);
  const int64_t ob_width = i16.tap ? i16.width : pr.O;
  const int64_t out_blocks = (pr.O + ob_width - 1) / ob_width;
  int64_t pb;
  if (i16.tap) {  // thousands of positions per table build, yet work for every thread
    const int64_t split = std::max((pr.P + kTapUnitPositions - 1) / kTapUnitPositions,
                                   (threads + pr.groups * out_blocks - 1) / (pr.groups * out_blocks));
    pb = (pr.P + split - 1) / split;
  } else {
    pb = std::max<int64_t>(std::min<int64_t>((pr.P + threads - 1) / threads, kPosBlock), 1);
  }
  const int64_t pos_blocks = (pr.P + pb - 1) / pb;
  const int64_t units = pr.groups * out_blocks * pos_blocks;

  std::atomic<bool> overflow(false);
  std::mutex mu;
  std::string overflow_msg;
  auto work = [&](int64_t begin, int64_t end) {
    LutScratch s;
    std::vector<int64_t> asum, shift;
    for (int64_t u = begin; u < end; ++u) {
      const int64_t g = u / (out_blocks * pos_blocks), b = (u / pos_blocks) % out_blocks;
      const int64_t p0 = (u % pos_blocks) * pb, n = std::min(pb, pr.P - p0);
      const int64_t o0 = b * ob_width, ow = std::min(ob_width, pr.O - o0);
      const uint8_t* w = pr.widx + g * pr.K * pr.O + o0;
      s.xt.resize(pr.K * n);
      gather(g, p0, n, s.xt.data());
      s.acc.resize(n * ow);
      if (i16.tap) {
        if (i16.width == 16) {
          LutGemmTapBlock<16>(s.xt.data(), n, pr.K, w, pr.O, ow, i16.columns.data(), range.lo, s.acc.data(), &s);
        } else {
          LutGemmTapBlock<kTapBlock>(s.xt.data(), n, pr.K, w, pr.O, ow, i16.columns.data(), range.lo,
                                     s.acc.data(), &s);
        }
      } else if (i16.rows16) {
        LutGemmRows16(s.xt.data(), n, pr.K, w, pr.O, i16.lut16.data(), i16.bias16, s.acc.data(), &s);
      } else {
        LutGemm(s.xt.data(), n, pr.K, w, pr.O, pr.lut, need_int64, s.acc.data(), &s);
      }
      if (any_zw) {
        asum.resize(n);
        ActivationCodeSums(s.xt.data(), n, pr.K, pr.index_offset, asum.data());
      }
      const int32_t* zw = pr.zw + g * pr.O + o0;
      const int64_t* ws = pr.wsum + g * pr.O + o0;
      shift.resize(ow);  // per-output constant part of the zero-point correction
      for (int64_t o = 0; o < ow; ++o) shift[o] = pr.K * int64_t(pr.za) * zw[o] - int64_t(pr.za) * ws[o];
      int64_t lo = 0, hi = 0;
      for (int64_t i = 0; i < n; ++i) {
        int32_t* dst = out + (p0 + i) * pr.ldo + g * pr.O + o0;
        const int64_t* a = s.acc.data() + i * ow;
        const int64_t as = any_zw ? asum[i] : 0;
        for (int64_t o = 0; o < ow; ++o) {  // vectorises: no branch in the loop
          const int64_t v = a[o] + shift[o] - int64_t(zw[o]) * as;
          lo = std::min(lo, v), hi = std::max(hi, v);
          dst[o] = static_cast<int32_t>(v);
        }
      }
      if (lo < std::numeric_limits<int32_t>::min() || hi > std::numeric_limits<int32_t>::max()) {
        if (!overflow.exchange(true)) {
          std::lock_guard<std::mutex> lock(mu);
          overflow_msg = absl::StrCat(op, ": an accumulator (range [", lo, ", ", hi, "]) in positions ", p0, "..",
                                      p0 + n - 1, " does not fit int32 (K=", pr.K, " products)");
        }
      }
    }
  };
  const int64_t cost = std::max<int64_t>(1, pb * pr.K * ob_width);
  pool->ParallelFor(units, cost, work);
  if (overflow.load()) return absl::InvalidArgumentError(overflow_msg);
  return absl::OkStatus();
}

// Packs weight codes into table column indices [G][K][O] and per-output code sums [G*O].
// code(g, k, o) returns the weight code of group g, tap k, output o.
template <typename T, typename CodeFn>
void PackWeights(int64_t groups, int64_t K, int64_t O, CodeFn code, std::vector<uint8_t>* widx,
                 std::vector<int64_t>* wsum) {
  widx->resize(groups * K * O);
  wsum->assign(groups * O, 0);
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t o = 0; o < O; ++o) {
        const T c = code(g, k, o);
        (*widx)[(g * K + k) * O + o] = TableIndex(c);
        (*wsum)[g * O + o] += c;
      }
}

}  // namespace tfaxdnn

#endif  // TFAXDNN_KERNEL_UTILS_H_
