#pragma once
// Run-time CPU feature checks. The build targets x86-64-v3 (AVX2); kernels with an AVX-512 variant
// compile it with __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) and pick it here.
#include <string>

namespace lpt {

// The ISA cap the environment sets: LPT_MAX_ISA, else ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA),
// lower-cased, e.g. "avx2" or "avx512_core"; "" when there is none. LPT_MAX_ISA caps oneDNN too
// (core/onednn/context.h); setting it and ONEDNN_MAX_CPU_ISA to different values is an error.
std::string isa_cap();

// True when the CPU has AVX-512 F/BW/VL/DQ and the ISA cap does not hold our own kernels at AVX2.
bool cpu_has_avx512();

}  // namespace lpt
