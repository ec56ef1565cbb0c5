// TfaxApproxMatMul kernel: a [N,K] activations x b [K,O] weights through the LUT GEMM.
#include "kernel_utils.h"

namespace tfaxdnn {
using namespace tensorflow;  // NOLINT

template <typename T>
class ApproxMatMulOp : public OpKernel {
 public:
  explicit ApproxMatMulOp(OpKernelConstruction* c) : OpKernel(c) {}

  void Compute(OpKernelContext* ctx) override { GuardAllocations(ctx, kOp, [&] { Run(ctx); }); }

 private:
  void Run(OpKernelContext* ctx) {
    const Tensor& a = ctx->input(0);
    const Tensor& b = ctx->input(1);
    const Tensor& table = ctx->input(2);
    OP_REQUIRES(ctx, a.dims() == 2,
                absl::InvalidArgumentError(absl::StrCat(kOp, ": a must be 2-D [N, K], got shape ", ShapeStr(a))));
    OP_REQUIRES(ctx, b.dims() == 2,
                absl::InvalidArgumentError(absl::StrCat(kOp, ": b must be 2-D [K, O], got shape ", ShapeStr(b))));
    OP_REQUIRES(ctx, a.dim_size(1) == b.dim_size(0),
                absl::InvalidArgumentError(absl::StrCat(kOp, ": inner dimensions differ: a is ", ShapeStr(a),
                                                        ", b is ", ShapeStr(b))));
    OP_REQUIRES_OK(ctx, CheckTable(kOp, table));
    const int64_t N = a.dim_size(0), K = a.dim_size(1), O = b.dim_size(1);
    int32_t za;
    std::vector<int32_t> zw;
    OP_REQUIRES_OK(ctx, ReadScalarZeroPoint<T>(kOp, "a_zero_point", ctx->input(3), &za));
    OP_REQUIRES_OK(ctx, ReadChannelZeroPoints<T>(kOp, "b_zero_point", ctx->input(4), O, &zw));
    Tensor* output = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({N, O}), &output));

    const T* w = b.flat<T>().data();
    std::vector<uint8_t> widx;
    std::vector<int64_t> wsum;
    PackWeights<T>(K, O, w, &widx, &wsum);

    LutProblem pr;
    pr.P = N, pr.K = K, pr.O = O, pr.ldo = O;
    pr.widx = widx.data(), pr.lut = table.flat<int32_t>().data(), pr.index_offset = IndexOffset<T>();
    pr.za = za, pr.zw = zw.data(), pr.wsum = wsum.data();
    const T* x = a.flat<T>().data();
    auto gather = [&](int64_t, int64_t p0, int64_t n, uint8_t* xt) {
      for (int64_t i = 0; i < n; ++i) {
        const T* row = x + (p0 + i) * K;
        for (int64_t k = 0; k < K; ++k) xt[i * K + k] = TableIndex(row[k]);
      }
    };
    OP_REQUIRES_OK(ctx, RunLutProblem(ctx, kOp, pr, gather, output->flat<int32_t>().data()));
  }

  static constexpr const char* kOp = "TfaxApproxMatMul";
};

TFAX_REGISTER_CODE_KERNELS("TfaxApproxMatMul", ApproxMatMulOp);

}  // namespace tfaxdnn
