#pragma once
// Philox4x32-10 (Salmon et al., SC'11): a counter-based generator. A random number is a pure
// function of (key, counter), so every element's draw depends only on its logical index,
// never on thread count or iteration order, and nothing needs saving for resume but the key.
#include <array>
#include <cstdint>

namespace lpt {

struct Philox4x32 {
  static std::array<uint32_t, 4> block(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
    constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
      const uint64_t p0 = uint64_t(M0) * ctr[0];
      const uint64_t p1 = uint64_t(M1) * ctr[2];
      ctr = {uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], uint32_t(p1), uint32_t(p0 >> 32) ^ ctr[3] ^ key[1],
             uint32_t(p0)};
      key = {key[0] + W0, key[1] + W1};
    }
    return ctr;
  }
};

// Uniform float in [0, 1) from 24 random bits.
inline float uniform01(uint32_t bits) { return float(bits >> 8) * (1.0f / 16777216.0f); }

// Keyed stream of uniforms: draw(i) is the i-th value of the stream (seed, stream_id).
// Four consecutive indices share one Philox block.
class RandomStream {
 public:
  RandomStream(uint64_t seed, uint64_t stream_id)
      : key_{uint32_t(seed), uint32_t(seed >> 32)}, hi_{uint32_t(stream_id), uint32_t(stream_id >> 32)} {}
  std::array<uint32_t, 4> bits4(uint64_t block_index) const {
    return Philox4x32::block({uint32_t(block_index), uint32_t(block_index >> 32), hi_[0], hi_[1]}, key_);
  }
  float uniform(uint64_t i) const { return uniform01(bits4(i >> 2)[i & 3]); }

 private:
  std::array<uint32_t, 2> key_;
  std::array<uint32_t, 2> hi_;
};

// The stream for one use at one training step: (seed, step) form the key, `id` the stream, so a
// step's draws are reproducible on resume and distinct across steps and users.
inline RandomStream step_stream(uint64_t seed, uint64_t step, uint64_t id) {
  return RandomStream(seed ^ (step * 0x9E3779B97F4A7C15ull), id);
}

// 64-bit FNV-1a: stable ids from names (tensor id = hash of layer name, role and GEMM, SPEC §1).
constexpr uint64_t stable_hash(const char* s, uint64_t h = 1469598103934665603ull) {
  for (; *s; ++s) h = (h ^ uint8_t(*s)) * 1099511628211ull;
  return h;
}

}  // namespace lpt
