#include "actors/actor.h"

#include "absl/strings/str_cat.h"
#include "actors/actor_table.h"
#include "runtime/spawn.h"
#include "spdlog/spdlog.h"

namespace veloq::actors {
namespace internal {

void DeliverLocal(const ActorAddress& addr, Envelope* e) {
  ActorTable& table = ActorTable::Current();
  Actor* a = table.Find(addr);
  if (a == nullptr || a->stopping_) {
    table.CountDeadLetter();
    e->vt->refuse(e, absl::FailedPreconditionError("actor stopped"));
    return;
  }
  a->Enqueue(e);
}

void StopLocal(const ActorAddress& addr) {
  if (Actor* a = ActorTable::Current().Find(addr)) a->Stop();
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

void Actor::Enqueue(internal::Envelope* e) {
  mailbox_.Push(e);
  if (!running_) {
    running_ = true;
    runtime::Spawn(Drain(this), "actor").Detach();
  }
}

void Actor::Stop() {
  if (stopping_) return;
  stopping_ = true;
  if (!running_) {
    running_ = true;
    runtime::Spawn(Drain(this), "actor").Detach();
  }
}

Actor::TimerId Actor::NextTimerId() {
  static thread_local TimerId next = 0;
  return ++next;
}

void Actor::Arm(internal::ActorTimer* t, runtime::Duration after) {
  t->entry.deadline = runtime::Now() + after;
  t->entry.context = t;
  t->entry.fire = &Actor::OnTimer;
  runtime::internal::InsertTimer(&t->entry);
}

void Actor::OnTimer(runtime::internal::TimerEntry* e) {
  auto* t = static_cast<internal::ActorTimer*>(e->context);
  Actor* a = t->actor;
  internal::Envelope* env = t->make(t);
  if (t->period.count() > 0) {
    a->Arm(t, t->period);
  } else {
    a->Unlink(t);
    t->destroy(t);
  }
  if (a->stopping_) {
    env->vt->refuse(env, absl::FailedPreconditionError("actor stopped"));
    return;
  }
  a->Enqueue(env);
}

void Actor::Unlink(internal::ActorTimer* t) {
  if (t->prev != nullptr) {
    t->prev->next = t->next;
  } else {
    timers_ = t->next;
  }
  if (t->next != nullptr) t->next->prev = t->prev;
  t->prev = t->next = nullptr;
}

bool Actor::CancelTimer(TimerId id) {
  for (internal::ActorTimer* t = timers_; t != nullptr; t = t->next) {
    if (t->id != id) continue;
    if (t->entry.queued()) runtime::internal::RemoveTimer(&t->entry);
    Unlink(t);
    t->destroy(t);
    return true;
  }
  return false;
}

void Actor::CancelTimers(bool on_queue) {
  while (internal::ActorTimer* t = timers_) {
    if (on_queue && t->entry.queued()) {
      runtime::internal::RemoveTimer(&t->entry);
    }
    Unlink(t);
    t->destroy(t);
  }
}

void Actor::OnFailure(const absl::Status& status) {
  spdlog::warn("actor {}:{}: turn failed: {}", address_.shard, address_.index,
               status.ToString());
}

void Actor::TurnFailed(const absl::Status& s) { OnFailure(s); }

// Runs the actor's turns: its start, its messages in order (a coroutine
// handler is awaited before the next message starts), and its stop.
runtime::Task<void> Actor::Drain(Actor* a) {
  constexpr int kTurnsBeforeYield = 64;  // others on the shard get a turn
  bool start_failed = false;
  if (!a->started_) {
    a->started_ = true;
    absl::Status s = co_await a->OnStart();
    if (!s.ok()) {
      a->OnFailure(s);
      a->stopping_ = true;
      start_failed = true;
    }
  }
  int turns = 0;
  for (;;) {
    internal::Envelope* e = a->mailbox_.Pop();
    if (e == nullptr) break;
    if (start_failed) {
      e->vt->refuse(e, absl::FailedPreconditionError("actor failed to start"));
      continue;
    }
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
    a->CancelTimers(true);
    if (!start_failed) co_await a->OnStop();
    a->CancelTimers(true);  // any OnStop started
    // Messages that came during OnStop are refused.
    while (internal::Envelope* e = a->mailbox_.Pop()) {
      e->vt->refuse(e, absl::FailedPreconditionError("actor stopped"));
    }
    ActorTable::Current().Remove(a->address_);  // destroys *a
    co_return;
  }
  a->running_ = false;
}

// --- ActorTable ---

ActorTable& ActorTable::Current() {
  static thread_local ActorTable table;
  return table;
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
  // The first turn is OnStart.
  raw->running_ = true;
  runtime::Spawn(Actor::Drain(raw), "actor").Detach();
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
      e->vt->refuse(e, absl::CancelledError("runtime stopped"));
    }
  }
  slots_.clear();
}

}  // namespace veloq::actors
