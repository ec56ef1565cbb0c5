// Convolution geometry shared by the conv2d and depthwise kernels: attribute parsing (TF Conv2D names and
// semantics), output size and SAME padding, and the im2col gather of activation table indices.
#ifndef TFAXDNN_CONV_GEOMETRY_H_
#define TFAXDNN_CONV_GEOMETRY_H_

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lut_gemm.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace tfaxdnn {

struct ConvAttrs {
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  bool same = false;

  absl::Status Parse(tensorflow::OpKernelConstruction* c, const std::string& op) {
    std::vector<int32_t> strides, dilations;
    std::string padding, data_format;
    TF_RETURN_IF_ERROR(c->GetAttr("strides", &strides));
    TF_RETURN_IF_ERROR(c->GetAttr("dilations", &dilations));
    TF_RETURN_IF_ERROR(c->GetAttr("padding", &padding));
    TF_RETURN_IF_ERROR(c->GetAttr("data_format", &data_format));
    if (data_format != "NHWC")
      return absl::InvalidArgumentError(absl::StrCat(op, ": only data_format NHWC is supported, got ", data_format));
    if (strides.size() != 4 || strides[0] != 1 || strides[3] != 1 || strides[1] < 1 || strides[2] < 1)
      return absl::InvalidArgumentError(absl::StrCat(op, ": strides must be [1, sh, sw, 1] with sh, sw >= 1, got [",
                                                     absl::StrJoin(strides, ", "), "]"));
    if (dilations.size() != 4 || dilations[0] != 1 || dilations[3] != 1 || dilations[1] < 1 || dilations[2] < 1)
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": dilations must be [1, dh, dw, 1] with dh, dw >= 1, got [", absl::StrJoin(dilations, ", "), "]"));
    stride_h = strides[1];
    stride_w = strides[2];
    dil_h = dilations[1];
    dil_w = dilations[2];
    same = padding == "SAME";
    return absl::OkStatus();
  }
};

struct ConvGeometry {
  int64_t N, H, W, C, KH, KW, OH, OW, pad_top, pad_left;
  ConvAttrs a;

  // Output size and padding with TF semantics (SAME: out = ceil(in / s), extra padding at the bottom/right) for an
  // NHWC input and a filter whose first two dimensions are the window (HWIO, or [h, w, in_c, mult]).
  absl::Status Init(const std::string& op, const ConvAttrs& attrs, const tensorflow::Tensor& input,
                    const tensorflow::Tensor& filter) {
    if (filter.dim_size(0) < 1 || filter.dim_size(1) < 1)  // zero *channels* is valid (all-zero sums), no window is not
      return absl::InvalidArgumentError(absl::StrCat(op, ": the filter's height and width must be at least 1, got ",
                                                     "filter shape ", filter.shape().DebugString()));
    a = attrs;
    N = input.dim_size(0), H = input.dim_size(1), W = input.dim_size(2), C = input.dim_size(3);
    KH = filter.dim_size(0), KW = filter.dim_size(1);
    const int64_t eff_h = (KH - 1) * a.dil_h + 1, eff_w = (KW - 1) * a.dil_w + 1;
    if (a.same) {
      OH = (H + a.stride_h - 1) / a.stride_h;
      OW = (W + a.stride_w - 1) / a.stride_w;
      pad_top = std::max<int64_t>((OH - 1) * a.stride_h + eff_h - H, 0) / 2;
      pad_left = std::max<int64_t>((OW - 1) * a.stride_w + eff_w - W, 0) / 2;
    } else {
      if (eff_h > H || eff_w > W)
        return absl::InvalidArgumentError(absl::StrCat(
            op, ": with padding VALID the dilated filter (", eff_h, "x", eff_w, ") must fit the input (", H, "x", W,
            ")"));
      OH = (H - eff_h) / a.stride_h + 1;
      OW = (W - eff_w) / a.stride_w + 1;
      pad_top = pad_left = 0;
    }
    return absl::OkStatus();
  }

  int64_t Positions() const { return N * OH * OW; }

  // Fills xt[i * K + tap * channels + j] (K = KH * KW * channels) for positions p0..p0+n, taps (ky, kx) and the
  // channel range [c0, c0 + channels), with padded taps holding the activation zero point's index. When all
  // channels are taken and the kernel row lies inside the input, a kernel row is one contiguous run of KW * C
  // codes (undilated) and is copied as such.
  template <typename T>
  void Gather(const T* input, int64_t p0, int64_t n, int64_t c0, int64_t channels, uint8_t pad_index,
              uint8_t* xt) const {
    const int64_t row_len = KW * channels;
    const bool whole_rows = channels == C && a.dil_w == 1;
    int64_t b = p0 / (OH * OW), oy = (p0 / OW) % OH, ox = p0 % OW;  // advanced incrementally below
    for (int64_t i = 0; i < n; ++i, ++ox) {
      if (ox == OW) {
        ox = 0;
        if (++oy == OH) oy = 0, ++b;
      }
      const int64_t ix0 = ox * a.stride_w - pad_left;
      for (int64_t ky = 0; ky < KH; ++ky) {
        const int64_t iy = oy * a.stride_h - pad_top + ky * a.dil_h;
        uint8_t* dst = xt + i * KH * row_len + ky * row_len;
        if (iy < 0 || iy >= H) {
          std::memset(dst, pad_index, row_len);
          continue;
        }
        const T* row = input + (b * H + iy) * W * C + c0;
        if (whole_rows && ix0 >= 0 && ix0 + KW <= W) {
          CopyIndices(row + ix0 * C, row_len, dst);
          continue;
        }
        for (int64_t kx = 0; kx < KW; ++kx, dst += channels) {
          const int64_t ix = ix0 + kx * a.dil_w;
          if (ix < 0 || ix >= W) {
            std::memset(dst, pad_index, channels);
          } else {
            CopyIndices(row + ix * C, channels, dst);
          }
        }
      }
    }
  }
};

}  // namespace tfaxdnn

#endif  // TFAXDNN_CONV_GEOMETRY_H_
