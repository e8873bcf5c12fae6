#include "runtime/spawn.h"

#include "runtime/shard.h"

namespace veloq::runtime::internal {

void StartSpawned(TaskHeader& h, std::coroutine_handle<> frame,
                  const char* name, SourceLocation where) {
  Shard* shard = Shard::Current();
  if (shard == nullptr) std::abort();  // Spawn off a shard
  h.flags = TaskHeader::kSpawned;
  h.self = frame;
  h.name = name;
  h.spawn_file = where.file_name();
  h.spawn_line = where.line();
  h.spawn_cycles = shard->tick_cycles();
  shard->AddTask(&h);
  CountSpawnOnCurrentShard();
  // During shutdown new tasks start cancelled, so they wind down too.
  if (shard->stopping()) h.flags |= TaskHeader::kCancelled;
  shard->Schedule(Waiter{frame, &h});
}

void InsertTimer(TimerEntry* e) { Shard::Current()->timers().Insert(e); }
void RemoveTimer(TimerEntry* e) {
  if (e->queued()) Shard::Current()->timers().Remove(e);
}

void CompleteSpawned(TaskHeader* t) {
  Shard::Current()->RemoveTask(t);
  t->flags |= TaskHeader::kDone;
  t->hook = nullptr;
  if (t->joiner) {
    ScheduleLocal(std::exchange(t->joiner, {}));
  }
  if (t->flags & TaskHeader::kDetached) t->self.destroy();
}

}  // namespace veloq::runtime::internal
