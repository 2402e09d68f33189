#include "core/block_cache.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace lpt {

namespace {

size_t rounded(size_t bytes) { return (bytes + 63) / 64 * 64; }

struct BlockCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // by rounded size
  size_t cached_bytes = 0;
};

// Never destroyed: tensors in static objects may be freed after every destructor has run. Its
// blocks stay reachable from here, so leak checkers do not report them.
BlockCache& cache() {
  static BlockCache* c = new BlockCache;
  return *c;
}

}  // namespace

void* cached_alloc(size_t bytes) {
  const size_t n = rounded(bytes == 0 ? 1 : bytes);
  if (n >= kMinCachedBytes) {
    BlockCache& c = cache();
    const std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(n);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached_bytes -= n;
      return p;
    }
  }
  return std::aligned_alloc(64, n);
}

void cached_free(void* p, size_t bytes) {
  if (!p) return;
  const size_t n = rounded(bytes == 0 ? 1 : bytes);
  if (n >= kMinCachedBytes) {
    BlockCache& c = cache();
    const std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cached_bytes + n <= kMaxCachedBytes) {
      c.free_blocks[n].push_back(p);
      c.cached_bytes += n;
      return;
    }
  }
  std::free(p);
}

}  // namespace lpt
