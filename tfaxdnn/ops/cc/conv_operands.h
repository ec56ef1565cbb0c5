// The operands every convolution kernel reads the same way (TfaxApproxConv2D, TfaxApproxDepthwiseConv2D and the
// benchmark's TfaxNaiveConv2D): validated input and filter, table, zero points, geometry, allocated output.
#ifndef TFAXDNN_CONV_OPERANDS_H_
#define TFAXDNN_CONV_OPERANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "conv_geometry.h"
#include "kernel_utils.h"

namespace tfaxdnn {

struct ConvOperands {
  const tensorflow::Tensor* input = nullptr;   // NHWC codes
  const tensorflow::Tensor* filter = nullptr;  // HWIO or [h, w, in_c, mult] codes
  const tensorflow::Tensor* table = nullptr;   // [256, 256] int32
  ConvGeometry geo;
  int64_t out_channels = 0;  // O (HWIO filter) or in_c * mult (depthwise [h, w, in_c, mult] filter)
  int32_t za = 0;
  std::vector<int32_t> zw;   // one filter zero point per output channel
  tensorflow::Tensor* output = nullptr;
};

// Reads inputs 0-4 (input, filter, table, input_zero_point, filter_zero_point) of ``ctx`` and allocates the
// [N, OH, OW, out_channels] int32 output; errors name ``op`` and the offending shape.
template <typename T>
absl::Status ReadConvOperands(tensorflow::OpKernelContext* ctx, const std::string& op, const ConvAttrs& attrs,
                              bool depthwise, ConvOperands* r) {
  const tensorflow::Tensor& input = ctx->input(0);
  const tensorflow::Tensor& filter = ctx->input(1);
  r->input = &input, r->filter = &filter, r->table = &ctx->input(2);
  if (input.dims() != 4)
    return absl::InvalidArgumentError(absl::StrCat(op, ": input must be 4-D NHWC, got shape ", ShapeStr(input)));
  if (filter.dims() != 4)
    return absl::InvalidArgumentError(absl::StrCat(op, ": filter must be 4-D ", depthwise ? "[h, w, in_c, mult]" : "HWIO",
                                                   ", got shape ", ShapeStr(filter)));
  if (filter.dim_size(2) != input.dim_size(3))
    return absl::InvalidArgumentError(absl::StrCat(op, ": filter in_channels (", filter.dim_size(2),
                                                   ") must equal input channels (", input.dim_size(3), ")"));
  TF_RETURN_IF_ERROR(CheckTable(op, ctx->input(2)));
  r->out_channels = depthwise ? input.dim_size(3) * filter.dim_size(3) : filter.dim_size(3);
  TF_RETURN_IF_ERROR(ReadScalarZeroPoint<T>(op, "input_zero_point", ctx->input(3), &r->za));
  TF_RETURN_IF_ERROR(ReadChannelZeroPoints<T>(op, "filter_zero_point", ctx->input(4), r->out_channels, &r->zw));
  TF_RETURN_IF_ERROR(r->geo.Init(op, attrs, input, filter));
  return ctx->allocate_output(
      0, tensorflow::TensorShape({r->geo.N, r->geo.OH, r->geo.OW, r->out_channels}), &r->output);
}

// The frame every convolution kernel shares: attributes parsed at construction; per call the operands read (errors
// naming the op), allocations guarded, then the kernel's Run.
template <typename T>
class ConvOpKernel : public tensorflow::OpKernel {
 public:
  ConvOpKernel(tensorflow::OpKernelConstruction* c, const char* op, bool depthwise)
      : tensorflow::OpKernel(c), op_(op), depthwise_(depthwise) {
    OP_REQUIRES_OK(c, attrs_.Parse(c, op));
  }

  void Compute(tensorflow::OpKernelContext* ctx) override {
    GuardAllocations(ctx, op_, [&] {
      ConvOperands ops;
      OP_REQUIRES_OK(ctx, ReadConvOperands<T>(ctx, op_, attrs_, depthwise_, &ops));
      Run(ctx, ops);
    });
  }

 protected:
  virtual void Run(tensorflow::OpKernelContext* ctx, const ConvOperands& ops) = 0;
  const char* const op_;

 private:
  const bool depthwise_;
  ConvAttrs attrs_;
};

}  // namespace tfaxdnn

#endif  // TFAXDNN_CONV_OPERANDS_H_
