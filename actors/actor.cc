#include "actors/actor.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <typeinfo>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actors/actor_table.h"
#include "runtime/log.h"
#include "runtime/spawn.h"

namespace veloq::actors {
namespace internal {
namespace {

using AckState = runtime::internal::RemoteState<absl::Status>;

// Answers a Send's acknowledgement and drops the reference we held.
void Acknowledge(AckState* ack, absl::Status s) {
  ack->outcome.value.emplace(std::move(s));
  ack->Publish();
  ack->Unref();
}

absl::Status StoppedStatus() {
  return absl::FailedPreconditionError("actor stopped");
}

void RefuseDeadLetter(Envelope* e, const absl::Status& why) {
  ActorTable::Current().CountDeadLetter();
  e->vt->refuse(e, why);
}

// Runs on `to`'s shard: tells it that `from` ended.
void NotifyEnd(ActorAddress to, ActorAddress from, absl::Status reason,
               bool link);

// Sends NotifyEnd to `to`'s shard (runs it here if that is this shard).
void SendEnd(ActorAddress to, ActorAddress from, absl::Status reason,
             bool link) {
  runtime::Shard::Current()->Send(
      to.shard, mesh::Message([to, from, reason = std::move(reason), link] {
        NotifyEnd(to, from, reason, link);
      }));
}

// Runs on `target`'s shard: `watcher` wants to know when it ends.
void AddWatcher(ActorAddress target, ActorAddress watcher, bool link) {
  Actor* a = ActorTable::Current().Find(target);
  if (a == nullptr) {
    SendEnd(watcher, target, absl::NotFoundError("no such actor"), link);
    return;
  }
  ActorTable::Current().AddWatcher(a, Watcher{watcher, link});
}

void RemoveWatcher(ActorAddress target, ActorAddress watcher, bool link) {
  if (Actor* a = ActorTable::Current().Find(target)) {
    ActorTable::Current().RemoveWatcher(a, Watcher{watcher, link});
  }
}

}  // namespace

void DeliverLocal(const ActorAddress& addr, Envelope* e) {
  Actor* a = ActorTable::Current().Find(addr);
  if (a == nullptr || a->stopping_) {
    RefuseDeadLetter(e, StoppedStatus());
    return;
  }
  a->EnqueueEnvelope(e, /*bounded=*/true);
}

void DeliverFromMesh(const ActorAddress& addr, Envelope* e) {
  Actor* a = ActorTable::Current().Find(addr);
  if (a == nullptr || a->stopping_) {
    RefuseDeadLetter(e, StoppedStatus());
    return;
  }
  if (!a->TryRunNow(e)) a->EnqueueEnvelope(e, /*bounded=*/true);
}

void DeliverWhenRoom(const ActorAddress& addr, Envelope* e, AckState* ack) {
  Actor* a = ActorTable::Current().Find(addr);
  if (a == nullptr || a->stopping()) {
    RefuseDeadLetter(e, StoppedStatus());
    Acknowledge(ack, StoppedStatus());
    return;
  }
  ActorTable::Current().DeliverWhenRoom(a, e, ack);
}

void StopLocal(const ActorAddress& addr, absl::Status reason) {
  if (Actor* a = ActorTable::Current().Find(addr)) a->Stop(std::move(reason));
}

#if defined(__cpp_exceptions)
absl::Status StatusOfException(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return absl::InternalError(absl::StrCat("handler threw: ", x.what()));
  } catch (...) {
    return absl::InternalError("handler threw");
  }
}
#endif

}  // namespace internal

// A notification turn: OnDown or OnLinkFailed, run in mailbox order.
struct SystemTurn final : internal::Envelope {
  static void* operator new(size_t n) {
    return runtime::internal::AllocateFrame(n);
  }
  static void operator delete(void* p, size_t n) {
    runtime::internal::FreeFrame(p, n);
  }

  SystemTurn(ActorAddress from, absl::Status why, bool is_link)
      : who(from), reason(std::move(why)), link(is_link) {
    vt = &kVTable;
  }

