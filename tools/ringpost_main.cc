// ringpost: the daemon. Parses the operator flags (DESIGN.md, The operator interface),
// probes the kernel, takes the spool lock, binds the listeners, drops privileges,
// prints one start-up line and runs the shards until SIGTERM/SIGINT (exit 0).
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <ifaddrs.h>
#include <netdb.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/check.h"
#include "core/duration_flag.h"
#include "core/kernel_probe.h"
#include "core/log.h"
#include "core/resource_limits.h"
#include "core/runtime.h"
#include "dns/mx_resolver.h"
#include "dns/resolver.h"
#include "dns/resolver_config.h"
#include "net/connection_table.h"
#include "net/delivery_agent.h"
#include "net/listener.h"
#include "net/metrics_session.h"
#include "net/next_hop.h"
#include "net/relay_policy.h"
#include "net/route_table.h"
#include "net/smtp_server_session.h"
#include "net/tls_context.h"
#include "net/tls_library.h"
#include "queue/accounting_log.h"
#include "queue/log_reader.h"
#include "queue/log_writer.h"
#include "queue/queue_id.h"
#include "queue/recovery.h"
#include "queue/spool_lock.h"
#include "tools/metrics_publisher.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:2525",
          "comma-separated ADDR:PORT SMTP listeners (IPv4, or [v6]:port)");
ABSL_FLAG(int, shards, 0, "shard threads, one io_uring each (0: one per online CPU)");
ABSL_FLAG(std::string, spool_dir, "./var/spool", "queue log directory (locked with flock)");
ABSL_FLAG(std::string, hostname, "", "name in the greeting, Received: and EHLO (default: the host's name)");
ABSL_FLAG(bool, pin_threads, true, "pin shard threads to CPUs (within the process's allowed set)");
ABSL_FLAG(ringpost::core::FlagDuration, shutdown_grace, ringpost::core::FlagDuration{absl::Seconds(30)},
          "how long SIGTERM waits for sessions in a transaction");
ABSL_FLAG(uint32_t, max_connections, 10000, "inbound connections in all (421 4.7.0 past it)");
ABSL_FLAG(std::string, dns_servers, "", "DNS resolvers as IP:PORT,... (default: /etc/resolv.conf)");
ABSL_FLAG(uint32_t, max_connections_per_ip, 100,
          "inbound connections per client address (421 4.7.0 past it)");
ABSL_FLAG(std::string, relay_networks, "127.0.0.0/8,::1/128", "client CIDRs allowed to relay to any domain");
ABSL_FLAG(std::string, relay_domains, "", "domains accepted from any client (gateway mode), comma-separated");
ABSL_FLAG(std::string, local_domains, "", "domains delivered locally (Maildir), accepted from any client");
ABSL_FLAG(uint64_t, max_message_size, 52428800,
          "largest message in bytes (advertised in SIZE; 552 5.3.4 past it)");
ABSL_FLAG(uint32_t, max_recipients, 1000, "recipients per transaction (452 4.5.3 past it)");
ABSL_FLAG(std::string, bare_lf, "normalize",
          "bare LF or CR in DATA: 'normalize' to CRLF, or 'reject' the message with 550 5.5.2");
ABSL_FLAG(ringpost::core::FlagDuration, greeting_delay, ringpost::core::FlagDuration{absl::ZeroDuration()},
          "wait this long before the 220 greeting; a client that talks first gets 554 5.5.0");
ABSL_FLAG(ringpost::core::FlagDuration, smtp_idle_timeout, ringpost::core::FlagDuration{absl::Minutes(5)},
          "close an inbound session silent this long between commands (421 4.4.2)");
ABSL_FLAG(ringpost::core::FlagDuration, smtp_data_timeout, ringpost::core::FlagDuration{absl::Minutes(10)},
          "close an inbound session silent this long inside DATA or BDAT (421 4.4.2)");
