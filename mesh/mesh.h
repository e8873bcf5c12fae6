#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "mesh/message.h"
#include "mesh/overflow_queue.h"
#include "mesh/spsc_ring.h"

namespace veloq::mesh {

// Waker wakes a parked shard. Implemented by the shard's I/O driver (an
// eventfd write, or an IORING_OP_MSG_RING). Thread-safe: called by any thread.
class Waker {
 public:
  virtual ~Waker() = default;
  virtual void Wake() = 0;
};

struct MeshOptions {
  // Number of shards; at most Mesh::kMaxShards.
  uint32_t shards = 1;
  // Slots per ring (one ring per ordered pair of shards); a power of two.
  uint32_t ring_capacity = 1024;
  // Send publishes a ring's staged batch itself once it holds this many
  // messages (0: only Flush publishes). Measured on the 2-core machine:
  // 64-message batches keep both sides busy; 256 roughly halved one-way
  // throughput.
  size_t publish_batch = 64;
  // Free overflow chunks (4 KiB, 63 messages each) a shard keeps for reuse;
  // more are returned to the heap. The default keeps up to 4 MiB a shard.
  size_t overflow_chunk_cache = 1024;
};

// Mesh is the N x N network of single-producer single-consumer rings that
// carries Messages between shards, plus each shard's park state.
//
// Thread safety: methods name the shard that may call them. Send, Flush and
// the *To/*From accessors of a sender run only on shard `from`; Drain,
// PrepareToPark and FinishPark only on shard `to`/`shard`; PostFromAlien and
// Notify from any thread.
//
// Batching: Send stages a message in the from->to ring without publishing it;
// Flush publishes every ring `from` staged into (one release store per ring)
// and signals each receiver once. A shard calls Flush at the end of its tick
// (and once more mid-tick when the messages it drained woke tasks or its
// driver has I/O in flight), so a
// burst of messages costs one or two publications and wake-ups, not one
// per message. A batch that reaches MeshOptions::publish_batch messages is
// published by Send itself, so a long tick does not hold the receiver back.
//
// Overflow: a full ring never drops a message and never blocks the sender.
// Messages that do not fit wait in a per-destination overflow queue on the
// sender (an OverflowQueue: 4 KiB chunks, recycled through a per-shard
// cache) and move into the ring, in order, as the receiver frees space: on
// each Flush, and during a long burst every publish_batch overflowed
// messages (so the receiver works through the burst while it is being sent,
// not after). Order per (from, to) pair is preserved: once anything is in
// overflow, later messages queue behind it. OverflowDepth lets callers apply
// backpressure. A sender with overflow parks only when every ring it
// overflows into is full; it then sets a space-wanted bit, and the receiver
// that next pops from that ring wakes it. Both RMW the bit's word (the
// sender fetch_or, then re-reads the ring's head; the receiver releases head,
// then fetch_and), so one of them sees the other. No overflow is ever
// stranded behind two sleeping shards.
//
// Has-data signal: each receiver has a bitmask with one bit per sender. A
// sender sets its bit (fetch_or, release) after publishing; the receiver
// exchanges the mask to zero (acquire) and drains only the rings whose bits
// were set, so an idle ring costs nothing per poll at any shard count.
// Besides, a receiver keeps up to kHotRings "hot" senders (those its last
// drains took messages from) and checks their rings' tails directly when it
// polls and drains: on a busy pair the tail is visible one transfer before
// the has-data word. A Drain that finds a hot ring with items takes only the
// hot rings and leaves the signal line (mask and alien inbox) to the next
// Drain, which always reads it (LastDrainWasComplete tells them apart). This
// is only a shortcut: the bit is still set and cleared by exchange as
// before, and parking looks at the mask alone.
//
// Notify-on-park: each shard's state moves RUNNING -> PARKING -> PARKED and
// back to RUNNING.
//   Receiver (PrepareToPark): store PARKING; re-check its has-data mask and
//   alien inbox; if empty, CAS PARKING -> PARKED and block in its Waker's
//   wait. FinishPark stores RUNNING.
//   Sender (Flush, Send when it publishes a batch, PostFromAlien): make the
//   data visible and set the has-data bit (or alien flag), then load the
//   state; if not RUNNING, exchange it to RUNNING and call Wake() only if
//   the old state was PARKED.
// No lost wake-up: all four accesses (the receiver's PARKING store and mask
// load; the sender's bit RMW and state load) are seq_cst, so in their single
// total order either the sender's bit set precedes the receiver's re-check
// (the receiver sees data and does not park) or the receiver's PARKING store
// precedes the sender's state load (the sender sees PARKING or PARKED). If it
// sees PARKING, its exchange to RUNNING makes the receiver's CAS fail, so the
// receiver does not block; if it sees PARKED, it wakes the receiver, and the
// Waker is level-triggered (a counter), so a Wake that lands before the
// receiver blocks is not lost. Only the sender whose exchange observes PARKED
// wakes: one Wake per park, however many senders race.
//
// Futex parking: a receiver with nothing in flight in its driver (so only a
// sender can end its sleep) may park with ParkMode::kFutex: its CAS goes
// PARKING -> PARKED_FUTEX, and it blocks in a futex wait on the park word for
// as long as the word reads PARKED_FUTEX. The sender whose exchange observes
// PARKED_FUTEX issues a futex wake on the word instead of calling Wake(). No
// lost wake-up: the kernel compares the word under the futex bucket lock
// that the wake takes too, so a wait that starts after the exchange sees
// RUNNING and returns at once, and a wait that started before it is woken.
// This skips the driver's wait and wake (one syscall each side, the same
// count, but cheaper ones: two bare threads bouncing a token through
// futexes take 18-20 us a round trip on the 2-core VM, through eventfds
// 21-22 us). A late futex wake meant for an earlier park can end a later
// one early: WaitWhileParked allows spurious returns.
class Mesh {
 public:
  static constexpr uint32_t kMaxShards = 256;

