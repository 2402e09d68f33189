#include "core/onednn/context.h"

#include <atomic>
#include <cstdlib>
#include <sstream>

#include "core/cpu.h"

namespace lpt::onednn {

namespace {
// oneDNN reads ONEDNN_MAX_CPU_ISA itself; LPT_MAX_ISA is passed on through set_max_cpu_isa, which
// works only before oneDNN first fixes its ISA: every way into oneDNN here calls this first.
void apply_isa_cap() {
  static const bool applied = [] {
    const char* lpt_cap = std::getenv("LPT_MAX_ISA");
    if (!lpt_cap) return true;
    const std::string cap = isa_cap();
    static const std::pair<const char*, dnnl::cpu_isa> names[] = {
        {"sse41", dnnl::cpu_isa::sse41},
        {"avx", dnnl::cpu_isa::avx},
        {"avx2", dnnl::cpu_isa::avx2},
        {"avx2_vnni", dnnl::cpu_isa::avx2_vnni},
        {"avx512_core", dnnl::cpu_isa::avx512_core},
        {"avx512_core_vnni", dnnl::cpu_isa::avx512_core_vnni},
        {"avx512_core_bf16", dnnl::cpu_isa::avx512_core_bf16},
        {"avx512_core_amx", dnnl::cpu_isa::avx512_core_amx},
        {"all", dnnl::cpu_isa::all}};
    std::string known;
    for (const auto& [name, isa] : names) {
      if (cap == name) {
        dnnl::set_max_cpu_isa(isa);
        return true;
      }
      known += std::string(known.empty() ? "" : ", ") + name;
    }
    fail("LPT_MAX_ISA='", lpt_cap, "': expected one of ", known, " (any case)");
  }();
  (void)applied;
}
}  // namespace

dnnl::engine& engine() {
  apply_isa_cap();
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::cpu_isa effective_cpu_isa() {
  apply_isa_cap();
  return dnnl::get_effective_cpu_isa();
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

dnnl::memory::dims dims_of(const Shape& s) { return dnnl::memory::dims(s.begin(), s.end()); }

static dt dt_of(DType t) {
  switch (t) {
    case DType::f32: return dt::f32;
    case DType::bf16: return dt::bf16;
    case DType::s8: return dt::s8;
    case DType::u8: return dt::u8;
    case DType::s32: return dt::s32;
    default: fail("oneDNN has no data type for ", dtype_name(t));
  }
}

dnnl::memory::desc desc_of(const Tensor& t) {
  return dnnl::memory::desc(dims_of(t.shape()), dt_of(t.dtype()), dims_of(t.strides()));
}

dnnl::memory wrap(const Tensor& t) { return dnnl::memory(desc_of(t), engine(), t.raw_data()); }

dnnl::memory wrap_as(const Tensor& t, const dnnl::memory::desc& md) {
  LPT_CHECK(t.nbytes() >= md.get_size(), "oneDNN: tensor ", t.describe(),
            " is smaller than its descriptor (", md.get_size(), " bytes)");
  return dnnl::memory(md, engine(), t.raw_data());
}

std::string desc_key(const dnnl::memory::desc& md) {
  // oneDNN 2.x layout: dnnl_memory_desc_t with format_desc.blocking.
  const dnnl_memory_desc_t& d = md.data;
  std::ostringstream os;
  os << "t" << int(d.data_type) << "k" << int(d.format_kind) << "d";
  for (int i = 0; i < d.ndims; ++i) os << d.dims[i] << ',';
  if (d.format_kind == dnnl_blocked) {
    const auto& b = d.format_desc.blocking;
    os << "s";
    for (int i = 0; i < d.ndims; ++i) os << b.strides[i] << ',';
    os << "b";
    for (int i = 0; i < b.inner_nblks; ++i) os << b.inner_idxs[i] << ':' << b.inner_blks[i] << ',';
  }
  return os.str();
}

std::string effective_isa() {
  switch (effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

std::string impl_name(const dnnl::primitive_desc_base& pd) { return pd.impl_info_str(); }

namespace {
std::mutex& impl_mutex() {
  static std::mutex m;
  return m;
}
std::vector<std::pair<std::string, std::string>>& impl_list() {
  static std::vector<std::pair<std::string, std::string>> v;
  return v;
}
}  // namespace

void record_impl(const std::string& what, const std::string& impl) {
  std::lock_guard<std::mutex> lock(impl_mutex());
  impl_list().emplace_back(what, impl);
}

std::vector<std::pair<std::string, std::string>> recorded_impls() {
  std::lock_guard<std::mutex> lock(impl_mutex());
  return impl_list();
}

std::recursive_mutex& PrimitiveCache::mutex() {
  static std::recursive_mutex m;
  return m;
}

std::unordered_map<std::string, std::shared_ptr<void>>& PrimitiveCache::map() {
  static std::unordered_map<std::string, std::shared_ptr<void>> m;
  return m;
}

namespace {
std::atomic<int64_t> g_weight_reorders{0};
}
void count_weight_reorder() { g_weight_reorders.fetch_add(1, std::memory_order_relaxed); }
int64_t weight_reorders() { return g_weight_reorders.load(std::memory_order_relaxed); }

size_t PrimitiveCache::size() {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  return map().size();
}

}  // namespace lpt::onednn
