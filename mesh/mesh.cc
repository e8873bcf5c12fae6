#include "mesh/mesh.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace veloq::mesh {
namespace {

void Die(const char* what) {
  std::fprintf(stderr, "veloq::mesh: %s\n", what);
  std::abort();
}

}  // namespace

Mesh::Mesh(const MeshOptions& options)
    : n_(options.shards),
      rings_(static_cast<size_t>(options.shards) * options.shards),
      signals_(new Signal[options.shards]),
      locals_(new Local[options.shards]),
      aliens_(new AlienInbox[options.shards]) {
  if (n_ == 0 || n_ > kMaxShards) Die("shard count out of range");
  for (uint32_t from = 0; from < n_; ++from) {
    locals_[from].dests = std::make_unique<Destination[]>(n_);
    for (uint32_t to = 0; to < n_; ++to) {
      if (from != to) {
        rings_[static_cast<size_t>(from) * n_ + to] =
            std::make_unique<Ring>(options.ring_capacity);
      }
    }
  }
}

Mesh::~Mesh() = default;

void Mesh::Send(uint32_t from, uint32_t to, Message m) {
  Local& local = locals_[from];
  Destination& d = local.dests[to];
  if (!d.staged && d.overflow.empty()) local.dirty.push_back(to);
  if (d.overflow.empty() && RingFor(from, to).TryStage(std::move(m))) {
    d.staged = true;
  } else {
    d.overflow.push_back(std::move(m));
  }
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
    while (!d.overflow.empty() &&
           ring.TryStage(std::move(d.overflow.front()))) {
      d.overflow.pop_front();
      d.staged = true;
    }
    if (d.staged) {
      ring.Publish();
      d.staged = false;
      SetHasData(from, to);
    }
    // Destinations still in overflow stay dirty: retried next Flush.
    if (!d.overflow.empty()) local.dirty[keep++] = to;
  }
  local.dirty.resize(keep);
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
  if (s.park.exchange(kRunning, std::memory_order_seq_cst) == kParked) {
    locals_[to].waker->Wake();
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
  size_t ran = 0;
  for (uint32_t w = 0; w < kWords && ran < budget; ++w) {
    uint64_t bits = local.pending[w];
    // Load first: an idle receiver does not write the shared line.
    if (s.has_data[w].load(std::memory_order_relaxed) != 0) {
      bits |= s.has_data[w].exchange(0, std::memory_order_acquire);
    }
    local.pending[w] = 0;
    while (bits != 0) {
      const int bit = __builtin_ctzll(bits);
      bits &= bits - 1;
      const uint32_t from = w * 64 + static_cast<uint32_t>(bit);
      Ring& ring = RingFor(from, to);
      if (ran < budget) {
        ran += ring.PopBatch([](Message&& m) { m.Run(); }, budget - ran);
      }
      if (!ring.EmptyApprox()) local.pending[w] |= uint64_t{1} << bit;
    }
  }
  if (ran < budget) ran += DrainAlien(to, budget - ran);
  local.received.store(local.received.load(std::memory_order_relaxed) + ran,
                       std::memory_order_relaxed);
  return ran;
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

bool Mesh::PrepareToPark(uint32_t shard) {
  Signal& s = signals_[shard];
  s.park.store(kParking, std::memory_order_seq_cst);
  if (HasInbound(shard)) {
    s.park.store(kRunning, std::memory_order_relaxed);
    return false;
  }
  uint32_t expected = kParking;
  if (!s.park.compare_exchange_strong(expected, kParked,
                                      std::memory_order_seq_cst)) {
    // A sender saw PARKING and already set RUNNING: work is on its way.
    return false;
  }
  Local& local = locals_[shard];
  local.parks.store(local.parks.load(std::memory_order_relaxed) + 1,
                    std::memory_order_relaxed);
  return true;
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
