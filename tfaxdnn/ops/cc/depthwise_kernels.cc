// TfaxApproxDepthwiseConv2D kernel: per-channel tables of corrected products (depthwise_lut.h) when
// the sums provably fit int32, the window has at most kDwMaxTaps taps and a unit's code planes fit the scratch limit;
// otherwise one LUT GEMM group per input channel (K = kh*kw taps, O = multiplier).
#include "conv_operands.h"
#include "depthwise_lut.h"

namespace tfaxdnn {
using namespace tensorflow;  // NOLINT

template <typename T>
class ApproxDepthwiseConv2DOp : public ConvOpKernel<T> {
 public:
  explicit ApproxDepthwiseConv2DOp(OpKernelConstruction* c) : ConvOpKernel<T>(c, kOp, /*depthwise=*/true) {}

 private:
  void Run(OpKernelContext* ctx, const ConvOperands& ops) override {
    const Tensor& input = *ops.input;
    const Tensor& filter = *ops.filter;
    const Tensor& table = *ops.table;
    const ConvGeometry& geo = ops.geo;
    const int64_t C = input.dim_size(3), M = filter.dim_size(3);
    const int32_t za = ops.za;
    const std::vector<int32_t>& zw = ops.zw;
    Tensor* output = ops.output;

    const int64_t K = geo.KH * geo.KW;
    const T* w = filter.flat<T>().data();  // [kh][kw][C][M]
    const T* x = input.flat<T>().data();
    const auto prepared = Prepare(table.flat<int32_t>().data());
    const TableRange& range = prepared->range();
    // every corrected table entry (|lut| + 3 * 255^2) and the sum of K of them fit int32
    if (K <= kDwMaxTaps && K * (range.MaxAbs() + 3 * 255 * 255) <= std::numeric_limits<int32_t>::max()) {
      const DwShape s{geo.N, geo.H, geo.W, C, M, geo.KH, geo.KW, geo.OH, geo.OW, geo.a.stride_h, geo.a.stride_w,
                      geo.a.dil_h, geo.a.dil_w, geo.pad_top, geo.pad_left};
      const DwWeights<T> weights{w, prepared->Columns32(), za, zw.data()};
      auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
      DwUnits units;
      if (PlanUnits(s, std::max(1, pool->NumThreads()), ScratchLimit(), &units)) {
        OP_REQUIRES_OK(ctx, RunFast(ctx, s, x, weights, units, output->flat<int32_t>().data()));
        return;
      }
      // one output row of one channel block needs more code-plane scratch than the limit (huge dilations, very wide
      // rows of few channels): the LUT GEMM groups gather each position's taps instead, in bounded blocks
    }
    std::vector<uint8_t> widx;
    std::vector<int64_t> wsum;
    PackWeights<T>(C, K, M, [&](int64_t c, int64_t k, int64_t m) { return w[(k * C + c) * M + m]; }, &widx, &wsum);

    LutProblem pr;
    pr.groups = C, pr.P = geo.Positions(), pr.K = K, pr.O = M, pr.ldo = C * M;
    pr.widx = widx.data(), pr.lut = table.flat<int32_t>().data(), pr.index_offset = IndexOffset<T>();
    pr.za = za, pr.zw = zw.data(), pr.wsum = wsum.data();
    const uint8_t pad = TableIndex(static_cast<T>(za));
    auto gather = [&](int64_t c, int64_t p0, int64_t n, uint8_t* xt) { geo.Gather(x, p0, n, c, 1, pad, xt); };
    OP_REQUIRES_OK(ctx, RunLutProblem(ctx, kOp, pr, gather, output->flat<int32_t>().data()));
  }

