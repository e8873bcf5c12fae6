#include "mesh/overflow_queue.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "mesh/message.h"

namespace veloq::mesh {
namespace {

// Appends its value to *out when run; counts destructions in *destroyed.
Message Recorder(std::vector<int>* out, int v, int* destroyed) {
  struct Guard {
    explicit Guard(int* d) : destroyed(d) {}
    ~Guard() { ++*destroyed; }
    int* destroyed;
  };
  auto guard = std::make_shared<Guard>(destroyed);
  return Message([out, v, guard] { out->push_back(v); });
}

TEST(OverflowQueueTest, FifoAcrossManyChunks) {
  ChunkCache cache(4);
  OverflowQueue q;
  std::vector<int> ran;
  int destroyed = 0;
  constexpr int kN = 1000;  // ~16 chunks
  for (int i = 0; i < kN; ++i) q.PushBack(Recorder(&ran, i, &destroyed), cache);
  EXPECT_EQ(q.size(), static_cast<size_t>(kN));
  while (!q.empty()) {
    Message m = std::move(q.Front());
    q.PopFront(cache);
    m.Run();
  }
  ASSERT_EQ(ran.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(ran[i], i);
  EXPECT_EQ(destroyed, kN);
  // Drained chunks went back to the cache, up to its limit.
  EXPECT_EQ(cache.cached(), 4u);
}

TEST(OverflowQueueTest, InterleavedPushPopKeepsOrderAndReusesChunks) {
  ChunkCache cache(8);
  OverflowQueue q;
  std::vector<int> ran;
  int destroyed = 0;
  int next = 0;
  int expect = 0;
  for (int round = 0; round < 50; ++round) {
    // Push a varying number, pop a varying number: the queue's head and
    // tail cross chunk boundaries at different offsets every round.
    const int push = 17 + (round * 31) % 90;
    for (int i = 0; i < push; ++i) {
      q.PushBack(Recorder(&ran, next++, &destroyed), cache);
    }
    const int pop =
        std::min<int>(static_cast<int>(q.size()), 11 + (round * 47) % 100);
    for (int i = 0; i < pop; ++i) {
      Message m = std::move(q.Front());
      q.PopFront(cache);
      m.Run();
      ASSERT_EQ(ran.back(), expect++);
    }
  }
  const size_t left = q.size();
  q.Clear(cache);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(static_cast<size_t>(destroyed), ran.size() + left);
  EXPECT_LE(cache.cached(), 8u);
}

TEST(OverflowQueueTest, ClearDestroysWithoutRunning) {
  ChunkCache cache(0);  // nothing cached: every chunk goes back to the heap
  OverflowQueue q;
  std::vector<int> ran;
  int destroyed = 0;
  for (int i = 0; i < 200; ++i)
    q.PushBack(Recorder(&ran, i, &destroyed), cache);
  q.Clear(cache);
  EXPECT_TRUE(ran.empty());
  EXPECT_EQ(destroyed, 200);
  EXPECT_EQ(cache.cached(), 0u);
}

TEST(OverflowQueueTest, EmptyingThenRefillingStartsAFreshChunk) {
  ChunkCache cache(2);
  OverflowQueue q;
  std::vector<int> ran;
  int destroyed = 0;
  q.PushBack(Recorder(&ran, 1, &destroyed), cache);
  q.PopFront(cache);  // destroys it unrun
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(cache.cached(), 1u);
  q.PushBack(Recorder(&ran, 2, &destroyed), cache);
  EXPECT_EQ(cache.cached(), 0u);  // reused
  Message m = std::move(q.Front());
  q.PopFront(cache);
  m.Run();
  EXPECT_EQ(ran, std::vector<int>{2});
  EXPECT_EQ(destroyed, 2);
}

}  // namespace
}  // namespace veloq::mesh
