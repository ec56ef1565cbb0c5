// TfaxApproxConv2D kernel: validate, pack weights, im2col-gather codes, run the LUT GEMM.
#include "conv_operands.h"

namespace tfaxdnn {
using namespace tensorflow;  // NOLINT

template <typename T>
class ApproxConv2DOp : public OpKernel {
 public:
  explicit ApproxConv2DOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, attrs_.Parse(c, kOp));
  }

  void Compute(OpKernelContext* ctx) override { GuardAllocations(ctx, kOp, [&] { Run(ctx); }); }

 private:
  void Run(OpKernelContext* ctx) {
    ConvOperands ops;
    OP_REQUIRES_OK(ctx, ReadConvOperands<T>(ctx, kOp, attrs_, /*depthwise=*/false, &ops));
    const Tensor& input = ctx->input(0);
    const Tensor& filter = ctx->input(1);
    const Tensor& table = ctx->input(2);
    const ConvGeometry& geo = ops.geo;
    const int64_t O = ops.out_channels;
    const int32_t za = ops.za;
    const std::vector<int32_t>& zw = ops.zw;
    Tensor* output = ops.output;

    const int64_t K = geo.KH * geo.KW * geo.C;
    const T* w = filter.flat<T>().data();
    std::vector<uint8_t> widx;
    std::vector<int64_t> wsum;
    PackWeights<T>(K, O, w, &widx, &wsum);

    LutProblem pr;
    pr.P = geo.Positions(), pr.K = K, pr.O = O, pr.ldo = O;
    pr.widx = widx.data(), pr.lut = table.flat<int32_t>().data(), pr.index_offset = IndexOffset<T>();
    pr.za = za, pr.zw = zw.data(), pr.wsum = wsum.data();
    const T* x = input.flat<T>().data();
    const uint8_t pad = TableIndex(static_cast<T>(za));
    auto gather = [&](int64_t, int64_t p0, int64_t n, uint8_t* xt) { geo.Gather(x, p0, n, 0, geo.C, pad, xt); };
    OP_REQUIRES_OK(ctx, RunLutProblem(ctx, kOp, pr, gather, output->flat<int32_t>().data()));
  }

  static constexpr const char* kOp = "TfaxApproxConv2D";
  ConvAttrs attrs_;
};

TFAX_REGISTER_CODE_KERNELS("TfaxApproxConv2D", ApproxConv2DOp);

}  // namespace tfaxdnn
