// TCP echo: Veloq (one shard, TcpServer + TcpStream) against a plain
// nonblocking-epoll echo server written for the comparison, both on one
// server thread, driven by the same client code in the same run:
//   bazel run -c opt //testing/perf:net_benchmark
// BM_<Server>Echo_<size>_<conns>: each iteration sends one message on every
// connection, then reads every echo back in full; items_per_second = round
// trips per second, bytes_per_second = payload bytes echoed per second.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "benchmark/benchmark.h"
#include "io/driver.h"
#include "io/net/server.h"
#include "io/net/tcp.h"
#include "runtime/runtime.h"

namespace veloq {
namespace {

// --- The peer: a plain epoll echo server on one thread. ---
class EpollEchoServer {
 public:
  EpollEchoServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(listen_fd_, 1024);
    socklen_t len = sizeof(a);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    epoll_ = ::epoll_create1(0);
    stop_fd_ = ::eventfd(0, 0);
    Add(listen_fd_);
    Add(stop_fd_);
    thread_ = std::thread([this] { Loop(); });
  }
  ~EpollEchoServer() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stop_fd_, &one, sizeof(one));
    thread_.join();
    for (auto& [fd, c] : conns_) ::close(fd);
    ::close(listen_fd_);
    ::close(epoll_);
    ::close(stop_fd_);
  }
  uint16_t port() const { return port_; }

 private:
  struct Conn {
    std::string pending;    // echo bytes not yet written
    bool want_out = false;  // EPOLLOUT registered
  };
  void Add(int fd, uint32_t events = EPOLLIN) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }
  void Loop() {
    epoll_event events[256];
    char buf[64 << 10];
    for (;;) {
      const int n = ::epoll_wait(epoll_, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == stop_fd_) return;
        if (fd == listen_fd_) {
          for (;;) {
            const int c =
                ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK);
            if (c < 0) break;
            int one = 1;
            ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            conns_[c];
            Add(c);
          }
          continue;
        }
        Conn& c = conns_[fd];
        if (events[i].events & EPOLLOUT) Flush(fd, c);
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
          for (;;) {
            const ssize_t r = ::read(fd, buf, sizeof(buf));
            if (r > 0) {
              c.pending.append(buf, static_cast<size_t>(r));
              Flush(fd, c);
              continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
              ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
              ::close(fd);
              conns_.erase(fd);
            }
            break;
          }
        }
      }
    }
  }
  void Flush(int fd, Conn& c) {
    while (!c.pending.empty()) {
      const ssize_t w = ::write(fd, c.pending.data(), c.pending.size());
      if (w <= 0) break;
      c.pending.erase(0, static_cast<size_t>(w));
    }
    // Only touch the interest set when it changes (a syscall saved per
    // message: the peer should be as good as a plain epoll loop gets).
    const bool want_out = !c.pending.empty();
    if (want_out == c.want_out) return;
    c.want_out = want_out;
    epoll_event ev{};
    ev.events = EPOLLIN | (want_out ? uint32_t{EPOLLOUT} : 0u);
    ev.data.fd = fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
  }

  int listen_fd_ = -1;
  int epoll_ = -1;
  int stop_fd_ = -1;
  uint16_t port_ = 0;
  std::unordered_map<int, Conn> conns_;
  std::thread thread_;
};

// --- Ours: a one-shard runtime serving echo with TcpServer. ---
runtime::Task<void> EchoConnection(io::TcpStream s) {
  (void)s.options().SetNoDelay(true);
  io::Driver* d = io::Driver::Current();
  for (;;) {
    io::FixedBuf buf = d->buffers().Allocate(64 << 10);
    if (!buf.valid()) buf = io::FixedBuf::Heap(64 << 10);  // pool exhausted
    io::BufResult r = co_await s.Read(std::move(buf));
    if (!r.res.ok() || r.res.value() == 0) co_return;
    io::BufStatus w = co_await s.WriteAll(std::move(r.buf));
    if (!w.status.ok()) co_return;
  }
}

