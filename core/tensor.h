#pragma once
// Tensor: a strided view of 64-byte-aligned storage holding elements of one DType, plus the
// number format its values are representable in (SPEC §1). Shapes are logical (PyTorch order,
// e.g. NCHW); strides say how they lie in memory, so a channels-last activation is an NCHW tensor
// with strides {H*W*C, 1, W*C, C}, exactly as PyTorch's memory_format does it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/number_format.h"

namespace lpt {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[128, 16, 28, 28]"
int64_t shape_numel(const Shape& s);

enum class MemoryFormat { contiguous, channels_last };
Shape contiguous_strides(const Shape& shape);
Shape channels_last_strides(const Shape& shape);  // 4-D (NCHW order) only

// 64-byte-aligned bytes shared by tensors that view them.
class Storage {
 public:
  explicit Storage(size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

 private:
  void* data_;
  size_t nbytes_;
};

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(Shape shape, DType dtype = DType::f32, MemoryFormat mf = MemoryFormat::contiguous);
  static Tensor empty_strided(Shape shape, Shape strides, DType dtype = DType::f32);
  static Tensor empty_like(const Tensor& t);  // same shape, strides and dtype
  static Tensor zeros(Shape shape, DType dtype = DType::f32, MemoryFormat mf = MemoryFormat::contiguous);
  static Tensor zeros_like(const Tensor& t);
  static Tensor full(Shape shape, float value, MemoryFormat mf = MemoryFormat::contiguous);
  static Tensor from_vector(Shape shape, const std::vector<float>& values);  // contiguous f32

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t size(int d) const;  // negative d counts from the end
  int ndim() const { return int(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }

  bool is_contiguous() const;
  bool is_channels_last() const;
  // Elements cover one gap-free run of storage (any order of axes): elementwise loops may run
  // over storage linearly when two tensors are dense with equal strides.
  bool is_dense() const;

  template <class T>
  T* data() const {
    LPT_CHECK(dtype_ == dtype_of<T>(), "tensor of dtype ", dtype_name(dtype_), " read as ",
              dtype_name(dtype_of<T>()));
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;
  size_t nbytes() const { return dtype_bytes(dtype_, size_t(numel())); }

  // A view with another shape; the tensor must be contiguous.
  Tensor view(Shape shape) const;
  // The same values in the given memory format; returns *this when already so.
  Tensor to(MemoryFormat mf) const;
  Tensor contiguous() const { return to(MemoryFormat::contiguous); }
  // A copy with the same shape and strides (dense layouts) or contiguous (strided views).
  Tensor clone() const;
  // Copies src's values (same shape and dtype, any strides) into this tensor.
  void copy_from(const Tensor& src);
  void fill(float value);
  void zero();

  // Values in logical (row-major) order; f32 only.
  std::vector<float> to_vector() const;
  float item() const;  // the single value of a one-element f32 tensor

  const std::shared_ptr<const NumberFormat>& format() const { return format_; }
  // `scale`: the one fp32 scale per tensor that a format keeps outside its elements (a minifloat's
  // fp32 tensor scale, SPEC §9): every value is fl32(element·scale) with the element exact in the
  // format's narrow type, so a GEMM can run on the elements and multiply its output by the scales.
  // 1 for formats without one.
  void set_format(std::shared_ptr<const NumberFormat> f, float scale = 1.0f) {
    format_ = std::move(f);
    format_scale_ = scale;
  }
  float format_scale() const { return format_scale_; }

  bool shares_storage_with(const Tensor& o) const { return storage_ == o.storage_; }
  std::string describe() const;  // "f32[128, 16, 28, 28] channels_last"

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_bytes_ = 0;
  Shape shape_;
  Shape strides_;  // in elements
  DType dtype_ = DType::f32;
  std::shared_ptr<const NumberFormat> format_;
  float format_scale_ = 1.0f;
};

// Throws "<op>: <what> has shape A, expected B" when the shapes differ.
void check_shape(const char* op, const char* what, const Tensor& t, const Shape& expected);

}  // namespace lpt
