#pragma once
// Run-time CPU feature checks. The build targets x86-64-v3 (AVX2); kernels with an AVX-512 variant
// compile it with __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) and pick it here.
namespace lpt {

// True when the CPU has AVX-512 F/BW/VL/DQ and LPT_MAX_ISA (or ONEDNN_MAX_CPU_ISA) does not cap
// our own kernels at AVX2.
bool cpu_has_avx512();

}  // namespace lpt