ABSL_FLAG(std::string, user, "", "drop to this user after binding listeners (when started as root)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(uint32_t, recv_buffers, 1024, "receive buffers per shard (a power of two)");
ABSL_FLAG(uint32_t, recv_buffer_bytes, 16384, "bytes per receive buffer");
ABSL_FLAG(bool, fsync, true,
          "sync the queue log before answering 250. false is for benchmarks only and UNSAFE: "
          "a crash or power loss can lose mail that was acknowledged");
ABSL_FLAG(uint64_t, segment_bytes, 64ull << 20, "queue log segment size (a new segment starts past it)");
ABSL_FLAG(uint32_t, log_heads, 1,
          "queue log segments taking new messages per shard, 1 or 2. With 2, one group of messages "
          "is written while the other's fdatasync runs: faster when the disk is the limit (large "
          "messages), at some CPU cost per message");
ABSL_FLAG(uint64_t, spool_reserve_bytes, 256ull << 20,
          "refuse new mail (452 4.3.1) while the spool file system has less free space than this, "
          "so delivery results and reclamation can still be written");

ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9025",
          "ADDR:PORT for GET /metrics (Prometheus text, counters summed over the shards, at most a second "
          "old); empty turns it off. A port that cannot be bound is logged and mail flows without it");
ABSL_FLAG(std::string, routes, "",
          "static next hops: domain=HOST:PORT,...; *=HOST:PORT is a smarthost for every other domain. "
          "HOST is an address ([v6] in brackets) or a fully qualified host name, whose A/AAAA records "
          "(never its MX) are looked up when mail goes there and whose name its TLS certificate is "
          "checked against");
ABSL_FLAG(std::string, maildir_root, "./var/mail",
          "local domains are delivered into MAILDIR_ROOT/<domain>/<user>/");
ABSL_FLAG(std::string, local_recipients, "",
          "file of known local addresses (user@domain, one per line); when set, other recipients in "
          "--local_domains are refused at RCPT with 550 5.1.1");
ABSL_FLAG(ringpost::core::FlagDuration, retry_initial, ringpost::core::FlagDuration{absl::Minutes(5)},
          "first retry delay after a temporary failure (doubles per attempt)");
ABSL_FLAG(ringpost::core::FlagDuration, retry_max, ringpost::core::FlagDuration{absl::Hours(4)},
          "longest retry delay");
ABSL_FLAG(ringpost::core::FlagDuration, max_queue_lifetime, ringpost::core::FlagDuration{absl::Hours(24 * 5)},
          "a recipient still undelivered this long after arrival expires and bounces");
ABSL_FLAG(ringpost::core::FlagDuration, compaction_age, ringpost::core::FlagDuration{absl::Minutes(30)},
          "mail still deferred this long after delivery took it over (at arrival, or at start-up) is "
          "copied forward in the queue log, so old segments can be freed (0s: never)");
ABSL_FLAG(uint32_t, domain_max_connections, 20, "concurrent outbound connections per destination domain");
ABSL_FLAG(uint32_t, host_max_connections, 10,
          "concurrent outbound connections per destination IP (split evenly between shards)");
ABSL_FLAG(uint32_t, max_messages_per_connection, 100, "outbound messages before a connection is recycled");
ABSL_FLAG(ringpost::core::FlagDuration, outbound_idle_timeout, ringpost::core::FlagDuration{absl::Seconds(5)},
          "an outbound connection without work this long ends with QUIT");
ABSL_FLAG(ringpost::core::FlagDuration, outbound_reply_timeout,
          ringpost::core::FlagDuration{absl::Minutes(5)},
          "an outbound server silent this long loses the connection (the message is deferred)");
ABSL_FLAG(std::string, accounting_log, "./var/log/accounting.jsonl",
          "JSON-lines log of every delivery attempt's outcome (empty: off)");
