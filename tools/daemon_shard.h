// The daemon's per-shard wiring: what each shard owns and how the parts connect.
//
//   LogWriter ← Spool (commit → durable → schedule → done) ← SmtpService (inbound)
//                 ↓ jobs (to the shard owning each domain)
//   DeliveryDriver (DeliveryScheduler, next hops, Maildir, accounting) → ConnectionTable
//   AdminAgent (live queue control; shard 0's serves the admin API) → the driver
//
// Everything a shard makes lives until the shard is destroyed, in reverse order of
// creation (core::Shard::Make).
#pragma once

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "core/metrics.h"
#include "core/shard.h"
#include "core/sharded.h"
#include "net/inbound/client_limiter.h"
#include "net/outbound/delivery_driver.h"
#include "net/transport/listener.h"
#include "queue/accounting_log.h"
#include "queue/recovery.h"
#include "queue/spool.h"
#include "tools/admin_fanout.h"
#include "tools/daemon_config.h"

namespace ringpost {

// What main makes once and every shard shares.
struct DaemonShared {
  DaemonShared(const DaemonConfig& config, uint32_t node_id, queue::RecoveredQueue recovered,
               net::ListenerSet listeners, net::ListenerSet metrics_listener)
      : config(config),
        node_id(node_id),
        recovered(std::move(recovered)),
        listeners(std::move(listeners)),
        metrics_listener(std::move(metrics_listener)),
        limiter(config.max_connections, config.max_connections_per_ip),
        accounting(config.accounting_log, config.accounting_log_max_bytes),
        metrics(config.shards),
        spools(config.shards),
        drivers(config.shards),
        admin_agents(config.shards) {}

  const DaemonConfig& config;
  const uint32_t node_id;  // every queue id's node part
  const queue::RecoveredQueue recovered;
  net::ListenerSet listeners;         // each shard takes its sockets
  net::ListenerSet metrics_listener;  // served by shard 0 (empty: off)
  net::ListenerSet submission_listeners;   // --submission_listen: login before mail
  net::ListenerSet submissions_listeners;  // --submissions_listen: TLS, then login
  net::ClientLimiter limiter;
  queue::AccountingLog accounting;
  core::MetricsBoard metrics;
  core::Sharded<queue::Spool> spools;
  core::Sharded<net::DeliveryDriver> drivers;  // a rule's action on a site reaches them all
  // The admin API, served by shard 0 (either may be off).
  std::optional<net::UnixListener> admin_socket;
  net::ListenerSet admin_listener;
  core::Sharded<AdminAgent> admin_agents;
};

// Runs on `shard`'s thread, once, before any shard's loop starts.
absl::Status SetUpShard(core::Shard& shard, DaemonShared& shared);

}  // namespace ringpost
