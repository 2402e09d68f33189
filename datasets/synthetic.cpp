#include "datasets/synthetic.h"

#include <algorithm>
#include <cmath>

#include "core/philox.h"

namespace lpt::data {

SyntheticDataset::SyntheticDataset(const SyntheticOptions& o) : options_(o) {
  LPT_CHECK(o.size >= 0 && o.num_classes > 0 && o.shape.numel() > 0 && o.max_shift >= 0 && o.noise >= 0.0f,
            "synthetic dataset: invalid options (size ", o.size, ", ", o.num_classes, " classes, shape ",
            sample_shape_str(o.shape), ", shift ", o.max_shift, ", noise ", o.noise, ")");
  const int64_t ch = o.shape.h + 2 * o.max_shift, cw = o.shape.w + 2 * o.max_shift;
  patterns_.resize(size_t(o.num_classes * o.shape.c * ch * cw));
  const RandomStream rng(o.seed, stable_hash("synthetic_patterns"));
  constexpr double two_pi = 6.283185307179586;
  uint64_t draw = 0;
  for (int64_t k = 0; k < o.num_classes * o.shape.c; ++k) {
    float* plane = patterns_.data() + k * ch * cw;
    std::fill(plane, plane + ch * cw, 0.5f);
    for (int wave = 0; wave < 2; ++wave) {
      // One to three periods across the image, any orientation and phase.
      const double angle = two_pi * rng.uniform(draw++);
      const double freq = two_pi * (1.0 + 2.0 * rng.uniform(draw++)) / double(std::max(o.shape.h, o.shape.w));
      const double phase = two_pi * rng.uniform(draw++);
      const double fy = freq * std::sin(angle), fx = freq * std::cos(angle);
      for (int64_t y = 0; y < ch; ++y)
        for (int64_t x = 0; x < cw; ++x) plane[y * cw + x] += 0.2f * float(std::sin(fy * y + fx * x + phase));
    }
  }
}

void SyntheticDataset::get(int64_t index, float* chw_out, int32_t* label) const {
  check_index(*this, index);
  const SyntheticOptions& o = options_;
  const int32_t cls = int32_t(index % o.num_classes);
  const RandomStream rng(o.seed, uint64_t(index + o.index_offset));
  const int64_t span = 2 * o.max_shift + 1;
  const int64_t dy = std::min<int64_t>(int64_t(rng.uniform(0) * float(span)), span - 1);
  const int64_t dx = std::min<int64_t>(int64_t(rng.uniform(1) * float(span)), span - 1);
  const int64_t ch = o.shape.h + 2 * o.max_shift, cw = o.shape.w + 2 * o.max_shift;
  uint64_t draw = 4;
  for (int64_t c = 0; c < o.shape.c; ++c) {
    const float* plane = patterns_.data() + (int64_t(cls) * o.shape.c + c) * ch * cw;
    for (int64_t y = 0; y < o.shape.h; ++y) {
      for (int64_t x = 0; x < o.shape.w; ++x) {
        const float noise = o.noise * (2.0f * rng.uniform(draw++) - 1.0f);
        const float v = plane[(y + dy) * cw + (x + dx)] + noise;
        chw_out[(c * o.shape.h + y) * o.shape.w + x] = std::clamp(v, 0.0f, 1.0f);
      }
    }
  }
  *label = cls;
}

}  // namespace lpt::data