  static void Run(Actor* a, internal::Envelope* base) {
    auto* e = static_cast<SystemTurn*>(base);
    if (e->link) {
      a->OnLinkFailed(ExitSignal{e->who, std::move(e->reason)});
    } else {
      a->OnDown(Down{e->who, std::move(e->reason)});
    }
    delete e;
  }
  static void Refuse(internal::Envelope* base, const absl::Status&) {
    delete static_cast<SystemTurn*>(base);
  }
  static constexpr internal::EnvelopeVTable kVTable = {&Run, nullptr, &Refuse};

  ActorAddress who;
  absl::Status reason;
  bool link;
};

namespace internal {
namespace {

void NotifyEnd(ActorAddress to, ActorAddress from, absl::Status reason,
               bool link) {
  ActorTable& table = ActorTable::Current();
  Actor* a = table.Find(to);
  if (a == nullptr) return;
  if (link) {
    // The link is gone either way; a normal stop says nothing more.
    table.RemoveWatcher(a, Watcher{from, true});
    if (reason.ok()) return;
  }
  table.Notify(a, new SystemTurn(from, std::move(reason), link));
}

}  // namespace
}  // namespace internal

Actor::~Actor() {
  if (extras_ == nullptr) return;
  // Anything still blocked (the runtime is gone): answer and free.
  for (internal::BlockedSend& b : extras_->blocked) {
    b.envelope->vt->refuse(b.envelope, absl::CancelledError("runtime stopped"));
    internal::Acknowledge(b.ack, absl::CancelledError("runtime stopped"));
  }
  delete extras_;
}

internal::ActorExtras& Actor::extras() {
  if (extras_ == nullptr) extras_ = new internal::ActorExtras;
  return *extras_;
}

void Actor::SetMailboxCapacity(uint32_t capacity) {
  extras().capacity = capacity;
}

void Actor::EnsureDrainTask() {
  if (running_) return;
  running_ = true;
  runtime::Spawn(DrainTask(this), "actor").Detach();
}

bool Actor::TryRunNow(internal::Envelope* e) {
  // Idle: no DrainTask (so nothing queued, no restart or stop pending) and
  // started (OnStart runs first, in the DrainTask).
  if (running_ || !started_ || e->vt->run_async != nullptr) return false;
  running_ = true;  // what arrives meanwhile queues behind this turn
#if defined(__cpp_exceptions)
  // The handler's own exceptions fail its turn inside run(); one from the
  // failure handling (OnFailure, a supervisor's decide) must not unwind into
  // the mesh drain: it stops the actor.
  try {
    e->vt->run(this, e);
  } catch (...) {
    log::Error(log::Module::kActors,
               "actor {}:{}: failure handling threw; stopping the actor",
               address_.shard, address_.index);
    running_ = false;
    Stop(internal::StatusOfException(std::current_exception()));
    return true;
  }
#else
  e->vt->run(this, e);
#endif
  running_ = false;
  // The turn may have queued messages to itself, failed (restart pending)
  // or stopped the actor: a DrainTask takes it from here.
  if (restart_pending_ || stopping_ || !mailbox_.empty()) EnsureDrainTask();
  return true;
}

void Actor::EnqueueEnvelope(internal::Envelope* e, bool bounded) {
  if (bounded &&
      (IsMailboxFull() || (extras_ != nullptr && !extras_->blocked.empty()))) {
    ActorTable::Current().CountDeadLetter();
    static thread_local uint64_t refused = 0;
    if (refused++ % 1024 == 0) {
      log::Warn(log::Module::kActors,
                "actor {}:{}: mailbox full ({}), message refused ({} so far)",
                address_.shard, address_.index, extras_->capacity, refused);
    }
    e->vt->refuse(e, absl::ResourceExhaustedError("mailbox full"));
    return;
  }
  mailbox_.Push(e);
  EnsureDrainTask();
}

void Actor::AdmitBlockedSends() {
  if (extras_ == nullptr) return;
  while (!extras_->blocked.empty() && !IsMailboxFull()) {
    internal::BlockedSend b = extras_->blocked.front();
    extras_->blocked.pop_front();
    mailbox_.Push(b.envelope);
    internal::Acknowledge(b.ack, absl::OkStatus());
  }
}

void Actor::Stop(absl::Status reason) {
  if (stopping_) return;
  stopping_ = true;
  if (!reason.ok()) extras().exit_reason = std::move(reason);
  EnsureDrainTask();
}