ABSL_FLAG(uint64_t, accounting_log_max_bytes, 100ull << 20,
          "rotate the accounting log past this size (4 older files are kept)");

ABSL_FLAG(uint32_t, outbound_port, 25, "destination port for delivery by MX or address records");
ABSL_FLAG(ringpost::core::FlagDuration, dns_timeout, ringpost::core::FlagDuration{absl::Seconds(2)},
          "DNS query timeout per try and server");
ABSL_FLAG(int, dns_tries, 2, "DNS tries per server");
ABSL_FLAG(bool, dns_prefer_ipv6, false, "try an MX host's IPv6 addresses before its IPv4 ones");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain; with --tls_key enables STARTTLS (SIGHUP reloads)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls_cert");
ABSL_FLAG(std::string, outbound_tls, "opportunistic",
          "STARTTLS towards next hops: none, opportunistic (when offered; plaintext if the handshake "
          "fails) or required (defer mail to hosts without it)");
ABSL_FLAG(std::string, tls_ca_file, "/etc/ssl/certs/ca-certificates.crt",
          "PEM roots that outbound certificates are checked against (the result is logged, "
          "never enforced); empty: trust none");

namespace ringpost {
namespace {

int Fatal(const std::string& message) {
  std::fprintf(stderr, "ringpost: %s\n", message.c_str());
  return 2;
}

// The host's name, fully qualified when the resolver knows it; a bare name gets
// ".localdomain" (as Postfix does), since the outbound EHLO needs a FQDN.
std::string DefaultHostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost.localdomain";
  std::string host = name;
  if (host.find('.') != std::string::npos) return host;
  addrinfo hints{};
  hints.ai_flags = AI_CANONNAME;
  addrinfo* info = nullptr;
  if (getaddrinfo(name, nullptr, &hints, &info) == 0 && info != nullptr) {
    if (info->ai_canonname != nullptr && std::strchr(info->ai_canonname, '.') != nullptr)
      host = info->ai_canonname;
    freeaddrinfo(info);
  }
  if (host.find('.') == std::string::npos) host += ".localdomain";
  return host;
}

// The addresses this MTA receives mail on at the delivery port: an MX host with one of
// them is this host (RFC 5321 §5.1). A wildcard listener means every local address.
absl::flat_hash_set<std::string> LocalMailAddresses(const std::vector<core::SocketAddress>& bound,
                                                    uint16_t port) {
  absl::flat_hash_set<std::string> local;
  for (const core::SocketAddress& address : bound) {
    if (address.port() != port) continue;
    const std::string host = address.HostString();
    if (host != "0.0.0.0" && host != "::") {
      local.insert(host);
      continue;
    }
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) continue;
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr) continue;
      const int family = i->ifa_addr->sa_family;
      if (family != AF_INET && family != AF_INET6) continue;
      const socklen_t length = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
      local.insert(core::SocketAddress::FromSockaddr(i->ifa_addr, length).HostString());
    }
    freeifaddrs(list);
  }
  return local;
}

bool IsFullyQualified(const std::string& name) {
  const size_t dot = name.find('.');
  return dot != std::string::npos && dot > 0 && dot + 1 < name.size();
}

absl::StatusOr<absl::flat_hash_set<std::string>> ReadLocalRecipients(const std::string& path) {
  absl::flat_hash_set<std::string> known;
  if (path.empty()) return known;
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--local_recipients: cannot read ", path));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view item = absl::StripAsciiWhitespace(line);
    if (item.empty() || item.front() == '#') continue;
    if (known.size() >= 1000000)
      return absl::ResourceExhaustedError("--local_recipients: over 1,000,000 entries");
    known.insert(absl::AsciiStrToLower(item));
  }
  return known;
}

