// The daemon's configuration: every operator flag (DESIGN.md, The operator interface)
// read and checked once, before anything starts. ConfigFromFlags returns the first
// problem as one message naming its flag; main prints it and exits 2.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/log.h"
#include "core/runtime.h"
#include "core/socket_address.h"
#include "dns/mx_resolver.h"
#include "dns/resolver.h"
#include "net/inbound/auth_failures.h"
#include "net/inbound/auth_users.h"
#include "net/inbound/dkim_keys.h"
#include "net/inbound/local_recipients.h"
#include "net/inbound/relay_policy.h"
#include "net/inbound/smtp_server_session.h"
#include "net/outbound/delivery_driver.h"
#include "net/outbound/route_table.h"
#include "net/redis/redis_client.h"
#include "net/transport/tls_context.h"
#include "queue/log_writer.h"

namespace ringpost {

struct DaemonConfig {
  core::LogLevel log_level = core::LogLevel::kInfo;
  int shards = 1;
  std::vector<core::SocketAddress> listen;
  std::vector<core::SocketAddress> submission_listen;   // login before mail (RFC 6409)
  std::vector<core::SocketAddress> submissions_listen;  // TLS from the first byte (RFC 8314)
  std::string hostname;
  std::string spool_dir;
  int node_id = -1;  // -1: the spool's (SPOOL/node_id)
  std::string user;
  std::string metrics_listen;  // empty: off
  uint32_t metrics_top_destinations = 50;
  std::string admin_socket;  // empty: off
  std::string admin_listen;  // empty: off
  std::string admin_token;   // from --admin_token_file; empty: none asked
  core::RuntimeOptions runtime;
  uint32_t max_connections = 10000;
  uint32_t max_connections_per_ip = 100;
  // Inbound.
  net::RelayPolicy relay;
  std::shared_ptr<net::LocalRecipients> local_recipients;  // --local_recipients (null: unset)
  std::shared_ptr<net::AuthUsers> auth_users;              // --auth_users (null: no AUTH)
  std::shared_ptr<net::AuthFailures> auth_failures;        // with auth_users
  std::shared_ptr<net::DkimKeyTable> dkim_keys;            // --dkim_key_table (null: no signing)
  uint32_t dkim_key_cache = 100000;                        // keys per shard
  bool dkim_verify = false;                                // --dkim_verify
  std::string tls_cert, tls_key;  // both or neither: STARTTLS on the listeners
  // --redis (address unset: no cluster): each shard's connection for shared limits.
  net::RedisOptions redis;
  bool tls_legacy_ciphers = false;
  net::SmtpServiceConfig smtp;    // smtp.tls is set once the credentials load
  // The queue log of each shard (shard_dir and shard are set per shard).
  queue::LogWriterOptions log;
  std::string accounting_log;
  uint64_t accounting_log_max_bytes = 0;
  // Delivery.
  net::RouteTable routes;
  std::string maildir_root;
  uint16_t outbound_port = 25;
  std::string outbound_tls;        // as given: none, opportunistic or required
  net::DeliveryConfig delivery;    // scheduler.host_max_connections is per shard already
  dns::ResolverOptions resolver;
  dns::MxResolverOptions mx;       // is_local_address is set once the listeners are bound
};

absl::StatusOr<DaemonConfig> ConfigFromFlags();

}  // namespace ringpost
