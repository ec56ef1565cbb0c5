// TfaxApproxConv2D kernel: validate, pack weights, im2col-gather codes, run the LUT GEMM.
#include "conv_operands.h"

namespace tfaxdnn {
using namespace tensorflow;  // NOLINT

template <typename T>
class ApproxConv2DOp : public ConvOpKernel<T> {
 public:
  explicit ApproxConv2DOp(OpKernelConstruction* c) : ConvOpKernel<T>(c, kOp, /*depthwise=*/false) {}

 private:
  void Run(OpKernelContext* ctx, const ConvOperands& ops) override {
    const ConvGeometry& geo = ops.geo;
    const int64_t O = ops.out_channels;
    const int64_t K = geo.KH * geo.KW * geo.C;
    const T* w = ops.filter->flat<T>().data();
    std::vector<uint8_t> widx;
    std::vector<int64_t> wsum;
    PackWeights<T>(K, O, w, &widx, &wsum);

    LutProblem pr;
    pr.P = geo.Positions(), pr.K = K, pr.O = O, pr.ldo = O;
    pr.widx = widx.data(), pr.lut = ops.table->flat<int32_t>().data(), pr.index_offset = IndexOffset<T>();
    pr.za = ops.za, pr.zw = ops.zw.data(), pr.wsum = wsum.data();
    const T* x = ops.input->flat<T>().data();
    const uint8_t pad = TableIndex(static_cast<T>(ops.za));
    auto gather = [&](int64_t, int64_t p0, int64_t n, uint8_t* xt) { geo.Gather(x, p0, n, 0, geo.C, pad, xt); };
    OP_REQUIRES_OK(ctx, RunLutProblem(ctx, kOp, pr, gather, ops.output->flat<int32_t>().data()));
  }

  static constexpr const char* kOp = "TfaxApproxConv2D";
};

TFAX_REGISTER_CODE_KERNELS("TfaxApproxConv2D", ApproxConv2DOp);

}  // namespace tfaxdnn
