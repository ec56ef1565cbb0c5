// Op registrations (interface and shape functions only). Attr names follow TF's Conv2D so shape inference
// and graph rewrites can reuse them. Prefix "Tfax" avoids clashes with ALWANN/TFApprox ops.
#include "op_shapes.h"
#include "tensorflow/core/framework/op.h"

using tensorflow::shape_inference::DimensionHandle;
using tensorflow::shape_inference::InferenceContext;
using tensorflow::shape_inference::ShapeHandle;
using tfaxdnn::ConvShape;
using tfaxdnn::DepthwiseShape;

REGISTER_OP("TfaxApproxConv2D")
    TFAX_CONV_OP_INTERFACE
    .Attr("multiplier: string = ''")
    .SetShapeFn(ConvShape)
    .Doc(R"doc(
2-D convolution of int8/uint8 codes whose products come from a 256x256 lookup table.
output[n,y,x,o] = sum_k table[a_k + off, w_k + off] - zw[o]*sum_k a_k - za*sum_k w_k + K*za*zw[o]
(off = 128 for int8, 0 for uint8); padded taps hold code za. `multiplier` is informational (its name).
)doc");

REGISTER_OP("TfaxApproxDepthwiseConv2D")
    TFAX_CONV_OP_INTERFACE
    .Attr("multiplier: string = ''")
    .SetShapeFn(DepthwiseShape)
    .Doc("Depthwise 2-D convolution (filter [h, w, in_c, mult]) through a 256x256 lookup table.");

REGISTER_OP("TfaxApproxMatMul")
    .Input("a: T")
    .Input("b: T")
    .Input("table: int32")
    .Input("a_zero_point: int32")
    .Input("b_zero_point: int32")
    .Output("output: int32")
    .Attr("T: {int8, uint8}")
    .Attr("multiplier: string = ''")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle a, b;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &a));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &b));
      DimensionHandle merged;
      TF_RETURN_IF_ERROR(c->Merge(c->Dim(a, 1), c->Dim(b, 0), &merged));
      c->set_output(0, c->Matrix(c->Dim(a, 0), c->Dim(b, 1)));
      return absl::OkStatus();
    })
    .Doc("Matrix product a [N,K] (activations) x b [K,O] (weights) through a 256x256 lookup table.");

REGISTER_OP("TfaxQuantize")
    .Input("values: float")
    .Input("scale: float")
    .Input("zero_point: int32")
    .Input("code_map: int32")
    .Output("codes: T")
    .Attr("T: {int8, uint8}")
    .Attr("clip_min: int")
    .Attr("clip_max: int")
    .SetShapeFn(tensorflow::shape_inference::UnchangedShape)
    .Doc(R"doc(
Quantised codes of float values in one pass: q = clip(round_half_even(v / scale[c]) + zero_point[c], clip_min,
clip_max), codes = code_map[q - code_min] (or q when code_map is empty); c = flat index % n for scale and zero_point
of n elements (per tensor: n = 1; per output channel: the trailing dimensions). NaN values take the zero point.
code_map has 256 entries indexed like the table (code + 128 for int8).
)doc");
