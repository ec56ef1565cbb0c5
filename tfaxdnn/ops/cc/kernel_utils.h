// Shared pieces of the LUT kernels: input validation, weight packing, and the threaded blocked driver
// (gather activation codes -> LutGemm -> exact zero-point epilogue -> int32 output).
#ifndef TFAXDNN_KERNEL_UTILS_H_
#define TFAXDNN_KERNEL_UTILS_H_

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lut_gemm.h"
#include "prepared_table.h"
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

// gather(group, p0, pb, xt) must fill xt[i * K + k] with the table index of tap k at position p0 + i.
using GatherFn = std::function<void(int64_t, int64_t, int64_t, uint8_t*)>;

// Tap tables (strategy 3) pay off once a table build (~ streaming a few hundred rows through it) serves this
// many rows; a work unit streams up to kTapUnitRows.
constexpr int64_t kTapMinRows = 64;
constexpr int64_t kTapUnitRows = 4096;

// Per-thread scratch that grows with a work unit's positions (their codes, code sums, accumulators) is bounded:
// position blocks shrink to fit the limit, and a problem whose single position needs more is refused with
// ResourceExhausted rather than attempted (a huge im2col row from a small input used to abort the process).
// TFAXDNN_SCRATCH_LIMIT_BYTES overrides the limit (read per call).
constexpr int64_t kDefaultScratchLimit = int64_t(64) << 20;

inline int64_t ScratchLimit() {
  const char* v = std::getenv("TFAXDNN_SCRATCH_LIMIT_BYTES");
  const long long n = v ? std::strtoll(v, nullptr, 10) : 0;
  return n > 0 ? n : kDefaultScratchLimit;
}

// How the refusals name the limit and the way to raise it.
inline std::string ScratchLimitText(int64_t limit) {
  return absl::StrCat("the limit of ", limit,
                      " bytes per thread (raise it with the environment variable TFAXDNN_SCRATCH_LIMIT_BYTES)");
}

