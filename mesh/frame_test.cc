#include "mesh/frame.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mesh/message.h"

namespace veloq::mesh {
namespace {

// Counts live closures and runs, to tell run from destroyed from leaked.
struct Tally {
  int live = 0;
  int runs = 0;
  std::vector<int> order;
};

// A closure of 1 + Words 8-byte words: the tally, then the id and padding.
template <size_t Words>
struct Closure {
  static_assert(Words >= 1);
  Tally* tally;
  std::array<uint64_t, Words> words = {};
  Closure(Tally* t, int i) : tally(t) {
    words[0] = static_cast<uint64_t>(i);
    ++tally->live;
  }
  Closure(Closure&& o) noexcept : tally(o.tally), words(o.words) {
    ++tally->live;
  }
  ~Closure() { --tally->live; }
  void operator()() {
    ++tally->runs;
    tally->order.push_back(static_cast<int>(words[0]));
  }
};

// Over-aligned: cannot pack, travels whole.
struct alignas(16) Wide {
  Tally* tally;
  int id;
  Wide(Tally* t, int i) : tally(t), id(i) { ++tally->live; }
  Wide(Wide&& o) noexcept : tally(o.tally), id(o.id) { ++tally->live; }
  ~Wide() { --tally->live; }
  void operator()() {
    ++tally->runs;
    tally->order.push_back(id);
  }
};

// Frames in raw storage, as a ring holds them.
struct FrameBox {
  alignas(Frame) unsigned char bytes[sizeof(Frame)];
  Frame* New() { return ::new (static_cast<void*>(bytes)) Frame(); }
};

TEST(FrameTest, PackedSizesAreMultiplesOfEightAndOverAlignedDoesNotPack) {
  Tally t;
  EXPECT_EQ(Message(Closure<1>(&t, 0)).PackedSize(), 16u);
  EXPECT_EQ(Message(Closure<2>(&t, 0)).PackedSize(), 24u);
  EXPECT_EQ(Message([] {}).PackedSize(), 8u);
  EXPECT_EQ(Message(Wide(&t, 0)).PackedSize(), 0u);
  // Too big to be inline: boxed, and the box pointer packs.
  EXPECT_EQ(Message(Closure<8>(&t, 0)).PackedSize(), 8u);
  EXPECT_EQ(t.live, 0);
}

TEST(FrameTest, PacksUntilFullThenRunsAllInOrderAndEndsTheFrame) {
  Tally t;
  FrameBox box;
  Frame* f = box.New();
  uint32_t fill = 0;
  int packed = 0;
  // 16-byte closures: 8 header + 16 = 24 bytes a record; two fit in 64.
  for (int i = 0; i < 4; ++i) {
    Message m(Closure<1>(&t, i));
    if (!f->TryPack(m, &fill)) {
      EXPECT_TRUE(static_cast<bool>(m)) << "a failed pack leaves m alone";
      break;
    }
    EXPECT_FALSE(static_cast<bool>(m));
    ++packed;
  }
  EXPECT_EQ(packed, 2);
  EXPECT_EQ(fill, 48u);
  // An 8-byte closure (16-byte record) still fits in the last 16 bytes.
  Message small([&t] {
    ++t.runs;
    t.order.push_back(99);
  });
  EXPECT_TRUE(f->TryPack(small, &fill));
  EXPECT_EQ(fill, 64u);
  EXPECT_EQ(t.live, 2);
  size_t ran = 0;
  EXPECT_TRUE(Frame::Run(f, 100, &ran));
  EXPECT_EQ(ran, 3u);
  EXPECT_EQ(t.order, (std::vector<int>{0, 1, 99}));
  EXPECT_EQ(t.live, 0);
}

TEST(FrameTest, FourSmallestClosuresShareALine) {
  Tally t;
  FrameBox box;
  Frame* f = box.New();
  uint32_t fill = 0;
  int* counter = &t.runs;
  for (int i = 0; i < 4; ++i) {
    Message m([counter] { ++*counter; });
    ASSERT_TRUE(f->TryPack(m, &fill)) << i;
  }
  Message fifth([counter] { ++*counter; });
  EXPECT_FALSE(f->TryPack(fifth, &fill));
  size_t ran = 0;
  EXPECT_TRUE(Frame::Run(f, 4, &ran));
  EXPECT_EQ(ran, 4u);
  EXPECT_EQ(t.runs, 4);
}

TEST(FrameTest, BudgetStopsMidFrameAndTheRestRunsLater) {
  Tally t;
  FrameBox box;
  Frame* f = box.New();
  uint32_t fill = 0;
  for (int i = 0; i < 4; ++i) {
    Message m(Closure<1>(&t, i));  // 24-byte records: 2 fit
    if (!f->TryPack(m, &fill)) break;
  }
  // Three 8-byte closures fill a frame with records of 16 bytes; mix sizes.
  FrameBox box2;
  Frame* g = box2.New();
  fill = 0;
  Message a(Closure<1>(&t, 10));               // 24
  Message b([&t] { t.order.push_back(11); });  // 16
  Message c([&t] { t.order.push_back(12); });  // 16
  ASSERT_TRUE(g->TryPack(a, &fill));
  ASSERT_TRUE(g->TryPack(b, &fill));
  ASSERT_TRUE(g->TryPack(c, &fill));
  size_t ran = 0;
  EXPECT_FALSE(Frame::Run(g, 1, &ran));
  EXPECT_EQ(ran, 1u);
  EXPECT_EQ(t.order, (std::vector<int>{10}));
  EXPECT_FALSE(Frame::Run(g, 0, &ran)) << "a zero budget runs nothing";
  EXPECT_EQ(ran, 1u);
  EXPECT_FALSE(Frame::Run(g, 1, &ran));
  EXPECT_EQ(ran, 2u);
  EXPECT_EQ(t.order, (std::vector<int>{10, 11}));
  EXPECT_TRUE(Frame::Run(g, 5, &ran));
  EXPECT_EQ(ran, 3u);
  EXPECT_EQ(t.order, (std::vector<int>{10, 11, 12}));
  // f: destroyed unrun (only `a` above counted a run).
  std::destroy_at(f);
  EXPECT_EQ(t.live, 0);
  EXPECT_EQ(t.runs, 1);
}

TEST(FrameTest, DestroyingAHalfRunFrameDestroysOnlyTheRest) {
  Tally t;
  FrameBox box;
  Frame* f = box.New();
  uint32_t fill = 0;
  for (int i = 0; i < 3; ++i) {
    Message m(Closure<1>(&t, i));
    if (!f->TryPack(m, &fill)) break;
  }
  ASSERT_EQ(t.live, 2);
  size_t ran = 0;
  EXPECT_FALSE(Frame::Run(f, 1, &ran));
  EXPECT_EQ(t.runs, 1);
  EXPECT_EQ(t.live, 1);
  std::destroy_at(f);  // must not destroy the first closure again
  EXPECT_EQ(t.live, 0);
  EXPECT_EQ(t.runs, 1);
}

TEST(FrameTest, AWholeMessageRunsAndDestroysAsOne) {
  Tally t;
  {
    FrameBox box;
    Frame* f = box.New();
    uint32_t fill = 0;
    Message m(Wide(&t, 7));
    EXPECT_FALSE(f->TryPack(m, &fill));
    f->Hold(std::move(m));
    EXPECT_EQ(t.live, 1);
    size_t ran = 0;
    EXPECT_FALSE(Frame::Run(f, 0, &ran));
    EXPECT_TRUE(Frame::Run(f, 1, &ran));
    EXPECT_EQ(ran, 1u);
    EXPECT_EQ(t.order, (std::vector<int>{7}));
    EXPECT_EQ(t.live, 0);
  }
  {
    FrameBox box;
    Frame* f = box.New();
    f->Hold(Message(Wide(&t, 8)));
    std::destroy_at(f);
    EXPECT_EQ(t.live, 0);
    EXPECT_EQ(t.runs, 1);
  }
}

TEST(FrameTest, BoxedAndInlineClosuresWithOwningCapturesMixInOneFrame) {
  // Captures with destructors and self-referencing state (std::string's
  // small buffer) must be moved, not copied byte-wise.
  std::vector<std::string> got;
  FrameBox box;
  Frame* f = box.New();
  uint32_t fill = 0;
  Message s1([&got, s = std::string("short")] { got.push_back(s); });
  EXPECT_GT(s1.PackedSize(), 8u);
  Message big([&got, s = std::string(200, 'x'), pad = std::array<char, 40>{}] {
    got.push_back(s.substr(0, 3));
  });
  EXPECT_EQ(big.PackedSize(), 8u) << "boxed";
  ASSERT_TRUE(f->TryPack(s1, &fill));
  ASSERT_TRUE(f->TryPack(big, &fill));
  size_t ran = 0;
  EXPECT_TRUE(Frame::Run(f, 10, &ran));
  EXPECT_EQ(ran, 2u);
  EXPECT_EQ(got, (std::vector<std::string>{"short", "xxx"}));
}

TEST(FrameTest, EmptyFrameRunsNothingAndFinishes) {
  FrameBox box;
  Frame* f = box.New();
  size_t ran = 0;
  EXPECT_TRUE(Frame::Run(f, 10, &ran));
  EXPECT_EQ(ran, 0u);
}

}  // namespace
}  // namespace veloq::mesh
