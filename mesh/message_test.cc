#include "mesh/message.h"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace veloq::mesh {
namespace {

// What a Probe saw: calls, live instances, and where the closure ran.
struct Counts {
  int calls = 0;
  int live = 0;
  int moves = 0;
  const void* ran_at = nullptr;
};

// A capture that counts its own live copies in a shared Counts, so that a
// test can tell whether a Message destroyed or leaked it, and how many times
// the closure was called.
class Probe {
 public:
  explicit Probe(Counts* counts) : counts_(counts) { ++counts_->live; }
  Probe(Probe&& other) noexcept : counts_(other.counts_) {
    ++counts_->live;
    ++counts_->moves;
  }
  Probe& operator=(Probe&&) = delete;
  ~Probe() { --counts_->live; }

  void Call(const void* closure) const {
    ++counts_->calls;
    counts_->ran_at = closure;
  }

 private:
  Counts* counts_;
};

// A closure of exactly sizeof(Probe) + kPad bytes.
template <std::size_t kPad>
struct PaddedClosure {
  explicit PaddedClosure(Counts* counts) : probe(counts) {}
  void operator()() { probe.Call(this); }

  Probe probe;
  unsigned char pad[kPad] = {};
};

using FitsInline = PaddedClosure<Message::kInlineSize - sizeof(Probe)>;
using OneWordTooBig = PaddedClosure<Message::kInlineSize>;
static_assert(sizeof(FitsInline) == Message::kInlineSize);
static_assert(sizeof(OneWordTooBig) > Message::kInlineSize);

// Small, but its move constructor may throw: must be boxed, since relocating
// it inside a noexcept Message move could not report a failure.
struct ThrowingMove {
  explicit ThrowingMove(Counts* counts) : probe(counts) {}
  ThrowingMove(ThrowingMove&& other) noexcept(false)
      : probe(std::move(other.probe)) {}
  void operator()() { probe.Call(this); }

  Probe probe;
};
static_assert(!std::is_nothrow_move_constructible_v<ThrowingMove>);

// Small, but aligned beyond what the inline storage guarantees.
struct alignas(2 * alignof(std::max_align_t)) OverAligned {
  explicit OverAligned(Counts* counts) : probe(counts) {}
  void operator()() { probe.Call(this); }

