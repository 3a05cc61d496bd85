#include "tools/daemon_shard.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/log.h"
#include "dns/mx_resolver.h"
#include "dns/resolver.h"
#include "net/admin/admin_session.h"
#include "net/admin/metrics_session.h"
#include "net/inbound/smtp_server_session.h"
#include "net/outbound/delivery_driver.h"
#include "net/outbound/next_hop.h"
#include "net/redis/redis_client.h"
#include "net/transport/connection_table.h"
#include "queue/log_reader.h"
#include "queue/log_writer.h"
#include "queue/maildir.h"
#include "queue/queue_id.h"
#include "tools/metrics_publisher.h"

namespace ringpost {
namespace {

// Each shard writes its own log under SPOOL/shard-K and owns the segments recovered
// from that folder.
absl::StatusOr<queue::LogWriter*> StartLog(core::Shard& shard, const DaemonShared& shared,
                                           const std::vector<queue::ControlRecord>& orders) {
  queue::LogWriterOptions options = shared.config.log;
  options.shard_dir = absl::StrCat(shared.config.spool_dir, "/shard-", shard.id());
  options.shard = static_cast<uint32_t>(shard.id());
  auto& log = shard.Make<queue::LogWriter>(shard, options);
  // The first segment carries the standing orders found, before any old segment can go.
  log.set_standing_orders([orders] { return orders; });
  RP_RETURN_IF_ERROR(log.Start());
  for (const queue::RecoveredSegment& segment : shared.recovered.segments) {
    if (static_cast<int>(segment.shard) == shard.id() && !segment.quarantined) {
      log.AdoptRecovered(segment.number, segment.path, segment.live);
    }
  }
  return &log;
}

// Restart: every unfinished recipient is scheduled again with its next attempt time.
// Each shard takes the live messages of its own folder, and of folders no running
// shard has (--shards was larger before), which it delivers but cannot reclaim.
void ScheduleRecovered(core::Shard& shard, const queue::RecoveredQueue& recovered, queue::Spool& spool) {
  const auto shards = static_cast<uint32_t>(shard.shard_count());
  for (const queue::RecoveredMessage& m : recovered.live) {
    if (static_cast<int>(m.shard % shards) != shard.id()) continue;
    const queue::RecoveredSegment& segment = recovered.segments[m.segment];
    auto envelope = queue::ReadEnvelope(segment.path, m.commit_offset);
    if (!envelope.ok()) {
      RP_LOG(kError) << "recovered message " << m.queue_id << " unreadable: " << envelope.status();
      continue;
    }
    if (envelope->recipients.size() != m.recipients.size()) continue;  // recovery read the same record
    for (size_t i = 0; i < m.recipients.size(); ++i) {
      queue::Recipient& r = envelope->recipients[i];
      r.final = m.recipients[i].final;
      r.held = m.recipients[i].held;
      r.attempts = m.recipients[i].attempts;
      r.next_attempt_unix_micros = m.recipients[i].next_attempt_unix_micros;
    }
    const bool reclaim = static_cast<int>(m.shard) == shard.id() && !segment.quarantined;
    // Its results in other shards' segments keep those (adopted with them counted live).
    std::vector<std::pair<int, uint32_t>> result_pins;
    for (uint32_t index : m.result_segments) {
      const queue::RecoveredSegment& held = recovered.segments[index];
      if (held.shard < shards && !held.quarantined) result_pins.emplace_back(held.shard, held.number);
    }
    spool.ScheduleRecovered(*envelope, segment.number, segment.path, m.commit_offset, reclaim,
                            std::move(result_pins));
  }
}

// The operators' standing orders (suspensions) for the domains this shard owns, still
// in force; wherever they were written (--shards may have changed).
std::vector<queue::ControlRecord> OwnedOrders(const core::Shard& shard, const queue::RecoveredQueue& recovered) {
  std::vector<queue::ControlRecord> owned;
  const auto now = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  for (const queue::ControlRecord& order : recovered.controls) {
    if (order.kind != queue::ControlRecord::Kind::kSuspend || order.until_unix_micros <= now) continue;
    if (queue::DomainShard(order.domain, shard.shard_count()) == shard.id()) owned.push_back(order);
  }
  return owned;
}

}  // namespace

absl::Status SetUpShard(core::Shard& shard, DaemonShared& shared) {
  const DaemonConfig& config = shared.config;
  // First made, last gone: commit callbacks that run while the log shuts down write here.
  auto& accounting = shard.Make<queue::AccountingWriter>(shared.accounting);
  shard.AddTurnHook([&accounting] { accounting.Flush(); });
  const std::vector<queue::ControlRecord> orders = OwnedOrders(shard, shared.recovered);
  RP_ASSIGN_OR_RETURN(queue::LogWriter * log, StartLog(shard, shared, orders));
  auto& ids = shard.Make<queue::QueueIdGenerator>(static_cast<uint32_t>(shard.id()), shared.node_id);
  for (const std::string& id : shared.recovered.queue_ids) ids.Observe(id);
  auto& spool = shard.Make<queue::Spool>(shard, *log, ids, shared.spools);

  auto& resolver = shard.Make<dns::Resolver>(shard, config.resolver);
  RP_RETURN_IF_ERROR(resolver.Start());
  auto& mx = shard.Make<dns::MxResolver>(shard, resolver, config.mx);
  auto& next_hops =
      shard.Make<net::DnsNextHops>(config.relay.local_domains(), config.routes, mx, config.outbound_port);
  auto& maildir = shard.Make<queue::MaildirWriter>(shard, config.maildir_root);
  net::DeliveryConfig delivery = config.delivery;
  // Retry jitter differs between shards and runs.
  delivery.scheduler.seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) ^ static_cast<uint64_t>(shard.id());
  delivery.scheduler.shard = static_cast<uint32_t>(shard.id());
  delivery.scheduler.shards = static_cast<uint32_t>(config.shards);
  // Its cluster leases' names: this spool's node, this process (a restart's new leases
  // never take the names of the old ones, which lapse).
  delivery.scheduler.node = absl::StrCat("node-", shared.node_id, "-", getpid());
  auto& driver = shard.Make<net::DeliveryDriver>(shard, delivery, spool, next_hops, maildir, accounting);
  driver.set_peers(&shared.drivers);
  driver.Restore(orders);
  if (config.delivery.scheduler.cluster) {  // --redis: the shared limits' home
    auto& redis = shard.Make<net::RedisClient>(shard, config.redis);
    driver.set_redis(&redis);
    redis.Start();
  }

