// TfaxApproxConv2D kernel: validate, pack weights, im2col-gather codes, run the LUT GEMM.
#include "conv_geometry.h"
#include "kernel_utils.h"

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
    const Tensor& input = ctx->input(0);
    const Tensor& filter = ctx->input(1);
    const Tensor& table = ctx->input(2);
    OP_REQUIRES(ctx, input.dims() == 4,
                absl::InvalidArgumentError(absl::StrCat(kOp, ": input must be 4-D NHWC, got shape ", ShapeStr(input))));
    OP_REQUIRES(ctx, filter.dims() == 4,
                absl::InvalidArgumentError(absl::StrCat(kOp, ": filter must be 4-D HWIO, got shape ", ShapeStr(filter))));
    OP_REQUIRES(ctx, filter.dim_size(2) == input.dim_size(3),
                absl::InvalidArgumentError(absl::StrCat(kOp, ": filter in_channels (", filter.dim_size(2),
                                                        ") must equal input channels (", input.dim_size(3), ")")));
    OP_REQUIRES_OK(ctx, CheckTable(kOp, table));
    const int64_t O = filter.dim_size(3);
    int32_t za;
    std::vector<int32_t> zw;
    OP_REQUIRES_OK(ctx, ReadScalarZeroPoint<T>(kOp, "input_zero_point", ctx->input(3), &za));
    OP_REQUIRES_OK(ctx, ReadChannelZeroPoints<T>(kOp, "filter_zero_point", ctx->input(4), O, &zw));

    ConvGeometry geo;
    OP_REQUIRES_OK(ctx, geo.Init(kOp, attrs_, input, filter));
    Tensor* output = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({geo.N, geo.OH, geo.OW, O}), &output));

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

REGISTER_KERNEL_BUILDER(Name("TfaxApproxConv2D").Device(DEVICE_CPU).TypeConstraint<int8_t>("T"),
                        ApproxConv2DOp<int8_t>);
REGISTER_KERNEL_BUILDER(Name("TfaxApproxConv2D").Device(DEVICE_CPU).TypeConstraint<uint8_t>("T"),
                        ApproxConv2DOp<uint8_t>);

}  // namespace tfaxdnn
