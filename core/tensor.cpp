#include "core/tensor.h"

#include "core/block_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <sstream>

namespace lpt {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>());
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int i = int(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

Shape channels_last_strides(const Shape& shape) {
  LPT_CHECK(shape.size() == 4, "channels_last needs a 4-D NCHW shape, got ", shape_str(shape));
  const int64_t C = shape[1], H = shape[2], W = shape[3];
  return {H * W * C, 1, W * C, C};
}

Storage::Storage(size_t nbytes) : nbytes_(nbytes) {
  data_ = cached_alloc(nbytes);
  if (!data_) fail("out of memory allocating ", nbytes, " bytes");
}

Storage::~Storage() { cached_free(data_, nbytes_); }

static Shape strides_for(const Shape& shape, MemoryFormat mf) {
  return mf == MemoryFormat::channels_last ? channels_last_strides(shape) : contiguous_strides(shape);
}

Tensor Tensor::empty(Shape shape, DType dtype, MemoryFormat mf) {
  Shape strides = strides_for(shape, mf);
  return empty_strided(std::move(shape), std::move(strides), dtype);
}

Tensor Tensor::empty_strided(Shape shape, Shape strides, DType dtype) {
  LPT_CHECK(shape.size() == strides.size(), "empty_strided: shape ", shape_str(shape), " and strides ",
            shape_str(strides), " differ in rank");
  for (int64_t d : shape) LPT_CHECK(d >= 0, "tensor shape ", shape_str(shape), " has a negative size");
  int64_t span = 1;  // elements from the first to one past the last
  for (size_t i = 0; i < shape.size(); ++i) span += (shape[i] > 0 ? shape[i] - 1 : 0) * strides[i];
  if (shape_numel(shape) == 0) span = 0;
  Tensor t;
  t.storage_ = std::make_shared<Storage>(dtype_bytes(dtype, size_t(span)));
  t.shape_ = std::move(shape);
  t.strides_ = std::move(strides);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::empty_like(const Tensor& t) {
  if (t.is_dense()) return empty_strided(t.shape_, t.strides_, t.dtype_);
  return empty(t.shape_, t.dtype_);
}

Tensor Tensor::zeros(Shape shape, DType dtype, MemoryFormat mf) {
  Tensor t = empty(std::move(shape), dtype, mf);
  t.zero();
  return t;
}

Tensor Tensor::zeros_like(const Tensor& t) {
  Tensor z = empty_like(t);
  z.zero();
  return z;
}

Tensor Tensor::full(Shape shape, float value, MemoryFormat mf) {
  Tensor t = empty(std::move(shape), DType::f32, mf);
  t.fill(value);
  return t;
}

Tensor Tensor::from_vector(Shape shape, const std::vector<float>& values) {
  LPT_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
            " values for shape ", shape_str(shape));
  Tensor t = empty(std::move(shape));
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

int64_t Tensor::size(int d) const {
  const int n = ndim();
  const int i = d < 0 ? d + n : d;
  LPT_CHECK(i >= 0 && i < n, "dimension ", d, " out of range for tensor ", describe());
  return shape_[i];
}

namespace {
// Strides of size-1 axes never matter (as in PyTorch): [N, C, 1, 1] is both contiguous and
// channels-last.
bool same_layout(const Shape& shape, const Shape& a, const Shape& b) {
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1 && a[i] != b[i]) return false;
  return true;
}
}  // namespace

bool Tensor::is_contiguous() const { return same_layout(shape_, strides_, contiguous_strides(shape_)); }

bool Tensor::is_channels_last() const {
  return ndim() == 4 && same_layout(shape_, strides_, channels_last_strides(shape_));
}

bool Tensor::is_dense() const {
  // Sort axes by stride; dense iff each stride equals the product of the faster axes' sizes.
  std::vector<int> order(shape_.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return strides_[a] < strides_[b]; });
  int64_t expect = 1;
  for (int i : order) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expect) return false;
    expect *= shape_[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  LPT_CHECK(defined(), "use of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_bytes_;
}

Tensor Tensor::view(Shape shape) const {
  LPT_CHECK(shape_numel(shape) == numel(), "view: cannot view tensor ", describe(), " as ", shape_str(shape));
  LPT_CHECK(is_contiguous(), "view: tensor ", describe(), " is not contiguous");
  Tensor t = *this;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::to(MemoryFormat mf) const {
  const bool already = mf == MemoryFormat::contiguous ? is_contiguous() : is_channels_last();
  if (already) return *this;
  Tensor t = empty(shape_, dtype_, mf);
  t.copy_from(*this);
  t.format_ = format_;
  t.format_scale_ = format_scale_;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty_like(*this);
  t.copy_from(*this);
  t.format_ = format_;
  t.format_scale_ = format_scale_;
  return t;
}

namespace {
// Calls f(dst_offset, src_offset) for every logical index, row-major, in element units.
template <class F>
void for_each_offset(const Shape& shape, const Shape& a, const Shape& b, F&& f) {
  const int n = int(shape.size());
  if (shape_numel(shape) == 0) return;
  std::vector<int64_t> idx(n, 0);
  int64_t oa = 0, ob = 0;
  while (true) {
    f(oa, ob);
    int d = n - 1;
    for (; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        oa += a[d];
        ob += b[d];
        break;
      }
      oa -= a[d] * (shape[d] - 1);
      ob -= b[d] * (shape[d] - 1);
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}
}  // namespace

void Tensor::copy_from(const Tensor& src) {
  LPT_CHECK(src.shape_ == shape_, "copy: source shape ", shape_str(src.shape_), " differs from destination ",
            shape_str(shape_));
  LPT_CHECK(src.dtype_ == dtype_, "copy: source dtype ", dtype_name(src.dtype_), " differs from destination ",
            dtype_name(dtype_));
  if (strides_ == src.strides_ && is_dense()) {
    std::memcpy(raw_data(), src.raw_data(), nbytes());
    return;
  }
  LPT_CHECK(dtype_bits(dtype_) >= 8, "copy: strided copy of packed dtype ", dtype_name(dtype_));
  const size_t esize = dtype_bits(dtype_) / 8;
  char* d = static_cast<char*>(raw_data());
  const char* s = static_cast<const char*>(src.raw_data());
  for_each_offset(shape_, strides_, src.strides_,
                  [&](int64_t od, int64_t os) { std::memcpy(d + od * esize, s + os * esize, esize); });
}

void Tensor::fill(float value) {
  LPT_CHECK(is_dense(), "fill: tensor ", describe(), " is not dense");
  float* p = data<float>();
  std::fill(p, p + numel(), value);
}

void Tensor::zero() {
  LPT_CHECK(is_dense(), "zero: tensor ", describe(), " is not dense");
  std::memset(raw_data(), 0, nbytes());
}

std::vector<float> Tensor::to_vector() const {
  Tensor c = contiguous();
  const float* p = c.data<float>();
  return std::vector<float>(p, p + numel());
}

float Tensor::item() const {
  LPT_CHECK(numel() == 1, "item: tensor ", describe(), " has more than one element");
  return *data<float>();
}

std::string Tensor::describe() const {
  std::string s = std::string(dtype_name(dtype_)) + shape_str(shape_);
  if (ndim() == 4 && is_channels_last() && !is_contiguous()) s += " channels_last";
  else if (!is_contiguous()) s += " strides" + shape_str(strides_);
  return s;
}

void check_shape(const char* op, const char* what, const Tensor& t, const Shape& expected) {
  LPT_CHECK(t.shape() == expected, op, ": ", what, " has shape ", shape_str(t.shape()), ", expected ",
            shape_str(expected));
}

}  // namespace lpt