  Probe probe;
};

bool IsInside(const void* p, const Message& m) {
  const auto* begin = reinterpret_cast<const unsigned char*>(&m);
  const auto* q = static_cast<const unsigned char*>(p);
  return q >= begin && q < begin + sizeof(Message);
}

// Runs a Message built from Closure, after moving it once, and reports
// whether the closure ran inside the Message (inline) or elsewhere (boxed).
// Also checks the move did (inline) or did not (boxed) move the closure.
template <class Closure>
bool RunsInline() {
  Counts counts;
  Message first{Closure(&counts)};
  const int moves_before = counts.moves;
  Message second(std::move(first));
  const bool moved_closure = counts.moves > moves_before;
  second.Run();
  EXPECT_EQ(counts.calls, 1);
  EXPECT_EQ(counts.live, 0);
  const bool inline_run = IsInside(counts.ran_at, second);
  // Inline storage relocates the closure on every move; a box only moves the
  // pointer.
  EXPECT_EQ(moved_closure, inline_run);
  return inline_run;
}

TEST(MessageTest, SmallNothrowClosuresAreInline) {
  EXPECT_TRUE(RunsInline<PaddedClosure<0>>());
  EXPECT_TRUE(RunsInline<FitsInline>());
}

TEST(MessageTest, LargeClosuresAreBoxed) {
  EXPECT_FALSE(RunsInline<OneWordTooBig>());
  EXPECT_FALSE(RunsInline<PaddedClosure<1024>>());
}

TEST(MessageTest, ThrowingMoveClosuresAreBoxed) {
  EXPECT_FALSE(RunsInline<ThrowingMove>());
}

TEST(MessageTest, OverAlignedClosuresAreBoxed) {
  EXPECT_FALSE(RunsInline<OverAligned>());
}

TEST(MessageTest, DefaultConstructedIsEmpty) {
  Message m;
  EXPECT_FALSE(m);
  m.Reset();  // No-op on an empty Message.
  EXPECT_FALSE(m);
}

TEST(MessageTest, LambdaAndFunctionPointerRun) {
  static int calls = 0;
  calls = 0;
  int lambda_calls = 0;
  Message lambda([&lambda_calls] { ++lambda_calls; });
  Message fn(+[] { ++calls; });
  ASSERT_TRUE(lambda);
  ASSERT_TRUE(fn);
  lambda.Run();
  fn.Run();
  EXPECT_EQ(lambda_calls, 1);
  EXPECT_EQ(calls, 1);
}

template <class Closure>
void RunCallsOnceAndDestroysCaptures() {
  Counts counts;
  Message m{Closure(&counts)};
  EXPECT_TRUE(m);
  EXPECT_EQ(counts.live, 1);
  EXPECT_EQ(counts.calls, 0);
  m.Run();
  EXPECT_EQ(counts.calls, 1);
  // Captures are gone as soon as Run returns, not when the Message dies.
  EXPECT_EQ(counts.live, 0);
  EXPECT_FALSE(m);
}

TEST(MessageTest, RunCallsOnceAndDestroysCapturesInline) {
  RunCallsOnceAndDestroysCaptures<FitsInline>();
}

TEST(MessageTest, RunCallsOnceAndDestroysCapturesBoxed) {
  RunCallsOnceAndDestroysCaptures<OneWordTooBig>();
}

template <class Closure>
void DestroyingUnrunDestroysWithoutCalling() {
  Counts counts;
  {
    Message m{Closure(&counts)};
    EXPECT_EQ(counts.live, 1);
  }
  EXPECT_EQ(counts.calls, 0);
  EXPECT_EQ(counts.live, 0);

  Message m{Closure(&counts)};
  m.Reset();
  EXPECT_FALSE(m);
  EXPECT_EQ(counts.calls, 0);
  EXPECT_EQ(counts.live, 0);
}

TEST(MessageTest, DestroyingUnrunDestroysWithoutCallingInline) {
  DestroyingUnrunDestroysWithoutCalling<FitsInline>();
}

TEST(MessageTest, DestroyingUnrunDestroysWithoutCallingBoxed) {
  DestroyingUnrunDestroysWithoutCalling<OneWordTooBig>();
}

TEST(MessageTest, MoveOnlyCapturesAreOwnedAndReleased) {
  auto owned = std::make_unique<int>(7);
  std::weak_ptr<int> weak;
  int seen = 0;
  {
    auto shared = std::make_shared<int>(9);
    weak = shared;
    Message m([p = std::move(owned), s = std::move(shared), &seen] {
      seen = *p + *s;
    });
    EXPECT_FALSE(weak.expired());
  }
  // Unrun: the captures died with the Message, the body never ran.
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(seen, 0);
}

template <class Closure>
void MoveTransfersOwnership() {
  Counts counts;
  Message a{Closure(&counts)};
  Message b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): checks moved-from.
  EXPECT_TRUE(b);
  EXPECT_EQ(counts.live, 1);

  Message c;
  c = std::move(b);
  EXPECT_FALSE(b);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(c);
  EXPECT_EQ(counts.live, 1);

  a.Reset();  // Destroying the moved-from Messages touches nothing.
  b.Reset();
  EXPECT_EQ(counts.live, 1);
  EXPECT_EQ(counts.calls, 0);

  c.Run();
  EXPECT_EQ(counts.calls, 1);
  EXPECT_EQ(counts.live, 0);
}

TEST(MessageTest, MoveTransfersOwnershipInline) {
  MoveTransfersOwnership<FitsInline>();
}

TEST(MessageTest, MoveTransfersOwnershipBoxed) {
  MoveTransfersOwnership<OneWordTooBig>();
}

