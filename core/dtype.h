#pragma once
// Element types a Tensor's storage can hold. Low-bit codes are packed (two 4-bit codes per byte,
// element 2i in the low nibble, SPEC §7), so sizes are computed in bits.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lpt {

enum class DType : uint8_t {
  f32,    // fp32 values
  bf16,   // bfloat16 values: operands of the bf16 GEMM lane (SPEC §9), held as uint16_t bits
  s8,     // int8 codes or values
  u8,     // uint8 codes, E8M0 scales, raw bytes
  s16,    // int16 codes (HBFP block exponents in exports)
  s32,    // int32 labels, indices, accumulators
  u4x2,   // packed 4-bit codes, two per byte
};

constexpr int dtype_bits(DType t) {
  switch (t) {
    case DType::f32: return 32;
    case DType::bf16: return 16;
    case DType::s8: return 8;
    case DType::u8: return 8;
    case DType::s16: return 16;
    case DType::s32: return 32;
    case DType::u4x2: return 4;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::s8: return "s8";
    case DType::u8: return "u8";
    case DType::s16: return "s16";
    case DType::s32: return "s32";
    case DType::u4x2: return "u4x2";
  }
  return "?";
}

// Bytes needed for n logical elements of type t.
constexpr size_t dtype_bytes(DType t, size_t n) { return (n * dtype_bits(t) + 7) / 8; }

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<int8_t>() { return DType::s8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<int16_t>() { return DType::s16; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::bf16; }  // the top half of an fp32
template <> constexpr DType dtype_of<int32_t>() { return DType::s32; }

}  // namespace lpt