  explicit Mesh(const MeshOptions& options);
  // Destroys every undelivered message without running it.
  ~Mesh();

  Mesh(const Mesh&) = delete;
  Mesh& operator=(const Mesh&) = delete;

  uint32_t shard_count() const { return n_; }

  // Stages `m` for shard `to`. Never blocks, never drops. Shard `from` only.
  // REQUIRES: from != to, both < shard_count().
  void Send(uint32_t from, uint32_t to, Message m);

  // Publishes everything `from` staged since its last Flush, moves overflow
  // into rings that have room, and wakes parked receivers. Shard `from` only.
  void Flush(uint32_t from);

  // Messages from `from` to `to` still waiting in overflow. Shard `from` only.
  size_t OverflowDepth(uint32_t from, uint32_t to) const;
  // Sum over all destinations. Shard `from` only.
  size_t TotalOverflow(uint32_t from) const;
  // Messages `from` sent to `to` so far. Shard `from` only.
  uint64_t SentTo(uint32_t from, uint32_t to) const {
    return locals_[from].dests[to].sent;
  }
  // Messages shard `to` ran from `from`'s ring so far. Shard `to` only.
  uint64_t ReceivedFrom(uint32_t to, uint32_t from) const {
    return locals_[to].received_from[from];
  }

  // Runs up to `budget` inbound messages for shard `to` (ring messages in
  // has-data order, then the alien inbox). Returns how many ran. Shard `to`
  // only.
  size_t Drain(uint32_t to, size_t budget);

  // Whether shard `to`'s last Drain looked at everything: its has-data mask
  // and alien inbox as well as its hot rings. A Drain that took only hot
  // rings (the hot-ring shortcut) returning less than its budget does not
  // mean the inbox is empty. Shard `to` only.
  bool LastDrainWasComplete(uint32_t to) const {
    return !locals_[to].skipped_signal;
  }

  // Whether shard `to` has inbound messages it has not drained. Shard `to`
  // only (other threads may call it for diagnostics; the answer is stale).
  // May also be true for a has-data bit whose messages a Drain already took
  // through the hot-ring shortcut; the next Drain clears such a bit.
  bool HasInbound(uint32_t to) const;

  // HasInbound, and also true as soon as a hot ring (one that the last
  // drains of `to` took messages from) has published items, before their
  // sender's has-data bit lands. What an idle shard polls: on a busy pair of
  // shards it notices a message one cache-line transfer sooner (the ring's
  // tail is visible before the has-data word is). Shard `to` only.
  bool PollInbound(uint32_t to) const;

  // Enqueues `m` for shard `to` from a thread that is not a shard (or from a
  // shard outside its tick), and wakes `to` if it is parked. Thread-safe.
  void PostFromAlien(uint32_t to, Message m);

  // How a parked shard sleeps, chosen by the shard for each park.
  enum class ParkMode {
    // In its Waker's wait (an io_uring_enter, an epoll_wait): a sender that
    // finds it parked calls Waker::Wake().
    kWaker,
    // In WaitWhileParked, a futex wait on the park word itself: a sender that
    // finds it parked does one futex wake, no Waker call. Only for a shard
    // whose Waker's wait has nothing else to end it (no I/O in flight).
    kFutex,
  };

  // Parking protocol, see the class comment. PrepareToPark returns true if
  // the caller may block (in its Waker's wait, or with kFutex in
  // WaitWhileParked) and must call FinishPark after; false if work arrived
  // (the state is back to RUNNING). Shard `shard` only.
  bool PrepareToPark(uint32_t shard, ParkMode mode = ParkMode::kWaker);
  void FinishPark(uint32_t shard);

  // After PrepareToPark(shard, kFutex) returned true: blocks until a sender
  // wakes `shard` (at once if one already did), or until `deadline`
  // (steady_clock) passes. Spurious returns are allowed (a signal, a late
  // wake meant for an earlier park). Shard `shard` only.
  void WaitWhileParked(
      uint32_t shard,
      std::optional<std::chrono::steady_clock::time_point> deadline);