absl::Status DropPrivileges(const std::string& user, const std::string& spool_dir) {
  if (user.empty()) return absl::OkStatus();
  const passwd* entry = getpwnam(user.c_str());
  if (entry == nullptr) return absl::NotFoundError(absl::StrCat("--user: no user named '", user, "'"));
  if (geteuid() != 0) return absl::FailedPreconditionError("--user needs ringpost to start as root");
  // The spool must stay writable after the switch.
  if (chown(spool_dir.c_str(), entry->pw_uid, entry->pw_gid) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chown ", spool_dir));
  }
  if (initgroups(entry->pw_name, entry->pw_gid) != 0 || setgid(entry->pw_gid) != 0 ||
      setuid(entry->pw_uid) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("dropping privileges to ", user));
  }
  return absl::OkStatus();
}

// Restart (issue: every unfinished recipient is scheduled again with its next attempt
// time): each shard takes the live messages of its own folder, and of folders no
// running shard has (--shards was larger before), which it delivers but cannot reclaim.
void ScheduleRecovered(const queue::RecoveredQueue& recovered, int shard, int shards,
                       net::DeliveryAgent& agent) {
  for (const queue::RecoveredMessage& m : recovered.live) {
    if (static_cast<int>(m.shard % static_cast<uint32_t>(shards)) != shard) continue;
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
      r.attempts = m.recipients[i].attempts;
      r.next_attempt_unix_micros = m.recipients[i].next_attempt_unix_micros;
    }
    queue::QueuedMessage message;
    message.envelope = std::move(*envelope);
    message.segment_path = segment.path;
    message.segment = segment.number;
    message.commit_offset = m.commit_offset;
    message.home_shard = shard;
    message.reclaim = static_cast<int>(m.shard) == shard && !segment.quarantined;
    agent.Submit(message);
  }
}

