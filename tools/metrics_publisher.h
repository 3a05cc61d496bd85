// The daemon's side of /metrics: once a second, each shard copies its components'
// counters into its slot of the shared MetricsBoard (core/metrics.h), so the
// endpoint's shard reads them without touching another shard's objects.
#pragma once

#include <algorithm>
#include <vector>

#include "core/metrics.h"
#include "core/shard.h"
#include "dns/mx_resolver.h"
#include "net/transport/connection_table.h"
#include "net/outbound/delivery_driver.h"
#include "net/inbound/smtp_server_session.h"
#include "queue/log_writer.h"

namespace ringpost {

class MetricsPublisher {
 public:
  MetricsPublisher(core::Shard& shard, core::MetricsBoard& board, net::ConnectionTable& table,
                   net::SmtpService& service, net::DeliveryDriver& delivery, queue::LogWriter& log,
                   dns::MxResolver& mx, size_t top_destinations)
      : shard_(shard),
        board_(board),
        table_(table),
        service_(service),
        delivery_(delivery),
        log_(log),
        mx_(mx),
        top_destinations_(top_destinations) {
    timer_.Bind(&MetricsPublisher::OnTimer, this);
    Publish();
  }
  ~MetricsPublisher() { shard_.timers().Cancel(&timer_); }
  MetricsPublisher(const MetricsPublisher&) = delete;
  MetricsPublisher& operator=(const MetricsPublisher&) = delete;

 private:
  static void OnTimer(void* context) { static_cast<MetricsPublisher*>(context)->Publish(); }

  void PublishDkim(const net::DkimStats& k) {
    using core::Metric;
    const int id = shard_.id();
    board_.Set(id, Metric::kDkimSigned, k.signed_messages);
    board_.Set(id, Metric::kDkimUnsigned, k.unsigned_no_key + k.unsigned_key_error);
    board_.Set(id, Metric::kDkimRefusedUnsigned, k.refused_unsigned);
    const auto verdict = [&k](net::DkimVerdict v) { return k.verdicts[static_cast<int>(v)]; };
    board_.Set(id, Metric::kDkimPass, verdict(net::DkimVerdict::kPass));
    board_.Set(id, Metric::kDkimFail, verdict(net::DkimVerdict::kFail));
    board_.Set(id, Metric::kDkimNeutral, verdict(net::DkimVerdict::kNeutral));
    board_.Set(id, Metric::kDkimTempError, verdict(net::DkimVerdict::kTempError));
    board_.Set(id, Metric::kDkimPermError, verdict(net::DkimVerdict::kPermError));
    board_.Set(id, Metric::kDkimNone, k.no_signature);
    board_.Set(id, Metric::kDkimForgedResultsRemoved, k.forged_results_removed);
  }

