#include "actors/sharded_service.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gtest/gtest.h"
#include "testing/eventually.h"
#include "testing/test_runtime.h"

namespace veloq::actors {
namespace {

using namespace std::chrono_literals;
using runtime::Task;
using veloq::testing::Eventually;
using veloq::testing::Shards;

struct Put {
  std::string key;
  int value;
};
struct GetKey {
  std::string key;
};
struct Size {};
struct WhereAmI {};

// A partition of a key-value map: one per shard.
class Partition : public Actor {
 public:
  explicit Partition(std::string name) : name_(std::move(name)) {}
  void Handle(Put p) { data_[p.key] = p.value; }
  absl::StatusOr<int> Handle(GetKey g) const {
    auto it = data_.find(g.key);
    if (it == data_.end()) return absl::NotFoundError(g.key);
    return it->second;
  }
  size_t Handle(Size) const { return data_.size(); }
  std::string Handle(WhereAmI) const {
    return name_ + "@" + std::to_string(runtime::Shard::Current()->id());
  }

 private:
  std::string name_;
  absl::flat_hash_map<std::string, int> data_;
};

VELOQ_TEST_WITH(ShardedServiceTest, OneInstancePerShardRoutedByKey, Shards(3)) {
  std::string name = "kv";
  ShardedService<Partition> kv =
      co_await ShardedService<Partition>::Start(std::move(name));
  CO_ASSERT_EQ(kv.size(), 3u);
  std::vector<absl::StatusOr<std::string>> where =
      co_await kv.InvokeOnAll(WhereAmI{});
  CO_ASSERT_EQ(where.size(), 3u);
  for (uint32_t s = 0; s < 3; ++s) {
    CO_ASSERT_OK(where[s]);
    EXPECT_EQ(*where[s], "kv@" + std::to_string(s));
  }
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(i);
    kv.ForKey(key).Tell(Put{key, i});
  }
  for (int i = 0; i < 300; i += 37) {
    const std::string key = "k" + std::to_string(i);
    // (A message owning memory goes through a local: see docs/actors.md
    // on g++ 12 and aggregate temporaries in co_await expressions.)
    GetKey q{key};
    absl::StatusOr<int> v = co_await kv.ForKey(key).Ask(std::move(q));
    CO_ASSERT_OK(v);
    EXPECT_EQ(*v, i) << key;
  }
  GetKey nope{"nope"};
  absl::StatusOr<int> missing = co_await kv.ForKey("nope").Ask(std::move(nope));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  auto add = [](size_t acc, absl::StatusOr<size_t> n) { return acc + *n; };
  const size_t total = co_await kv.MapReduce(Size{}, size_t{0}, add);
  EXPECT_EQ(total, 300u);
  // Every partition got some keys (the hash spreads them).
  std::vector<absl::StatusOr<size_t>> sizes = co_await kv.InvokeOnAll(Size{});
  for (const absl::StatusOr<size_t>& n : sizes) {
    CO_ASSERT_OK(n);
    EXPECT_GT(*n, 0u);
  }
  kv.Stop();
  auto stopped = [&kv]() -> Task<bool> {
    absl::StatusOr<size_t> n = co_await kv.InvokeOn(1, Size{});
    co_return n.status().code() == absl::StatusCode::kFailedPrecondition;
  };
  CO_ASSERT_OK(co_await Eventually(stopped, 5s));
}

TEST(ShardForTest, StableAndSpread) {
  EXPECT_EQ(ShardFor("user:42", 16), ShardFor("user:42", 16));
  std::vector<int> hits(8);
  for (int i = 0; i < 8000; ++i) ++hits[ShardFor("key" + std::to_string(i), 8)];
  for (int h : hits) EXPECT_GT(h, 800);
}

}  // namespace
}  // namespace veloq::actors