int Main() {
  core::LogLevel level;
  if (!core::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level).ok()) {
    return Fatal(absl::StrCat("--log_level: expected debug, info, warning or error, got '",
                              absl::GetFlag(FLAGS_log_level), "'"));
  }
  core::SetLogLevel(level);
  int shards = absl::GetFlag(FLAGS_shards);
  if (shards < 0 || shards > 256) return Fatal("--shards: expected 0 (one per CPU) to 256");
  if (shards == 0) shards = core::OnlineCpuCount();
  auto addresses = core::ParseSocketAddressList(absl::GetFlag(FLAGS_listen));
  if (!addresses.ok()) return Fatal(absl::StrCat("--listen: ", addresses.status().message()));
  auto dns_servers = dns::ResolveDnsServers(absl::GetFlag(FLAGS_dns_servers), "/etc/resolv.conf");
  if (!dns_servers.ok()) return Fatal(absl::StrCat("--dns_servers: ", dns_servers.status().message()));
  const uint32_t max_connections = absl::GetFlag(FLAGS_max_connections);
  if (max_connections == 0) return Fatal("--max_connections: must be at least 1");
  const uint32_t log_heads = absl::GetFlag(FLAGS_log_heads);
  if (log_heads < 1 || log_heads > 2) return Fatal("--log_heads: must be 1 or 2");
  std::string hostname = absl::GetFlag(FLAGS_hostname);
  if (hostname.empty()) hostname = DefaultHostname();
  if (!IsFullyQualified(hostname)) {
    return Fatal(
        absl::StrCat("--hostname: '", hostname,
                     "' is not fully qualified (the outbound EHLO needs a name like mx.example.com)"));
  }
  auto relay =
      net::RelayPolicy::Parse(absl::GetFlag(FLAGS_relay_networks), absl::GetFlag(FLAGS_relay_domains),
                              absl::GetFlag(FLAGS_local_domains));
  if (!relay.ok()) return Fatal(std::string(relay.status().message()));
  auto local_recipients = ReadLocalRecipients(absl::GetFlag(FLAGS_local_recipients));
  if (!local_recipients.ok()) return Fatal(std::string(local_recipients.status().message()));
  relay->SetLocalRecipients(std::move(*local_recipients));
  auto routes = net::RouteTable::Parse(absl::GetFlag(FLAGS_routes));
  if (!routes.ok()) return Fatal(absl::StrCat("--routes: ", routes.status().message()));
  net::DeliveryConfig delivery;
  delivery.retry.initial = absl::GetFlag(FLAGS_retry_initial).value;
  delivery.retry.max = absl::GetFlag(FLAGS_retry_max).value;
  delivery.retry.lifetime = absl::GetFlag(FLAGS_max_queue_lifetime).value;
  if (delivery.retry.initial <= absl::ZeroDuration() || delivery.retry.max < delivery.retry.initial) {
    return Fatal("--retry_initial must be positive and at most --retry_max");
  }
  delivery.compaction_age_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_compaction_age).value);
  if (delivery.compaction_age_nanos < 0) return Fatal("--compaction_age: must not be negative");
  delivery.domain_max_connections = absl::GetFlag(FLAGS_domain_max_connections);
  delivery.max_messages_per_connection = absl::GetFlag(FLAGS_max_messages_per_connection);
  const uint32_t host_max_connections = absl::GetFlag(FLAGS_host_max_connections);
  if (delivery.domain_max_connections == 0 || host_max_connections == 0 ||
      delivery.max_messages_per_connection == 0) {
    return Fatal(
        "--domain_max_connections, --host_max_connections and --max_messages_per_connection: at least 1");
  }
  delivery.idle_timeout_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_outbound_idle_timeout).value);
  delivery.session.reply_timeout_nanos =
      absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_outbound_reply_timeout).value);
  if (delivery.idle_timeout_nanos <= 0 || delivery.session.reply_timeout_nanos <= 0) {
    return Fatal("--outbound_idle_timeout and --outbound_reply_timeout must be positive");
  }
  delivery.session.client.helo_name = hostname;
  const std::string outbound_tls = absl::GetFlag(FLAGS_outbound_tls);
  if (outbound_tls == "none") {
    delivery.tls_policy = net::TlsPolicy::kNone;
  } else if (outbound_tls == "opportunistic") {
    delivery.tls_policy = net::TlsPolicy::kOpportunistic;
  } else if (outbound_tls == "required") {
    delivery.tls_policy = net::TlsPolicy::kRequired;
  } else {
    return Fatal(
        absl::StrCat("--outbound_tls: expected none, opportunistic or required, got '", outbound_tls, "'"));
  }
  if (delivery.tls_policy != net::TlsPolicy::kNone) {
    std::string ca_file = absl::GetFlag(FLAGS_tls_ca_file);
    // The default bundle may not be installed; an operator's own file must exist.
    if (ca_file == "/etc/ssl/certs/ca-certificates.crt" && access(ca_file.c_str(), R_OK) != 0)
      ca_file.clear();
    auto client = net::TlsContext::Client(ca_file);
    if (!client.ok()) return Fatal(std::string(client.status().message()));
    delivery.session.tls_client = *std::move(client);
  }
  delivery.hostname = hostname;
  delivery.maildir_root = absl::GetFlag(FLAGS_maildir_root);
  queue::AccountingLog accounting(absl::GetFlag(FLAGS_accounting_log),
                                  absl::GetFlag(FLAGS_accounting_log_max_bytes));
  if (absl::Status s = accounting.Open(); !s.ok()) return Fatal(std::string(s.message()));
  const uint32_t outbound_port = absl::GetFlag(FLAGS_outbound_port);
  if (outbound_port == 0 || outbound_port > 65535) return Fatal("--outbound_port: expected 1 to 65535");
  dns::ResolverOptions resolver_options;
  resolver_options.servers = *dns_servers;
  resolver_options.timeout_ms =
      static_cast<int>(absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_dns_timeout).value));
  resolver_options.tries = absl::GetFlag(FLAGS_dns_tries);
  if (resolver_options.timeout_ms <= 0 || resolver_options.tries < 1 || resolver_options.tries > 10) {
    return Fatal("--dns_timeout must be positive and --dns_tries 1 to 10");
  }
  if (absl::Status s = dns::InitDnsLibrary(); !s.ok()) return Fatal(std::string(s.message()));
  dns::MxResolverOptions mx_options;
  mx_options.prefer_ipv6 = absl::GetFlag(FLAGS_dns_prefer_ipv6);
  mx_options.is_self = [self = absl::AsciiStrToLower(hostname)](const std::string& host) {
    return host == self;
  };
  net::SmtpServiceConfig smtp;
  smtp.server.hostname = hostname;
  std::unique_ptr<net::TlsServerCredentials> tls_credentials;
  if (!absl::GetFlag(FLAGS_tls_cert).empty() || !absl::GetFlag(FLAGS_tls_key).empty()) {
    if (absl::GetFlag(FLAGS_tls_cert).empty() || absl::GetFlag(FLAGS_tls_key).empty()) {
      return Fatal("--tls_cert and --tls_key go together");
    }
    tls_credentials = std::make_unique<net::TlsServerCredentials>(absl::GetFlag(FLAGS_tls_cert),
                                                                  absl::GetFlag(FLAGS_tls_key));
    // Read before privileges are dropped (--user); a reload reads them as that user.
    if (absl::Status s = tls_credentials->Reload(); !s.ok()) return Fatal(std::string(s.message()));
    smtp.tls = tls_credentials.get();
  }
  smtp.server.message_bytes_max = absl::GetFlag(FLAGS_max_message_size);
  smtp.server.recipients_max = absl::GetFlag(FLAGS_max_recipients);
  if (smtp.server.message_bytes_max == 0) return Fatal("--max_message_size: must be at least 1");
  // Bounds that keep a message's commit record (envelope and body extents) far inside
  // the log's 1 MiB record limit.
  if (smtp.server.recipients_max == 0 || smtp.server.recipients_max > 2000) {
    return Fatal("--max_recipients: expected 1 to 2000");
  }
  if (smtp.server.message_bytes_max > (uint64_t{100} << 20)) {
    return Fatal("--max_message_size: at most 104857600 (100 MiB)");
  }
  const std::string bare_lf = absl::GetFlag(FLAGS_bare_lf);
  if (bare_lf == "normalize") {
    smtp.server.bare_line_endings = net::BareLineEndings::kNormalize;
  } else if (bare_lf == "reject") {
    smtp.server.bare_line_endings = net::BareLineEndings::kReject;
  } else {
    return Fatal(absl::StrCat("--bare_lf: expected normalize or reject, got '", bare_lf, "'"));
  }
  smtp.greeting_delay_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_greeting_delay).value);
  smtp.idle_timeout_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_smtp_idle_timeout).value);
  smtp.data_timeout_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_smtp_data_timeout).value);
  if (smtp.idle_timeout_nanos <= 0 || smtp.data_timeout_nanos <= 0) {
    return Fatal("--smtp_idle_timeout and --smtp_data_timeout must be positive");
  }
  const uint32_t max_connections_per_ip = absl::GetFlag(FLAGS_max_connections_per_ip);
  if (max_connections_per_ip == 0) return Fatal("--max_connections_per_ip: must be at least 1");
  net::ClientLimiter limiter(max_connections, max_connections_per_ip);

  auto features = core::ProbeKernel();
  if (!features.ok()) return Fatal(std::string(features.status().message()));
  const std::string spool_dir = absl::GetFlag(FLAGS_spool_dir);
  auto spool_lock = queue::SpoolLock::Acquire(spool_dir);
  if (!spool_lock.ok()) return Fatal(std::string(spool_lock.status().message()));
  // Recovery before anything listens: every shard-K folder, whatever --shards is now.
  auto recovered = queue::RecoverSpool(spool_dir);
  if (!recovered.ok()) return Fatal(absl::StrCat("queue recovery: ", recovered.status().message()));
  // Every connection is a descriptor, plus listeners, spool segments and slack.
  if (absl::Status s = core::RaiseFileLimit(uint64_t{max_connections} + 1024); !s.ok()) {
    return Fatal(std::string(s.message()));
  }
  auto listeners = net::BindListeners(*addresses, shards, 4096);
  if (!listeners.ok()) return Fatal(std::string(listeners.status().message()));
  // The metrics endpoint: one socket, served by shard 0. Auxiliary: a port taken by
  // another daemon on this machine must not stop the mail.
  net::ListenerSet metrics_listener;
  std::string metrics_at = "off";
  if (const std::string text = absl::GetFlag(FLAGS_metrics_listen); !text.empty()) {
    auto address = core::ParseSocketAddress(text);
    if (!address.ok()) return Fatal(absl::StrCat("--metrics_listen: ", address.status().message()));
    auto bound = net::BindListeners({*address}, 1, 64, /*reuse_port=*/false);
    if (bound.ok()) {
      metrics_listener = std::move(*bound);
      metrics_at = metrics_listener.bound[0].ToString();
    } else {
      RP_LOG(kError) << "--metrics_listen " << text << ": " << bound.status().message()
                     << "; /metrics is off";
    }
  }
  core::MetricsBoard metrics(shards);
  mx_options.is_local_address =
      [local = LocalMailAddresses(listeners->bound, static_cast<uint16_t>(outbound_port))](
          const std::string& ip) { return local.contains(ip); };
  if (absl::Status s = DropPrivileges(absl::GetFlag(FLAGS_user), spool_dir); !s.ok()) {
    return Fatal(std::string(s.message()));
  }

  // Per-destination-IP limits are per shard: each shard gets its share.
  delivery.host_max_connections = std::max<uint32_t>(1, host_max_connections / static_cast<uint32_t>(shards));

  core::RuntimeOptions options;
  options.shards = shards;
  options.pin_threads = absl::GetFlag(FLAGS_pin_threads);
  options.shutdown_grace_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_shutdown_grace).value);
  options.shard.recv_buffer_count = absl::GetFlag(FLAGS_recv_buffers);
  options.shard.recv_buffer_bytes = absl::GetFlag(FLAGS_recv_buffer_bytes);
  net::ConnectionTableOptions table_options;
  // Each shard could hold every connection; the ClientLimiter enforces the total (and
  // the per-address limit) across shards, since SO_REUSEPORT spreads clients unevenly.
  table_options.connections_max = max_connections;
  const bool fsync_on = absl::GetFlag(FLAGS_fsync);
  if (!fsync_on) {
    RP_LOG(kWarning) << "--fsync=false: UNSAFE, acknowledged mail can be lost on a crash (benchmarks only)";
  }

  core::Runtime runtime(options);  // blocks the signals before we announce the start
  if (tls_credentials != nullptr) {
    // SIGHUP: new certificate and key for new handshakes; sessions keep theirs.
    runtime.SetSignalHandler(SIGHUP, [credentials = tls_credentials.get()] {
      if (absl::Status s = credentials->Reload(); !s.ok()) {
        RP_LOG(kError) << "SIGHUP: TLS certificate not reloaded (the previous one stays): " << s.message();
      } else {
        RP_LOG(kInfo) << "SIGHUP: TLS certificate reloaded from " << credentials->cert_path();
      }
    });
  }
  std::vector<std::string> bound;
  for (const auto& address : listeners->bound) bound.push_back(address.ToString());
  std::vector<std::string> resolvers;
  for (const auto& server : *dns_servers) resolvers.push_back(server.ToString());
  RP_LOG(kInfo) << "ringpost " << RINGPOST_VERSION << " started: shards=" << shards
                << " listen=" << absl::StrJoin(bound, ",") << " spool=" << spool_dir
                << " hostname=" << hostname << " dns=" << absl::StrJoin(resolvers, ",")
                << " tls_library=" << net::TlsLibraryVersion()
                << " starttls=" << (tls_credentials != nullptr ? "on" : "off")
                << " outbound_tls=" << outbound_tls << " kernel=" << features->Describe()
                << " log_heads=" << log_heads << " fsync=" << (fsync_on ? "on" : "OFF-UNSAFE")
                << " queue_live=" << recovered->live.size()
                << " recovered_segments=" << recovered->report.segments
                << " torn_tails=" << recovered->report.torn_tails
                << " quarantined=" << recovered->report.quarantined
                << " max_message_size=" << smtp.server.message_bytes_max << " bare_lf=" << bare_lf
                << " routes=" << routes->size() << " metrics=" << metrics_at
                << " retry=" << core::FormatFlagDuration(delivery.retry.initial) << "/"
                << core::FormatFlagDuration(delivery.retry.max) << "/"
                << core::FormatFlagDuration(delivery.retry.lifetime);

  absl::Status status = runtime.Run([&](core::Shard& shard) -> absl::Status {
    // Each shard writes its own log and owns the segments recovered from its folder.
    queue::LogWriterOptions log_options;
    log_options.shard_dir = absl::StrCat(spool_dir, "/shard-", shard.id());
    log_options.shard = static_cast<uint32_t>(shard.id());
    log_options.segment_bytes_max = absl::GetFlag(FLAGS_segment_bytes);
    log_options.heads = log_heads;
    log_options.fsync = fsync_on;
    log_options.free_space_reserve_bytes = absl::GetFlag(FLAGS_spool_reserve_bytes);
    auto& log = shard.Make<queue::LogWriter>(shard, log_options);
    RP_RETURN_IF_ERROR(log.Start());
    for (const queue::RecoveredSegment& segment : recovered->segments) {
      if (static_cast<int>(segment.shard) == shard.id() && !segment.quarantined) {
        log.AdoptRecovered(segment.number, segment.path, segment.live);
      }
    }
    auto& ids = shard.Make<queue::QueueIdGenerator>(static_cast<uint32_t>(shard.id()));
    for (const std::string& id : recovered->queue_ids) ids.Observe(id);
    auto& resolver = shard.Make<dns::Resolver>(shard, resolver_options);
    RP_RETURN_IF_ERROR(resolver.Start());
    auto& mx = shard.Make<dns::MxResolver>(shard, resolver, mx_options);
    auto& next_hops =
        shard.Make<net::DnsNextHops>(shard, *relay, *routes, mx, static_cast<uint16_t>(outbound_port));
    auto& agent = shard.Make<net::DeliveryAgent>(shard, delivery, next_hops, log, ids, accounting);
    auto& service = shard.Make<net::SmtpService>(smtp, *relay, limiter, log, ids, &agent);
    auto& table = shard.Make<net::ConnectionTable>(shard, service, table_options);
    agent.set_connections(&table);
    ScheduleRecovered(*recovered, shard.id(), shards, agent);
    for (auto& per_address : listeners->fds) {
      table.AddListener(per_address[shard.id()]);
      per_address[shard.id()] = -1;  // owned by the table now
    }
    shard.Make<MetricsPublisher>(shard, metrics, table, service, agent, log, mx);
    if (shard.id() == 0 && !metrics_listener.fds.empty()) {
      table.AddListener(metrics_listener.fds[0][0], &shard.Make<net::MetricsService>(metrics));
      metrics_listener.fds[0][0] = -1;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return Fatal(std::string(status.message()));
  RP_LOG(kInfo) << "ringpost stopped";
  return 0;
}

}  // namespace
}  // namespace ringpost

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("ringpost: a high-throughput MTA on io_uring. Flags: --helpfull");
  absl::ParseCommandLine(argc, argv);
  return ringpost::Main();
}
