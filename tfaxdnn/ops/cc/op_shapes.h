// Interface and shape functions of the convolution ops (the library's and the benchmark library's): TF's own shape
// functions plus a refusal of filters without a window.
#ifndef TFAXDNN_OP_SHAPES_H_
#define TFAXDNN_OP_SHAPES_H_

#include "absl/strings/str_cat.h"
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tfaxdnn {

// A filter without a window (height or width 0) has no meaningful output size: refused when its shape is known
// (the kernels refuse it too); otherwise TF's own shape function.
inline absl::Status WithWindow(tensorflow::shape_inference::InferenceContext* c,
                               absl::Status (*shape_fn)(tensorflow::shape_inference::InferenceContext*)) {
  tensorflow::shape_inference::ShapeHandle filter;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 4, &filter));
  for (int i = 0; i < 2; ++i)
    if (c->ValueKnown(c->Dim(filter, i)) && c->Value(c->Dim(filter, i)) == 0)
      return absl::InvalidArgumentError(absl::StrCat("the filter's height and width must be at least 1, got filter "
                                                     "shape ", c->DebugString(filter)));
  return shape_fn(c);
}
inline absl::Status ConvShape(tensorflow::shape_inference::InferenceContext* c) {
  return WithWindow(c, tensorflow::shape_inference::Conv2DShape);
}
inline absl::Status DepthwiseShape(tensorflow::shape_inference::InferenceContext* c) {
  return WithWindow(c, tensorflow::shape_inference::DepthwiseConv2DNativeShape);
}

}  // namespace tfaxdnn

// The inputs, output and attributes every convolution op shares (attr names follow TF's Conv2D, so shape
// inference and graph rewrites reuse them): `REGISTER_OP("Name") TFAX_CONV_OP_INTERFACE .SetShapeFn(...)`.
#define TFAX_CONV_OP_INTERFACE                   \
  .Input("input: T")                             \
  .Input("filter: T")                            \
  .Input("table: int32")                         \
  .Input("input_zero_point: int32")              \
  .Input("filter_zero_point: int32")             \
  .Output("output: int32")                       \
  .Attr("T: {int8, uint8}")                      \
  .Attr("strides: list(int)")                    \
  .Attr("padding: {'SAME', 'VALID'}")            \
  .Attr("dilations: list(int) = [1, 1, 1, 1]")   \
  .Attr("data_format: {'NHWC'} = 'NHWC'")

#endif  // TFAXDNN_OP_SHAPES_H_