  // With --auth_users, this shard's passwords are checked on a thread of its own.
  net::PasswordChecker* checker =
      config.auth_users != nullptr ? &shard.Make<net::PasswordChecker>(shard, *config.auth_users) : nullptr;
  net::DkimShard* dkim = nullptr;
  if (config.dkim_keys != nullptr || config.dkim_verify) {
    dkim = &shard.Make<net::DkimShard>(shard, config.dkim_keys.get(), config.dkim_key_cache,
                                       config.dkim_verify ? &resolver : nullptr);
  }
  auto& service = shard.Make<net::SmtpService>(config.smtp, config.relay, shared.limiter, spool, accounting);
  service.set_password_checker(checker);
  service.set_dkim(dkim);
  net::ConnectionTableOptions table_options;
  // Each shard could hold every connection; the ClientLimiter enforces the total (and
  // the per-address limit) across shards, since SO_REUSEPORT spreads clients unevenly.
  table_options.connections_max = config.max_connections;
  auto& table = shard.Make<net::ConnectionTable>(shard, service, table_options);
  driver.set_connections(&table);

  ScheduleRecovered(shard, shared.recovered, spool);
  for (auto& per_address : shared.listeners.fds) {
    table.AddListener(per_address[shard.id()]);
    per_address[shard.id()] = -1;  // owned by the table now
  }
  for (auto [role, set] : {std::pair{net::ListenerRole::kSubmission, &shared.submission_listeners},
                           std::pair{net::ListenerRole::kSubmissions, &shared.submissions_listeners}}) {
    if (set->fds.empty()) continue;
    auto& role_service = shard.Make<net::SmtpListenerService>(service, role);
    for (auto& per_address : set->fds) {
      table.AddListener(per_address[shard.id()], &role_service);
      per_address[shard.id()] = -1;
    }
  }
  shard.Make<MetricsPublisher>(shard, shared.metrics, table, service, driver, *log, mx,
                               config.metrics_top_destinations);
  auto& agent = shard.Make<AdminAgent>(shard, shared.admin_agents, driver, *log, accounting);
  if (shard.id() == 0) {
    if (!shared.metrics_listener.fds.empty()) {
      table.AddListener(shared.metrics_listener.fds[0][0], &shard.Make<net::MetricsService>(shared.metrics));
      shared.metrics_listener.fds[0][0] = -1;
    }
    if (shared.admin_socket.has_value()) {
      table.AddListener(shared.admin_socket->TakeFd(), &shard.Make<net::AdminService>(agent, ""));
    }
    if (!shared.admin_listener.fds.empty()) {
      table.AddListener(shared.admin_listener.fds[0][0], &shard.Make<net::AdminService>(agent, config.admin_token));
      shared.admin_listener.fds[0][0] = -1;
    }
  }
  return absl::OkStatus();
}

}  // namespace ringpost
