// core/dist without mpirun: the test binary is not started by mpirun, so its world is one process
// that never initialises MPI, and every collective leaves the data as it is (the `Mpi.` tests run
// the real collectives under mpirun).
#include <gtest/gtest.h>

#include "core/dist/world.h"

namespace lpt::dist {
namespace {

TEST(DistWorld, WithoutMpirunTheWorldIsOneProcessAndCollectivesAreIdentities) {
  ASSERT_FALSE(launched_by_mpirun()) << "run the unit tests without mpirun";
  World& world = World::get();
  EXPECT_EQ(world.rank(), 0);
  EXPECT_EQ(world.size(), 1);
  EXPECT_FALSE(world.distributed());
  EXPECT_TRUE(world.writer());
  std::vector<float> f = {1.5f, -2.0f, 3.25f};
  world.sum_in_rank_order(f.data(), int64_t(f.size()));
  EXPECT_EQ(f, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  std::vector<double> d = {0.1, 0.2};
  world.sum_in_rank_order(d.data(), int64_t(d.size()));
  EXPECT_EQ(d, (std::vector<double>{0.1, 0.2}));
  std::string s = "abc";
  world.broadcast(s);
  EXPECT_EQ(s, "abc");
  EXPECT_EQ(world.max(7), 7);
  EXPECT_EQ(world.all_gather({1, 2}), (std::vector<uint64_t>{1, 2}));
  const unsigned char bytes[3] = {7, 0, 255};
  std::vector<unsigned char> gathered;
  world.all_gather(bytes, 3, gathered);
  EXPECT_EQ(gathered, (std::vector<unsigned char>{7, 0, 255}));
  world.barrier();
  world.finalize();  // nothing to finalize
}

}  // namespace
}  // namespace lpt::dist
