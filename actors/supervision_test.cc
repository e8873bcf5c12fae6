// Supervision (restart strategies, budgets, escalation), monitors and links.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actors/actor.h"
#include "actors/actor_table.h"
#include "gtest/gtest.h"
#include "runtime/timer.h"
#include "testing/eventually.h"
#include "testing/test_runtime.h"

namespace veloq::actors {
namespace {

using namespace std::chrono_literals;
using runtime::Task;
using veloq::testing::Eventually;
using veloq::testing::RunOnRuntime;
using veloq::testing::Shards;
using veloq::testing::TestRuntimeOptions;

// --- messages ---
struct Bump {};
struct Count {};
struct Crash {
  absl::StatusCode code = absl::StatusCode::kInternal;
};
struct Restarts {};

// A worker with state that a restart resets.
class Worker : public Actor {
 public:
  explicit Worker(std::string name) : name_(std::move(name)) {}
  void Handle(Bump) { ++n_; }
  int Handle(Count) const { return n_; }
  absl::Status Handle(Crash c) {
    return absl::Status(c.code, absl::StrCat(name_, " crashed"));
  }
  uint64_t Handle(Restarts) const { return restart_count(); }

  static inline int stops = 0;

 protected:
  Task<void> OnStop() override {
    ++stops;
    co_return;
  }
  void OnFailure(const absl::Status&) override {}  // quiet

 private:
  std::string name_;
  int n_ = 0;
};

struct GetChildren {};
using Children = std::pair<ActorRef<Worker>, ActorRef<Worker>>;

// A supervisor of two workers with a configurable strategy.
class Supervisor : public Actor {
 public:
  explicit Supervisor(SupervisorStrategy s) : strategy_(std::move(s)) {}
  Children Handle(GetChildren) const { return children_; }

 protected:
  Task<absl::Status> OnStart() override {
    children_ = {SpawnChild<Worker>(std::string("a")),
                 SpawnChild<Worker>(std::string("b"))};
    co_return absl::OkStatus();
  }
  SupervisorStrategy supervisor_strategy() const override { return strategy_; }
  void OnFailure(const absl::Status&) override {}

 private:
  SupervisorStrategy strategy_;
  Children children_;
};

// Records Down notifications and link failures (it traps them).
struct Watch {
  ActorAddress who;
  bool link = false;
};
struct Events {};
struct WatchRef {
  ActorRef<Worker> target;
  bool link = false;
  bool undo = false;
};
struct WatchSup {
  ActorRef<Supervisor> target;
};

class Observer : public Actor {
 public:
  void Handle(WatchRef w) {
    if (w.link) {
      w.undo ? Unlink(w.target) : Link(w.target);
    } else {
      w.undo ? Demonitor(w.target) : Monitor(w.target);
    }
  }
  void Handle(WatchSup w) { Monitor(w.target); }
  std::vector<std::string> Handle(Events) const { return events_; }

 protected:
  void OnDown(const Down& d) override {
    events_.push_back(absl::StrCat("down ", d.actor.shard, ":", d.actor.index,
                                   " ", d.reason.ToString()));
  }
  void OnLinkFailed(const ExitSignal& e) override {
    events_.push_back(absl::StrCat("exit ", e.actor.shard, ":", e.actor.index,
                                   " ", e.reason.ToString()));
  }