class VeloqEchoServer {
 public:
  VeloqEchoServer() {
    std::promise<uint16_t> port;
    auto ready = port.get_future();
    rt_ = *runtime::Runtime::Builder()
               .Shards(1)
               .Parkers(io::DriverParkers())
               .Build();
    thread_ = std::thread([this, &port] {
      auto root = [&port]() -> runtime::Task<absl::Status> {
        absl::StatusOr<io::TcpServer> server = io::TcpServer::Bind(
            io::SocketAddress::Loopback4(0), io::Spread::kThisShard);
        if (!server.ok()) {
          port.set_value(0);
          co_return server.status();
        }
        port.set_value(server->address().port());
        co_return co_await server->Serve(EchoConnection);
      };
      (void)rt_->Run(root);
    });
    port_ = ready.get();
  }
  ~VeloqEchoServer() {
    rt_->RequestStop();
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  std::unique_ptr<runtime::Runtime> rt_;
  std::thread thread_;
  uint16_t port_ = 0;
};

// --- The client, the same for both: blocking sockets, one message out on
// every connection, then every echo read back in full. ---
void RunClient(benchmark::State& state, uint16_t port) {
  const size_t size = static_cast<size_t>(state.range(0));
  const int conns = static_cast<int>(state.range(1));
  std::vector<int> fds;
  for (int i = 0; i < conns; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      state.SkipWithError("connect failed");
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fds.push_back(fd);
  }
  std::string msg(size, 'e');
  std::string in(size, 0);
  for (auto _ : state) {
    for (int fd : fds) {
      size_t done = 0;
      while (done < size) {
        const ssize_t w = ::write(fd, msg.data() + done, size - done);
        if (w <= 0) {
          state.SkipWithError("write failed");
          return;
        }
        done += static_cast<size_t>(w);
      }
    }
    for (int fd : fds) {
      size_t got = 0;
      while (got < size) {
        const ssize_t r = ::read(fd, in.data() + got, size - got);
        if (r <= 0) {
          state.SkipWithError("read failed");
          return;
        }
        got += static_cast<size_t>(r);
      }
    }
  }
  for (int fd : fds) ::close(fd);
  state.SetItemsProcessed(state.iterations() * conns);
  state.SetBytesProcessed(state.iterations() * conns *
                          static_cast<int64_t>(size));
}

void BM_EpollEcho(benchmark::State& state) {
  EpollEchoServer server;
  RunClient(state, server.port());
}

void BM_VeloqEcho(benchmark::State& state) {
  VeloqEchoServer server;
  RunClient(state, server.port());
}

// Names as BM_<Server>Echo_<size>_<conns>.
#define ECHO_CASES(fn, name)                                                \
  BENCHMARK(fn)->Name(#name "_64B_1")->Args({64, 1})->UseRealTime();        \
  BENCHMARK(fn)->Name(#name "_64B_64")->Args({64, 64})->UseRealTime();      \
  BENCHMARK(fn)->Name(#name "_16KB_1")->Args({16 << 10, 1})->UseRealTime(); \
  BENCHMARK(fn)->Name(#name "_16KB_64")->Args({16 << 10, 64})->UseRealTime();

ECHO_CASES(BM_EpollEcho, BM_EpollEcho)
ECHO_CASES(BM_VeloqEcho, BM_VeloqEcho)

// Where zero-copy send starts to pay (io::SetZeroCopyThreshold): the echo
// server's writes with SEND_ZC always (Zc) or never (Copy), 1 connection.
void BM_VeloqEchoZeroCopy(benchmark::State& state) {
  const size_t before = io::ZeroCopyThreshold();
  io::SetZeroCopyThreshold(state.range(2) != 0 ? 1 : 0);
  {
    VeloqEchoServer server;
    RunClient(state, server.port());
  }
  io::SetZeroCopyThreshold(before);
}
BENCHMARK(BM_VeloqEchoZeroCopy)
    ->Name("BM_VeloqEchoCopy_4KB_1")
    ->Args({4 << 10, 1, 0})
    ->UseRealTime();
BENCHMARK(BM_VeloqEchoZeroCopy)
    ->Name("BM_VeloqEchoZc_4KB_1")
    ->Args({4 << 10, 1, 1})
    ->UseRealTime();
BENCHMARK(BM_VeloqEchoZeroCopy)
    ->Name("BM_VeloqEchoCopy_16KB_1")
    ->Args({16 << 10, 1, 0})
    ->UseRealTime();
BENCHMARK(BM_VeloqEchoZeroCopy)
    ->Name("BM_VeloqEchoZc_16KB_1")
    ->Args({16 << 10, 1, 1})
    ->UseRealTime();
BENCHMARK(BM_VeloqEchoZeroCopy)
    ->Name("BM_VeloqEchoCopy_64KB_1")
    ->Args({64 << 10, 1, 0})
    ->UseRealTime();
BENCHMARK(BM_VeloqEchoZeroCopy)
    ->Name("BM_VeloqEchoZc_64KB_1")
    ->Args({64 << 10, 1, 1})
    ->UseRealTime();
BENCHMARK(BM_VeloqEchoZeroCopy)
    ->Name("BM_VeloqEchoCopy_256KB_1")
    ->Args({256 << 10, 1, 0})
    ->UseRealTime();
BENCHMARK(BM_VeloqEchoZeroCopy)
    ->Name("BM_VeloqEchoZc_256KB_1")
    ->Args({256 << 10, 1, 1})
    ->UseRealTime();

}  // namespace
}  // namespace veloq

BENCHMARK_MAIN();