  // Units: chunks of output rows (about kDwUnitPositions positions each, so that building a block's tables -- 256
  // entries per channel and tap -- costs a fraction of streaming the positions through them: 2048 measured 0-10 %
  // faster than 1024 single-threaded on the MobileNet-V2 shapes, the builds' share halving) x groups of channel
  // blocks: all the blocks in one group unless that leaves fewer than 4 units per thread (small batches). A unit
  // copies its input codes once for its blocks (DwRows). The previous units of one block each re-read the chunk's
  // input once per block; block-major order re-read the whole input per block from L3/DRAM (1.5x slower at stride 2).
  //
  // A unit's code planes (DwUnitScratchBytes) stay within the scratch limit: fewer channel blocks per unit first (the
  // tables are built as often in all), then fewer rows. Returns false when one row of one block exceeds it.
  struct DwUnits {
    int64_t rows_per = 1, chunks = 0, per_group = 1, groups = 0;
  };

  static bool PlanUnits(const DwShape& s, int64_t threads, int64_t limit, DwUnits* u) {
    constexpr int64_t kDwUnitPositions = 2048;
    const int64_t rows = s.N * s.OH, blocks = s.Blocks();
    if (rows == 0 || s.OW == 0 || blocks == 0) return true;  // no units
    if (DwUnitScratchBytes(s, 1, 1) > limit) return false;
    const int64_t min_units = 4 * threads;
    int64_t rows_per = std::max<int64_t>(1, kDwUnitPositions / s.OW);
    int64_t chunks = (rows + rows_per - 1) / rows_per;
    const int64_t want_groups = std::min(blocks, (min_units + chunks - 1) / chunks);
    int64_t per_group = blocks / want_groups, groups = (blocks + per_group - 1) / per_group;
    while (rows_per > 1 && chunks * groups < min_units) {
      rows_per = (rows_per + 1) / 2;
      chunks = (rows + rows_per - 1) / rows_per;
    }
    if (DwUnitScratchBytes(s, rows_per, per_group) > limit) {
      while (rows_per > 1 && DwUnitScratchBytes(s, rows_per, 1) > limit) rows_per = (rows_per + 1) / 2;
      per_group = std::min(per_group, std::max<int64_t>(1, limit / DwUnitScratchBytes(s, rows_per, 1)));
      groups = (blocks + per_group - 1) / per_group;
      chunks = (rows + rows_per - 1) / rows_per;
    }
    u->rows_per = rows_per, u->chunks = chunks, u->per_group = per_group, u->groups = groups;
    return true;
  }

  static absl::Status RunFast(OpKernelContext* ctx, const DwShape& s, const T* x, const DwWeights<T>& weights,
                              const DwUnits& units, int32_t* out) {
    const int64_t rows = s.N * s.OH, blocks = s.Blocks();
    const int64_t rows_per = units.rows_per, per_group = units.per_group, groups = units.groups;
    if (units.chunks * groups == 0) return absl::OkStatus();
    auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
    FirstError error;
    auto fail = [&](absl::Status st) { error.Set(std::move(st)); };
    auto work = [&](int64_t begin, int64_t end) {
      thread_local DwScratch scratch;
      try {
        for (int64_t u = begin; u < end && !error.failed(); ++u) {
          // u = (row chunk, group of channel blocks)
          const int64_t b0 = (u % groups) * per_group, r0 = (u / groups) * rows_per;
          DwRows<T>(s, x, &weights, &scratch, b0, std::min(blocks, b0 + per_group), r0, std::min(rows, r0 + rows_per),
                    out);
        }
      } catch (const std::bad_alloc&) {  // never let an exception escape into the thread pool (it aborts)
        fail(absl::ResourceExhaustedError(absl::StrCat(kOp, ": out of memory for the channel tables and ",
                                                       DwUnitScratchBytes(s, rows_per, per_group),
                                                       " bytes of code planes")));
      } catch (const std::exception& e) {
        fail(ExceptionStatus(kOp, e));
      }
    };
    const int64_t cost = rows_per * s.OW * per_group * kDwLanes * s.Taps() * 4;
    pool->ParallelFor(units.chunks * groups, cost, work);
    return error.status();
  }

  static constexpr const char* kOp = "TfaxApproxDepthwiseConv2D";
};

TFAX_REGISTER_CODE_KERNELS("TfaxApproxDepthwiseConv2D", ApproxDepthwiseConv2DOp);

}  // namespace tfaxdnn
