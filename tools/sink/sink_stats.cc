#include "tools/sink/sink_stats.h"

#include "absl/strings/str_cat.h"

namespace ringpost::sink {

SinkTotals Sum(const std::vector<SinkCounters*>& shards, const SinkShared& shared) {
  SinkTotals t;
  t.connections_peak = static_cast<uint64_t>(shared.peak.load());
  for (const SinkCounters* s : shards) {
    if (s == nullptr) continue;
    auto get = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
    t.connections_total += get(s->connections_total);
    t.messages += get(s->messages);
    t.recipients += get(s->recipients);
    t.bytes += get(s->bytes);
    t.replies_4xx += get(s->replies_4xx);
    t.replies_5xx += get(s->replies_5xx);
    t.disconnects_injected += get(s->disconnects_injected);
    t.silences_injected += get(s->silences_injected);
    t.tls_handshakes += get(s->tls_handshakes);
  }
  return t;
}

std::string FormatText(const SinkTotals& t) {
  return absl::StrCat("connections=", t.connections_total, " peak_connections=", t.connections_peak,
                      " messages=", t.messages, " recipients=", t.recipients, " bytes=", t.bytes,
                      " replies_4xx=", t.replies_4xx, " replies_5xx=", t.replies_5xx,
                      " disconnects_injected=", t.disconnects_injected,
                      " silences_injected=", t.silences_injected, " tls_handshakes=", t.tls_handshakes);
}

std::string FormatJson(const SinkTotals& t) {
  return absl::StrCat("{\"connections\":", t.connections_total, ",\"peak_connections\":", t.connections_peak,
                      ",\"messages\":", t.messages, ",\"recipients\":", t.recipients, ",\"bytes\":", t.bytes,
                      ",\"replies_4xx\":", t.replies_4xx, ",\"replies_5xx\":", t.replies_5xx,
                      ",\"disconnects_injected\":", t.disconnects_injected,
                      ",\"silences_injected\":", t.silences_injected,
                      ",\"tls_handshakes\":", t.tls_handshakes, "}");
}

}  // namespace ringpost::sink