// The first error of a parallel kernel's workers (the others are dropped): workers stop early once one is set, and
// the kernel returns `status()` after the pool's ParallelFor.
class FirstError {
 public:
  void Set(absl::Status st) {
    if (failed_.exchange(true)) return;
    std::lock_guard<std::mutex> lock(mu_);
    status_ = std::move(st);
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  absl::Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  absl::Status status_;
};

// The status of an exception other than std::bad_alloc caught in a kernel: std::length_error (a buffer size beyond
// what a vector can hold) is an allocation that cannot succeed; anything else is an internal error.
inline absl::Status ExceptionStatus(const std::string& op, const std::exception& e) {
  if (dynamic_cast<const std::length_error*>(&e))
    return absl::ResourceExhaustedError(absl::StrCat(op, ": a scratch buffer is too large to allocate (", e.what(), ")"));
  return absl::InternalError(absl::StrCat(op, ": ", e.what()));
}

// How a problem is computed, decided once per call; the workers only read it.
struct LutPlan {
  enum class Strategy {
    kTap,            // 16-bit tap tables over blocks of outputs, streaming the positions
    kTapTransposed,  // the same on the transposed problem: tables over blocks of positions, streaming the outputs
    kRows16,         // word-permute row lookups (few positions, wide outputs; AVX-512BW builds)
    kAnyTable,       // gather / int32 tap tables: tables whose range exceeds 16 bits, or tiny problems
  };
  Strategy strategy = Strategy::kAnyTable;
  bool int32_sums = false;          // every partial and corrected sum provably fits int32
  int width = kTapBlock;            // tap strategies: block width (outputs, or positions when transposed)
  int32_t lo = 0;                   // tap strategies: the table's smallest entry
  std::shared_ptr<const PreparedTable> prepared;  // owns the table copies below
  const uint16_t* table16 = nullptr;  // kTap: lut - lo column-major ([w][a]); kTapTransposed: row-major ([a][w])
  std::vector<uint8_t> wt;          // kTapTransposed: weight indices [G][O][K]
  int64_t bias16 = 0;               // kRows16: lut16 = lut - bias16 (beyond int32 for tables near its top)
  const int16_t* lut16 = nullptr;   // kRows16: the table as int16
  int64_t pb = 1, out_width = 0;    // a work unit: pb positions x out_width outputs
};

// Tap-table block width for n columns: 8, 16 or 32 (kTapBlock).
inline int TapBlockWidth(int64_t n) { return n <= 8 ? 8 : n <= 16 ? 16 : kTapBlock; }

inline LutPlan MakePlanUnbounded(const LutProblem& pr, std::shared_ptr<const PreparedTable> prepared,
                                 int64_t threads) {
  LutPlan plan;
  const TableRange& range = prepared->range();
  plan.prepared = prepared;
  using Strategy = LutPlan::Strategy;
  // |sum of products| <= K max|lut|; each zero-point term is at most K * 255 * 255 in magnitude.
  plan.int32_sums = pr.K * (range.MaxAbs() + 3 * 255 * 255) <= std::numeric_limits<int32_t>::max();
  const bool split_sums = pr.K < 65536 && range.FitsInt16();  // uint32 sums of uint16 entries
  if (split_sums && pr.P >= kTapMinRows && pr.O >= 4 && pr.P >= pr.O) {
    plan.strategy = Strategy::kTap;
  } else if (split_sums && pr.O >= kTapMinRows && pr.P >= 8) {
    plan.strategy = Strategy::kTapTransposed;
  } else if (split_sums && kHaveRowPermutes && pr.O >= 32) {
    plan.strategy = Strategy::kRows16;
  }
  plan.out_width = pr.O;
  switch (plan.strategy) {
    case Strategy::kTap: {
      plan.width = TapBlockWidth(pr.O);
      plan.out_width = plan.width;
      plan.lo = range.lo;
      plan.table16 = prepared->Columns16();
      // thousands of rows per table build, yet work for every thread
      const int64_t out_blocks = pr.groups * ((pr.O + plan.width - 1) / plan.width);
      const int64_t split = std::max((pr.P + kTapUnitRows - 1) / kTapUnitRows, (threads + out_blocks - 1) / out_blocks);
      plan.pb = (pr.P + split - 1) / split;
      return plan;
    }
    case Strategy::kTapTransposed:
      plan.width = TapBlockWidth(pr.P);
      plan.pb = plan.width;
      plan.lo = range.lo;
      plan.table16 = prepared->Rows16();
      plan.wt.resize(pr.groups * pr.O * pr.K);
      for (int64_t g = 0; g < pr.groups; ++g)
        TransposeBytes(pr.widx + g * pr.K * pr.O, pr.K, pr.O, plan.wt.data() + g * pr.O * pr.K);
      return plan;
    case Strategy::kRows16:
      plan.bias16 = range.Int16Bias();
      plan.lut16 = prepared->Biased16();
      break;
    case Strategy::kAnyTable:
      break;
  }
  plan.pb = std::max<int64_t>(std::min<int64_t>((pr.P + threads - 1) / threads, kPosBlock), 1);
  return plan;
}

// Upper bound of a unit's scratch bytes per position for a unit `out_width` outputs wide: codes (and their transposed
// or chunked copy), the code sum, accumulators and parked sums of up to 8 bytes per output.
inline int64_t ScratchPerPosition(const LutProblem& pr, int64_t out_width) {
  return 2 * pr.K + 8 + 8 * std::max<int64_t>(out_width, kOutBlock) + 4 * kTapBlock;
}

inline LutPlan MakePlan(const LutProblem& pr, std::shared_ptr<const PreparedTable> prepared, int64_t threads,
                        int64_t scratch_limit) {
  LutPlan plan = MakePlanUnbounded(pr, std::move(prepared), threads);
  plan.pb = std::min(plan.pb, std::max<int64_t>(1, scratch_limit / ScratchPerPosition(pr, plan.out_width)));
  return plan;
}

// Per-worker buffers of one accumulator type, kept per thread across calls (no allocation or page faults per
// unit) unless they grew beyond kKeepBytes (a large layer's im2col codes), which are freed after the call.
constexpr size_t kKeepBytes = size_t(4) << 20;

template <typename Acc>
struct UnitBuffers {
  LutScratch s;
  std::vector<Acc> acc, asum, shift;
  std::vector<uint8_t> xw;  // kTapTransposed: the unit's activation indices, tap-major [K][pb]

