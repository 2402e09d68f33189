#pragma once
// Packed element codes (SPEC §7): codes of at most 4 bits go two per byte with element 2i in the
// low nibble; codes of 5..8 bits take one byte each; 9..16 bits one little-endian uint16 each.
// A code is the low `bits` bits of an unsigned word (signed codes in two's complement).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lpt::formats {

struct PackedCodes {
  int bits = 0;                // nominal bits per code (what the format costs)
  int64_t count = 0;           // number of codes (logical elements, no padding)
  std::vector<uint8_t> bytes;  // packed as above

  static int container_bits(int bits) { return bits <= 4 ? 4 : bits <= 8 ? 8 : 16; }
  static PackedCodes make(int bits, int64_t count) {
    PackedCodes p;
    p.bits = bits;
    p.count = count;
    p.bytes.assign(size_t((count * container_bits(bits) + 7) / 8), 0);
    return p;
  }
};

// Store / load code i. Stores of distinct even/odd pairs never share a byte, so threads that own
// even-aligned ranges of elements can store concurrently.
inline void store_code(PackedCodes& p, int64_t i, uint32_t code) {
  const int cb = PackedCodes::container_bits(p.bits);
  if (cb == 4) {
    uint8_t& b = p.bytes[size_t(i >> 1)];
    b = (i & 1) ? uint8_t((b & 0x0F) | ((code & 0xF) << 4)) : uint8_t((b & 0xF0) | (code & 0xF));
  } else if (cb == 8) {
    p.bytes[size_t(i)] = uint8_t(code);
  } else {
    p.bytes[size_t(2 * i)] = uint8_t(code);
    p.bytes[size_t(2 * i + 1)] = uint8_t(code >> 8);
  }
}

inline uint32_t load_code(const PackedCodes& p, int64_t i) {
  const int cb = PackedCodes::container_bits(p.bits);
  if (cb == 4) return (p.bytes[size_t(i >> 1)] >> ((i & 1) * 4)) & 0xFu;
  if (cb == 8) return p.bytes[size_t(i)];
  return uint32_t(p.bytes[size_t(2 * i)]) | (uint32_t(p.bytes[size_t(2 * i + 1)]) << 8);
}

// Two's complement: the low `bits` bits of n, and back.
inline uint32_t to_twos_complement(int32_t n, int bits) { return uint32_t(n) & ((1u << bits) - 1u); }
inline int32_t from_twos_complement(uint32_t c, int bits) {
  const uint32_t sign = 1u << (bits - 1);
  return int32_t((c ^ sign)) - int32_t(sign);
}

}  // namespace lpt::formats
