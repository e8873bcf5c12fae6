#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <type_traits>
#include <utility>

namespace veloq::mesh {

// Called with the exception a Message's closure threw, on the thread that
// ran it (a shard, or a blocking-pool thread), after the closure has been
// destroyed; the thread then goes on with its next message. Closures should
// not throw (SubmitTo and actors catch for their callers), so this reports a
// bug; it must not throw itself. Installed process-wide; with none
// installed, the exception is printed to stderr. A runtime installs its own
// (log and count per shard) when it is built, unless one is installed
// already.
using MessageExceptionHandler = void (*)(std::exception_ptr);

// Installs `handler` (nullptr: none). Thread-safe; takes effect for
// exceptions thrown after it returns.
void SetMessageExceptionHandler(MessageExceptionHandler handler);
// The installed handler, or nullptr. Thread-safe.
MessageExceptionHandler GetMessageExceptionHandler();

namespace internal {
// Hands `e` to the installed handler. Any thread.
void ReportMessageException(std::exception_ptr e) noexcept;
}  // namespace internal

// Message is a type-erased, move-only, run-once closure sized to one ring slot
// (64 bytes). Closures of up to kInlineSize bytes that are nothrow-movable are
// stored inline: sending them allocates nothing. Larger closures are boxed on
// the heap by the sender.
//
// Thread safety: thread-compatible. A Message is built on the sending shard,
// moved through a ring, and run (or destroyed unrun) on the receiving shard;
// the closure's captures are therefore moved on both shards and destroyed on
// the receiver. A Message destroyed without being run destroys its closure
// without calling it (this is how shutdown discards undelivered messages, so
// closures must release what they own in their destructors). A closure that
// throws is destroyed all the same, and its exception goes to the
// MessageExceptionHandler: it never unwinds into the mesh's drain.
class Message {
 public:
  static constexpr std::size_t kInlineSize = 48;

  Message() = default;

  template <typename F, typename D = std::decay_t<F>,
            typename = std::enable_if_t<!std::is_same_v<D, Message>>>
  explicit Message(F&& f) {
    static_assert(std::is_invocable_v<D&>, "a Message closure takes no args");
    // A destructor that throws would unwind out of the receiver's drain.
    static_assert(std::is_nothrow_destructible_v<D>,
                  "a Message closure's destructor must not throw");
    if constexpr (sizeof(D) <= kInlineSize &&
                  alignof(D) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<D>) {
      ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
      ops_ = &kInlineOps<D>;
    } else {
      ::new (static_cast<void*>(storage_)) D*(new D(std::forward<F>(f)));
      ops_ = &kBoxedOps<D>;
    }
  }

  Message(Message&& other) noexcept : ops_(other.ops_) {
    if (ops_ != nullptr) {
      ops_->relocate(storage_, other.storage_);
      other.ops_ = nullptr;
    }
  }

  Message& operator=(Message&& other) noexcept {
    if (this != &other) {
      Reset();
      ops_ = other.ops_;
      if (ops_ != nullptr) {
        ops_->relocate(storage_, other.storage_);
        other.ops_ = nullptr;
      }
    }
    return *this;
  }

  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  ~Message() { Reset(); }

  // Whether this holds a closure (false after Run, a move, or default
  // construction).
  explicit operator bool() const { return ops_ != nullptr; }

  // Calls the closure once and destroys it. REQUIRES: *this holds a closure.
  void Run() {
    const Ops* ops = ops_;
    ops_ = nullptr;
    ops->run_and_destroy(storage_);
  }

  // Calls the closure once and destroys it, ending *m's lifetime without
  // writing to *m (so a ring slot's cache line stays clean on the consumer).
  // REQUIRES: *m holds a closure; *m is not used or destroyed afterwards.
  static void RunAndEnd(Message* m) { m->ops_->run_and_destroy(m->storage_); }

  // Destroys the closure without calling it.
  void Reset() {
    if (ops_ != nullptr) {
      const Ops* ops = ops_;
      ops_ = nullptr;
      ops->destroy(storage_);
    }
  }

 private:
  struct Ops {
    void (*run_and_destroy)(void* storage);
    void (*destroy)(void* storage);
    // Move-constructs into dst from src and destroys src.
    void (*relocate)(void* dst, void* src);
  };

  // Calls d(); an exception is reported, not propagated.
  template <typename D>
  static void Call(D& d) {
#if defined(__cpp_exceptions)
    if constexpr (!std::is_nothrow_invocable_v<D&>) {
      try {
        d();
      } catch (...) {
        internal::ReportMessageException(std::current_exception());
      }
      return;
    }
#endif
    d();
  }

  template <typename D>
  static constexpr Ops kInlineOps = {
      [](void* s) {
        D* d = std::launder(static_cast<D*>(s));
        Call(*d);
        d->~D();
      },
      [](void* s) { std::launder(static_cast<D*>(s))->~D(); },
      [](void* dst, void* src) {
        D* from = std::launder(static_cast<D*>(src));
        ::new (dst) D(std::move(*from));
        from->~D();
      },
  };

  template <typename D>
  static constexpr Ops kBoxedOps = {
      [](void* s) {
        D* d = *std::launder(static_cast<D**>(s));
        Call(*d);
        delete d;
      },
      [](void* s) { delete *std::launder(static_cast<D**>(s)); },
      [](void* dst, void* src) {
        ::new (dst) D*(*std::launder(static_cast<D**>(src)));
      },
  };

  const Ops* ops_ = nullptr;
  alignas(std::max_align_t) unsigned char storage_[kInlineSize];
};

// 64 bytes: one ring slot is one cache line. Not over-aligned, so a Message
// may live anywhere (coroutine frames only guarantee 16-byte alignment).
static_assert(sizeof(Message) == 64, "a Message fills exactly one ring slot");

}  // namespace veloq::mesh