Actor::TimerId Actor::NextTimerId() {
  static thread_local TimerId next = 0;
  return ++next;
}

void Actor::ArmTimer(internal::ActorTimer* t, runtime::Duration after) {
  t->entry.deadline = runtime::Now() + after;
  t->entry.context = t;
  t->entry.fire = &Actor::FireTimer;
  runtime::internal::InsertTimer(&t->entry);
}

void Actor::FireTimer(runtime::internal::TimerEntry* e) {
  auto* t = static_cast<internal::ActorTimer*>(e->context);
  Actor* a = t->actor;
  internal::Envelope* env = t->make(t);
  if (t->period.count() > 0) {
    a->ArmTimer(t, t->period);
  } else {
    a->UnlinkTimer(t);
    t->destroy(t);
  }
  if (a->stopping_) {
    env->vt->refuse(env, internal::StoppedStatus());
    return;
  }
  a->EnqueueEnvelope(env, /*bounded=*/false);
}

void Actor::UnlinkTimer(internal::ActorTimer* t) {
  if (t->prev != nullptr) {
    t->prev->next = t->next;
  } else {
    extras_->timers = t->next;
  }
  if (t->next != nullptr) t->next->prev = t->prev;
  t->prev = t->next = nullptr;
}

bool Actor::CancelTimer(TimerId id) {
  if (extras_ == nullptr) return false;
  for (internal::ActorTimer* t = extras_->timers; t != nullptr; t = t->next) {
    if (t->id != id) continue;
    if (t->entry.queued()) runtime::internal::RemoveTimer(&t->entry);
    UnlinkTimer(t);
    t->destroy(t);
    return true;
  }
  return false;
}

void Actor::CancelTimers(bool on_queue) {
  if (extras_ == nullptr) return;
  while (internal::ActorTimer* t = extras_->timers) {
    if (on_queue && t->entry.queued()) {
      runtime::internal::RemoveTimer(&t->entry);
    }
    UnlinkTimer(t);
    t->destroy(t);
  }
}

void Actor::OnFailure(const absl::Status& status) {
  log::Warn(log::Module::kActors, "actor {}:{}: failed: {}", address_.shard,
            address_.index, status.ToString());
}

void Actor::OnLinkFailed(const ExitSignal& exit) {
  Stop(absl::AbortedError(absl::StrCat("linked actor ", exit.actor.shard, ":",
                                       exit.actor.index,
                                       " failed: ", exit.reason.ToString())));
}

void Actor::AddWatch(ActorAddress target, bool link) {
  if (link) extras().watchers.push_back(internal::Watcher{target, true});
  runtime::Shard::Current()->Send(target.shard,
                                  mesh::Message([target, me = address_, link] {
                                    internal::AddWatcher(target, me, link);
                                  }));
}

void Actor::RemoveWatch(ActorAddress target, bool link) {
  if (link && extras_ != nullptr) {
    ActorTable::Current().RemoveWatcher(this, internal::Watcher{target, true});
  }
  runtime::Shard::Current()->Send(target.shard,
                                  mesh::Message([target, me = address_, link] {
                                    internal::RemoveWatcher(target, me, link);
                                  }));
}

ActorAddress Actor::AdoptChild(
    std::unique_ptr<Actor> child,
    std::function<std::unique_ptr<Actor>()> factory) {
  internal::ActorExtras& x = child->extras();
  x.parent = address_;
  x.factory = std::move(factory);
  ActorAddress addr = ActorTable::Current().Add(std::move(child));
  extras().children.push_back(addr);
  return addr;
}

void Actor::StopChildren() {
  if (extras_ == nullptr) return;
  ActorTable& table = ActorTable::Current();
  for (const ActorAddress& c : std::exchange(extras_->children, {})) {
    if (Actor* child = table.Find(c)) {
      child->extras_->parent.reset();
      child->Stop();
    }
  }
}

bool Actor::TakeRestartBudget(const SupervisorStrategy& s) {
  std::vector<runtime::TimePoint>& times = extras().restarts;
  const runtime::TimePoint now = runtime::Now();
  std::erase_if(times,
                [&](runtime::TimePoint t) { return now - t > s.within; });
  if (static_cast<int>(times.size()) >= s.max_restarts) return false;
  times.push_back(now);
  return true;
}

