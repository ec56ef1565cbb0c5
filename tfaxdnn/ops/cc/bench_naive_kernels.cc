// TfaxNaiveConv2D: the deliberately naive LUT convolution, the benchmark's baseline. Built into a separate library
// (bench_*.cc: `tfaxdnn.ops.loader.load_bench()`), never into the production op library.
// One thread, one scalar table lookup per product in a direct 7-deep loop -- the scheme of TFApprox's CPU
// path. It computes the same exact result as TfaxApproxConv2D so the benchmark can cross-check it.
#include "conv_operands.h"
#include "op_shapes.h"
#include "tensorflow/core/framework/op.h"

REGISTER_OP("TfaxNaiveConv2D")
    TFAX_CONV_OP_INTERFACE
    .SetShapeFn(tfaxdnn::ConvShape)
    .Doc("Benchmark baseline: TfaxApproxConv2D computed by a single-threaded scalar per-product lookup loop.");

namespace tfaxdnn {
using namespace tensorflow;  // NOLINT

template <typename T>
class NaiveConv2DOp : public ConvOpKernel<T> {
 public:
  explicit NaiveConv2DOp(OpKernelConstruction* c) : ConvOpKernel<T>(c, kOp, /*depthwise=*/false) {}

 private:
  void Run(OpKernelContext*, const ConvOperands& ops) override {
    const ConvGeometry& g = ops.geo;
    const int64_t O = ops.out_channels;
    const int32_t za = ops.za;
    const std::vector<int32_t>& zw = ops.zw;
    const T* x = ops.input->flat<T>().data();
    const T* w = ops.filter->flat<T>().data();
    const int32_t* lut = ops.table->flat<int32_t>().data();
    int32_t* out = ops.output->flat<int32_t>().data();
    const int off = IndexOffset<T>();
    const int64_t K = g.KH * g.KW * g.C;
    for (int64_t b = 0; b < g.N; ++b)
      for (int64_t oy = 0; oy < g.OH; ++oy)
        for (int64_t ox = 0; ox < g.OW; ++ox)
          for (int64_t o = 0; o < O; ++o) {
            int64_t acc = 0, asum = 0, wsum = 0;
            for (int64_t ky = 0; ky < g.KH; ++ky)
              for (int64_t kx = 0; kx < g.KW; ++kx)
                for (int64_t c = 0; c < g.C; ++c) {
                  const int64_t iy = oy * g.a.stride_h - g.pad_top + ky * g.a.dil_h;
                  const int64_t ix = ox * g.a.stride_w - g.pad_left + kx * g.a.dil_w;
                  const bool inside = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W;
                  const int a = inside ? x[((b * g.H + iy) * g.W + ix) * g.C + c] : za;
                  const int wc = w[((ky * g.KW + kx) * g.C + c) * O + o];
                  acc += lut[(a + off) * kTableSize + wc + off];
                  asum += a;
                  wsum += wc;
                }
            out[((b * g.OH + oy) * g.OW + ox) * O + o] =
                static_cast<int32_t>(acc - zw[o] * asum - za * wsum + K * za * int64_t(zw[o]));
          }
  }

  static constexpr const char* kOp = "TfaxNaiveConv2D";
};

TFAX_REGISTER_CODE_KERNELS("TfaxNaiveConv2D", NaiveConv2DOp);

}  // namespace tfaxdnn