  // Wakes `shard` if it is parked or about to park. Thread-safe. Pair it with
  // state that the shard re-checks after PARKING (e.g. PostFromAlien does).
  void Notify(uint32_t shard);

  // Installs the Waker of `shard`. REQUIRES: before any shard thread runs;
  // the Waker outlives the Mesh's use by any thread.
  void SetWaker(uint32_t shard, Waker* waker);

  // Counters for observability; written only by their owner, read anywhere.
  struct Stats {
    uint64_t sent = 0;      // messages this shard sent to other shards
    uint64_t received = 0;  // messages this shard ran from rings or aliens
    uint64_t wakes = 0;     // wakes (Wake() calls, futex wakes) this
                            // shard made on others
    uint64_t parks = 0;     // times this shard blocked
  };
  Stats GetStats(uint32_t shard) const;

 private:
  static constexpr uint32_t kWords = kMaxShards / 64;
  // Rings a receiver polls directly besides its has-data mask: small, so an
  // idle poll stays a handful of loads at any shard count.
  static constexpr uint32_t kHotRings = 4;
  // kParked: blocked in the Waker's wait; kParkedFutex: blocked in a futex
  // wait on the park word (WaitWhileParked).
  enum ParkState : uint32_t {
    kRunning = 0,
    kParking = 1,
    kParked = 2,
    kParkedFutex = 3,
  };

  using Ring = SpscRing<Message>;

  // Written by every sender to this receiver; read by the receiver.
  struct alignas(128) Signal {
    std::atomic<uint32_t> park{kRunning};
    std::atomic<uint64_t> has_data[kWords] = {};
    std::atomic<bool> alien_nonempty{false};
  };

  // Bit `to` set: this shard, as a sender, is parked or parking with
  // overflow towards `to` and wants a wake when `to` frees ring space.
  // Written by the sender and by those receivers; a line of its own.
  struct alignas(128) SpaceWanted {
    std::atomic<uint64_t> bits[kWords] = {};
  };

  struct AlienInbox {
    std::mutex mu;
    std::vector<Message> messages;  // guarded by mu
  };

  struct Destination {
    OverflowQueue overflow;
    bool staged = false;  // ring holds unpublished messages
    bool dirty = false;   // listed in Local::dirty
    uint64_t sent = 0;    // messages sent to this destination
  };

  // Owned by one shard: its sender state and its receiver bookkeeping.
  struct alignas(128) Local {
    std::unique_ptr<Destination[]> dests;
    std::unique_ptr<uint64_t[]> received_from;  // per sending shard
    std::unique_ptr<ChunkCache> chunks;         // for every dests[i].overflow
    // Destinations sent to since their last Flush, or still in overflow
    // (a mid-tick publish by Send leaves an entry with neither until then).
    std::vector<uint32_t> dirty;
    uint64_t pending[kWords] = {};  // rings left non-empty by budget
    uint32_t drain_start = 0;       // round-robin start of the next Drain
    // Senders this shard drained from most recently (receiver side), at
    // most kHotRings; PollInbound and Drain look at their rings directly.
    uint32_t hot[kHotRings] = {};
    uint32_t hot_count = 0;
    uint32_t hot_next = 0;        // the slot the next new hot sender replaces
    bool skipped_signal = false;  // the last Drain took only hot rings
    std::vector<Message> alien_batch;  // alien messages being drained
    size_t alien_next = 0;
    Waker* waker = nullptr;
    std::atomic<uint64_t> sent{0};
    std::atomic<uint64_t> received{0};
    std::atomic<uint64_t> wakes{0};
    std::atomic<uint64_t> parks{0};
  };

  Ring& RingFor(uint32_t from, uint32_t to) {
    return *rings_[static_cast<size_t>(from) * n_ + to];
  }
  const Ring& RingFor(uint32_t from, uint32_t to) const {
    return *rings_[static_cast<size_t>(from) * n_ + to];
  }
  // Sets from's bit in to's mask, then wakes `to` if parked.
  void SetHasData(uint32_t from, uint32_t to);
  // Moves what fits of d's overflow into the ring, staged, in order. True if
  // it moved anything.
  bool StageOverflow(Local& local, Destination& d, Ring& ring);
  void WakeIfParked(uint32_t to, Local* waker_owner);
  size_t DrainAlien(uint32_t to, size_t budget);
  // After `to` popped from the from->to ring: wakes `from` if it parked
  // waiting for space there.
  void WakeSenderWantingSpace(uint32_t from, uint32_t to);
  // Receiver `to` took messages from `from`: remember its ring as hot.
  void MarkHot(Local& local, uint32_t from);
  static bool IsHot(const Local& local, uint32_t from);

  const uint32_t n_;
  const size_t publish_batch_;
  std::vector<std::unique_ptr<Ring>> rings_;  // n*n, null on the diagonal
  std::unique_ptr<Signal[]> signals_;
  std::unique_ptr<Local[]> locals_;
  std::unique_ptr<AlienInbox[]> aliens_;
  std::unique_ptr<SpaceWanted[]> space_wanted_;
};

}  // namespace veloq::mesh
