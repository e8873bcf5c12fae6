#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "io/net/socket_address.h"
#include "io/net/tcp.h"
#include "runtime/cancellation.h"
#include "runtime/log.h"
#include "runtime/remote.h"
#include "runtime/shard.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "runtime/timer.h"

namespace veloq::io {

// How a TcpServer spreads connections over the shards.
enum class Spread : uint8_t {
  // Every shard binds its own listener on the same port (SO_REUSEPORT) and
  // accepts its own connections; the kernel balances by flow hash.
  kReusePort,
  // The serving shard accepts and hands each connection to the less loaded
  // of two random shards (power of two choices, runtime::PickBalancedShard).
  kAcceptAndBalance,
  // Only the serving shard.
  kThisShard,
};

// TcpServer accepts connections and runs a handler for each, as its own
// task, on the shard the Spread picks.
//
//   absl::StatusOr<TcpServer> server =
//       TcpServer::Bind(*SocketAddress::Parse("127.0.0.1:6379"),
//       Spread::kReusePort);
//   co_await server->Serve([](TcpStream s) -> Task<void> { ... });
//
// Serve returns when its task is cancelled (every shard's accept loop is
// cancelled and joined; connections already handed out keep running as
// their own tasks), or with the first error binding another shard's
// listener. Accept errors (EMFILE, ENFILE, a peer gone before accept) are
// logged and the loop goes on after a short pause: bad luck on one
// connection never stops the server.
//
// The handler is copied to every shard (it must be copyable) and called
// there as `handler(TcpStream) -> Task<void>`.
//
// Affinity: create and serve on one shard.
class TcpServer {
 public:
  // Binds the calling shard's listener (port 0: a free port, the same on
  // every shard).
  static absl::StatusOr<TcpServer> Bind(const SocketAddress& addr,
                                        Spread spread,
                                        TcpListener::Options options = {}) {
    options.reuse_port = options.reuse_port || spread == Spread::kReusePort;
    absl::StatusOr<TcpListener> l = TcpListener::Bind(addr, options);
    if (!l.ok()) return l.status();
    absl::StatusOr<SocketAddress> bound = l->LocalAddress();
    if (!bound.ok()) return bound.status();
    return TcpServer(*std::move(l), *bound, spread, options);
  }

  const SocketAddress& address() const { return address_; }
  Spread spread() const { return spread_; }

  template <typename Handler>
  runtime::Task<absl::Status> Serve(Handler handler) {
    runtime::Shard* here = runtime::Shard::Current();
    std::vector<runtime::RemoteJoinHandle<absl::Status>> others;
    if (spread_ == Spread::kReusePort) {
      for (uint32_t s = 0; s < here->shard_count(); ++s) {
        if (s == here->id()) continue;
        auto fn = [addr = address_, options = options_,
                   handler]() -> runtime::Task<absl::Status> {
          absl::StatusOr<TcpListener> l = TcpListener::Bind(addr, options);
          if (!l.ok()) co_return l.status();
          co_await AcceptLoop(*l, handler, Spread::kThisShard);
          co_return absl::OkStatus();
        };
        others.push_back(runtime::SpawnOn(s, std::move(fn)));
      }
    }
    co_await AcceptLoop(listener_, handler, spread_);
    absl::Status result = absl::OkStatus();
    for (auto& h : others) {
      h.Cancel();
      absl::Status s = co_await h;
      if (!s.ok() && s.code() != absl::StatusCode::kCancelled && result.ok()) {
        result = s;
      }
    }
    co_return result;
  }

 private:
  TcpServer(TcpListener l, SocketAddress a, Spread s, TcpListener::Options o)
      : listener_(std::move(l)), address_(a), spread_(s), options_(o) {}

  template <typename Handler>
  static runtime::Task<void> AcceptLoop(const TcpListener& l, Handler handler,
                                        Spread spread) {
    AcceptStream incoming = l.Incoming();  // multishot on io_uring
    for (;;) {
      absl::StatusOr<TcpStream> c = co_await incoming.Next();
      if (runtime::IsCancelled()) co_return;
      if (!c.ok()) {
        log::Warn(log::Module::kNet, "tcp server: accept: {}",
                  c.status().ToString());
        (void)co_await runtime::Sleep(std::chrono::milliseconds(10));
        continue;
      }
      TcpStream stream = *std::move(c);
      const uint32_t target = spread == Spread::kAcceptAndBalance
                                  ? runtime::PickBalancedShard()
                                  : runtime::Shard::Current()->id();
      if (target == runtime::Shard::Current()->id()) {
        runtime::Spawn(handler(std::move(stream)), "connection").Detach();
        continue;
      }
      // The socket crosses shards as a plain fd.
      const int fd = stream.ReleaseFd();
      auto hand_off = [fd, handler] {
        absl::StatusOr<TcpStream> s = TcpStream::FromFd(fd);
        if (s.ok()) {
          runtime::Spawn(handler(*std::move(s)), "connection").Detach();
        }
      };
      (void)runtime::SpawnOn(target, std::move(hand_off));
    }
  }

  TcpListener listener_;
  SocketAddress address_;
  Spread spread_;
  TcpListener::Options options_;
};

}  // namespace veloq::io