  void Publish() {
    using core::Metric;
    const int id = shard_.id();
    const net::ConnectionStats& c = table_.stats();
    board_.Set(id, Metric::kConnectionsAccepted, c.accepted_total);
    board_.Set(id, Metric::kConnectionsOpen, c.live);
    board_.Set(id, Metric::kBytesReceived, c.bytes_received_total);
    board_.Set(id, Metric::kBytesSent, c.bytes_sent_total);
    const net::SmtpService::Stats& s = service_.stats();
    board_.Set(id, Metric::kMessagesAccepted, s.messages_accepted);
    board_.Set(id, Metric::kConnectionsRefused, s.connections_refused);
    board_.Set(id, Metric::kProxyHeadersRefused, s.proxy_headers_refused);
    board_.Set(id, Metric::kCommandsRefused, s.transactions_refused);
    board_.Set(id, Metric::kTlsHandshakes, s.tls_handshakes);
    board_.Set(id, Metric::kTlsFailures, s.tls_failures);
    const queue::DeliveryScheduler& scheduler = delivery_.scheduler();
    const queue::DeliveryScheduler::Stats& d = scheduler.stats();
    board_.Set(id, Metric::kDeliveryJobs, scheduler.jobs());
    board_.Set(id, Metric::kDeliveryAttempts, d.attempts);
    board_.Set(id, Metric::kRecipientsDelivered, d.delivered);
    board_.Set(id, Metric::kRecipientsDeferred, d.deferred);
    board_.Set(id, Metric::kRecipientsBounced, d.bounced);
    board_.Set(id, Metric::kRecipientsExpired, d.expired);
    board_.Set(id, Metric::kDsnsQueued, d.dsns_queued);
    board_.Set(id, Metric::kOutboundConnectionsOpened, d.connections_opened);
    board_.Set(id, Metric::kOutboundConnectionFailures, d.connection_failures);
    const queue::LogWriter::Stats l = log_.stats();
    board_.Set(id, Metric::kLogCommits, l.commits);
    board_.Set(id, Metric::kLogSyncs, l.syncs);
    board_.Set(id, Metric::kLogWriteBytes, l.write_bytes);
    board_.Set(id, Metric::kLogSegments, log_.segment_files());
    board_.Set(id, Metric::kLogFailures, l.failures);
    board_.Set(id, Metric::kBodiesFromMemory, delivery_.body_reads().from_memory);
    board_.Set(id, Metric::kBodiesFromLog, delivery_.body_reads().from_log);
    board_.Set(id, Metric::kDnsLookups, mx_.stats().lookups);
    board_.Set(id, Metric::kDnsCacheHits, mx_.stats().cache_hits);
    if (const net::DkimShard* dkim = service_.dkim(); dkim != nullptr) PublishDkim(dkim->stats());
    for (size_t k = 0; k < d.failures_by_class.size(); ++k) board_.SetFailures(id, k, d.failures_by_class[k]);
    using queue::AutomationAction;
    auto acted = [&d](AutomationAction action) { return d.shaping_actions[static_cast<size_t>(action)]; };
    board_.Set(id, Metric::kShapingSuspend, acted(AutomationAction::kSuspend));
    board_.Set(id, Metric::kShapingSetRate, acted(AutomationAction::kSetRate));
    board_.Set(id, Metric::kShapingSetConnectionLimit, acted(AutomationAction::kSetConnectionLimit));
    board_.Set(id, Metric::kShapingBounce, acted(AutomationAction::kBounce));
    board_.Set(id, Metric::kShapingTemporary, acted(AutomationAction::kTemporary));
    board_.Set(id, Metric::kShapingWaits, d.shaping_waits);
    board_.Set(id, Metric::kSharedRateCalls, d.shared_token_asks);
    board_.Set(id, Metric::kSharedRateTokensGranted, d.shared_tokens_granted);
    board_.Set(id, Metric::kSharedRateTokensReturned, d.shared_tokens_returned);
    board_.Set(id, Metric::kClusterFallbacks, d.cluster_fallbacks);
    board_.Set(id, Metric::kSharedLimitsInRedis, scheduler.cluster_up() ? 1 : 0);
    board_.SetHistogram(id, core::HistogramKind::kTimeInQueue, d.time_in_queue);
    board_.SetHistogram(id, core::HistogramKind::kDeliveryLatency, d.delivery_latency);
    PublishDestinations(scheduler);
    shard_.timers().Schedule(&timer_, shard_.now() + core::kNanosPerSecond);
  }

  // The deepest destinations and the suspended ones (O(domains) once a second).
  void PublishDestinations(const queue::DeliveryScheduler& scheduler) {
    if (top_destinations_ == 0) return;
    const absl::Time now = absl::Now();
    std::vector<core::DestinationGauge> gauges;
    for (const queue::DomainSummary& d : scheduler.Summary(top_destinations_, now)) {
      const double oldest = d.oldest == absl::InfiniteFuture() ? 0 : absl::ToDoubleSeconds(now - d.oldest);
      gauges.push_back({d.domain, d.recipients, oldest, d.suspended_until > now});
    }
    const std::vector<queue::Suspension> suspensions = scheduler.Suspensions(now);
    for (const queue::Suspension& s : suspensions) {
      const bool listed = std::any_of(gauges.begin(), gauges.end(),
                                      [&](const core::DestinationGauge& g) { return g.domain == s.domain; });
      if (!listed && gauges.size() < 2 * top_destinations_) gauges.push_back({s.domain, 0, 0, true});
    }
    board_.SetDestinations(shard_.id(), std::move(gauges), suspensions.size());
  }

  core::Shard& shard_;
  core::MetricsBoard& board_;
  net::ConnectionTable& table_;
  net::SmtpService& service_;
  net::DeliveryDriver& delivery_;
  queue::LogWriter& log_;
  dns::MxResolver& mx_;
  const size_t top_destinations_;
  core::TimerNode timer_;
};

}  // namespace ringpost
