#pragma once
// The processes of a data-parallel run (SPEC §10): a thin layer over MPI that the rest of lpt
// calls, so that no other file includes <mpi.h>.
//
// A process that mpirun did not start (no OMPI_COMM_WORLD_SIZE in its environment) is a world of
// one and never initialises MPI: every collective below returns at once without an MPI call, so
// lpt runs exactly as it does without MPI. Under mpirun, MPI is initialised on first use.
//
// Every collective is deterministic: sums are all-gathered and added in rank order (never
// MPI_Allreduce on floating point, whose reduction order the library may vary), so two runs with
// the same number of processes give bit-identical results, and every rank holds the same sum.
#include <cstdint>
#include <string>
#include <vector>

namespace lpt::dist {

class World {
 public:
  // The process's world; initialises MPI on first call when launched by mpirun.
  static World& get();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1; }
  bool writer() const { return rank_ == 0; }  // rank 0 alone writes the run directory

  // data[i] <- sum over ranks r = 0, 1, ..., size-1 (added in that order) of rank r's data[i], on
  // every rank. Every rank must call it with the same n.
  void sum_in_rank_order(float* data, int64_t n);
  void sum_in_rank_order(double* data, int64_t n);
  // Rank `root`'s bytes to every rank (every rank passes the same byte count).
  void broadcast(void* data, int64_t bytes, int root = 0);
  // A string of any length from `root` to every rank.
  void broadcast(std::string& s, int root = 0);
  // The maximum over ranks of an integer (exact, so order does not matter).
  int64_t max(int64_t value);
  // data[i] <- the maximum over ranks of data[i] (no NaN), on every rank: exact in any order.
  void max_in_place(float* data, int64_t n);
  // Every rank's values, concatenated in rank order (every rank passes the same count).
  std::vector<uint64_t> all_gather(const std::vector<uint64_t>& values);
  // Every rank's `bytes` bytes, concatenated in rank order into out (size × bytes; every rank
  // passes the same count). In a world of one, out is a copy of data.
  void all_gather(const void* data, int64_t bytes, std::vector<unsigned char>& out);
  void barrier();

  // Ends every process of the job with `status` (1..127) after printing `message` to stderr;
  // in a world of one, exits with `status`.
  [[noreturn]] void abort(int status, const std::string& message);
  // Called once before a normal exit (MPI_Finalize when MPI was initialised).
  void finalize();

  World(const World&) = delete;
  World& operator=(const World&) = delete;

 private:
  World();
  int rank_ = 0;
  int size_ = 1;
  bool mpi_ = false;  // MPI initialised (launched by mpirun)
  bool finalized_ = false;
};

// True when mpirun started this process (whether or not MPI is initialised yet).
bool launched_by_mpirun();

}  // namespace lpt::dist