  size_t Bytes() const {
    return s.xt.capacity() + s.tap.capacity() * 4 + s.block.capacity() * 8 + s.block32.capacity() * 4 +
           s.tables.capacity() * 2 + s.xc.capacity() + s.raw.capacity() * 2 + s.park.capacity() * 4 +
           (acc.capacity() + asum.capacity() + shift.capacity()) * sizeof(Acc) + xw.capacity();
  }
};

// LutGemmTapBlock for a block width known at run time.
template <typename Acc>
void TapBlock(int width, const uint8_t* xt, int64_t P, int64_t K, const uint8_t* w, int64_t ldw, int ow,
              const uint16_t* table16, int32_t lo, Acc* acc, LutScratch* s) {
  switch (width) {
    case 8:
      return LutGemmTapBlock<8, Acc>(xt, P, K, w, ldw, ow, table16, lo, acc, s);
    case 16:
      return LutGemmTapBlock<16, Acc>(xt, P, K, w, ldw, ow, table16, lo, acc, s);
    default:
      return LutGemmTapBlock<kTapBlock, Acc>(xt, P, K, w, ldw, ow, table16, lo, acc, s);
  }
}

// One work unit: positions [p0, p0 + n) x outputs [o0, o0 + ow) of group g. The activation codes (and their sums)
// are gathered only when `gathered` is false: successive output blocks of the same positions reuse them.
// Returns the range of the results (checked against int32 by the caller when int32_sums does not hold).
template <typename Acc>
void RunUnit(const LutProblem& pr, const LutPlan& plan, const GatherFn& gather, int64_t g, int64_t p0, int64_t n,
             int64_t o0, int64_t ow, bool any_zw, bool gathered, UnitBuffers<Acc>* ub, int32_t* out, int64_t* lo,
             int64_t* hi) {
  using Strategy = LutPlan::Strategy;
  LutScratch& s = ub->s;
  const uint8_t* w = pr.widx + g * pr.K * pr.O + o0;
  if (!gathered) {
    s.xt.resize(pr.K * n);
    gather(g, p0, n, s.xt.data());
    ub->asum.assign(n, Acc(0));
    if (any_zw) ActivationCodeSums<Acc>(s.xt.data(), n, pr.K, pr.index_offset, ub->asum.data());
  }
  ub->acc.resize(n * ow);
  Acc* acc = ub->acc.data();
  int64_t acc_p = ow, acc_o = 1;  // strides of acc[position][output]
  switch (plan.strategy) {
    case Strategy::kTap:
      TapBlock<Acc>(plan.width, s.xt.data(), n, pr.K, w, pr.O, ow, plan.table16, plan.lo, acc, &s);
      break;
    case Strategy::kTapTransposed: {  // rows = outputs (weight indices), table columns = this unit's positions
      ub->xw.resize(pr.K * n);
      TransposeBytes(s.xt.data(), n, pr.K, ub->xw.data());
      const uint8_t* wt = plan.wt.data() + g * pr.O * pr.K;
      TapBlock<Acc>(plan.width, wt, ow, pr.K, ub->xw.data(), n, n, plan.table16, plan.lo, acc, &s);
      acc_p = 1, acc_o = n;
      break;
    }
    case Strategy::kRows16:
      LutGemmRows16<Acc>(s.xt.data(), n, pr.K, w, pr.O, plan.lut16, plan.bias16, acc, &s);
      break;
    case Strategy::kAnyTable:
      LutGemm<Acc>(s.xt.data(), n, pr.K, w, pr.O, pr.lut, acc, &s);
      break;
  }
  // Exact zero-point epilogue: sum_k (x - za)(w - zw) = acc - zw * sum_k x + shift, shift = K za zw - za sum_k w
  // (acc and the sums over the table's operand codes; ActivationCodeSums and wsum hold the codes' sums).
  const int32_t* zw = pr.zw + g * pr.O + o0;
  const int64_t* ws = pr.wsum + g * pr.O + o0;
  ub->shift.resize(ow);
  for (int64_t o = 0; o < ow; ++o) ub->shift[o] = static_cast<Acc>(pr.K * int64_t(pr.za) * zw[o] - int64_t(pr.za) * ws[o]);
  const Acc* shift = ub->shift.data();
  for (int64_t i = 0; i < n; ++i) {
    int32_t* dst = out + (p0 + i) * pr.ldo + g * pr.O + o0;
    const Acc* a = acc + i * acc_p;
    const Acc as = ub->asum[i];
    if constexpr (sizeof(Acc) == 4) {  // proven to fit
      if (acc_o == 1) {  // vectorises
        for (int64_t o = 0; o < ow; ++o) dst[o] = a[o] + shift[o] - zw[o] * as;
      } else {
        for (int64_t o = 0; o < ow; ++o) dst[o] = a[o * acc_o] + shift[o] - zw[o] * as;
      }
    } else {
      for (int64_t o = 0; o < ow; ++o) {
        const int64_t v = a[o * acc_o] + shift[o] - int64_t(zw[o]) * as;
        *lo = std::min(*lo, v), *hi = std::max(*hi, v);
        dst[o] = static_cast<int32_t>(v);
      }
    }
  }
}

template <typename Acc>
absl::Status RunUnits(OpKernelContext* ctx, const std::string& op, const LutProblem& pr, const LutPlan& plan,
                      const GatherFn& gather, int32_t* out) {
  bool any_zw = false;
  for (int64_t i = 0; i < pr.groups * pr.O; ++i) any_zw |= pr.zw[i] != 0;
  const int64_t pos_blocks = (pr.P + plan.pb - 1) / plan.pb;
  const int64_t out_blocks = (pr.O + plan.out_width - 1) / plan.out_width;
  FirstError error;
  auto fail = [&](absl::Status s) { error.Set(std::move(s)); };
  auto work = [&](int64_t begin, int64_t end) {
    thread_local UnitBuffers<Acc> ub;
    int64_t gathered = -1;  // the (group, position block) whose codes ub holds in this call
    try {
      for (int64_t u = begin; u < end && !error.failed(); ++u) {
        // u = (g, position block, output block), output block fastest
        const int64_t gp = u / out_blocks, b = u % out_blocks, g = gp / pos_blocks;
        const int64_t p0 = (gp % pos_blocks) * plan.pb, n = std::min(plan.pb, pr.P - p0);
        const int64_t o0 = b * plan.out_width, ow = std::min(plan.out_width, pr.O - o0);
        // the unit's range (int64 sums only: int32 ones are proven to fit); empty until a result is seen
        int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
        RunUnit<Acc>(pr, plan, gather, g, p0, n, o0, ow, any_zw, gp == gathered, &ub, out, &lo, &hi);
        gathered = gp;
        if (lo < std::numeric_limits<int32_t>::min() || hi > std::numeric_limits<int32_t>::max())
          fail(absl::InvalidArgumentError(absl::StrCat(op, ": an accumulator (range [", lo, ", ", hi,
                                                       "]) in positions ", p0, "..", p0 + n - 1,
                                                       " does not fit int32 (K=", pr.K, " products)")));
      }
    } catch (const std::bad_alloc&) {  // never let an exception escape into the thread pool (it aborts)
      const int64_t bytes = plan.pb * ScratchPerPosition(pr, plan.out_width);
      fail(absl::ResourceExhaustedError(absl::StrCat(op, ": out of memory for ", bytes, " bytes of scratch")));
    } catch (const std::exception& e) {  // e.g. std::length_error from a buffer size beyond what can be allocated
      fail(ExceptionStatus(op, e));
    }
    if (ub.Bytes() > kKeepBytes) ub = UnitBuffers<Acc>();
  };
  auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  const int64_t cost = std::max<int64_t>(1, plan.pb * pr.K * plan.out_width);
  pool->ParallelFor(pr.groups * out_blocks * pos_blocks, cost, work);
  return error.status();
}

// Runs the problem on TF's intra-op pool: units = groups x position blocks x output blocks.
inline absl::Status RunLutProblem(OpKernelContext* ctx, const std::string& op, const LutProblem& pr,
                                  const GatherFn& gather, int32_t* out) {
  if (pr.P == 0 || pr.O == 0) return absl::OkStatus();
  if (pr.K == 0) {  // no products: every sum and zero-point correction is 0
    std::fill(out, out + pr.P * pr.ldo, 0);
    return absl::OkStatus();
  }
  auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  const int64_t limit = ScratchLimit();
  const LutPlan plan = MakePlan(pr, Prepare(pr.lut), std::max(1, pool->NumThreads()), limit);
  const int64_t per_position = ScratchPerPosition(pr, plan.out_width);
  if (per_position > limit)
    return absl::ResourceExhaustedError(absl::StrCat(
        op, ": one output position needs ", per_position, " bytes of scratch (", pr.K, " products per output, ",
        plan.out_width, " outputs per block), more than ", ScratchLimitText(limit)));
  if (plan.int32_sums) return RunUnits<int32_t>(ctx, op, pr, plan, gather, out);
  return RunUnits<int64_t>(ctx, op, pr, plan, gather, out);
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

// The same for a row-major [K][O] weight matrix (conv HWIO, matmul): one vectorised pass (the generic loop took
// 0.44 ms for a 1024 x 256 Dense layer, 17 % of its time); column sums in int32 over blocks of rows (exact:
// 2^23 rows of |code| <= 255), then int64.
template <typename T>
void PackWeights(int64_t K, int64_t O, const T* w, std::vector<uint8_t>* widx, std::vector<int64_t>* wsum) {
  widx->resize(K * O);
  wsum->assign(O, 0);
  CopyIndices(w, K * O, widx->data());
  std::vector<int32_t> part(O);
  constexpr int64_t kRows = int64_t(1) << 23;
  for (int64_t k0 = 0; k0 < K; k0 += kRows) {
    std::fill(part.begin(), part.end(), 0);
    int32_t* __restrict s = part.data();
    for (int64_t k = k0; k < std::min(K, k0 + kRows); ++k) {
      const T* __restrict row = w + k * O;
      for (int64_t o = 0; o < O; ++o) s[o] += row[o];
    }
    for (int64_t o = 0; o < O; ++o) (*wsum)[o] += s[o];
  }
}

// Runs a kernel's body, turning a failed host allocation (std::bad_alloc) into ResourceExhausted, and any other
// std::exception into an error status (ExceptionStatus), instead of an uncaught exception that aborts the process.
template <typename Body>
void GuardAllocations(OpKernelContext* ctx, const char* op, Body body) {
  try {
    body();
  } catch (const std::bad_alloc&) {
    ctx->CtxFailure(__FILE__, __LINE__, absl::ResourceExhaustedError(absl::StrCat(op, ": out of host memory")));
  } catch (const std::exception& e) {  // std::length_error and the like: an error, never an uncaught exception
    ctx->CtxFailure(__FILE__, __LINE__, ExceptionStatus(op, e));
  }
}

}  // namespace tfaxdnn

// The int8 and uint8 CPU kernels of op ``name`` (class template ``Op<T>``); use inside namespace tfaxdnn.
#define TFAX_REGISTER_CODE_KERNELS(name, Op)                                                                    \
  REGISTER_KERNEL_BUILDER(Name(name).Device(::tensorflow::DEVICE_CPU).TypeConstraint<int8_t>("T"), Op<int8_t>); \
  REGISTER_KERNEL_BUILDER(Name(name).Device(::tensorflow::DEVICE_CPU).TypeConstraint<uint8_t>("T"), Op<uint8_t>)

#endif  // TFAXDNN_KERNEL_UTILS_H_
