#include "core/dist/world.h"

#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <unistd.h>

#include "core/error.h"

namespace lpt::dist {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  fail("MPI: ", what, " failed: ", std::string(text, size_t(length)));
}

template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <>
MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

// All-gathers chunks of `data` and adds them in rank order, so every rank computes the same sum
// from the same operands in the same order. Chunks bound the gather buffer to about 16 MB.
template <class T>
void gather_and_sum(T* data, int64_t n, int size) {
  const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 22) / size);
  std::vector<T> all(size_t(std::min(n, chunk) * size));
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t count = std::min(chunk, n - start);
    check(MPI_Allgather(data + start, int(count), mpi_type<T>(), all.data(), int(count), mpi_type<T>(),
                        MPI_COMM_WORLD),
          "MPI_Allgather");
    for (int64_t i = 0; i < count; ++i) {
      T sum = all[size_t(i)];
      for (int r = 1; r < size; ++r) sum += all[size_t(int64_t(r) * count + i)];
      data[start + i] = sum;
    }
  }
}

}  // namespace

bool launched_by_mpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr; }

World::World() {
  if (!launched_by_mpirun()) return;
  int provided = 0;
  // Only the main thread calls MPI (the loader's thread and OpenMP's workers never do).
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  mpi_ = true;
  // Errors come back as return codes, which check() turns into lpt::Error.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
}

World& World::get() {
  static World world;
  return world;
}

void World::sum_in_rank_order(float* data, int64_t n) {
  if (size_ > 1 && n > 0) gather_and_sum(data, n, size_);
}

void World::sum_in_rank_order(double* data, int64_t n) {
  if (size_ > 1 && n > 0) gather_and_sum(data, n, size_);
}

void World::broadcast(void* data, int64_t bytes, int root) {
  if (size_ <= 1) return;
  char* p = static_cast<char*>(data);
  const int64_t step = std::numeric_limits<int>::max() / 2;
  for (int64_t start = 0; start < bytes; start += step)
    check(MPI_Bcast(p + start, int(std::min(step, bytes - start)), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

void World::broadcast(std::string& s, int root) {
  if (size_ <= 1) return;
  int64_t length = int64_t(s.size());
  broadcast(&length, sizeof length, root);
  s.resize(size_t(length));
  broadcast(s.data(), length, root);
}

int64_t World::max(int64_t value) {
  if (size_ <= 1) return value;
  long long v = value, out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return int64_t(out);
}

void World::max_in_place(float* data, int64_t n) {
  if (size_ <= 1 || n == 0) return;
  check(MPI_Allreduce(MPI_IN_PLACE, data, int(n), MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
}

std::vector<uint64_t> World::all_gather(const std::vector<uint64_t>& values) {
  if (size_ <= 1) return values;
  std::vector<uint64_t> all(values.size() * size_t(size_));
  check(MPI_Allgather(values.data(), int(values.size()), MPI_UINT64_T, all.data(), int(values.size()), MPI_UINT64_T,
                      MPI_COMM_WORLD),
        "MPI_Allgather");
  return all;
}

void World::all_gather(const void* data, int64_t bytes, std::vector<unsigned char>& out) {
  out.resize(size_t(bytes) * size_t(size_));
  const unsigned char* p = static_cast<const unsigned char*>(data);
  if (size_ <= 1) {
    std::copy(p, p + bytes, out.begin());
    return;
  }
  // MPI counts are ints: larger buffers go in pieces of at most 1 GiB / size per rank, each rank's
  // piece copied to its offset in that rank's slot.
  const int64_t step = std::max<int64_t>(1, (int64_t(1) << 30) / size_);
  if (bytes <= step) {
    check(MPI_Allgather(p, int(bytes), MPI_BYTE, out.data(), int(bytes), MPI_BYTE, MPI_COMM_WORLD), "MPI_Allgather");
    return;
  }
  std::vector<unsigned char> piece;
  for (int64_t start = 0; start < bytes; start += step) {
    const int64_t count = std::min(step, bytes - start);
    piece.resize(size_t(count) * size_t(size_));
    check(MPI_Allgather(p + start, int(count), MPI_BYTE, piece.data(), int(count), MPI_BYTE, MPI_COMM_WORLD),
          "MPI_Allgather");
    for (int r = 0; r < size_; ++r)
      std::copy(piece.begin() + int64_t(r) * count, piece.begin() + int64_t(r + 1) * count,
                out.begin() + int64_t(r) * bytes + start);
  }
}

void World::barrier() {
  if (size_ > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void World::abort(int status, const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  if (mpi_ && !finalized_) MPI_Abort(MPI_COMM_WORLD, status);
  std::_Exit(status);
}

void World::finalize() {
  if (!mpi_ || finalized_) return;
  finalized_ = true;
  MPI_Finalize();
}

}  // namespace lpt::dist