 private:
  std::vector<std::string> events_;
};

// `obs`'s events once it has at least `n` (a test failure, and what it has,
// if that takes over 5 s).
Task<std::vector<std::string>> EventsOf(ActorRef<Observer> obs, size_t n) {
  std::vector<std::string> ev;
  auto has_n = [&]() -> Task<bool> {
    absl::StatusOr<std::vector<std::string>> got = co_await obs.Ask(Events{});
    if (got.ok()) ev = *std::move(got);
    co_return ev.size() >= n;
  };
  absl::Status waited = co_await Eventually(has_n, 5s);
  EXPECT_TRUE(waited.ok()) << waited;
  co_return ev;
}

TEST(SupervisionTest, OneForOneRestartsOnlyTheFailedChild) {
  auto r = RunOnRuntime(Shards(1), []() -> Task<std::string> {
    auto sup = Spawn<Supervisor>(SupervisorStrategy{});
    Children c = *co_await sup.Ask(GetChildren{});
    c.first.Tell(Bump{});
    c.first.Tell(Bump{});
    c.second.Tell(Bump{});
    absl::Status crash = co_await c.first.Ask(Crash{});
    // Queued behind the failure: the fresh instance handles it.
    c.first.Tell(Bump{});
    int a = *co_await c.first.Ask(Count{});
    int b = *co_await c.second.Ask(Count{});
    uint64_t ra = *co_await c.first.Ask(Restarts{});
    uint64_t rb = *co_await c.second.Ask(Restarts{});
    co_return absl::StrCat(crash.message(), " a=", a, " b=", b, " ra=", ra,
                           " rb=", rb);
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "a crashed a=1 b=1 ra=1 rb=0");
}

// The same with the supervisor and its children on shard 1 and every
// message sent from shard 0: the failing turn runs in shard 1's mesh drain
// (an idle actor's turn), and the restart still follows it.
TEST(SupervisionTest, OneForOneRestartsAChildFailedFromAnotherShard) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::string> {
    auto sup = co_await SpawnOn<Supervisor>(1, SupervisorStrategy{});
    Children c = *co_await sup.Ask(GetChildren{});
    c.first.Tell(Bump{});
    c.second.Tell(Bump{});
    absl::Status crash = co_await c.first.Ask(Crash{});
    c.first.Tell(Bump{});
    int a = *co_await c.first.Ask(Count{});
    int b = *co_await c.second.Ask(Count{});
    uint64_t ra = *co_await c.first.Ask(Restarts{});
    co_return absl::StrCat(crash.message(), " a=", a, " b=", b, " ra=", ra,
                           " on ", c.first.shard());
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "a crashed a=1 b=1 ra=1 on 1");
}

TEST(SupervisionTest, AllForOneRestartsEverySibling) {
  auto r = RunOnRuntime(Shards(1), []() -> Task<std::string> {
    SupervisorStrategy s;
    s.kind = SupervisorStrategy::Kind::kAllForOne;
    auto sup = Spawn<Supervisor>(s);
    Children c = *co_await sup.Ask(GetChildren{});
    c.second.Tell(Bump{});
    c.second.Tell(Bump{});
    const int stops_before = Worker::stops;
    (void)co_await c.first.Ask(Crash{});
    int b = *co_await c.second.Ask(Count{});
    uint64_t rb = *co_await c.second.Ask(Restarts{});
    co_return absl::StrCat("b=", b, " rb=", rb,
                           " stops=", Worker::stops - stops_before);
  });
  ASSERT_TRUE(r.ok()) << r.status();
  // The sibling lost its state: it is a fresh instance; both old ones got
  // OnStop.
  EXPECT_EQ(*r, "b=0 rb=1 stops=2");
}

TEST(SupervisionTest, DeciderResumesOrStops) {
  auto r = RunOnRuntime(Shards(1), []() -> Task<std::string> {
    SupervisorStrategy s;
    s.decide = [](const absl::Status& st) {
      return st.code() == absl::StatusCode::kUnavailable ? Directive::kResume
                                                         : Directive::kStop;
    };
    auto sup = Spawn<Supervisor>(s);
    auto obs = Spawn<Observer>();
    Children c = *co_await sup.Ask(GetChildren{});
    (void)co_await obs.Ask(WatchRef{c.first});
    c.first.Tell(Bump{});
    (void)co_await c.first.Ask(Crash{absl::StatusCode::kUnavailable});
    int kept = *co_await c.first.Ask(Count{});  // resumed: state kept
    (void)co_await c.first.Ask(Crash{absl::StatusCode::kDataLoss});
    absl::Status after = (co_await c.first.Ask(Count{})).status();
    std::vector<std::string> ev = co_await EventsOf(obs, 1);
    co_return absl::StrCat("kept=", kept, " after=", after.ToString(),
                           " events=", ev.size() == 1 ? ev[0] : "?");
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r,
            "kept=1 after=FAILED_PRECONDITION: actor stopped events=down 0:2 "
            "DATA_LOSS: a crashed");
}

TEST(SupervisionTest, RestartBudgetEscalatesAndStopsTheTree) {
  auto r = RunOnRuntime(Shards(1), []() -> Task<std::vector<std::string>> {
    SupervisorStrategy s;
    s.max_restarts = 2;
    s.within = 10s;
    auto sup = Spawn<Supervisor>(s);
    auto obs = Spawn<Observer>();
    (void)co_await obs.Ask(WatchSup{sup});
    Children c = *co_await sup.Ask(GetChildren{});
    for (int i = 0; i < 3; ++i) (void)co_await c.first.Ask(Crash{});
    // The third failure is over budget: the supervisor (top level) stops
    // with the escalated reason, and takes the other child with it.
    std::vector<std::string> ev = co_await EventsOf(obs, 1);
    absl::Status b = (co_await c.second.Ask(Count{})).status();
    ev.push_back(b.ToString());
    co_return ev;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0],
            "down 0:0 ABORTED: restart budget exceeded (2 in 10000 ms): "
            "INTERNAL: a crashed");
  EXPECT_EQ((*r)[1], "FAILED_PRECONDITION: actor stopped");
}

// A grandparent restarts a supervisor whose child escalated; the restarted
// supervisor starts fresh children.
class Root : public Actor {
 public:
  ActorRef<Supervisor> Handle(GetChildren) const { return sup_; }

 protected:
  Task<absl::Status> OnStart() override {
    SupervisorStrategy s;
    s.decide = [](const absl::Status&) { return Directive::kEscalate; };
    sup_ = SpawnChild<Supervisor>(s);
    co_return absl::OkStatus();
  }
  void OnFailure(const absl::Status&) override {}

 private:
  ActorRef<Supervisor> sup_;
};

TEST(SupervisionTest, EscalationRestartsTheParent) {
  auto r = RunOnRuntime(Shards(1), []() -> Task<std::string> {
    auto root = Spawn<Root>();
    ActorRef<Supervisor> sup = *co_await root.Ask(GetChildren{});
    Children before = *co_await sup.Ask(GetChildren{});
    (void)co_await before.first.Ask(Crash{});
    // The supervisor (same address) was restarted and made new children;
    // the old ones are gone.
    Children after = *co_await sup.Ask(GetChildren{});
    absl::Status old_a = (co_await before.first.Ask(Count{})).status();
    int new_a = *co_await after.first.Ask(Count{});
    co_return absl::StrCat(after.first == before.first ? "same" : "new", " ",
                           old_a.ToString(), " ", new_a);
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "new FAILED_PRECONDITION: actor stopped 0");
}

class BadStart : public Actor {
 public:
  void Handle(Bump) {}

 protected:
  Task<absl::Status> OnStart() override {
    co_return absl::UnavailableError("no backend");
  }
  void OnFailure(const absl::Status&) override {}
};

TEST(SupervisionTest, TopLevelStartFailureStopsWithTheReason) {
  auto r = RunOnRuntime(Shards(1), []() -> Task<std::string> {
    auto a = Spawn<BadStart>();
    absl::Status s = co_await a.Ask(Bump{});
    co_return s.ToString();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "ABORTED: actor failed: UNAVAILABLE: no backend");
}

TEST(MonitorTest, DownOnNormalStopAcrossShardsAndForTheDead) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::vector<std::string>> {
    auto obs = Spawn<Observer>();  // shard 0
    ActorRef<Worker> w = co_await SpawnOn<Worker>(1, std::string("w"));
    ActorRef<Worker> quiet = co_await SpawnOn<Worker>(1, std::string("q"));
    (void)co_await obs.Ask(WatchRef{w});
    (void)co_await obs.Ask(WatchRef{quiet});
    (void)co_await obs.Ask(WatchRef{quiet, false, /*undo=*/true});
    w.Stop();
    quiet.Stop();
    std::vector<std::string> ev = co_await EventsOf(obs, 1);
    // Monitoring the dead answers at once.
    (void)co_await obs.Ask(WatchRef{w});
    ev = co_await EventsOf(obs, 2);
    co_return ev;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{
                    "down 1:0 OK", "down 1:0 NOT_FOUND: no such actor"}));
}

// Links to another Worker: a failure of either takes down the other.
struct LinkTo {
  ActorRef<Worker> other;
};
class LinkedWorker : public Worker {
 public:
  LinkedWorker() : Worker("linked") {}
  using Worker::Handle;
  void Handle(LinkTo l) { Link(l.other); }
};

TEST(LinkTest, FailurePropagatesUnlessTrapped) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::vector<std::string>> {
    auto obs = Spawn<Observer>();  // traps exits
    auto linked = Spawn<LinkedWorker>();
    ActorRef<Worker> w = co_await SpawnOn<Worker>(1, std::string("w"));
    ActorRef<Worker> calm = co_await SpawnOn<Worker>(1, std::string("c"));
    (void)co_await linked.Ask(LinkTo{w});
    (void)co_await linked.Ask(LinkTo{calm});
    (void)co_await obs.Ask(WatchRef{w, /*link=*/true});
    auto as_worker = ActorRef<Worker>(linked.address());
    (void)co_await obs.Ask(WatchRef{as_worker});  // monitor
    calm.Stop();                                  // a normal stop: no signal
    (void)co_await runtime::Sleep(5ms);
    absl::Status alive = (co_await linked.Ask(Count{})).status();
    w.Stop(absl::InternalError("disk on fire"));
    std::vector<std::string> ev = co_await EventsOf(obs, 2);
    std::sort(ev.begin(), ev.end());
    ev.push_back(alive.ToString());
    co_return ev;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{
                    "down 0:1 ABORTED: linked actor 1:0 failed: INTERNAL: "
                    "disk on fire",
                    "exit 1:0 INTERNAL: disk on fire", "OK"}));
}

}  // namespace
}  // namespace veloq::actors