// Move-assign destroys (without calling) the closure the target held, for
// every combination of inline and boxed on either side.
template <class Old, class New>
void MoveAssignReleasesOldClosure() {
  Counts old_counts;
  Counts new_counts;
  Message target{Old(&old_counts)};
  Message source{New(&new_counts)};
  target = std::move(source);
  EXPECT_EQ(old_counts.live, 0);
  EXPECT_EQ(old_counts.calls, 0);
  EXPECT_EQ(new_counts.live, 1);
  EXPECT_FALSE(source);  // NOLINT(bugprone-use-after-move)
  target.Run();
  EXPECT_EQ(old_counts.calls, 0);
  EXPECT_EQ(new_counts.calls, 1);
  EXPECT_EQ(new_counts.live, 0);
}

TEST(MessageTest, MoveAssignReleasesOldClosure) {
  MoveAssignReleasesOldClosure<FitsInline, FitsInline>();
  MoveAssignReleasesOldClosure<FitsInline, OneWordTooBig>();
  MoveAssignReleasesOldClosure<OneWordTooBig, FitsInline>();
  MoveAssignReleasesOldClosure<OneWordTooBig, OneWordTooBig>();
}

TEST(MessageTest, MoveAssignFromEmptyReleasesOldClosure) {
  Counts counts;
  Message target{OneWordTooBig(&counts)};
  Message empty;
  target = std::move(empty);
  EXPECT_FALSE(target);
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.calls, 0);
}

TEST(MessageTest, SelfMoveAssignKeepsClosure) {
  Counts counts;
  Message m{FitsInline(&counts)};
  Message& alias = m;
  m = std::move(alias);
  EXPECT_TRUE(m);
  EXPECT_EQ(counts.live, 1);
  m.Run();
  EXPECT_EQ(counts.calls, 1);
  EXPECT_EQ(counts.live, 0);
}

#if defined(__cpp_exceptions)
// What the test handler saw.
int g_reported = 0;
std::string g_last_what;

void RecordException(std::exception_ptr e) {
  ++g_reported;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    g_last_what = x.what();
  } catch (...) {
    g_last_what = "?";
  }
}

// A closure that throws when called; its Probe tells whether it was
// destroyed afterwards.
template <std::size_t kPad>
struct ThrowingClosure {
  explicit ThrowingClosure(Counts* counts) : probe(counts) {}
  void operator()() {
    probe.Call(this);
    throw std::runtime_error("boom");
  }
  Probe probe;
  unsigned char pad[kPad] = {};
};

class MessageExceptionTest : public testing::Test {
 protected:
  void SetUp() override {
    g_reported = 0;
    g_last_what.clear();
    SetMessageExceptionHandler(&RecordException);
  }
  void TearDown() override { SetMessageExceptionHandler(nullptr); }
};

// The exception goes to the handler, not to the caller, and the closure is
// destroyed all the same: inline, boxed, and through RunAndEnd (the ring's
// path).
TEST_F(MessageExceptionTest, AThrowingClosureIsReportedAndDestroyed) {
  Counts inline_counts, boxed_counts, ring_counts;
  {
    Message m{ThrowingClosure<8>(&inline_counts)};
    m.Run();
    EXPECT_FALSE(m);
  }
  {
    Message m{ThrowingClosure<Message::kInlineSize>(&boxed_counts)};
    m.Run();
  }
  {
    alignas(Message) unsigned char slot[sizeof(Message)];
    Message* m = new (slot) Message(ThrowingClosure<0>(&ring_counts));
    Message::RunAndEnd(m);
  }
  for (const Counts* c : {&inline_counts, &boxed_counts, &ring_counts}) {
    EXPECT_EQ(c->calls, 1);
    EXPECT_EQ(c->live, 0) << "the closure that threw was not destroyed";
  }
  EXPECT_EQ(g_reported, 3);
  EXPECT_EQ(g_last_what, "boom");
}

TEST_F(MessageExceptionTest, NoThrowNoReport) {
  Counts counts;
  Message m{FitsInline(&counts)};
  m.Run();
  EXPECT_EQ(counts.calls, 1);
  EXPECT_EQ(g_reported, 0);
}
#endif

}  // namespace
}  // namespace veloq::mesh
