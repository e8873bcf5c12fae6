#include "actors/sharded_service.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gtest/gtest.h"
#include "runtime/timer.h"
#include "testing/test_runtime.h"

namespace veloq::actors {
namespace {

using runtime::Task;
using veloq::testing::RunOnRuntime;

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

TEST(ShardedServiceTest, OneInstancePerShardRoutedByKey) {
  auto r = RunOnRuntime({.shards = 3}, []() -> Task<absl::Status> {
    ShardedService<Partition> kv =
        co_await ShardedService<Partition>::Start(std::string("kv"));
    if (kv.size() != 3) co_return absl::InternalError("size");
    std::vector<absl::StatusOr<std::string>> where =
        co_await kv.InvokeOnAll(WhereAmI{});
    for (uint32_t s = 0; s < 3; ++s) {
      if (*where[s] != "kv@" + std::to_string(s))
        co_return absl::InternalError(*where[s]);
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
      if (!v.ok() || *v != i) co_return absl::InternalError(key);
    }
    GetKey nope{"nope"};
    absl::StatusOr<int> missing =
        co_await kv.ForKey("nope").Ask(std::move(nope));
    if (missing.status().code() != absl::StatusCode::kNotFound) {
      co_return absl::InternalError("missing key");
    }
    const size_t total = co_await kv.MapReduce(
        Size{}, size_t{0},
        [](size_t acc, absl::StatusOr<size_t> n) { return acc + *n; });
    if (total != 300) co_return absl::InternalError(std::to_string(total));
    // Every partition got some keys (the hash spreads them).
    std::vector<absl::StatusOr<size_t>> sizes = co_await kv.InvokeOnAll(Size{});
    for (auto& n : sizes) {
      if (*n == 0) co_return absl::InternalError("empty partition");
    }
    kv.Stop();
    (void)co_await runtime::Sleep(std::chrono::milliseconds(2));
    absl::StatusOr<size_t> after = co_await kv.InvokeOn(1, Size{});
    if (after.status().code() != absl::StatusCode::kFailedPrecondition) {
      co_return absl::InternalError("not stopped");
    }
    co_return absl::OkStatus();
  });
  EXPECT_TRUE(r.ok()) << r;
}

TEST(ShardForTest, StableAndSpread) {
  EXPECT_EQ(ShardFor("user:42", 16), ShardFor("user:42", 16));
  std::vector<int> hits(8);
  for (int i = 0; i < 8000; ++i) ++hits[ShardFor("key" + std::to_string(i), 8)];
  for (int h : hits) EXPECT_GT(h, 800);
}

}  // namespace
}  // namespace veloq::actors
