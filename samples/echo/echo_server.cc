// echo_server: every shard accepts TCP connections (SO_REUSEPORT) and sends
// back whatever it reads, with buffers from the shard's pool.
//
//   bazel run -c opt //samples/echo:echo_server -- --port=7007
#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "io/driver.h"
#include "io/net/server.h"
#include "io/net/socket_address.h"
#include "runtime/runtime.h"

ABSL_FLAG(std::string, bind, "127.0.0.1", "address to listen on");
ABSL_FLAG(uint16_t, port, 7007, "TCP port (0: any free port)");
ABSL_FLAG(uint32_t, shards, 0, "shards (0: one per CPU)");

namespace veloq {
namespace {

runtime::Task<void> Echo(io::TcpStream s) {
  io::Driver& d = io::Driver::CurrentOrDie();
  for (;;) {
    io::FixedBuf buf = d.buffers().Allocate(16 << 10);
    if (!buf.valid()) buf = io::FixedBuf::Heap(16 << 10);  // pool exhausted
    io::BufResult r = co_await s.Read(std::move(buf));
    if (!r.res.ok() || r.res.value() <= 0) co_return;  // closed or failed
    io::BufStatus w = co_await s.WriteAll(std::move(r.buf));
    if (!w.status.ok()) co_return;
  }
}

int Main() {
  uint32_t shards = absl::GetFlag(FLAGS_shards);
  if (shards == 0) shards = std::max(1u, std::thread::hardware_concurrency());
  absl::StatusOr<io::SocketAddress> addr = io::SocketAddress::Parse(
      absl::StrCat(absl::GetFlag(FLAGS_bind), ":", absl::GetFlag(FLAGS_port)));
  if (!addr.ok()) {
    std::fprintf(stderr, "echo_server: %s\n", addr.status().ToString().c_str());
    return 2;
  }
  auto rt = runtime::Runtime::Builder()
                .Shards(shards)
                .HandleSignals(true)
                .Parkers(io::DriverParkers())
                .Build();
  if (!rt.ok()) {
    std::fprintf(stderr, "echo_server: %s\n", rt.status().ToString().c_str());
    return 1;
  }
  absl::Status s = (*rt)->Run([&]() -> runtime::Task<absl::Status> {
    absl::StatusOr<io::TcpServer> server =
        io::TcpServer::Bind(*addr, io::Spread::kReusePort);
    if (!server.ok()) co_return server.status();
    std::printf("echo_server: %u shards, listening on %s\n", shards,
                server->address().ToString().c_str());
    std::fflush(stdout);
    co_return co_await server->Serve(&Echo);
  });
  if (!s.ok() && !absl::IsCancelled(s)) {
    std::fprintf(stderr, "echo_server: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace veloq

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return veloq::Main();
}
