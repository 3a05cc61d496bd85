#include "core/metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/check.h"

namespace ringpost::core {
namespace {

constexpr MetricInfo kInfo[kMetricCount] = {
    {"connections_accepted_total", true, "Inbound connections accepted (SMTP, and this endpoint's)."},
    {"connections_open", false, "Connections open now, inbound and outbound."},
    {"connections_refused_total", true, "Inbound SMTP connections refused with 421 (connection limits)."},
    {"proxy_headers_refused_total", true,
     "Connections from --proxy_protocol_networks closed for a missing, malformed or late PROXY header."},
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
    {"delivery_bodies_from_memory_total", true,
     "Bodies of delivery attempts copied from the queue log's newest writes, still in memory."},
    {"delivery_bodies_from_log_total", true, "Bodies of delivery attempts read from the queue log's files."},
    {"dns_lookups_total", true, "Next-hop DNS lookups asked for (MX or route host)."},
    {"dns_cache_hits_total", true, "Next-hop DNS lookups answered from the cache."},
    {"dkim_signed_total", true, "Messages signed with DKIM at reception (one or more signatures)."},
    {"dkim_unsigned_total", true,
     "Messages of the relay networks or logged-in users left unsigned: no key for the From: domain, no From: "
     "domain, or a key that does not read."},
    {"dkim_refused_unsigned_total", true, "Messages refused (451 4.7.5) as unsigned, with --dkim_required."},
    {"dkim_pass_total", true, "DKIM signatures verified: pass."},
    {"dkim_fail_total", true, "DKIM signatures verified: fail (a hash or signature that does not match)."},
    {"dkim_neutral_total", true, "DKIM signatures verified: neutral (malformed or expired)."},
    {"dkim_temperror_total", true, "DKIM signatures verified: temperror (the key lookup failed)."},
    {"dkim_permerror_total", true, "DKIM signatures verified: permerror (no key, or an unusable one)."},
    {"dkim_none_total", true, "Messages verified that had no DKIM signature."},
    {"dkim_forged_results_removed_total", true,
     "Authentication-Results fields claiming --hostname that arrived with a message and were removed."},
    {"shaping_suspend_total", true, "Reply-driven rules (--shaping) that suspended a destination."},
    {"shaping_set_rate_total", true,
     "Reply-driven rules that lowered a destination's message rate for a while."},
    {"shaping_set_connection_limit_total", true,
     "Reply-driven rules that lowered a destination's connection limit for a while."},
    {"shaping_bounce_total", true, "Reply-driven rules that bounced a destination's queue."},
    {"shaping_temporary_total", true,
     "Attempts whose 5xx reply a reply-driven rule made temporary (deferred)."},
    {"shaping_waits_total", true, "Times a destination's due mail waited for its message rate."},
    {"shared_rate_calls_total", true,
     "Calls to Redis for a batch of tokens of a shared message rate (--redis, shared = true)."},
    {"shared_rate_tokens_granted_total", true, "Tokens of shared message rates that Redis granted."},
    {"shared_rate_tokens_returned_total", true, "Tokens of shared message rates given back unused."},
    {"cluster_fallbacks_total", true,
     "Times a shard lost Redis and kept to limit / --cluster_nodes for each shared limit."},
    {"shared_limits_in_redis", false,
     "Shards whose shared limits are kept in Redis now (the others keep to their fallback share)."},
};

struct HistogramInfo {
  const char* name;
  const char* help;
  std::vector<double> bounds;  // upper bounds in seconds, ascending; +Inf follows
};

const HistogramInfo& HistogramInfoOf(HistogramKind kind) {
  static const auto* infos = new std::array<HistogramInfo, kHistogramCount>{{
      {"time_in_queue_seconds", "From arrival to a recipient's final outcome (delivered, bounced or expired).",
       {1, 10, 60, 300, 1800, 3600, 4 * 3600, 86400, 5 * 86400}},
      {"delivery_latency_seconds", "One delivery attempt, from sending the message to its replies.",
       {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60}},
  }};
  return (*infos)[static_cast<size_t>(kind)];
}

// Prometheus label values: backslash, quote and newline escaped.
std::string LabelValue(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

void HistogramCounts::Observe(HistogramKind kind, double seconds) {
  const std::vector<double>& bounds = HistogramInfoOf(kind).bounds;
  size_t bucket = 0;
  while (bucket < bounds.size() && seconds > bounds[bucket]) ++bucket;
  ++buckets[bucket];
  ++count;
  sum += seconds;
}

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

void MetricsBoard::SetHistogram(int shard, HistogramKind kind, const HistogramCounts& counts) {
  HistogramSlot& h = slots_[static_cast<size_t>(shard)].histograms[static_cast<size_t>(kind)];
  for (size_t i = 0; i < kHistogramBucketsMax; ++i) h.buckets[i].store(counts.buckets[i], std::memory_order_relaxed);
  h.count.store(counts.count, std::memory_order_relaxed);
  h.sum_micros.store(static_cast<uint64_t>(counts.sum * 1e6), std::memory_order_relaxed);
}

void MetricsBoard::SetDestinations(int shard, std::vector<DestinationGauge> destinations, uint64_t suspended) {
  Slot& slot = slots_[static_cast<size_t>(shard)];
  slot.suspended.store(suspended, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(slot.destinations_mutex);
  slot.destinations = std::move(destinations);
}

void MetricsBoard::RenderHistograms(std::string* out) const {
  for (size_t k = 0; k < kHistogramCount; ++k) {
    const HistogramInfo& info = HistogramInfoOf(static_cast<HistogramKind>(k));
    std::array<uint64_t, kHistogramBucketsMax> buckets{};
    uint64_t count = 0, sum_micros = 0;
    for (int s = 0; s < shards_; ++s) {
      const HistogramSlot& h = slots_[static_cast<size_t>(s)].histograms[k];
      for (size_t i = 0; i < kHistogramBucketsMax; ++i) buckets[i] += h.buckets[i].load(std::memory_order_relaxed);
      count += h.count.load(std::memory_order_relaxed);
      sum_micros += h.sum_micros.load(std::memory_order_relaxed);
    }
    absl::StrAppend(out, "# HELP ringpost_", info.name, " ", info.help, "\n# TYPE ringpost_", info.name,
                    " histogram\n");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < info.bounds.size(); ++i) {
      cumulative += buckets[i];
      absl::StrAppend(out, "ringpost_", info.name, "_bucket{le=\"", info.bounds[i], "\"} ", cumulative, "\n");
    }
    absl::StrAppend(out, "ringpost_", info.name, "_bucket{le=\"+Inf\"} ", count, "\n");
    absl::StrAppend(out, "ringpost_", info.name, "_sum ", static_cast<double>(sum_micros) / 1e6, "\n");
    absl::StrAppend(out, "ringpost_", info.name, "_count ", count, "\n");
  }
}

void MetricsBoard::RenderDestinations(std::string* out) const {
  std::vector<DestinationGauge> all;
  uint64_t suspended = 0;
  for (int s = 0; s < shards_; ++s) {
    const Slot& slot = slots_[static_cast<size_t>(s)];
    suspended += slot.suspended.load(std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(slot.destinations_mutex);
    all.insert(all.end(), slot.destinations.begin(), slot.destinations.end());
  }
  absl::StrAppend(out,
                  "# HELP ringpost_destinations_suspended Destinations an operator suspended.\n"
                  "# TYPE ringpost_destinations_suspended gauge\nringpost_destinations_suspended ",
                  suspended, "\n");
  // The deepest first; suspended ones are shown whatever their depth.
  std::sort(all.begin(), all.end(), [](const DestinationGauge& a, const DestinationGauge& b) {
    return a.recipients != b.recipients ? a.recipients > b.recipients : a.domain < b.domain;
  });
  std::vector<const DestinationGauge*> shown;
  for (const DestinationGauge& d : all) {
    if (shown.size() < top_destinations_ || (d.suspended && shown.size() < 2 * top_destinations_)) shown.push_back(&d);
  }
  absl::StrAppend(out,
                  "# HELP ringpost_destination_queued_recipients Recipients queued for a destination (the "
                  "deepest, --metrics_top_destinations).\n# TYPE ringpost_destination_queued_recipients gauge\n");
  for (const DestinationGauge* d : shown) {
    absl::StrAppend(out, "ringpost_destination_queued_recipients{domain=\"", LabelValue(d->domain), "\"} ",
                    d->recipients, "\n");
  }
  absl::StrAppend(out,
                  "# HELP ringpost_destination_oldest_seconds Age of the oldest message queued for a "
                  "destination.\n# TYPE ringpost_destination_oldest_seconds gauge\n");
  for (const DestinationGauge* d : shown) {
    absl::StrAppend(out, "ringpost_destination_oldest_seconds{domain=\"", LabelValue(d->domain), "\"} ",
                    d->oldest_age_seconds, "\n");
  }
  absl::StrAppend(out,
                  "# HELP ringpost_destination_suspended 1 while an operator has the destination suspended.\n"
                  "# TYPE ringpost_destination_suspended gauge\n");
  for (const DestinationGauge* d : shown) {
    if (d->suspended) {
      absl::StrAppend(out, "ringpost_destination_suspended{domain=\"", LabelValue(d->domain), "\"} 1\n");
    }
  }
}

void MetricsBoard::RenderFailures(std::string* out) const {
  if (failure_classes_.empty()) return;
  absl::StrAppend(out,
                  "# HELP ringpost_delivery_failures_total Failed delivery attempts (deferred, bounced or "
                  "expired recipients) by why they failed (--bounce_rules).\n"
                  "# TYPE ringpost_delivery_failures_total counter\n");
  for (size_t c = 0; c < failure_classes_.size() && c < kFailureClassesMax; ++c) {
    uint64_t sum = 0;
    for (int s = 0; s < shards_; ++s)
      sum += slots_[static_cast<size_t>(s)].failures[c].load(std::memory_order_relaxed);
    absl::StrAppend(out, "ringpost_delivery_failures_total{class=\"", LabelValue(failure_classes_[c]), "\"} ",
                    sum, "\n");
  }
}

std::string MetricsBoard::RenderPrometheus() const {
  std::string out;
  for (size_t i = 0; i < kMetricCount; ++i) {
    const Metric metric = static_cast<Metric>(i);
    const MetricInfo& info = InfoOf(metric);
    absl::StrAppend(&out, "# HELP ringpost_", info.name, " ", info.help, "\n# TYPE ringpost_", info.name,
                    info.counter ? " counter\n" : " gauge\n", "ringpost_", info.name, " ", Sum(metric), "\n");
  }
  RenderHistograms(&out);
  RenderFailures(&out);
  if (top_destinations_ > 0) RenderDestinations(&out);
  return out;
}

}  // namespace ringpost::core