void Actor::ScheduleRestart() {
  if (stopping_) return;
  restart_pending_ = true;
  EnsureDrainTask();
}

void Actor::HandleFailure(const absl::Status& s, FailureKind kind) {
  OnFailure(s);
  if (stopping_) return;  // on its way out already
  if (kind == FailureKind::kStart) start_failed_ = true;
  ActorTable& table = ActorTable::Current();
  Actor* parent = extras_ != nullptr && extras_->parent
                      ? table.Find(*extras_->parent)
                      : nullptr;
  if (parent == nullptr) {
    if (kind != FailureKind::kTurn) Stop(s);
    return;
  }
  const SupervisorStrategy strategy = parent->supervisor_strategy();
  Directive d = strategy.decide ? strategy.decide(s) : Directive::kRestart;
  absl::Status why = s;
  if (d == Directive::kRestart && !parent->TakeRestartBudget(strategy)) {
    d = Directive::kEscalate;
    why = absl::AbortedError(absl::StrCat(
        "restart budget exceeded (", strategy.max_restarts, " in ",
        std::chrono::duration_cast<std::chrono::milliseconds>(strategy.within)
            .count(),
        " ms): ", s.ToString()));
  }
  switch (d) {
    case Directive::kResume:
      start_failed_ = false;
      return;
    case Directive::kRestart:
      if (strategy.kind == SupervisorStrategy::Kind::kAllForOne) {
        for (const ActorAddress& c : parent->extras_->children) {
          if (Actor* sibling = table.Find(c)) sibling->ScheduleRestart();
        }
      } else {
        ScheduleRestart();
      }
      return;
    case Directive::kStop:
      Stop(s);
      return;
    case Directive::kEscalate:
      Stop(why);
      parent->HandleFailure(why, FailureKind::kEscalated);
      return;
  }
}

// Replaces `old` with a fresh instance from its factory, in the same slot,
// with the same mailbox, watchers and extras. Its children are stopped and
// it gets OnStop first (if it had started).
runtime::Task<Actor*> Actor::RestartInstance(Actor* old) {
  old->restart_pending_ = false;
  old->CancelTimers(true);
  old->StopChildren();
  if (old->started_ && !old->start_failed_) co_await old->OnStop();
  old->CancelTimers(true);
  internal::ActorExtras* x = std::exchange(old->extras_, nullptr);
  std::unique_ptr<Actor> fresh = x->factory();
  if (fresh->extras_ != nullptr) {
    x->capacity = fresh->extras_->capacity;  // as its constructor set it
    delete std::exchange(fresh->extras_, nullptr);
  }
  fresh->extras_ = x;
  ++x->restart_count;
  fresh->mailbox_.Splice(old->mailbox_);
  fresh->address_ = old->address_;
  fresh->running_ = true;
  fresh->stopping_ = old->stopping_;
  Actor* raw = fresh.get();
  ActorTable::Current().Replace(raw->address_, std::move(fresh));
  co_return raw;
}

// The end of an actor: timers, children, OnStop, what is still queued,
// the watchers, the parent, the slot.
runtime::Task<void> Actor::FinishStop(Actor* a) {
  ActorTable& table = ActorTable::Current();
  a->CancelTimers(true);
  a->StopChildren();
  if (a->started_ && !a->start_failed_) co_await a->OnStop();
  a->CancelTimers(true);  // any OnStop started
  const absl::Status reason = a->exit_reason();
  const absl::Status refusal = reason.ok()
                                   ? internal::StoppedStatus()
                                   : absl::AbortedError(absl::StrCat(
                                         "actor failed: ", reason.ToString()));
  // Messages that came during OnStop (or all of them, for a failure).
  while (internal::Envelope* e = a->mailbox_.Pop()) {
    internal::RefuseDeadLetter(e, refusal);
  }
  if (internal::ActorExtras* x = a->extras_) {
    for (internal::BlockedSend& b : std::exchange(x->blocked, {})) {
      internal::RefuseDeadLetter(b.envelope, refusal);
      internal::Acknowledge(b.ack, internal::StoppedStatus());
    }
    for (const internal::Watcher& w : std::exchange(x->watchers, {})) {
      internal::SendEnd(w.addr, a->address_, reason, w.link);
    }
    if (x->parent) {
      if (Actor* parent = table.Find(*x->parent)) {
        std::erase(parent->extras().children, a->address_);
      }
    }
  }
  table.Remove(a->address_);  // destroys *a
}

