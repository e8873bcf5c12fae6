#include "io/buffer/fixed_buf.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace veloq::io {
namespace {

TEST(FixedBufTest, HeapBufferIsPageAlignedAndEmptyAtFirst) {
  FixedBuf b = FixedBuf::Heap(100);
  ASSERT_TRUE(b.valid());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 4096, 0u);
  EXPECT_EQ(b.capacity(), 100u);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.reg_index(), -1);
  EXPECT_FALSE(b.RegisteredWith(nullptr));
}

TEST(FixedBufTest, AssignAndAppendStopAtCapacity) {
  FixedBuf b = FixedBuf::Heap(8);
  EXPECT_EQ(b.Assign("hello"), 5u);
  EXPECT_EQ(b.Append(" world"), 3u);
  EXPECT_EQ(b.view(), "hello wo");
  b.clear();
  EXPECT_EQ(b.view(), "");
  b.set_size(2);
  EXPECT_EQ(b.view(), "he");
}

TEST(FixedBufTest, MoveLeavesTheSourceEmpty) {
  FixedBuf a = FixedBuf::Copy("abc");
  char* p = a.data();
  FixedBuf b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.capacity(), 0u);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.view(), "abc");
  FixedBuf c = FixedBuf::Heap(1);
  c = std::move(b);
  EXPECT_EQ(c.view(), "abc");
  c.Reset();
  EXPECT_FALSE(c.valid());
}

TEST(FixedBufTest, SlicesKeepTheBufferAndItsRange) {
  FixedBuf b = FixedBuf::Copy("0123456789");
  BufSlice s(std::move(b), 2, 6);
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(std::string(s.data(), s.size()), "2345");
  FixedBuf back = std::move(s).Into();
  EXPECT_EQ(back.view(), "0123456789");
  BufSlice r = ReadSlice(std::move(back));
  EXPECT_EQ(r.size(), 10u);
  BufSlice w = WriteSlice(std::move(r).Into());
  EXPECT_EQ(w.size(), 10u);
}

TEST(FixedBufDeathTest, SizePastCapacityAborts) {
  FixedBuf b = FixedBuf::Heap(4);
  EXPECT_DEATH(b.set_size(5), "past capacity");
}

TEST(FixedBufDeathTest, SliceOutsideTheBufferAborts) {
  EXPECT_DEATH(BufSlice(FixedBuf::Heap(4), 2, 5), "outside a buffer");
}

}  // namespace
}  // namespace veloq::io
