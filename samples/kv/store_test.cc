#include "samples/kv/store.h"

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veloq::kv {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// A StatusOr<int64_t> that is ok and holds `expected`.
MATCHER_P(IsOkAndHolds, expected, "") {
  if (!arg.ok()) {
    *result_listener << "status " << arg.status();
    return false;
  }
  *result_listener << "value " << *arg;
  return *arg == expected;
}

SetOptions ExpireAt(int64_t deadline_ms) {
  SetOptions o;
  o.expire_at_ms = deadline_ms;
  return o;
}

SetOptions WithGet(SetCondition condition = SetCondition::kAlways) {
  SetOptions o;
  o.condition = condition;
  o.get = true;
  return o;
}

class RecordingObserver : public ExpiryObserver {
 public:
  void OnExpired(absl::string_view key) override { keys.emplace_back(key); }
  std::vector<std::string> keys;
};

TEST(ParseInt64Test, AcceptsRedisIntegers) {
  int64_t v = -1;
  EXPECT_TRUE(ParseInt64("0", &v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(ParseInt64("42", &v));
  EXPECT_EQ(v, 42);
  EXPECT_TRUE(ParseInt64("-7", &v));
  EXPECT_EQ(v, -7);
  EXPECT_TRUE(ParseInt64("9223372036854775807", &v));
  EXPECT_EQ(v, kMax);
  EXPECT_TRUE(ParseInt64("-9223372036854775808", &v));
  EXPECT_EQ(v, kMin);
}

TEST(ParseInt64Test, RejectsWhatRedisRejects) {
  int64_t v = 0;
  for (absl::string_view bad :
       {"", "-", "+1", " 1", "1 ", "01", "-0", "00", "1.5", "1e3", "abc",
        "9223372036854775808", "-9223372036854775809", "99999999999999999999",
        "123456789012345678901"}) {
    EXPECT_FALSE(ParseInt64(bad, &v)) << "'" << bad << "'";
  }
  EXPECT_FALSE(ParseInt64(absl::string_view("1\0", 2), &v));
}

TEST(StoreTest, GetMissingIsNullopt) {
  Store s;
  EXPECT_EQ(s.Get("k", 0), std::nullopt);
  EXPECT_EQ(s.Size(0), 0u);
}

TEST(StoreTest, SetThenGet) {
  Store s;
  EXPECT_TRUE(s.Set("k", "v", {}, 0).written);
  EXPECT_THAT(s.Get("k", 0), Optional(absl::string_view("v")));
  EXPECT_EQ(s.Size(0), 1u);
}

TEST(StoreTest, OverwriteGrowsAndShrinks) {
  Store s;
  const std::string big(1 << 20, 'x');
  s.Set("k", "small", {}, 0);
  s.Set("k", big, {}, 0);
  EXPECT_THAT(s.Get("k", 0), Optional(absl::string_view(big)));
  const uint64_t with_big = s.Stats(0).bytes_used;
  s.Set("k", "tiny", {}, 0);
  EXPECT_THAT(s.Get("k", 0), Optional(absl::string_view("tiny")));
  EXPECT_LT(s.Stats(0).bytes_used, with_big - (1 << 19))
      << "a shrunken value gives its block back";
  s.Set("k", "", {}, 0);
  EXPECT_THAT(s.Get("k", 0), Optional(absl::string_view("")));
  EXPECT_EQ(s.Strlen("k", 0), 0u);
}

TEST(StoreTest, BinaryKeysAndValues) {
  Store s;
  const std::string k1("a\0b", 3), k2("a\0c", 3), k3("a", 1);
  const std::string v("\0\r\n\xff", 4);
  s.Set(k1, v, {}, 0);
  s.Set(k2, "other", {}, 0);
  EXPECT_THAT(s.Get(k1, 0), Optional(absl::string_view(v)));
  EXPECT_THAT(s.Get(k2, 0), Optional(absl::string_view("other")));
  EXPECT_EQ(s.Get(k3, 0), std::nullopt);
  EXPECT_EQ(s.Size(0), 2u);
  EXPECT_TRUE(s.Del(k1, 0));
  EXPECT_THAT(s.Get(k2, 0), Optional(absl::string_view("other")));
}

TEST(StoreTest, EmptyKeyIsAKey) {
  Store s;
  s.Set("", "v", {}, 0);
  EXPECT_THAT(s.Get("", 0), Optional(absl::string_view("v")));
  EXPECT_TRUE(s.Exists("", 0));
}

TEST(StoreTest, ManyKeys) {
  Store s;
  for (int i = 0; i < 20000; ++i) {
    s.Set(absl::StrCat("key:", i), absl::StrCat("value:", i), {}, 0);
  }
  EXPECT_EQ(s.Size(0), 20000u);
  for (int i = 0; i < 20000; i += 7) {
    EXPECT_THAT(s.Get(absl::StrCat("key:", i), 0),
                Optional(absl::string_view(absl::StrCat("value:", i))));
  }
}

TEST(StoreTest, SetNxWritesOnlyWhenAbsent) {
  Store s;
  SetOptions nx;
  nx.condition = SetCondition::kIfAbsent;
  EXPECT_TRUE(s.Set("k", "1", nx, 0).written);
  EXPECT_FALSE(s.Set("k", "2", nx, 0).written);
  EXPECT_THAT(s.Get("k", 0), Optional(absl::string_view("1")));
}

TEST(StoreTest, SetXxWritesOnlyWhenPresent) {
  Store s;
  SetOptions xx;
  xx.condition = SetCondition::kIfPresent;
  EXPECT_FALSE(s.Set("k", "1", xx, 0).written);
  EXPECT_EQ(s.Get("k", 0), std::nullopt);
  s.Set("k", "1", {}, 0);
  EXPECT_TRUE(s.Set("k", "2", xx, 0).written);
  EXPECT_THAT(s.Get("k", 0), Optional(absl::string_view("2")));
}

TEST(StoreTest, SetGetReturnsThePreviousValue) {
  Store s;
  SetResult r = s.Set("k", "1", WithGet(), 0);
  EXPECT_TRUE(r.written);
  EXPECT_EQ(r.old_value, std::nullopt);
  r = s.Set("k", "2", WithGet(), 0);
  EXPECT_THAT(r.old_value, Optional(std::string("1")));
  // NX with GET: the old value comes back and nothing is written.
  r = s.Set("k", "3", WithGet(SetCondition::kIfAbsent), 0);
  EXPECT_FALSE(r.written);
  EXPECT_THAT(r.old_value, Optional(std::string("2")));
  EXPECT_THAT(s.Get("k", 0), Optional(absl::string_view("2")));
  // XX with GET on a missing key.
  r = s.Set("m", "3", WithGet(SetCondition::kIfPresent), 0);
  EXPECT_FALSE(r.written);
  EXPECT_EQ(r.old_value, std::nullopt);
  // Without GET, no copy.
  EXPECT_EQ(s.Set("k", "4", {}, 0).old_value, std::nullopt);
}

TEST(StoreTest, SetClearsTheDeadlineUnlessKeepTtl) {
  Store s;
  s.Set("k", "1", ExpireAt(100), 0);
  EXPECT_EQ(s.Pttl("k", 10), 90);
  SetOptions keep;
  keep.keep_ttl = true;
  s.Set("k", "2", keep, 10);
  EXPECT_EQ(s.Pttl("k", 10), 90);
  s.Set("k", "3", {}, 10);
  EXPECT_EQ(s.Pttl("k", 10), -1);
  EXPECT_EQ(s.Stats(10).expires, 0u);
}

TEST(StoreTest, KeepTtlOnAMissingKeyHasNoDeadline) {
  Store s;
  SetOptions keep;
  keep.keep_ttl = true;
  s.Set("k", "v", keep, 0);
  EXPECT_EQ(s.Pttl("k", 0), -1);
}

TEST(StoreTest, SetWithAPastDeadlineRemovesTheKey) {
  Store s;
  RecordingObserver observer;
  s.SetExpiryObserver(&observer);
  s.Set("k", "old", {}, 100);
  EXPECT_TRUE(s.Set("k", "v", ExpireAt(100), 100).written);
  EXPECT_EQ(s.Get("k", 100), std::nullopt);
  EXPECT_EQ(s.Size(100), 0u);
  EXPECT_THAT(observer.keys, ElementsAre("k"));
}

TEST(StoreTest, LazyExpiryAtTheDeadline) {
  Store s;
  s.Set("k", "v", ExpireAt(1000), 0);
  EXPECT_THAT(s.Get("k", 999), Optional(absl::string_view("v")));
  EXPECT_TRUE(s.Exists("k", 999));
  EXPECT_EQ(s.Pttl("k", 999), 1);
  EXPECT_EQ(s.Get("k", 1000), std::nullopt);
  EXPECT_FALSE(s.Exists("k", 1000));
  EXPECT_EQ(s.Pttl("k", 1000), -2);
  const StoreStats stats = s.Stats(1000);
  EXPECT_EQ(stats.expired_keys, 1u);
  EXPECT_EQ(stats.keys, 0u);
  EXPECT_EQ(stats.expires, 0u);
}

TEST(StoreTest, ExpiredKeysAreInvisibleToEveryRead) {
  Store s;
  s.Set("a", "12345", ExpireAt(10), 0);
  s.Set("b", "7", ExpireAt(10), 0);
  s.Set("c", "x", ExpireAt(10), 0);
  s.Set("d", "x", ExpireAt(10), 0);
  s.Set("e", "x", ExpireAt(10), 0);
  s.Set("live", "x", {}, 0);
  EXPECT_EQ(s.Size(10), 1u);  // before any of them was touched
  s.Set("a", "12345", ExpireAt(20), 10);
  s.Set("b", "7", ExpireAt(20), 10);
  EXPECT_EQ(s.Strlen("a", 20), 0u);
  EXPECT_EQ(s.GetDel("a", 20), std::nullopt);
  EXPECT_FALSE(s.Del("b", 20));
  EXPECT_FALSE(s.Persist("c", 20));
  EXPECT_FALSE(s.ExpireAt("d", 100, {}, 20));
  EXPECT_EQ(s.Pttl("e", 20), -2);
  EXPECT_EQ(s.Stats(20).keys, 1u);
}

TEST(StoreTest, WritesToAnExpiredKeyStartFresh) {
  Store s;
  s.Set("n", "41", ExpireAt(10), 0);
  EXPECT_THAT(s.IncrBy("n", 1, 10), IsOkAndHolds(1));
  EXPECT_EQ(s.Pttl("n", 10), -1);
  s.Set("a", "old", ExpireAt(10), 0);
  EXPECT_EQ(s.Append("a", "new", 10), 3u);
  EXPECT_EQ(s.Pttl("a", 10), -1);
  s.Set("x", "old", ExpireAt(10), 0);
  SetOptions nx = WithGet(SetCondition::kIfAbsent);
  const SetResult r = s.Set("x", "v", nx, 10);
  EXPECT_TRUE(r.written);
  EXPECT_EQ(r.old_value, std::nullopt);
  EXPECT_EQ(s.Pttl("x", 10), -1);
  SetOptions keep;
  keep.keep_ttl = true;
  s.Set("y", "old", ExpireAt(10), 0);
  s.Set("y", "v", keep, 10);
  EXPECT_EQ(s.Pttl("y", 10), -1) << "KEEPTTL does not revive a passed deadline";
  EXPECT_EQ(s.Stats(10).expired_keys, 4u);
}

TEST(StoreTest, ExpireSomeReclaimsWithinItsBudget) {
  Store s;
  RecordingObserver observer;
  s.SetExpiryObserver(&observer);
  for (int i = 0; i < 1000; ++i) {
    s.Set(absl::StrCat("t", i), "v", ExpireAt(1000 + i), 0);
    s.Set(absl::StrCat("p", i), "v", {}, 0);
  }
  EXPECT_EQ(s.ExpireSome(999, 100), 0u);
  // At 1499, keys t0..t499 have expired.
  EXPECT_EQ(s.ExpireSome(1499, 100), 100u);
  EXPECT_EQ(observer.keys.front(), "t0") << "earliest deadline first";
  EXPECT_EQ(observer.keys.back(), "t99");
  size_t total = 100;
  size_t n = 0;
  while ((n = s.ExpireSome(1499, 64)) == 64) total += n;
  total += n;
  EXPECT_EQ(total, 500u);
  EXPECT_EQ(observer.keys.size(), 500u);
  EXPECT_THAT(s.Get("t500", 1499), Optional(absl::string_view("v")));
  EXPECT_EQ(s.Size(1499), 1500u);
  EXPECT_EQ(s.ExpireSome(kMax - 1, 10000), 500u);
  EXPECT_EQ(s.Size(kMax - 1), 1000u) << "keys without a deadline stay";
  EXPECT_EQ(s.Stats(kMax - 1).expired_keys, 1000u);
}

TEST(StoreTest, ExpireSomeFollowsDeadlineChanges) {
  Store s;
  for (int i = 0; i < 100; ++i) {
    s.Set(absl::StrCat("k", i), "v", ExpireAt(100 + i), 0);
  }
  // Move k0..k9 late, k90..k99 early, drop the deadline of k50.
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(s.ExpireAt(absl::StrCat("k", i), 10000, {}, 0));
    EXPECT_TRUE(s.ExpireAt(absl::StrCat("k", 90 + i), 50, {}, 0));
  }
  EXPECT_TRUE(s.Persist("k50", 0));
  RecordingObserver observer;
  s.SetExpiryObserver(&observer);
  EXPECT_EQ(s.ExpireSome(50, 1000), 10u);
  for (const std::string& k : observer.keys) {
    EXPECT_GE(std::stoi(k.substr(1)), 90) << k;
  }
  EXPECT_EQ(s.ExpireSome(9999, 1000), 79u);
  EXPECT_EQ(s.Size(9999), 11u);
  EXPECT_EQ(s.Pttl("k50", 9999), -1);
}

TEST(StoreTest, DelExistsGetDel) {
  Store s;
  EXPECT_FALSE(s.Del("k", 0));
  s.Set("k", "v", ExpireAt(100), 0);
  EXPECT_TRUE(s.Exists("k", 0));
  EXPECT_THAT(s.GetDel("k", 0), Optional(std::string("v")));
  EXPECT_FALSE(s.Exists("k", 0));
  EXPECT_EQ(s.GetDel("k", 0), std::nullopt);
  s.Set("k", "v", ExpireAt(100), 0);
  EXPECT_TRUE(s.Del("k", 0));
  EXPECT_FALSE(s.Del("k", 0));
  EXPECT_EQ(s.Stats(0).expires, 0u) << "deleting drops the expiry entry";
}

TEST(StoreTest, IncrBy) {
  Store s;
  EXPECT_THAT(s.IncrBy("n", 1, 0), IsOkAndHolds(1));
  EXPECT_THAT(s.IncrBy("n", -11, 0), IsOkAndHolds(-10));
  EXPECT_THAT(s.Get("n", 0), Optional(absl::string_view("-10")));
  s.Set("n", "100", ExpireAt(50), 0);
  EXPECT_THAT(s.IncrBy("n", 5, 0), IsOkAndHolds(105));
  EXPECT_EQ(s.Pttl("n", 0), 50) << "INCR keeps the deadline";
}

TEST(StoreTest, IncrByRejectsNonIntegers) {
  Store s;
  for (absl::string_view bad :
       {"", "abc", " 1", "1 ", "+1", "01", "1.0", "9223372036854775808"}) {
    s.Set("n", bad, {}, 0);
    const absl::StatusOr<int64_t> r = s.IncrBy("n", 1, 0);
    ASSERT_FALSE(r.ok()) << "'" << bad << "'";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "value is not an integer or out of range");
    EXPECT_THAT(s.Get("n", 0), Optional(bad)) << "unchanged";
  }
}

TEST(StoreTest, IncrByOverflowEdges) {
  Store s;
  s.Set("n", "9223372036854775806", {}, 0);
  EXPECT_THAT(s.IncrBy("n", 1, 0), IsOkAndHolds(kMax));
  absl::StatusOr<int64_t> r = s.IncrBy("n", 1, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(r.status().message(), "increment or decrement would overflow");
  EXPECT_THAT(s.Get("n", 0),
              Optional(absl::string_view("9223372036854775807")));
  EXPECT_THAT(s.IncrBy("n", kMin, 0), IsOkAndHolds(-1));
  s.Set("n", "-9223372036854775808", {}, 0);
  EXPECT_FALSE(s.IncrBy("n", -1, 0).ok());
  EXPECT_THAT(s.IncrBy("n", kMax, 0), IsOkAndHolds(-1));
  EXPECT_THAT(s.IncrBy("fresh", kMin, 0), IsOkAndHolds(kMin));
  EXPECT_THAT(s.Get("fresh", 0),
              Optional(absl::string_view("-9223372036854775808")));
}

TEST(StoreTest, IncrByZeroCreatesTheKey) {
  Store s;
  EXPECT_THAT(s.IncrBy("n", 0, 0), IsOkAndHolds(0));
  EXPECT_TRUE(s.Exists("n", 0));
}

TEST(StoreTest, AppendAndStrlen) {
  Store s;
  EXPECT_EQ(s.Strlen("k", 0), 0u);
  EXPECT_EQ(s.Append("k", "ab", 0), 2u);
  s.ExpireAt("k", 100, {}, 0);
  std::string expected = "ab";
  for (int i = 0; i < 2000; ++i) {
    const std::string piece = absl::StrCat(i, ",");
    expected += piece;
    EXPECT_EQ(s.Append("k", piece, 0), expected.size());
  }
  EXPECT_THAT(s.Get("k", 0), Optional(absl::string_view(expected)));
  EXPECT_EQ(s.Strlen("k", 0), expected.size());
  EXPECT_EQ(s.Pttl("k", 0), 100) << "APPEND keeps the deadline";
  EXPECT_EQ(s.Append("k", "", 0), expected.size());
  EXPECT_EQ(s.ExpireSome(100, 10), 1u) << "the index follows the moved block";
}

TEST(StoreTest, ExpireAtPlainAndPast) {
  Store s;
  RecordingObserver observer;
  s.SetExpiryObserver(&observer);
  EXPECT_FALSE(s.ExpireAt("k", 100, {}, 0)) << "missing key";
  s.Set("k", "v", {}, 0);
  EXPECT_TRUE(s.ExpireAt("k", 100, {}, 0));
  EXPECT_EQ(s.Pttl("k", 40), 60);
  EXPECT_TRUE(s.ExpireAt("k", 40, {}, 40)) << "a past deadline deletes";
  EXPECT_FALSE(s.Exists("k", 40));
  EXPECT_THAT(observer.keys, ElementsAre("k"));
}

TEST(StoreTest, ExpireConditions) {
  Store s;
  s.Set("k", "v", {}, 0);
  ExpireCondition nx{.nx = true}, xx{.xx = true}, gt{.gt = true},
      lt{.lt = true}, xx_gt{.xx = true, .gt = true};
  // Without a deadline (infinite for GT and LT).
  EXPECT_FALSE(s.ExpireAt("k", 100, xx, 0));
  EXPECT_FALSE(s.ExpireAt("k", 100, gt, 0));
  EXPECT_FALSE(s.ExpireAt("k", 100, xx_gt, 0));
  EXPECT_EQ(s.Pttl("k", 0), -1);
  EXPECT_TRUE(s.ExpireAt("k", 100, lt, 0));
  EXPECT_EQ(s.Pttl("k", 0), 100);
  s.Persist("k", 0);
  EXPECT_TRUE(s.ExpireAt("k", 100, nx, 0));
  // With deadline 100.
  EXPECT_FALSE(s.ExpireAt("k", 200, nx, 0));
  EXPECT_FALSE(s.ExpireAt("k", 100, gt, 0));
  EXPECT_FALSE(s.ExpireAt("k", 50, gt, 0));
  EXPECT_TRUE(s.ExpireAt("k", 200, gt, 0));
  EXPECT_TRUE(s.ExpireAt("k", 300, xx_gt, 0));
  EXPECT_FALSE(s.ExpireAt("k", 300, lt, 0));
  EXPECT_TRUE(s.ExpireAt("k", 150, lt, 0));
  EXPECT_TRUE(s.ExpireAt("k", 120, xx, 0));
  EXPECT_EQ(s.Pttl("k", 0), 120);
}

TEST(StoreTest, PersistAndPttl) {
  Store s;
  EXPECT_EQ(s.Pttl("k", 0), -2);
  s.Set("k", "v", {}, 0);
  EXPECT_EQ(s.Pttl("k", 0), -1);
  EXPECT_FALSE(s.Persist("k", 0));
  s.ExpireAt("k", 5000, {}, 0);
  EXPECT_EQ(s.Pttl("k", 1234), 3766);
  EXPECT_TRUE(s.Persist("k", 1234));
  EXPECT_EQ(s.Pttl("k", 99999), -1);
  EXPECT_EQ(s.ExpireSome(99999, 10), 0u);
}

TEST(StoreTest, DeadlinesAreClampedBelowInt64Max) {
  Store s;
  s.Set("k", "v", ExpireAt(kMax), 0);
  EXPECT_EQ(s.Pttl("k", 0), kMax - 1);
  s.ExpireAt("k", kMax, {}, 0);
  EXPECT_EQ(s.Pttl("k", 0), kMax - 1);
  EXPECT_EQ(s.Stats(0).expires, 1u);
}

TEST(StoreTest, FlushRemovesEverything) {
  Store s;
  for (int i = 0; i < 1000; ++i) {
    s.Set(absl::StrCat("k", i), "v", i % 2 ? ExpireAt(100) : SetOptions{}, 0);
  }
  s.Get("k1", 0);
  s.Flush();
  EXPECT_EQ(s.Size(0), 0u);
  EXPECT_EQ(s.Get("k1", 0), std::nullopt);
  EXPECT_EQ(s.ExpireSome(1000, 1000), 0u);
  const StoreStats stats = s.Stats(0);
  EXPECT_EQ(stats.expires, 0u);
  EXPECT_EQ(stats.hits, 1u) << "counters survive a flush";
  EXPECT_LT(stats.bytes_used, 4096u);
  s.Set("k1", "again", {}, 0);
  EXPECT_THAT(s.Get("k1", 0), Optional(absl::string_view("again")));
}

TEST(StoreTest, StatsCountHitsMissesAndBytes) {
  Store s;
  const uint64_t empty = s.Stats(0).bytes_used;
  s.Set("a", "1", {}, 0);
  s.Set("b", std::string(10000, 'x'), ExpireAt(100), 0);
  s.Get("a", 0);                  // hit
  s.Get("zz", 0);                 // miss
  s.Exists("b", 0);               // hit
  s.Strlen("nope", 0);            // miss
  s.Pttl("a", 0);                 // hit
  s.Set("a", "2", WithGet(), 0);  // hit
  s.Set("c", "2", WithGet(), 0);  // miss
  s.Set("d", "2", {}, 0);         // not a read
  s.Del("d", 0);                  // not a read
  const StoreStats stats = s.Stats(0);
  EXPECT_EQ(stats.keys, 3u);
  EXPECT_EQ(stats.expires, 1u);
  EXPECT_EQ(stats.hits, 4u);
  EXPECT_EQ(stats.misses, 3u);
  EXPECT_EQ(stats.expired_keys, 0u);
  EXPECT_GE(stats.bytes_used, empty + 10000);
  EXPECT_LT(stats.bytes_used, empty + 12000);
}

// Prefetch is a hint: present, missing, expired and colliding keys leave
// the contents, the deadlines and the counters as they were.
TEST(StoreTest, PrefetchChangesNothing) {
  Store s;
  for (int i = 0; i < 2000; ++i) s.Set(absl::StrCat("k", i), "v", {}, 0);
  s.Set("gone", "v", ExpireAt(5), 0);
  const StoreStats before = s.Stats(0);
  std::vector<std::string> names;
  for (int i = 0; i < 4000; i += 3) names.push_back(absl::StrCat("k", i));
  names.push_back("gone");
  names.push_back("");
  const std::vector<absl::string_view> keys(names.begin(), names.end());
  s.Prefetch(keys);
  s.Prefetch({});
  const StoreStats after = s.Stats(0);
  EXPECT_EQ(after.keys, before.keys);
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.expired_keys, before.expired_keys);
  EXPECT_EQ(s.Pttl("gone", 0), 5);
  EXPECT_THAT(s.Get("k1998", 0), Optional(absl::string_view("v")));
  EXPECT_EQ(s.Get("k2001", 0), std::nullopt);
}

TEST(StoreTest, ObserverSeesLazyAndActiveExpiry) {
  Store s;
  RecordingObserver observer;
  s.SetExpiryObserver(&observer);
  s.Set("lazy", "v", ExpireAt(10), 0);
  s.Set("active", "v", ExpireAt(10), 0);
  s.Set("reused", "v", ExpireAt(10), 0);
  EXPECT_EQ(s.Get("lazy", 10), std::nullopt);
  s.Set("reused", "w", {}, 10);
  EXPECT_EQ(s.ExpireSome(10, 10), 1u);
  EXPECT_THAT(observer.keys, ElementsAre("lazy", "reused", "active"));
  s.SetExpiryObserver(nullptr);
  s.Set("quiet", "v", ExpireAt(20), 0);
  EXPECT_EQ(s.Size(20), 1u);
  EXPECT_EQ(observer.keys.size(), 3u);
}

// A seeded random walk against a simple model (std::map with deadlines),
// checking every read and, often, the expiry index through ExpireSome.
TEST(StoreTest, RandomOperationsMatchAModel) {
  struct Entry {
    std::string value;
    int64_t deadline = kMax;
  };
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    std::mt19937 rng(seed);
    Store s;
    std::map<std::string, Entry> model;
    int64_t now = 0;
    auto live = [&](const std::string& k) -> Entry* {
      auto it = model.find(k);
      if (it == model.end()) return nullptr;
      if (it->second.deadline <= now) {
        model.erase(it);
        return nullptr;
      }
      return &it->second;
    };
    for (int step = 0; step < 20000; ++step) {
      now += rng() % 3;
      const std::string key = absl::StrCat("k", rng() % 64);
      const std::string value(rng() % 40, static_cast<char>('a' + rng() % 26));
      const int64_t deadline = now + 1 + rng() % 50;
      switch (rng() % 9) {
        case 0:
          if (Entry* e = live(key)) {
            ASSERT_THAT(s.Get(key, now), Optional(absl::string_view(e->value)));
          } else {
            ASSERT_EQ(s.Get(key, now), std::nullopt);
          }
          break;
        case 1:
          s.Set(key, value, {}, now);
          model[key] = {value, kMax};
          break;
        case 2:
          s.Set(key, value, ExpireAt(deadline), now);
          model[key] = {value, deadline};
          break;
        case 3:
          ASSERT_EQ(s.Del(key, now), live(key) != nullptr);
          model.erase(key);
          break;
        case 4: {
          Entry* e = live(key);
          ASSERT_EQ(s.ExpireAt(key, deadline, {}, now), e != nullptr);
          if (e) e->deadline = deadline;
          break;
        }
        case 5: {
          Entry* e = live(key);
          ASSERT_EQ(s.Persist(key, now), e && e->deadline != kMax);
          if (e) e->deadline = kMax;
          break;
        }
        case 6: {
          Entry* e = live(key);
          const int64_t pttl = !e                    ? -2
                               : e->deadline == kMax ? -1
                                                     : e->deadline - now;
          ASSERT_EQ(s.Pttl(key, now), pttl);
          break;
        }
        case 7: {
          Entry* e = live(key);
          const size_t size = s.Append(key, value, now);
          if (e) {
            e->value += value;
          } else {
            model[key] = {value, kMax};
          }
          ASSERT_EQ(size, model[key].value.size());
          break;
        }
        case 8:
          s.ExpireSome(now, 1 + rng() % 4);
          break;
      }
      if (step % 500 == 0) {
        size_t n = 0;
        for (auto it = model.begin(); it != model.end(); ++it) {
          n += it->second.deadline > now;
        }
        ASSERT_EQ(s.Size(now), n) << "seed " << seed << " step " << step;
      }
    }
  }
}

#ifndef NDEBUG
TEST(StoreDeathTest, CallsFromAnotherThreadAbort) {
  Store s;
  s.Set("k", "v", {}, 0);
  EXPECT_DEATH(std::thread([&] { s.Get("k", 0); }).join(), "owning shard");
}
#endif

}  // namespace
}  // namespace veloq::kv