// Runs the actor's turns: its start, its messages in order (a coroutine
// handler is awaited before the next message starts), restarts between
// turns, and its end.
runtime::Task<void> Actor::DrainTask(Actor* a) {
  constexpr int kTurnsBeforeYield = 64;  // others on the shard get a turn
  int turns = 0;
  for (;;) {
    if (a->restart_pending_) {
      a = co_await RestartInstance(a);
      continue;
    }
    if (!a->started_) {
      a->started_ = true;
      absl::Status s = co_await a->OnStart();
      if (!s.ok()) a->HandleFailure(s, FailureKind::kStart);
      continue;
    }
    if (a->stopping_ && !a->exit_reason().ok()) break;  // failed: refuse
    internal::Envelope* e = a->mailbox_.Pop();
    if (e == nullptr) break;
    a->AdmitBlockedSends();
    if (e->vt->run_async != nullptr) {
      co_await e->vt->run_async(a, e);
    } else {
      e->vt->run(a, e);
    }
    if (++turns == kTurnsBeforeYield) {
      turns = 0;
      co_await runtime::Yield();
    }
  }
  if (a->stopping_) {
    co_await FinishStop(a);
    co_return;
  }
  a->running_ = false;
}

// --- ActorTable ---

ActorTable& ActorTable::Current() {
  static thread_local ActorTable table;
  return table;
}

ActorTable::ActorTable() {
  // Shutdown: stop every actor (queued messages run first) before the
  // shard cancels its tasks.
  if (runtime::Shard* shard = runtime::Shard::Current()) {
    shard->AddDrainHook(
        runtime::Shard::DrainHook{[this] {
                                    for (Slot& slot : slots_) {
                                      if (slot.actor != nullptr)
                                        slot.actor->Stop();
                                    }
                                  },
                                  [this] { return live_ == 0; }});
    shard->AddDescriber([this](std::string* out) { Describe(out); });
  }
  metrics::Registry& r = metrics::Registry::Current();
  using metrics::Emitter;
  using metrics::Type;
  metrics_.push_back(
      r.AddCallback("veloq_actors_alive", Type::kGauge, "Live actors",
                    [this](Emitter& e) { e.Emit(uint64_t{live_}); }));
  metrics_.push_back(
      r.AddCallback("veloq_actor_dead_letters_total", Type::kCounter,
                    "Messages refused: the actor was gone, or its mailbox full",
                    [this](Emitter& e) { e.Emit(dead_letters_); }));
  metrics_.push_back(
      r.AddCallback("veloq_actor_mailbox_messages", Type::kGauge,
                    "Messages queued in this shard's mailboxes",
                    [this](Emitter& e) { e.Emit(MailboxDepths().first); }));
  metrics_.push_back(
      r.AddCallback("veloq_actor_mailbox_max", Type::kGauge,
                    "The deepest mailbox on this shard",
                    [this](Emitter& e) { e.Emit(MailboxDepths().second); }));
}

std::pair<uint64_t, uint64_t> ActorTable::MailboxDepths() const {
  uint64_t total = 0;
  uint64_t deepest = 0;
  for (const Slot& slot : slots_) {
    if (slot.actor == nullptr) continue;
    const uint64_t n = slot.actor->mailbox_.size();
    total += n;
    deepest = std::max(deepest, n);
  }
  return {total, deepest};
}

void ActorTable::Describe(std::string* out) const {
  absl::StrAppend(out, "  actors: ", live_, " live, ", dead_letters_,
                  " dead letter(s)\n");
  size_t listed = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Actor* a = slots_[i].actor.get();
    if (a == nullptr) continue;
    if (++listed > 50) {
      absl::StrAppend(out, "    ... and ", live_ - 50, " more\n");
      break;
    }
    int status = 0;
    const char* mangled = typeid(*a).name();
    char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
    absl::StrAppend(out, "    actor ", status == 0 ? demangled : mangled, " #",
                    i, ".", slots_[i].generation, ": mailbox ",
                    a->mailbox_.size(), a->running_ ? ", in a turn" : "",
                    a->stopping_ ? ", stopping" : "", "\n");
    std::free(demangled);
  }
}

