#include "mesh/mesh.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>

namespace veloq::mesh {
namespace {

void Die(const char* what) {
  std::fprintf(stderr, "veloq::mesh: %s\n", what);
  std::abort();
}

// std::atomic<uint32_t> is a plain 32-bit word (checked below), which is
// what the futex calls address.
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
static_assert(std::atomic<uint32_t>::is_always_lock_free);

uint32_t* FutexWord(std::atomic<uint32_t>* a) {
  return reinterpret_cast<uint32_t*>(a);
}

void FutexWakeOne(std::atomic<uint32_t>* word) {
  ::syscall(SYS_futex, FutexWord(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
            0);
}

// Blocks if *word == value, until a wake, `deadline` (absolute
// CLOCK_MONOTONIC, steady_clock's clock on Linux) or a signal; returns at
// once if *word != value.
void FutexWait(std::atomic<uint32_t>* word, uint32_t value,
               std::optional<std::chrono::steady_clock::time_point> deadline) {
  timespec ts{};
  timespec* tsp = nullptr;
  if (deadline) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        deadline->time_since_epoch())
                        .count();
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  // WAIT_BITSET takes an absolute timeout; the bitset matches any wake.
  if (::syscall(SYS_futex, FutexWord(word), FUTEX_WAIT_BITSET_PRIVATE, value,
                tsp, nullptr, FUTEX_BITSET_MATCH_ANY) == 0) {
    return;
  }
  const int err = errno;
  if (err == EAGAIN || err == EINTR || err == ETIMEDOUT) return;
  // Anything else (a seccomp filter, say) makes every park return at once:
  // the shard spins instead of sleeping. Say so, once.
  static std::atomic<bool> said{false};
  if (!said.exchange(true)) {
    std::fprintf(stderr,
                 "veloq::mesh: futex wait failed (%s); idle shards will spin "
                 "instead of sleeping\n",
                 std::strerror(err));
  }
}

}  // namespace

Mesh::Mesh(const MeshOptions& options)
    : n_(options.shards),
      publish_batch_(options.publish_batch == 0 ? ~size_t{0}
                                                : options.publish_batch),
      rings_(static_cast<size_t>(options.shards) * options.shards),
      signals_(new Signal[options.shards]),
      locals_(new Local[options.shards]),
      aliens_(new AlienInbox[options.shards]),
      space_wanted_(new SpaceWanted[options.shards]) {
  if (n_ == 0 || n_ > kMaxShards) Die("shard count out of range");
  for (uint32_t from = 0; from < n_; ++from) {
    locals_[from].dests = std::make_unique<Destination[]>(n_);
    locals_[from].received_from = std::make_unique<uint64_t[]>(n_);
    locals_[from].chunks =
        std::make_unique<ChunkCache>(options.overflow_chunk_cache);
    for (uint32_t to = 0; to < n_; ++to) {
      if (from != to) {
        rings_[static_cast<size_t>(from) * n_ + to] =
            std::make_unique<Ring>(options.ring_capacity);
      }
    }
  }
}

Mesh::~Mesh() {
  for (uint32_t from = 0; from < n_; ++from) {
    Local& local = locals_[from];
    for (uint32_t to = 0; to < n_; ++to) {
      local.dests[to].overflow.Clear(*local.chunks);
    }
  }
}

void Mesh::Send(uint32_t from, uint32_t to, Message m) {
  Local& local = locals_[from];
  Destination& d = local.dests[to];
  if (!d.dirty) {
    d.dirty = true;
    local.dirty.push_back(to);
  }
  Ring& ring = RingFor(from, to);
  if (d.overflow.empty() && ring.TryStage(std::move(m))) {
    d.staged = true;
    // A big batch is published before the tick ends, so the receiver can
    // start on it while the sender keeps producing (and the ring does not
    // fill up behind an unpublished batch).
    if (ring.Staged() >= publish_batch_) {
      ring.Publish();
      d.staged = false;
      SetHasData(from, to);
    }
  } else {
    d.overflow.PushBack(std::move(m), *local.chunks);
    // A long burst into a full ring: every publish_batch messages, move
    // what the receiver has freed meanwhile and publish it.
    if (d.overflow.size() % publish_batch_ == 0 &&
        StageOverflow(local, d, ring)) {
      ring.Publish();
      d.staged = false;
      SetHasData(from, to);
    }
  }
  ++d.sent;
  local.sent.store(local.sent.load(std::memory_order_relaxed) + 1,
                   std::memory_order_relaxed);
}

void Mesh::Flush(uint32_t from) {
  Local& local = locals_[from];
  if (local.dirty.empty()) return;
  size_t keep = 0;
  for (uint32_t to : local.dirty) {
    Destination& d = local.dests[to];
    Ring& ring = RingFor(from, to);
    StageOverflow(local, d, ring);
    if (d.staged) {
      ring.Publish();
      d.staged = false;
      SetHasData(from, to);
      ring.PrefetchForStage();
    }
    // Destinations still in overflow stay dirty: retried next Flush.
    if (!d.overflow.empty()) {
      local.dirty[keep++] = to;
    } else {
      d.dirty = false;
    }
  }
  local.dirty.resize(keep);
}

bool Mesh::StageOverflow(Local& local, Destination& d, Ring& ring) {
  bool moved = false;
  while (!d.overflow.empty() && ring.TryStage(std::move(d.overflow.Front()))) {
    d.overflow.PopFront(*local.chunks);
    moved = true;
  }
  if (moved) d.staged = true;
  return moved;
}

size_t Mesh::OverflowDepth(uint32_t from, uint32_t to) const {
  return locals_[from].dests[to].overflow.size();
}

size_t Mesh::TotalOverflow(uint32_t from) const {
  size_t total = 0;
  for (uint32_t to : locals_[from].dirty) {
    total += locals_[from].dests[to].overflow.size();
  }
  return total;
}

void Mesh::SetHasData(uint32_t from, uint32_t to) {
  Signal& s = signals_[to];
  // Release: the receiver's acquire exchange of the mask then sees the ring's
  // published tail. seq_cst: orders this RMW before the park-state load
  // below (see the no-lost-wake-up argument in mesh.h).
  s.has_data[from / 64].fetch_or(uint64_t{1} << (from % 64),
                                 std::memory_order_seq_cst);
  WakeIfParked(to, &locals_[from]);
}

void Mesh::WakeIfParked(uint32_t to, Local* waker_owner) {
  Signal& s = signals_[to];
  if (s.park.load(std::memory_order_seq_cst) == kRunning) return;
  const uint32_t old = s.park.exchange(kRunning, std::memory_order_seq_cst);
  if (old == kParked || old == kParkedFutex) {
    if (old == kParked) {
      locals_[to].waker->Wake();
    } else {
      FutexWakeOne(&s.park);
    }
    if (waker_owner != nullptr) {
      waker_owner->wakes.store(
          waker_owner->wakes.load(std::memory_order_relaxed) + 1,
          std::memory_order_relaxed);
    }
  }
}

size_t Mesh::Drain(uint32_t to, size_t budget) {
  Local& local = locals_[to];
  Signal& s = signals_[to];
  uint64_t bits[kWords];
  bool any = false;
  for (uint32_t w = 0; w < kWords; ++w) {
    bits[w] = local.pending[w];
    local.pending[w] = 0;
    any |= bits[w] != 0;
  }
  // Hot rings with published items are drained even before their bit lands
  // (the bit then finds them empty, or holding later messages). When one
  // has some, this Drain leaves the signal line (mask and alien flag) alone:
  // its sender may be setting the bit right now, and waiting for that line
  // would give back the transfer the shortcut saved. The next Drain reads
  // it whatever the hot rings hold, so a sender behind a busy hot one waits
  // at most one Drain longer.
  bool skip_signal = false;
  if (!local.skipped_signal) {
    for (uint32_t i = 0; i < local.hot_count; ++i) {
      const uint32_t from = local.hot[i];
      if (!RingFor(from, to).EmptyApprox()) {
        bits[from / 64] |= uint64_t{1} << (from % 64);
        any = true;
        skip_signal = true;
      }
    }
  }
  local.skipped_signal = skip_signal;
  for (uint32_t w = 0; w < kWords && !skip_signal; ++w) {
    // Load first: an idle receiver does not write the shared line.
    const uint64_t seen = s.has_data[w].load(std::memory_order_relaxed);
    if (seen != 0) {
      // The rings whose bits are set have (almost always) published items
      // not yet consumed: start fetching their tail_ and first slot now, so
      // those misses overlap the exchange's instead of following it. Only a
      // hint: the acquire below orders the real reads.
      for (uint64_t word = seen; word != 0; word &= word - 1) {
        const uint32_t from =
            w * 64 + static_cast<uint32_t>(__builtin_ctzll(word));
        // Not a hot ring: its bit often lands after the shortcut emptied
        // it, and its next slot is then the one the producer is writing.
        if (!IsHot(local, from)) RingFor(from, to).PrefetchForConsume();
      }
      bits[w] |= s.has_data[w].exchange(0, std::memory_order_acquire);
      any |= bits[w] != 0;
    }
  }
  size_t ran = 0;
  if (any) {
    // Round robin: each Drain starts one sender further, so with small
    // budgets a busy low-numbered sender cannot crowd out the others.
    const uint32_t first = local.drain_start;
    local.drain_start = (first + 1 == n_) ? 0 : first + 1;
    for (int pass = 0; pass < 2; ++pass) {
      for (uint32_t w = 0; w < kWords; ++w) {
        uint64_t word = bits[w];
        while (word != 0) {
          const int bit = __builtin_ctzll(word);
          word &= word - 1;
          const uint32_t from = w * 64 + static_cast<uint32_t>(bit);
          if ((from >= first) != (pass == 0)) continue;
          Ring& ring = RingFor(from, to);
          size_t got = 0;
          if (ran < budget) {
            got = ring.ConsumeBatch(&Message::RunAndEnd, budget - ran);
            ran += got;
            local.received_from[from] += got;
          }
          if (!ring.EmptyApprox()) local.pending[w] |= uint64_t{1} << bit;
          if (got > 0) {
            MarkHot(local, from);
            WakeSenderWantingSpace(from, to);
          }
        }
      }
    }
  }
  if (ran < budget && !skip_signal) ran += DrainAlien(to, budget - ran);
  local.received.store(local.received.load(std::memory_order_relaxed) + ran,
                       std::memory_order_relaxed);
  return ran;
}

void Mesh::WakeSenderWantingSpace(uint32_t from, uint32_t to) {
  // Pairs with PrepareToPark. Both sides RMW the same word, so the two RMWs
  // are ordered: if the sender's fetch_or came first, this fetch_and sees
  // its bit and wakes it; if this came first, the sender's fetch_or reads
  // from it (acq_rel), so the head_ release in PopBatch happens-before the
  // sender's re-read of head_ and it sees the freed space.
  const uint64_t bit = uint64_t{1} << (to % 64);
  const uint64_t old = space_wanted_[from].bits[to / 64].fetch_and(
      ~bit, std::memory_order_acq_rel);
  if (old & bit) WakeIfParked(from, &locals_[to]);
}

size_t Mesh::DrainAlien(uint32_t to, size_t budget) {
  Local& local = locals_[to];
  Signal& s = signals_[to];
  if (local.alien_next == local.alien_batch.size()) {
    local.alien_batch.clear();
    local.alien_next = 0;
    if (!s.alien_nonempty.load(std::memory_order_acquire)) return 0;
    AlienInbox& inbox = aliens_[to];
    std::lock_guard<std::mutex> lock(inbox.mu);
    s.alien_nonempty.store(false, std::memory_order_relaxed);
    local.alien_batch.swap(inbox.messages);
  }
  size_t ran = 0;
  while (ran < budget && local.alien_next < local.alien_batch.size()) {
    local.alien_batch[local.alien_next++].Run();
    ++ran;
  }
  return ran;
}

bool Mesh::IsHot(const Local& local, uint32_t from) {
  for (uint32_t i = 0; i < local.hot_count; ++i) {
    if (local.hot[i] == from) return true;
  }
  return false;
}

void Mesh::MarkHot(Local& local, uint32_t from) {
  if (IsHot(local, from)) return;
  if (local.hot_count < kHotRings) {
    local.hot[local.hot_count++] = from;
    return;
  }
  local.hot[local.hot_next] = from;
  local.hot_next = (local.hot_next + 1) % kHotRings;
}

bool Mesh::PollInbound(uint32_t to) const {
  const Local& local = locals_[to];
  for (uint32_t i = 0; i < local.hot_count; ++i) {
    const Ring& ring = RingFor(local.hot[i], to);
    if (!ring.EmptyApprox()) {
      // Published: fetch the first slot while the shard gets to its Drain.
      ring.PrefetchForConsume();
      return true;
    }
  }
  return HasInbound(to);
}

bool Mesh::HasInbound(uint32_t to) const {
  const Local& local = locals_[to];
  const Signal& s = signals_[to];
  for (uint32_t w = 0; w < kWords; ++w) {
    if (local.pending[w] != 0 ||
        s.has_data[w].load(std::memory_order_seq_cst) != 0) {
      return true;
    }
  }
  return local.alien_next < local.alien_batch.size() ||
         s.alien_nonempty.load(std::memory_order_seq_cst);
}

void Mesh::PostFromAlien(uint32_t to, Message m) {
  AlienInbox& inbox = aliens_[to];
  {
    std::lock_guard<std::mutex> lock(inbox.mu);
    inbox.messages.push_back(std::move(m));
    signals_[to].alien_nonempty.store(true, std::memory_order_seq_cst);
  }
  WakeIfParked(to, nullptr);
}

bool Mesh::PrepareToPark(uint32_t shard, ParkMode mode) {
  Signal& s = signals_[shard];
  s.park.store(kParking, std::memory_order_seq_cst);
  if (HasInbound(shard)) {
    s.park.store(kRunning, std::memory_order_relaxed);
    return false;
  }
  // A sender with overflow may sleep only if every ring it overflows into is
  // full: then it asks that ring's receiver to wake it when it frees space.
  Local& me = locals_[shard];
  for (uint32_t to : me.dirty) {
    if (me.dests[to].overflow.empty()) continue;
    space_wanted_[shard].bits[to / 64].fetch_or(uint64_t{1} << (to % 64),
                                                std::memory_order_acq_rel);
    if (RingFor(shard, to).FreeSpaceApprox() > 0) {
      s.park.store(kRunning, std::memory_order_relaxed);
      return false;  // the next Flush makes progress
    }
  }
  uint32_t expected = kParking;
  const uint32_t parked = mode == ParkMode::kFutex ? kParkedFutex : kParked;
  if (!s.park.compare_exchange_strong(expected, parked,
                                      std::memory_order_seq_cst)) {
    // A sender saw PARKING and already set RUNNING: work is on its way.
    return false;
  }
  me.parks.store(me.parks.load(std::memory_order_relaxed) + 1,
                 std::memory_order_relaxed);
  return true;
}

void Mesh::WaitWhileParked(
    uint32_t shard,
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  // One wait, no re-check of the word after it: the caller's FinishPark
  // (a seq_cst store, an XCHG on x86) is the first touch of the line the
  // waker just wrote, one
  // transfer on the wake-up path instead of a load and then an upgrade. A
  // stray futex wake (one meant for an earlier park) or a signal makes a
  // spurious return, which costs the shard one idle tick.
  FutexWait(&signals_[shard].park, kParkedFutex, deadline);
}

void Mesh::FinishPark(uint32_t shard) {
  signals_[shard].park.store(kRunning, std::memory_order_seq_cst);
}

void Mesh::Notify(uint32_t shard) { WakeIfParked(shard, nullptr); }

void Mesh::SetWaker(uint32_t shard, Waker* waker) {
  locals_[shard].waker = waker;
}

Mesh::Stats Mesh::GetStats(uint32_t shard) const {
  const Local& l = locals_[shard];
  Stats s;
  s.sent = l.sent.load(std::memory_order_relaxed);
  s.received = l.received.load(std::memory_order_relaxed);
  s.wakes = l.wakes.load(std::memory_order_relaxed);
  s.parks = l.parks.load(std::memory_order_relaxed);
  return s;
}

}  // namespace veloq::mesh
