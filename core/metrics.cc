#include "core/metrics.h"

#include "absl/strings/str_cat.h"
#include "core/check.h"

namespace ringpost::core {
namespace {

constexpr MetricInfo kInfo[kMetricCount] = {
    {"connections_accepted_total", true, "Inbound connections accepted (SMTP, and this endpoint's)."},
    {"connections_open", false, "Connections open now, inbound and outbound."},
    {"connections_refused_total", true, "Inbound SMTP connections refused with 421 (connection limits)."},
    {"received_bytes_total", true, "Bytes received on all connections."},
    {"sent_bytes_total", true, "Bytes sent on all connections."},
    {"messages_accepted_total", true, "Messages answered 250 after DATA or BDAT (durable in the queue log)."},
    {"commands_refused_total", true, "SMTP commands refused (policy, limits or storage), one per refusal."},
    {"tls_handshakes_total", true, "Inbound STARTTLS handshakes completed."},
    {"tls_failures_total", true, "Inbound STARTTLS handshakes that failed."},
    {"delivery_jobs", false, "Delivery jobs held by the shards (recipients grouped per domain)."},
    {"delivery_attempts_total", true, "Delivery attempts (one transaction or Maildir pass)."},
    {"recipients_delivered_total", true, "Recipients delivered."},
    {"recipients_deferred_total", true, "Recipient attempts deferred for a retry."},
    {"recipients_bounced_total", true, "Recipients that failed permanently."},
    {"recipients_expired_total", true, "Recipients that expired in the queue."},
    {"dsns_queued_total", true, "Delivery status notifications queued."},
    {"outbound_connections_opened_total", true, "Outbound SMTP connections opened."},
    {"outbound_connection_failures_total", true, "Outbound SMTP connections that failed."},
    {"log_commits_total", true, "Messages committed to the queue log."},
    {"log_syncs_total", true, "fdatasync calls completed by the queue log."},
    {"log_write_bytes_total", true, "Bytes written to the queue log."},
    {"log_segments", false, "Queue log segment files held."},
    {"log_failures_total", true, "Queue log segments failed (write or sync error) and sealed."},
    {"dns_lookups_total", true, "Next-hop DNS lookups asked for (MX or route host)."},
    {"dns_cache_hits_total", true, "Next-hop DNS lookups answered from the cache."},
};

}  // namespace

const MetricInfo& InfoOf(Metric metric) { return kInfo[static_cast<size_t>(metric)]; }

MetricsBoard::MetricsBoard(int shards) : shards_(shards), slots_(new Slot[static_cast<size_t>(shards)]) {
  RP_CHECK_GT(shards, 0);
}

uint64_t MetricsBoard::Sum(Metric metric) const {
  uint64_t sum = 0;
  for (int s = 0; s < shards_; ++s) {
    sum += slots_[static_cast<size_t>(s)].values[static_cast<size_t>(metric)].load(std::memory_order_relaxed);
  }
  return sum;
}

std::string MetricsBoard::RenderPrometheus() const {
  std::string out;
  for (size_t i = 0; i < kMetricCount; ++i) {
    const Metric metric = static_cast<Metric>(i);
    const MetricInfo& info = InfoOf(metric);
    absl::StrAppend(&out, "# HELP ringpost_", info.name, " ", info.help, "\n# TYPE ringpost_", info.name,
                    info.counter ? " counter\n" : " gauge\n", "ringpost_", info.name, " ", Sum(metric), "\n");
  }
  return out;
}

}  // namespace ringpost::core
