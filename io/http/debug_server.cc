#include "io/http/debug_server.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/remote.h"
#include "runtime/runtime.h"
#include "runtime/shard.h"
#include "runtime/timer.h"

namespace veloq::io {
namespace internal {
namespace {

double Millis(runtime::Duration d) {
  return static_cast<double>(d.count()) / 1e6;
}

// Runs `fn` (returning std::string) on every shard and waits up to
// `timeout` for each answer; a shard that has not answered by then gets
// `fallback(shard)`.
template <typename F, typename G>
runtime::Task<std::vector<std::string>> AskEveryShard(
    F fn, G fallback, runtime::Duration timeout) {
  runtime::Shard* here = runtime::Shard::Current();
  const uint32_t n = here->shard_count();
  std::vector<runtime::RemoteJoinHandle<std::string>> handles;
  handles.reserve(n);
  for (uint32_t s = 0; s < n; ++s) handles.push_back(runtime::SpawnOn(s, fn));
  const runtime::TimePoint deadline = runtime::Now() + timeout;
  while (true) {
    bool all = true;
    for (auto& h : handles) all = all && h.ready();
    if (all || runtime::Now() >= deadline) break;
    const absl::Status slept =
        co_await runtime::Sleep(std::chrono::milliseconds(1));
    if (!slept.ok()) break;  // cancelled
  }
  std::vector<std::string> out;
  out.reserve(n);
  for (uint32_t s = 0; s < n; ++s) {
    if (handles[s].ready()) {
      out.push_back(co_await handles[s]);
    } else {
      out.push_back(fallback(s));  // the handle detaches when dropped
    }
  }
  co_return out;
}

std::string TaskListJson(const std::vector<runtime::Shard::TaskInfo>& tasks) {
  std::string out = "[";
  for (size_t i = 0; i < tasks.size(); ++i) {
    const runtime::Shard::TaskInfo& t = tasks[i];
    absl::StrAppend(
        &out, i == 0 ? "" : ",", "{\"name\":", JsonString(t.name),
        ",\"spawned_at\":", JsonString(absl::StrCat(t.file, ":", t.line)),
        ",\"age_ms\":", absl::SixDigits(Millis(t.age)),
        ",\"cancelled\":", t.cancelled ? "true" : "false", "}");
  }
  out += "]";
  return out;
}

// The counters every shard publishes (readable from any thread).
std::string PublishedJson(uint32_t shard) {
  runtime::Runtime& rt = *runtime::Runtime::Current();
  const runtime::ShardStats s = rt.shard(shard).stats();
  return absl::StrCat("\"tasks_run\":", s.tasks_run, ",\"ticks\":", s.ticks,
                      ",\"parks\":", s.parks, ",\"stalls\":", s.stalls,
                      ",\"live_tasks\":", s.live_tasks,
                      ",\"run_queue\":", s.run_queue, ",\"timers\":", s.timers,
                      ",\"spawned\":", s.spawned,
                      ",\"load\":", rt.shard(shard).load());
}

std::string Unresponsive(uint32_t shard) {
  return absl::StrCat("{\"shard\":", shard, ",\"responsive\":false,",
                      PublishedJson(shard), "}");
}

// A metric family's value on this shard, summed over its samples (0 if
// absent): for gauges such as veloq_actors_alive.
double FamilyTotal(const metrics::Snapshot& snap, std::string_view family) {
  double total = 0;
  for (const metrics::FamilySnapshot& f : snap.families) {
    if (f.name != family) continue;
    for (const metrics::Sample& s : f.samples) {
      std::visit(
          [&total](const auto& v) {
            using V = std::decay_t<decltype(v)>;
            if constexpr (!std::is_same_v<V, metrics::HistogramValue>) {
              total += static_cast<double>(v);
            }
          },
          s.value);
    }
  }
  return total;
}

std::string ThisShardJson() {
  runtime::Shard& shard = *runtime::Shard::Current();
  runtime::Runtime& rt = shard.runtime();
  const metrics::Snapshot snap =
      metrics::Registry::Current().Snapshot(shard.id());
  uint64_t sent = 0, received = 0, overflow = 0;
  for (uint32_t p = 0; p < shard.shard_count(); ++p) {
    if (p == shard.id()) continue;
    sent += rt.mesh().SentTo(shard.id(), p);
    received += rt.mesh().ReceivedFrom(shard.id(), p);
    overflow += rt.mesh().OverflowDepth(shard.id(), p);
  }
  return absl::StrCat(
      "{\"shard\":", shard.id(), ",\"responsive\":true,",
      PublishedJson(shard.id()), ",\"mesh_sent\":", sent,
      ",\"mesh_received\":", received, ",\"mesh_overflow\":", overflow,
      ",\"actors\":", FamilyTotal(snap, "veloq_actors_alive"),
      ",\"mailbox_messages\":",
      FamilyTotal(snap, "veloq_actor_mailbox_messages"),
      ",\"mailbox_max\":", FamilyTotal(snap, "veloq_actor_mailbox_max"),
      ",\"io_in_flight\":", FamilyTotal(snap, "veloq_io_ops_in_flight"),
      ",\"oldest_tasks\":", TaskListJson(shard.Tasks(5)), "}");
}

}  // namespace

std::string LogLevels() {
  std::string out;
  for (size_t i = 0; i < log::kModuleCount; ++i) {
    const auto m = static_cast<log::Module>(i);
    const spdlog::string_view_t level =
        spdlog::level::to_string_view(log::GetLevel(m));
    absl::StrAppend(&out, std::string(log::ModuleName(m)), "=",
                    std::string(level.data(), level.size()), "\n");
  }
  return out;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

runtime::Task<std::string> TasksJson(size_t max_tasks,
                                     runtime::Duration answer_timeout) {
  auto list = [max_tasks] {
    runtime::Shard& shard = *runtime::Shard::Current();
    return absl::StrCat("{\"shard\":", shard.id(), ",\"responsive\":true,",
                        "\"live_tasks\":", shard.live_tasks(),
                        ",\"tasks\":", TaskListJson(shard.Tasks(max_tasks)),
                        "}");
  };
  std::vector<std::string> shards =
      co_await AskEveryShard(std::move(list), Unresponsive, answer_timeout);
  std::string out = "{\"shards\":[";
  for (size_t i = 0; i < shards.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", shards[i]);
  }
  out += "]}\n";
  co_return out;
}

runtime::Task<std::string> ShardsJson(runtime::Duration answer_timeout) {
  std::vector<std::string> shards =
      co_await AskEveryShard(ThisShardJson, Unresponsive, answer_timeout);
  std::string out = "{\"shards\":[";
  for (size_t i = 0; i < shards.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", shards[i]);
  }
  out += "]}\n";
  co_return out;
}

std::string ShardsPage(int refresh_seconds) {
  std::string page = R"html(<!doctype html>
<html><head><meta charset="utf-8"><title>veloq shards</title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:16px;margin:0 0 4px}
#status{color:#666;margin-bottom:10px}
table{border-collapse:collapse}
th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right;vertical-align:top}
th{background:#f3f3f3}
td.l,th.l{text-align:left}
.bar{display:inline-block;height:8px;background:#4a7;margin-right:4px}
.dead{background:#fdd}
.warn{color:#b50}
.tasks{font-family:monospace;font-size:12px;text-align:left;white-space:nowrap}
td.busy{white-space:nowrap;min-width:150px}
</style></head><body>
<h1>veloq: shards</h1>
<div id="status">loading…</div>
<table><thead><tr>
<th>shard</th><th class="l">busy (ticks/s)</th><th>tasks run/s</th><th>load</th><th>runnable</th>
<th>live tasks</th><th>timers</th><th>parks/s</th><th>stalls</th>
<th>mesh out/s</th><th>mesh in/s</th><th>overflow</th><th>actors</th>
<th>mailbox msgs</th><th>deepest</th><th>I/O in flight</th>
<th class="l">oldest tasks</th></tr></thead><tbody id="rows"></tbody></table>
<script>
const REFRESH = )html";
  absl::StrAppend(&page, refresh_seconds, R"html( * 1000;
let last = null, lastAt = 0;
function esc(s){return String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));}
function rate(s, prev, key, dt){ if(!prev||dt<=0) return '–'; return Math.max(0,(s[key]-prev[key])/dt).toFixed(0); }
async function tick(){
  try{
    const r = await fetch('shards.json',{cache:'no-store'});
    const j = await r.json(); const now = performance.now()/1000;
    const dt = last ? now-lastAt : 0; const prev = {};
    if(last) for(const s of last.shards) prev[s.shard]=s;
    let maxTicks = 1; const rates = {};
    for(const s of j.shards){ const p = prev[s.shard]; rates[s.shard] = p&&dt>0 ? (s.ticks-p.ticks)/dt : 0; maxTicks=Math.max(maxTicks,rates[s.shard]); }
    let html='';
    for(const s of j.shards){
      const p = prev[s.shard];
      const w = Math.round(100*rates[s.shard]/maxTicks);
      const tasks = (s.oldest_tasks||[]).map(t=>esc(t.name||'(unnamed)')+' @'+esc(t.spawned_at)+' '+Number(t.age_ms).toFixed(0)+' ms'+(t.cancelled?' (cancelled)':'')).join('<br>');
      html += '<tr class="'+(s.responsive?'':'dead')+'"><td>'+s.shard+(s.responsive?'':' <span class=warn>not answering</span>')+'</td>'
        +'<td class="l busy"><span class=bar style="width:'+w+'px"></span>'+(p?rates[s.shard].toFixed(0):'–')+'</td>'
        +'<td>'+rate(s,p,'tasks_run',dt)+'</td><td>'+s.load+'</td><td>'+s.run_queue+'</td>'
        +'<td>'+s.live_tasks+'</td><td>'+s.timers+'</td><td>'+rate(s,p,'parks',dt)+'</td>'
        +'<td'+(s.stalls>0?' class=warn':'')+'>'+s.stalls+'</td>'
        +'<td>'+(s.responsive?rate(s,p,'mesh_sent',dt):'–')+'</td><td>'+(s.responsive?rate(s,p,'mesh_received',dt):'–')+'</td>'
        +'<td'+(s.mesh_overflow>0?' class=warn':'')+'>'+(s.mesh_overflow??'–')+'</td>'
        +'<td>'+(s.actors??'–')+'</td><td>'+(s.mailbox_messages??'–')+'</td><td>'+(s.mailbox_max??'–')+'</td>'
        +'<td>'+(s.io_in_flight??'–')+'</td><td class=tasks>'+tasks+'</td></tr>';
    }
    document.getElementById('rows').innerHTML = html;
    document.getElementById('status').textContent = j.shards.length+' shards · updated '+new Date().toLocaleTimeString()+' · every '+(REFRESH/1000)+' s · raw: shards.json, tasks, ../metrics';
    last = j; lastAt = now;
  }catch(e){ document.getElementById('status').textContent = 'error: '+e; }
  setTimeout(tick, REFRESH);
}
tick();
</script></body></html>
)html");
  return page;
}

}  // namespace internal

absl::StatusOr<DebugServer> DebugServer::Start(DebugServerOptions options) {
  HttpServerOptions http;
  http.address = options.address;
  absl::StatusOr<HttpServer> server = HttpServer::Bind(http);
  if (!server.ok()) return server.status();
  const size_t max_tasks = options.max_tasks;
  const runtime::Duration timeout = options.answer_timeout;
  server->Route("/metrics",
                [](const HttpRequest&) -> runtime::Task<HttpResponse> {
                  HttpResponse r;
                  r.content_type = std::string(metrics::kPrometheusContentType);
                  r.body = co_await metrics::ScrapeAll();
                  co_return r;
                });
  server->Route("/debug/tasks",
                [max_tasks, timeout](
                    const HttpRequest& req) -> runtime::Task<HttpResponse> {
                  size_t limit = max_tasks;
                  if (std::optional<std::string> l = req.QueryParam("limit")) {
                    if (!absl::SimpleAtoi(*l, &limit)) {
                      co_return HttpResponse::Text(
                          400, "limit must be a non-negative number\n");
                    }
                  }
                  HttpResponse r;
                  r.content_type = "application/json";
                  r.body = co_await internal::TasksJson(limit, timeout);
                  co_return r;
                });
  server->Route("/debug/shards.json",
                [timeout](const HttpRequest&) -> runtime::Task<HttpResponse> {
                  HttpResponse r;
                  r.content_type = "application/json";
                  r.body = co_await internal::ShardsJson(timeout);
                  co_return r;
                });
  server->Route(
      "/debug/shards",
      [](const HttpRequest& req) -> runtime::Task<HttpResponse> {
        int refresh = 2;
        if (std::optional<std::string> v = req.QueryParam("refresh")) {
          if (!absl::SimpleAtoi(*v, &refresh) || refresh < 1 ||
              refresh > 3600) {
            co_return HttpResponse::Text(
                400, "refresh must be a number of seconds in [1, 3600]\n");
          }
        }
        HttpResponse r;
        r.content_type = "text/html; charset=utf-8";
        r.body = internal::ShardsPage(refresh);
        co_return r;
      });
  server->Route(
      "/debug/log", [](const HttpRequest& req) -> runtime::Task<HttpResponse> {
        if (std::optional<std::string> spec = req.QueryParam("set")) {
          const absl::Status st = log::SetLevels(*spec);
          if (!st.ok()) {
            co_return HttpResponse::Text(400, absl::StrCat(st.message(), "\n"));
          }
          log::Info(log::Module::kRuntime, "log levels set to '{}' over HTTP",
                    *spec);
        }
        co_return HttpResponse::Text(200, internal::LogLevels());
      });
  server->Start();
  return DebugServer(*std::move(server));
}

}  // namespace veloq::io
