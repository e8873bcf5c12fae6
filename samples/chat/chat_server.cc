// chat_server: a publish/subscribe chat room built from actors. Each
// connection is a Session actor on its shard (it owns the socket's write
// half); each room lives in the RoomRegistry instance of the shard that owns
// the room's name (a ShardedService routed by key); a room monitors its
// members, so a session that goes away leaves every room it was in.
//
//   bazel run -c opt //samples/chat:chat_server -- --port=7070
//   (in two terminals) nc 127.0.0.1 7070
//     /nick alice
//     /join lobby
//     hello                         -> everyone in lobby: "[lobby] alice:
//     hello" /quit
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "actors/actor.h"
#include "actors/actor_table.h"
#include "actors/sharded_service.h"
#include "io/driver.h"
#include "io/net/buffered.h"
#include "io/net/server.h"
#include "io/net/socket_address.h"
#include "runtime/runtime.h"

ABSL_FLAG(std::string, bind, "127.0.0.1", "address to listen on");
ABSL_FLAG(uint16_t, port, 7070, "TCP port (0: any free port)");
ABSL_FLAG(uint32_t, shards, 0, "shards (0: one per CPU)");

namespace veloq::chat {
namespace {

using actors::ActorRef;
using runtime::Task;

// A line for a session's client.
struct Line {
  std::string text;
};

// One connection's outgoing side: lines are written in the order they
// arrive (turn-based: one write at a time).
class Session : public actors::Actor {
 public:
  explicit Session(std::shared_ptr<io::TcpWriteHalf> out)
      : out_(std::move(out)) {}
  Task<void> Handle(Line l) {
    l.text += '\n';
    io::FixedBuf buf = io::Driver::CurrentOrDie().buffers().Copy(l.text);
    io::BufStatus w = co_await out_->WriteAll(std::move(buf));
    if (!w.status.ok()) Stop();  // the client is gone
  }

 private:
  std::shared_ptr<io::TcpWriteHalf> out_;
};

struct Join {
  std::string room;
  ActorRef<Session> who;
};
struct Leave {
  std::string room;
  ActorRef<Session> who;
};
struct Say {
  std::string room;
  std::string text;  // already "[room] nick: text"
};

// The rooms whose names hash to this shard.
class RoomRegistry : public actors::Actor {
 public:
  void Handle(Join j) {
    std::vector<ActorRef<Session>>& members = rooms_[j.room];
    for (const auto& m : members) {
      m.Tell(Line{absl::StrCat("* a new member joined ", j.room)});
    }
    members.push_back(j.who);
    Monitor(j.who);
  }
  void Handle(Leave l) { Remove(l.room, l.who.address()); }
  void Handle(Say s) {
    auto it = rooms_.find(s.room);
    if (it == rooms_.end()) return;
    for (const auto& m : it->second) m.Tell(Line{s.text});
  }

 protected:
  // A session ended: out of every room here.
  void OnDown(const actors::Down& d) override {
    std::vector<std::string> names;
    for (auto& [name, members] : rooms_) names.push_back(name);
    for (const std::string& name : names) Remove(name, d.actor);
  }

 private:
  void Remove(const std::string& room, const actors::ActorAddress& who) {
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return;
    std::erase_if(it->second, [&](const ActorRef<Session>& m) {
      return m.address() == who;
    });
    if (it->second.empty()) rooms_.erase(it);
  }

  absl::flat_hash_map<std::string, std::vector<ActorRef<Session>>> rooms_;
};

using Rooms = actors::ShardedService<RoomRegistry>;

Task<void> Serve(io::TcpStream stream, Rooms rooms) {
  auto [in, out] = std::move(stream).Split();
  ActorRef<Session> me = actors::Spawn<Session>(
      std::make_shared<io::TcpWriteHalf>(std::move(out)));
  io::BufferedReader<io::TcpReadHalf> reader(in, io::FixedBuf::Heap(4096));
  std::string nick = absl::StrCat("guest", me.address().index);
  std::string room;
  me.Tell(
      Line{absl::StrCat("welcome, ", nick, "! /nick NAME, /join ROOM, /quit")});
  for (;;) {
    absl::StatusOr<absl::string_view> line = co_await reader.ReadLine();
    if (!line.ok()) break;  // gone, or a line longer than 4 KB
    absl::string_view text = absl::StripAsciiWhitespace(*line);
    if (text.empty()) continue;
    if (absl::ConsumePrefix(&text, "/nick ")) {
      nick = std::string(absl::StripAsciiWhitespace(text));
      me.Tell(Line{absl::StrCat("* you are ", nick)});
    } else if (absl::ConsumePrefix(&text, "/join ")) {
      if (!room.empty()) rooms.ForKey(room).Tell(Leave{room, me});
      room = std::string(absl::StripAsciiWhitespace(text));
      rooms.ForKey(room).Tell(Join{room, me});
      me.Tell(Line{absl::StrCat("* joined ", room)});
    } else if (text == "/quit") {
      break;
    } else if (room.empty()) {
      me.Tell(Line{"* /join a room first"});
    } else {
      rooms.ForKey(room).Tell(
          Say{room, absl::StrCat("[", room, "] ", nick, ": ", text)});
    }
  }
  me.Stop();  // its Down takes it out of the rooms
}

int Main() {
  uint32_t shards = absl::GetFlag(FLAGS_shards);
  if (shards == 0) shards = std::max(1u, std::thread::hardware_concurrency());
  absl::StatusOr<io::SocketAddress> addr = io::SocketAddress::Parse(
      absl::StrCat(absl::GetFlag(FLAGS_bind), ":", absl::GetFlag(FLAGS_port)));
  if (!addr.ok()) {
    std::fprintf(stderr, "chat_server: %s\n", addr.status().ToString().c_str());
    return 2;
  }
  auto rt = runtime::Runtime::Builder()
                .Shards(shards)
                .HandleSignals(true)
                .Parkers(io::DriverParkers())
                .Build();
  if (!rt.ok()) {
    std::fprintf(stderr, "chat_server: %s\n", rt.status().ToString().c_str());
    return 1;
  }
  absl::Status s = (*rt)->Run([&]() -> Task<absl::Status> {
    Rooms rooms = co_await Rooms::Start();
    absl::StatusOr<io::TcpServer> server =
        io::TcpServer::Bind(*addr, io::Spread::kReusePort);
    if (!server.ok()) co_return server.status();
    std::printf("chat_server: %u shards, listening on %s\n", shards,
                server->address().ToString().c_str());
    std::fflush(stdout);
    auto handler = [rooms](io::TcpStream c) {
      return Serve(std::move(c), rooms);
    };
    co_return co_await server->Serve(handler);
  });
  if (!s.ok() && !absl::IsCancelled(s)) {
    std::fprintf(stderr, "chat_server: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace veloq::chat

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return veloq::chat::Main();
}
