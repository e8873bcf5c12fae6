#include "samples/kv/command_batch.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace veloq::kv {
namespace {

using Args = std::vector<absl::string_view>;

std::vector<Args> ReadAll(const CommandBatch& b) {
  std::vector<Args> out;
  CommandBatch::Reader r(b);
  Args args;
  while (r.Next(&args)) out.push_back(args);
  return out;
}

TEST(CommandBatchTest, ReadsBackWhatWasAddedInOrder) {
  CommandBatch b;
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(ReadAll(b).empty());
  b.Add(Args{"SET", "k1", "v1"});
  b.Add(Args{"GET", "k2"});
  b.Add(Args{"PING"});
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.bytes(), CommandBatch::Footprint(3, 7) +
                           CommandBatch::Footprint(2, 5) +
                           CommandBatch::Footprint(1, 4));
  const std::vector<Args> got = ReadAll(b);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], (Args{"SET", "k1", "v1"}));
  EXPECT_EQ(got[1], (Args{"GET", "k2"}));
  EXPECT_EQ(got[2], (Args{"PING"}));
}

TEST(CommandBatchTest, ArgumentsAreBinarySafeAndMayBeEmpty) {
  const std::string binary("a\0b\r\n\xff", 6);
  CommandBatch b;
  b.Add(Args{"SET", "", binary});
  b.Add(Args{});  // no arguments: kept as a command of none
  const std::vector<Args> got = ReadAll(b);
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].size(), 3u);
  EXPECT_EQ(got[0][1], "");
  EXPECT_EQ(got[0][2], binary);
  EXPECT_TRUE(got[1].empty());
}

TEST(CommandBatchTest, SurvivesAMoveAndGrowthAndClearEmptiesIt) {
  CommandBatch b;
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) keys.push_back("key:" + std::to_string(i));
  for (const std::string& k : keys) b.Add(Args{"GET", k});
  CommandBatch moved = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): documented
  EXPECT_EQ(b.bytes(), 0u);
  const std::vector<Args> got = ReadAll(moved);
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(got[i][1], keys[i]) << i;
  }
  const size_t bytes = moved.bytes();
  moved.Clear();
  EXPECT_TRUE(moved.empty());
  EXPECT_EQ(moved.bytes(), 0u);
  moved.Reserve(bytes);
  moved.Add(Args{"DEL", "x"});
  EXPECT_EQ(ReadAll(moved), (std::vector<Args>{Args{"DEL", "x"}}));
}

}  // namespace
}  // namespace veloq::kv