void ActorTable::AddWatcher(Actor* a, internal::Watcher w) {
  a->extras().watchers.push_back(w);
}

void ActorTable::RemoveWatcher(Actor* a, internal::Watcher w) {
  if (a->extras_ == nullptr) return;
  std::vector<internal::Watcher>& ws = a->extras_->watchers;
  auto it = std::find_if(ws.begin(), ws.end(), [&](const internal::Watcher& x) {
    return x.addr == w.addr && x.link == w.link;
  });
  if (it != ws.end()) ws.erase(it);
}

void ActorTable::Notify(Actor* a, internal::Envelope* e) {
  if (a->stopping_) {
    e->vt->refuse(e, internal::StoppedStatus());
    return;
  }
  a->EnqueueEnvelope(e, /*bounded=*/false);
}

void ActorTable::DeliverWhenRoom(
    Actor* a, internal::Envelope* e,
    runtime::internal::RemoteState<absl::Status>* ack) {
  if (a->IsMailboxFull() ||
      (a->extras_ != nullptr && !a->extras_->blocked.empty())) {
    a->extras_->blocked.push_back(internal::BlockedSend{e, ack});
    return;
  }
  a->EnqueueEnvelope(e, /*bounded=*/false);
  internal::Acknowledge(ack, absl::OkStatus());
}

void ActorTable::Replace(const internal::ActorAddress& addr,
                         std::unique_ptr<Actor> fresh) {
  slots_[addr.index].actor = std::move(fresh);
}

internal::ActorAddress ActorTable::Add(std::unique_ptr<Actor> a) {
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  ++slot.generation;
  Actor* raw = a.get();
  slot.actor = std::move(a);
  raw->address_ = internal::ActorAddress{runtime::Shard::Current()->id(), index,
                                         slot.generation};
  ++live_;
  // Spawned while the shard drains for shutdown: it starts, then stops.
  if (runtime::Shard::Current()->stop_requested()) raw->stopping_ = true;
  // The first turn is OnStart.
  raw->running_ = true;
  runtime::Spawn(Actor::DrainTask(raw), "actor").Detach();
  return raw->address_;
}

Actor* ActorTable::Find(const internal::ActorAddress& addr) const {
  if (addr.index >= slots_.size()) return nullptr;
  const Slot& slot = slots_[addr.index];
  if (slot.generation != addr.generation) return nullptr;
  return slot.actor.get();
}

void ActorTable::Remove(internal::ActorAddress addr) {
  if (Find(addr) == nullptr) return;
  Slot& slot = slots_[addr.index];
  for (auto it = names_.begin(); it != names_.end();) {
    if (it->second.addr == addr) {
      names_.erase(it++);
    } else {
      ++it;
    }
  }
  slot.actor.reset();
  free_.push_back(addr.index);
  --live_;
}

absl::Status ActorTable::Register(std::string name, internal::ActorAddress addr,
                                  const void* type) {
  if (Find(addr) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("register '", name, "': no such actor"));
  }
  auto [it, inserted] = names_.try_emplace(std::move(name), Named{addr, type});
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("name '", it->first, "' is taken on this shard"));
  }
  return absl::OkStatus();
}

std::optional<internal::ActorAddress> ActorTable::Lookup(
    const std::string& name, const void* type) const {
  auto it = names_.find(name);
  if (it == names_.end() || it->second.type != type) return std::nullopt;
  if (Find(it->second.addr) == nullptr) return std::nullopt;
  return it->second.addr;
}

ActorTable::~ActorTable() {
  // The shard is gone: refuse what is still queued (asks get an error),
  // then destroy the actors.
  for (Slot& slot : slots_) {
    if (slot.actor == nullptr) continue;
    // The shard's loop has ended: its timer queue is not touched again.
    slot.actor->CancelTimers(false);
    while (internal::Envelope* e = slot.actor->mailbox_.Pop()) {
      ++dead_letters_;
      e->vt->refuse(e, absl::CancelledError("runtime stopped"));
    }
  }
  slots_.clear();
}

}  // namespace veloq::actors
