// Every flag of the daemon, and the checks that turn them into a DaemonConfig.
#include "tools/daemon_config.h"

#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/cidr.h"
#include "core/domain_name.h"
#include "core/duration_flag.h"
#include "core/log.h"
#include "core/resource_limits.h"
#include "core/size_flag.h"
#include "dns/resolver_config.h"
#include "net/smtp/smtp_command.h"
#include "queue/queue_id.h"
#include "queue/schedule/bounce_class.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:2525",
          "comma-separated ADDR:PORT SMTP listeners (IPv4, or [v6]:port)");
ABSL_FLAG(std::string, submission_listen, "",
          "ADDR:PORT,... for message submission (RFC 6409, usually port 587): STARTTLS, then a login "
          "(--auth_users) before any mail is taken (530 5.7.0); empty: none");
ABSL_FLAG(std::string, submissions_listen, "",
          "ADDR:PORT,... for submission over implicit TLS (RFC 8314, usually port 465): the TLS handshake "
          "first, then the greeting and a login before any mail; empty: none");
ABSL_FLAG(int, shards, 0, "shard threads, one io_uring each (0: one per online CPU)");
ABSL_FLAG(std::string, spool_dir, "./var/spool", "queue log directory (locked with flock)");
ABSL_FLAG(int, node_id, -1,
          "0 to 8191: this daemon's part of every queue id, so ids of a fleet's nodes never collide "
          "(-1: a number drawn once per spool and kept in SPOOL/node_id)");
ABSL_FLAG(std::string, hostname, "", "name in the greeting, Received: and EHLO (default: the host's name)");
ABSL_FLAG(bool, pin_threads, true, "pin shard threads to CPUs (within the process's allowed set)");
ABSL_FLAG(ringpost::core::FlagDuration, shutdown_grace, ringpost::core::FlagDuration{absl::Seconds(30)},
          "how long SIGTERM waits for sessions in a transaction");
ABSL_FLAG(uint32_t, max_connections, 10000, "inbound connections in all (421 4.7.0 past it)");
ABSL_FLAG(std::string, dns_servers, "", "DNS resolvers as IP:PORT,... (default: /etc/resolv.conf)");
ABSL_FLAG(uint32_t, max_connections_per_ip, 100,
          "inbound connections per client address (421 4.7.0 past it)");
ABSL_FLAG(std::string, relay_networks, "127.0.0.0/8,::1/128", "client CIDRs allowed to relay to any domain");
ABSL_FLAG(std::string, limit_exempt_networks, "relay_networks",
          "client CIDRs never refused by --max_connections_per_ip (still counted in --max_connections): "
          "'relay_networks' (the default) for the same list, 'none', or CIDRs");
ABSL_FLAG(
    std::string, proxy_protocol_networks, "",
    "CIDRs of load balancers (HAProxy send-proxy or send-proxy-v2): their connections must start with "
    "a PROXY header (version 1 or 2) naming the client, whose address then counts for relay permission, "
    "limits, Received: and logs; no other peer's header is honoured");
ABSL_FLAG(ringpost::core::FlagDuration, proxy_timeout, ringpost::core::FlagDuration{absl::Seconds(5)},
          "a connection from --proxy_protocol_networks without its whole PROXY header this long is closed "
          "without a greeting");
ABSL_FLAG(
    std::string, auth_users, "",
    "file of users who may log in with SMTP AUTH (PLAIN or LOGIN, offered only under TLS, so "
    "--tls_cert is needed): user:hash lines, the hash from libcrypt (yescrypt $y$, bcrypt $2b$ or "
    "sha512-crypt $6$, e.g. mkpasswd -m yescrypt); a client that logs in may relay. SIGHUP re-reads it");
ABSL_FLAG(uint32_t, auth_failure_limit, 10,
          "failed logins from one address within --auth_failure_window; one more gets 421 and blocks the "
          "address for the window");
ABSL_FLAG(ringpost::core::FlagDuration, auth_failure_window, ringpost::core::FlagDuration{absl::Minutes(15)},
          "the window --auth_failure_limit counts in, and how long a block lasts");
ABSL_FLAG(ringpost::core::FlagDuration, auth_failure_delay, ringpost::core::FlagDuration{absl::Seconds(1)},
          "a failed login is answered after this much per failure from its address in the window (at most 5 "
          "times as much)");
ABSL_FLAG(
    std::string, dkim_key_table, "",
    "DKIM signing keys, one per line: 'signing-domain selector key-file [rsa-sha256|ed25519-sha256]'; "
    "mail of --relay_networks and logged-in users is signed for its From: domain (or the nearest parent "
    "the table names) with every key of that domain; reloaded on SIGHUP; empty: no signing");
ABSL_FLAG(uint32_t, dkim_key_cache, 100000, "DKIM keys each shard keeps in memory (least recently used go)");
ABSL_FLAG(std::string, dkim_extra_domains, "",
          "domains of the key table whose keys also sign every message signed (a sending service's own "
          "domain beside the author's), comma-separated");
ABSL_FLAG(bool, dkim_required, false,
          "refuse (451 4.7.5) mail that would leave unsigned because no key of the table fits it");
ABSL_FLAG(std::string, dkim_headers, "",
          "header fields DKIM signs when present, comma-separated (default: From, Sender, Reply-To, Subject, "
          "Date, Message-ID, To, Cc, the MIME and List-* fields...); From is always signed, and over-signed");
ABSL_FLAG(std::string, dkim_canonicalization, "relaxed/relaxed",
          "DKIM canonicalization header/body: relaxed or simple each (RFC 6376 §3.4)");
ABSL_FLAG(ringpost::core::FlagDuration, dkim_signature_lifetime,
          ringpost::core::FlagDuration{absl::ZeroDuration()},
          "DKIM signatures expire this long after signing (x=); 0: no x=");
ABSL_FLAG(bool, dkim_verify, false,
          "verify the DKIM signatures of mail from outside --relay_networks (keys from DNS) and add "
          "Authentication-Results (RFC 8601), removing any that arrived claiming --hostname");
ABSL_FLAG(std::string, relay_domains, "", "domains accepted from any client (gateway mode), comma-separated");
ABSL_FLAG(std::string, local_domains, "", "domains delivered locally (Maildir), accepted from any client");
ABSL_FLAG(ringpost::core::FlagSize, max_message_size, ringpost::core::FlagSize{50ull << 20},
          "largest message (bytes, or 100k, 50M, 64MiB; advertised in SIZE; 552 5.3.4 past it)");
ABSL_FLAG(uint32_t, max_recipients, 1000, "recipients per transaction (452 4.5.3 past it)");
ABSL_FLAG(std::string, bare_lf, "normalize",
          "bare LF or CR in DATA: 'normalize' to CRLF, or 'reject' the message with 550 5.5.2");
ABSL_FLAG(std::string, long_lines, "wrap",
          "lines over 998 octets in a message (RFC 5322 section 2.1.1): 'wrap' breaks them (CRLF and a "
          "space inserted) as they arrive, 'reject' refuses the message with 550 5.6.0");
ABSL_FLAG(bool, strict_envelope, false,
          "MAIL FROM and RCPT TO only as <address> (RFC 5321); false also takes one bare address "
          "('MAIL FROM: user@example.org', as typed by hand), as Postfix does by default");
ABSL_FLAG(bool, add_missing_headers, true,
          "mail from --relay_networks without a Date: or Message-ID: header gets one at the end of its "
          "header section (RFC 5322 section 3.6), as Postfix does for local submission");
ABSL_FLAG(uint64_t, smtp_min_data_rate, 500,
          "bytes per second a client must keep up inside DATA or BDAT: each read extends the message's "
          "deadline by its bytes at this rate, never past --smtp_data_timeout from now");
ABSL_FLAG(bool, create_maildirs, false,
          "accept any local part of a --local_domains domain and create its Maildir on delivery; false: "
          "only recipients whose Maildir exists or that --local_recipients lists (550 5.1.1 otherwise)");
ABSL_FLAG(ringpost::core::FlagDuration, greeting_delay, ringpost::core::FlagDuration{absl::ZeroDuration()},
          "wait this long before the 220 greeting; a client that talks first gets 554 5.5.0");
ABSL_FLAG(ringpost::core::FlagDuration, smtp_idle_timeout, ringpost::core::FlagDuration{absl::Minutes(5)},
          "close an inbound session silent this long between commands (421 4.4.2)");
ABSL_FLAG(ringpost::core::FlagDuration, smtp_data_timeout, ringpost::core::FlagDuration{absl::Minutes(10)},
          "close an inbound session silent this long inside DATA or BDAT (421 4.4.2)");
ABSL_FLAG(std::string, user, "", "drop to this user after binding listeners (when started as root)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(uint32_t, recv_buffers, 1024, "receive buffers per shard (a power of two)");
ABSL_FLAG(ringpost::core::FlagSize, recv_buffer_bytes, ringpost::core::FlagSize{16384},
          "bytes per receive buffer (512 to 1MiB)");
ABSL_FLAG(bool, fsync, true,
          "sync the queue log before answering 250. false is for benchmarks only and UNSAFE: "
          "a crash or power loss can lose mail that was acknowledged");
ABSL_FLAG(ringpost::core::FlagSize, segment_bytes, ringpost::core::FlagSize{64ull << 20},
          "queue log segment size (a new segment starts past it)");
ABSL_FLAG(uint32_t, log_heads, 1,
          "queue log segments taking new messages per shard, 1 or 2. With 2, one group of messages "
          "is written while the other's fdatasync runs: faster when the disk is the limit (large "
          "messages), at some CPU cost per message");
ABSL_FLAG(ringpost::core::FlagSize, spool_reserve_bytes, ringpost::core::FlagSize{256ull << 20},
          "refuse new mail (452 4.3.1) while the spool file system has less free space than this, "
          "so delivery results and reclamation can still be written");

ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9025",
          "ADDR:PORT for GET /metrics (Prometheus text, counters summed over the shards, at most a second "
          "old); empty turns it off. A port that cannot be bound is logged and mail flows without it");
ABSL_FLAG(uint32_t, metrics_top_destinations, 50,
          "/metrics shows queue depth and oldest age for this many destinations, the deepest (a bounded "
          "label set); 0 shows none");
ABSL_FLAG(std::string, admin_socket, "./var/run/admin.sock",
          "Unix socket of the admin API (HTTP + JSON) that ringpost-queue uses on a running daemon; mode "
          "0600, so its file permissions are the access control. Empty turns it off");
ABSL_FLAG(std::string, admin_listen, "",
          "ADDR:PORT for the admin API over TCP as well; an address that is not loopback needs "
          "--admin_token_file");
ABSL_FLAG(std::string, admin_token_file, "",
          "file holding the bearer token that TCP admin requests must send (Authorization: Bearer TOKEN); "
          "at least 16 characters, read once at start-up");
ABSL_FLAG(std::string, routes, "",
          "static next hops: domain=HOST:PORT,...; *=HOST:PORT is a smarthost for every other domain. "
          "HOST is an address ([v6] in brackets) or a fully qualified host name, whose A/AAAA records "
          "(never its MX) are looked up when mail goes there and whose name its TLS certificate is "
          "checked against");
ABSL_FLAG(std::string, route_auth, "",
          "logins for next hops that want one: lines of 'host user password-file' (host as --routes names "
          "it; the password is the file's first line). The login is made only under TLS (STARTTLS): without "
          "it the mail is deferred (4.7.10), never sent or logged in over plaintext");
ABSL_FLAG(std::string, maildir_root, "./var/mail",
          "local domains are delivered into MAILDIR_ROOT/<domain>/<user>/");
ABSL_FLAG(std::string, postmaster, "",
          "where mail to <postmaster> (this host's postmaster, RFC 5321 §4.5.1) is delivered; default "
          "postmaster@ the first --local_domains entry; with neither, <postmaster> is refused (550 5.1.1)");
ABSL_FLAG(std::string, local_recipients, "",
          "file of known local addresses (user@domain, one per line); when set, other recipients in "
          "--local_domains are refused at RCPT with 550 5.1.1");
ABSL_FLAG(ringpost::core::FlagDuration, retry_initial, ringpost::core::FlagDuration{absl::Minutes(5)},
          "first retry delay after a temporary failure (doubles per attempt)");
ABSL_FLAG(ringpost::core::FlagDuration, retry_max, ringpost::core::FlagDuration{absl::Hours(4)},
          "longest retry delay");
ABSL_FLAG(ringpost::core::FlagDuration, max_queue_lifetime, ringpost::core::FlagDuration{absl::Hours(24 * 5)},
          "a recipient still undelivered this long after arrival expires and bounces");
ABSL_FLAG(ringpost::core::FlagDuration, delay_warning_time, ringpost::core::FlagDuration{absl::ZeroDuration()},
          "a recipient still deferred this long after arrival gets one 'delayed' delivery status "
          "notification (RFC 3464), unless its NOTIFY leaves DELAY out (0s: never)");
ABSL_FLAG(ringpost::core::FlagDuration, compaction_age, ringpost::core::FlagDuration{absl::Minutes(30)},
          "mail still deferred this long after delivery took it over (at arrival, or at start-up) is "
          "copied forward in the queue log, so old segments can be freed (0s: never)");
ABSL_FLAG(
    std::string, shaping, "",
    "TOML traffic shaping file: rates, connection limits, retries and TLS per destination domain or MX "
    "site, and reply-driven rules (docs/SHAPING.md); reloaded on SIGHUP; empty: the flags alone and the "
    "built-in rules for the providers' throttling replies");
ABSL_FLAG(std::string, bounce_rules, "",
          "rules that classify failed deliveries (accounting \"class\", ringpost_delivery_failures_total), "
          "one per line 'class code status [text-regex]', tried before the built-in ones (first match wins); "
          "reloaded on SIGHUP");
ABSL_FLAG(std::string, egress_sources, "",
          "local addresses outbound mail may leave from, each with its EHLO name: "
          "'a=192.0.2.1/mta-a.example.com,b=192.0.2.2/mta-b.example.com' (each must be an address of this "
          "machine)");
ABSL_FLAG(std::string, egress_pools, "",
          "weighted pools of --egress_sources: 'bulk=a:3+b:1,transactional=b'; a message leaves through its "
          "pool (X-Ringpost-Pool: from --relay_networks or a login, else --egress_sender_pools), each of its "
          "destinations from one of the pool's sources; empty: from the host's default address");
ABSL_FLAG(std::string, egress_sender_pools, "",
          "the pool by the sender's domain: 'example.com=bulk,*.example.org=bulk,*=transactional' "
          "(* is every other sender); a message with no pool leaves from the host's default address");
ABSL_FLAG(
    std::string, redis, "",
    "ADDRESS:PORT of the Redis that keeps the shaping file's shared = true message rates and connection "
    "limits for the whole cluster (docs/DEPLOYMENT.md); empty: every limit is this node's own");
ABSL_FLAG(std::string, redis_password_file, "", "a file whose first line is the password for Redis's AUTH");
ABSL_FLAG(uint32_t, cluster_nodes, 1,
          "the nodes that share the --redis limits: while Redis is away each node keeps to limit / this");
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
ABSL_FLAG(ringpost::core::FlagSize, accounting_log_max_bytes, ringpost::core::FlagSize{100ull << 20},
          "rotate the accounting log past this size (4 older files are kept)");

ABSL_FLAG(uint32_t, outbound_port, 25, "destination port for delivery by MX or address records");
ABSL_FLAG(ringpost::core::FlagDuration, dns_timeout, ringpost::core::FlagDuration{absl::Seconds(2)},
          "DNS query timeout per try and server");
ABSL_FLAG(int, dns_tries, 2, "DNS tries per server");
ABSL_FLAG(bool, dns_prefer_ipv6, false, "try an MX host's IPv6 addresses before its IPv4 ones");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain; with --tls_key enables STARTTLS (SIGHUP reloads)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls_cert");
ABSL_FLAG(bool, tls_legacy_ciphers, false,
          "also offer CBC cipher suites with TLS 1.2 (after the AEAD ones), for clients that know nothing "
          "newer");
ABSL_FLAG(std::string, outbound_tls, "opportunistic",
          "STARTTLS towards next hops: none, opportunistic (when offered; plaintext if the handshake "
          "fails) or required (defer mail to hosts without it)");
ABSL_FLAG(std::string, tls_ca_file, "/etc/ssl/certs/ca-certificates.crt",
          "PEM roots that outbound certificates are checked against (the result is logged, "
          "never enforced); empty: trust none");

namespace ringpost {
namespace {

absl::Status Invalid(absl::string_view message) { return absl::InvalidArgumentError(message); }

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

bool IsFullyQualified(const std::string& name) {
  const size_t dot = name.find('.');
  return dot != std::string::npos && dot > 0 && dot + 1 < name.size();
}

// A domain is delivered here or relayed onward, not both: with both lists naming it,
// its mail would go into Maildirs while the operator expects it relayed.
absl::Status CheckDomainsAreLocalOrRelay(absl::string_view local_domains, absl::string_view relay_domains) {
  absl::flat_hash_set<std::string> local;
  for (absl::string_view d : absl::StrSplit(local_domains, ',', absl::SkipWhitespace())) {
    local.insert(core::CanonicalDomain(absl::StripAsciiWhitespace(d)));
  }
  for (absl::string_view d : absl::StrSplit(relay_domains, ',', absl::SkipWhitespace())) {
    const std::string domain = core::CanonicalDomain(absl::StripAsciiWhitespace(d));
    if (local.contains(domain)) {
      return Invalid(absl::StrCat("--local_domains and --relay_domains both name ", domain,
                                  ": a domain is delivered here (local) or relayed onward, not both"));
    }
  }
  return absl::OkStatus();
}

// SMTP AUTH: the users, and the failure limits shared by every shard.
absl::Status ReadAuthFlags(DaemonConfig& c) {
  const std::string path = absl::GetFlag(FLAGS_auth_users);
  if (!c.submissions_listen.empty() && c.tls_cert.empty()) {
    return Invalid("--submissions_listen needs --tls_cert and --tls_key (TLS from the first byte)");
  }
  if (path.empty()) {
    if (c.submission_listen.empty() && c.submissions_listen.empty()) return absl::OkStatus();
    return Invalid(
        "--submission_listen and --submissions_listen need --auth_users: no mail is taken there "
        "before a login");
  }
  if (c.tls_cert.empty()) {
    return Invalid(
        "--auth_users needs --tls_cert and --tls_key: AUTH is offered only under TLS (RFC 4954 §4)");
  }
  c.auth_users = std::make_shared<net::AuthUsers>(path);
  RP_RETURN_IF_ERROR(c.auth_users->Load());
  const uint32_t limit = absl::GetFlag(FLAGS_auth_failure_limit);
  const absl::Duration window = absl::GetFlag(FLAGS_auth_failure_window).value;
  const absl::Duration delay = absl::GetFlag(FLAGS_auth_failure_delay).value;
  if (limit == 0 || window <= absl::ZeroDuration() || delay < absl::ZeroDuration()) {
    return Invalid("--auth_failure_limit and --auth_failure_window must be positive");
  }
  c.auth_failures = std::make_shared<net::AuthFailures>(limit, window, delay);
  c.smtp.auth_users = c.auth_users.get();
  c.smtp.auth_failures = c.auth_failures.get();
  c.smtp.server.auth_offered = true;
  c.smtp.server.command_line_bytes_max = 12288;  // RFC 4954 §4: an AUTH line may be this long
  return absl::OkStatus();
}

// DKIM: the signing keys and how to sign; whether to verify.
absl::Status ReadDkimFlags(DaemonConfig& c) {
  net::DkimSigningOptions& dkim = c.smtp.dkim;
  dkim.required = absl::GetFlag(FLAGS_dkim_required);
  c.dkim_verify = absl::GetFlag(FLAGS_dkim_verify);
  c.dkim_key_cache = absl::GetFlag(FLAGS_dkim_key_cache);
  if (c.dkim_key_cache == 0) return Invalid("--dkim_key_cache: must be at least 1");
  if (const std::string headers = absl::GetFlag(FLAGS_dkim_headers); !headers.empty()) {
    dkim.header_names = {"from"};
    for (absl::string_view name : absl::StrSplit(headers, ',', absl::SkipWhitespace())) {
      const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(name));
      if (lower.empty() || lower.find_first_of(": \t") != std::string::npos) {
        return Invalid(absl::StrCat("--dkim_headers: '", name, "' is not a header field name"));
      }
      if (std::find(dkim.header_names.begin(), dkim.header_names.end(), lower) == dkim.header_names.end()) {
        dkim.header_names.push_back(lower);
      }
    }
  }
  const std::string modes = absl::GetFlag(FLAGS_dkim_canonicalization);
  const std::vector<std::string> parts = absl::StrSplit(modes, '/');
  auto mode = [](const std::string& text, net::Canonicalization* out) {
    if (text == "relaxed")
      *out = net::Canonicalization::kRelaxed;
    else if (text == "simple")
      *out = net::Canonicalization::kSimple;
    else
      return false;
    return true;
  };
  if (parts.size() != 2 || !mode(parts[0], &dkim.header_mode) || !mode(parts[1], &dkim.body_mode)) {
    return Invalid(absl::StrCat(
        "--dkim_canonicalization: expected HEADER/BODY, each relaxed or simple, got '", modes, "'"));
  }
  for (absl::string_view domain :
       absl::StrSplit(absl::GetFlag(FLAGS_dkim_extra_domains), ',', absl::SkipWhitespace())) {
    dkim.extra_domains.push_back(core::CanonicalDomain(absl::StripAsciiWhitespace(domain)));
  }
  dkim.lifetime_seconds = absl::ToInt64Seconds(absl::GetFlag(FLAGS_dkim_signature_lifetime).value);
  if (dkim.lifetime_seconds < 0) return Invalid("--dkim_signature_lifetime: must not be negative");
  const std::string table = absl::GetFlag(FLAGS_dkim_key_table);
  if (table.empty()) {
    if (dkim.required || !dkim.extra_domains.empty()) {
      return Invalid("--dkim_required and --dkim_extra_domains need --dkim_key_table: there would be no key");
    }
    return absl::OkStatus();
  }
  c.dkim_keys = std::make_shared<net::DkimKeyTable>(table);
  RP_RETURN_IF_ERROR(c.dkim_keys->Load());
  for (const std::string& domain : dkim.extra_domains) {
    if (!c.dkim_keys->Get()->by_domain.contains(domain)) {
      return Invalid(absl::StrCat("--dkim_extra_domains: ", table, " has no key for ", domain));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadServerFlags(DaemonConfig& c) {
  if (!core::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &c.log_level).ok()) {
    return Invalid(absl::StrCat("--log_level: expected debug, info, warning or error, got '",
                                absl::GetFlag(FLAGS_log_level), "'"));
  }
  c.shards = absl::GetFlag(FLAGS_shards);
  if (c.shards < 0 || c.shards > 256) return Invalid("--shards: expected 0 (one per CPU) to 256");
  if (c.shards == 0) c.shards = core::OnlineCpuCount();
  auto addresses = core::ParseSocketAddressList(absl::GetFlag(FLAGS_listen));
  if (!addresses.ok()) return Invalid(absl::StrCat("--listen: ", addresses.status().message()));
  c.listen = *std::move(addresses);
  struct RoleFlag {
    const char* name;
    const absl::Flag<std::string>* flag;
    std::vector<core::SocketAddress>* addresses;
  };
  for (const RoleFlag& role :
       {RoleFlag{"--submission_listen", &FLAGS_submission_listen, &c.submission_listen},
        RoleFlag{"--submissions_listen", &FLAGS_submissions_listen, &c.submissions_listen}}) {
    const std::string text = absl::GetFlag(*role.flag);
    if (text.empty()) continue;
    auto parsed = core::ParseSocketAddressList(text);
    if (!parsed.ok()) return Invalid(absl::StrCat(role.name, ": ", parsed.status().message()));
    *role.addresses = *std::move(parsed);
  }
  c.max_connections = absl::GetFlag(FLAGS_max_connections);
  if (c.max_connections == 0) return Invalid("--max_connections: must be at least 1");
  c.max_connections_per_ip = absl::GetFlag(FLAGS_max_connections_per_ip);
  if (c.max_connections_per_ip == 0) return Invalid("--max_connections_per_ip: must be at least 1");
  c.hostname = absl::GetFlag(FLAGS_hostname);
  if (c.hostname.empty()) c.hostname = DefaultHostname();
  if (!IsFullyQualified(c.hostname)) {
    return Invalid(absl::StrCat("--hostname: '", c.hostname,
                                "' is not fully qualified (the outbound EHLO needs a name like mx.example.com)"));
  }
  c.spool_dir = absl::GetFlag(FLAGS_spool_dir);
  c.node_id = absl::GetFlag(FLAGS_node_id);
  if (c.node_id < -1 || c.node_id >= static_cast<int>(queue::kQueueIdNodes)) {
    return Invalid(absl::StrCat("--node_id: expected 0 to ", queue::kQueueIdNodes - 1, " (or -1), got ", c.node_id));
  }
  c.user = absl::GetFlag(FLAGS_user);
  c.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (!c.metrics_listen.empty()) {
    if (auto address = core::ParseSocketAddress(c.metrics_listen); !address.ok()) {
      return Invalid(absl::StrCat("--metrics_listen: ", address.status().message()));
    }
  }
  c.metrics_top_destinations = absl::GetFlag(FLAGS_metrics_top_destinations);
  if (c.metrics_top_destinations > 10000) return Invalid("--metrics_top_destinations: at most 10000");
  c.admin_socket = absl::GetFlag(FLAGS_admin_socket);
  c.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  if (!c.admin_listen.empty()) {
    auto address = core::ParseSocketAddress(c.admin_listen);
    if (!address.ok()) return Invalid(absl::StrCat("--admin_listen: ", address.status().message()));
    const std::string token_file = absl::GetFlag(FLAGS_admin_token_file);
    if (!token_file.empty()) {
      std::ifstream in(token_file);
      std::string token;
      if (!in || !std::getline(in, token)) return Invalid(absl::StrCat("--admin_token_file: cannot read ", token_file));
      token = std::string(absl::StripAsciiWhitespace(token));
      if (token.size() < 16 ||
          !std::all_of(token.begin(), token.end(), [](char ch) { return ch > ' ' && ch < 0x7f; })) {
        return Invalid("--admin_token_file: the token is one line of at least 16 visible characters");
      }
      c.admin_token = std::move(token);
    }
    if (c.admin_token.empty() && !address->IsLoopback()) {
      return Invalid(absl::StrCat("--admin_listen: ", c.admin_listen,
                                  " is not a loopback address, so --admin_token_file is required"));
    }
  } else if (!absl::GetFlag(FLAGS_admin_token_file).empty()) {
    return Invalid("--admin_token_file: goes with --admin_listen (the Unix socket needs no token)");
  }
  c.runtime.shards = c.shards;
  c.runtime.pin_threads = absl::GetFlag(FLAGS_pin_threads);
  c.runtime.shutdown_grace_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_shutdown_grace).value);
  c.runtime.shard.recv_buffer_count = absl::GetFlag(FLAGS_recv_buffers);
  const uint64_t recv_buffer_bytes = absl::GetFlag(FLAGS_recv_buffer_bytes).value;
  if (recv_buffer_bytes < 512 || recv_buffer_bytes > (1u << 20)) {
    return Invalid(absl::StrCat("--recv_buffer_bytes: expected 512 to 1MiB, got ", recv_buffer_bytes));
  }
  c.runtime.shard.recv_buffer_bytes = static_cast<uint32_t>(recv_buffer_bytes);
  // The provided buffer ring's own limits (io_uring: a power of two, at most 32768).
  const uint32_t buffers = c.runtime.shard.recv_buffer_count;
  if (buffers == 0 || buffers > 32768 || (buffers & (buffers - 1)) != 0) {
    return Invalid(absl::StrCat("--recv_buffers: expected a power of two from 1 to 32768, got ", buffers));
  }
  return absl::OkStatus();
}

absl::Status ReadInboundFlags(DaemonConfig& c) {
  auto relay = net::RelayPolicy::Parse(absl::GetFlag(FLAGS_relay_networks), absl::GetFlag(FLAGS_relay_domains),
                                       absl::GetFlag(FLAGS_local_domains));
  if (!relay.ok()) return relay.status();
  c.relay = *std::move(relay);
  const std::string exempt = absl::GetFlag(FLAGS_limit_exempt_networks);
  auto exempt_networks = core::CidrSet::Parse(exempt == "relay_networks" ? absl::GetFlag(FLAGS_relay_networks)
                                              : exempt == "none"         ? std::string()
                                                                         : exempt);
  if (!exempt_networks.ok()) {
    return Invalid(absl::StrCat("--limit_exempt_networks: ", exempt_networks.status().message()));
  }
  c.smtp.limit_exempt_networks = *std::move(exempt_networks);
  auto proxy_networks = core::CidrSet::Parse(absl::GetFlag(FLAGS_proxy_protocol_networks));
  if (!proxy_networks.ok()) {
    return Invalid(absl::StrCat("--proxy_protocol_networks: ", proxy_networks.status().message()));
  }
  c.smtp.proxy_networks = *std::move(proxy_networks);
  c.smtp.proxy_timeout_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_proxy_timeout).value);
  if (c.smtp.proxy_timeout_nanos <= 0) return Invalid("--proxy_timeout: must be positive");
  RP_RETURN_IF_ERROR(
      CheckDomainsAreLocalOrRelay(absl::GetFlag(FLAGS_local_domains), absl::GetFlag(FLAGS_relay_domains)));
  if (const std::string path = absl::GetFlag(FLAGS_local_recipients); !path.empty()) {
    c.local_recipients = std::make_shared<net::LocalRecipients>(path);
    RP_RETURN_IF_ERROR(c.local_recipients->Load());
    c.relay.SetLocalRecipients(c.local_recipients);
  }
  std::string postmaster = absl::GetFlag(FLAGS_postmaster);
  if (postmaster.empty()) {
    const std::vector<std::string> local = absl::StrSplit(absl::GetFlag(FLAGS_local_domains), ',', absl::SkipWhitespace());
    if (!local.empty()) postmaster = absl::StrCat("postmaster@", core::CanonicalDomain(local.front()));
  } else {
    bool non_ascii = false;
    if (!net::IsValidMailbox(postmaster, &non_ascii)) {
      return Invalid(absl::StrCat("--postmaster: '", postmaster, "' is not an address like postmaster@example.com"));
    }
  }
  c.relay.SetPostmaster(postmaster);
  c.relay.SetMaildirs(absl::GetFlag(FLAGS_maildir_root), absl::GetFlag(FLAGS_create_maildirs));
  c.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  c.tls_key = absl::GetFlag(FLAGS_tls_key);
  c.tls_legacy_ciphers = absl::GetFlag(FLAGS_tls_legacy_ciphers);
  if (c.tls_cert.empty() != c.tls_key.empty()) return Invalid("--tls_cert and --tls_key go together");
  RP_RETURN_IF_ERROR(ReadAuthFlags(c));
  RP_RETURN_IF_ERROR(ReadDkimFlags(c));
  net::SmtpServerOptions& server = c.smtp.server;
  server.hostname = c.hostname;
  server.message_bytes_max = absl::GetFlag(FLAGS_max_message_size).value;
  server.recipients_max = absl::GetFlag(FLAGS_max_recipients);
  if (server.message_bytes_max == 0) return Invalid("--max_message_size: must be at least 1");
  // Bounds that keep a message's commit record (envelope and body extents) far inside
  // the log's 1 MiB record limit.
  if (server.recipients_max == 0 || server.recipients_max > 2000) {
    return Invalid("--max_recipients: expected 1 to 2000");
  }
  if (server.message_bytes_max > (uint64_t{100} << 20)) {
    return Invalid("--max_message_size: at most 100MiB (104857600)");
  }
  const std::string long_lines = absl::GetFlag(FLAGS_long_lines);
  if (long_lines == "wrap") {
    server.long_lines = net::LongLines::kWrap;
  } else if (long_lines == "reject") {
    server.long_lines = net::LongLines::kReject;
  } else {
    return Invalid(absl::StrCat("--long_lines: expected wrap or reject, got '", long_lines, "'"));
  }
  server.strict_envelope = absl::GetFlag(FLAGS_strict_envelope);
  server.add_missing_headers = absl::GetFlag(FLAGS_add_missing_headers);
  c.smtp.min_data_rate_bytes = absl::GetFlag(FLAGS_smtp_min_data_rate);
  if (c.smtp.min_data_rate_bytes == 0) return Invalid("--smtp_min_data_rate: must be at least 1");
  const std::string bare_lf = absl::GetFlag(FLAGS_bare_lf);
  if (bare_lf == "normalize") {
    server.bare_line_endings = net::BareLineEndings::kNormalize;
  } else if (bare_lf == "reject") {
    server.bare_line_endings = net::BareLineEndings::kReject;
  } else {
    return Invalid(absl::StrCat("--bare_lf: expected normalize or reject, got '", bare_lf, "'"));
  }
  c.smtp.greeting_delay_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_greeting_delay).value);
  c.smtp.idle_timeout_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_smtp_idle_timeout).value);
  c.smtp.data_timeout_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_smtp_data_timeout).value);
  if (c.smtp.idle_timeout_nanos <= 0 || c.smtp.data_timeout_nanos <= 0) {
    return Invalid("--smtp_idle_timeout and --smtp_data_timeout must be positive");
  }
  return absl::OkStatus();
}

absl::Status ReadQueueFlags(DaemonConfig& c) {
  c.log.segment_bytes_max = absl::GetFlag(FLAGS_segment_bytes).value;
  c.log.heads = absl::GetFlag(FLAGS_log_heads);
  if (c.log.heads < 1 || c.log.heads > 2) return Invalid("--log_heads: must be 1 or 2");
  c.log.fsync = absl::GetFlag(FLAGS_fsync);
  c.log.free_space_reserve_bytes = absl::GetFlag(FLAGS_spool_reserve_bytes).value;
  c.accounting_log = absl::GetFlag(FLAGS_accounting_log);
  c.accounting_log_max_bytes = absl::GetFlag(FLAGS_accounting_log_max_bytes).value;
  return absl::OkStatus();
}

absl::Status ReadTlsClient(DaemonConfig& c) {
  c.outbound_tls = absl::GetFlag(FLAGS_outbound_tls);
  if (c.outbound_tls == "none") {
    c.delivery.tls_policy = net::TlsPolicy::kNone;
  } else if (c.outbound_tls == "opportunistic") {
    c.delivery.tls_policy = net::TlsPolicy::kOpportunistic;
  } else if (c.outbound_tls == "required") {
    c.delivery.tls_policy = net::TlsPolicy::kRequired;
  } else {
    return Invalid(absl::StrCat("--outbound_tls: expected none, opportunistic or required, got '",
                                c.outbound_tls, "'"));
  }
  // A shaping file may ask for TLS per destination: the client context is made for it.
  if (c.delivery.tls_policy == net::TlsPolicy::kNone && absl::GetFlag(FLAGS_shaping).empty()) {
    return absl::OkStatus();
  }
  std::string ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  // The default bundle may not be installed; an operator's own file must exist.
  if (ca_file == "/etc/ssl/certs/ca-certificates.crt" && access(ca_file.c_str(), R_OK) != 0) ca_file.clear();
  auto client = net::TlsContext::Client(ca_file);
  if (!client.ok()) return client.status();
  c.delivery.session.tls_client = *std::move(client);
  // Opportunistic TLS: after a failed handshake the host gets plaintext for an hour.
  if (c.delivery.tls_policy == net::TlsPolicy::kOpportunistic) c.delivery.scheduler.tls_fallback = absl::Hours(1);
  return absl::OkStatus();
}

// --egress_sources, --egress_pools and --egress_sender_pools: the sources go to the
// delivery driver, the pools to the scheduler, both maps to reception.
absl::Status ReadEgressFlags(DaemonConfig& c) {
  auto sources = net::ParseEgressSources(absl::GetFlag(FLAGS_egress_sources));
  if (!sources.ok()) return Invalid(absl::StrCat("--egress_sources: ", sources.status().message()));
  if (absl::Status local = net::CheckEgressSourcesAreLocal(*sources); !local.ok()) {
    return Invalid(absl::StrCat("--egress_sources: ", local.message()));
  }
  std::vector<std::string> names;
  for (const net::EgressSource& source : *sources) names.push_back(source.name);
  auto pools = queue::EgressPools::Parse(absl::GetFlag(FLAGS_egress_pools), names);
  if (!pools.ok()) return Invalid(absl::StrCat("--egress_pools: ", pools.status().message()));
  auto senders = queue::SenderPools::Parse(absl::GetFlag(FLAGS_egress_sender_pools), *pools);
  if (!senders.ok()) return Invalid(absl::StrCat("--egress_sender_pools: ", senders.status().message()));
  if (!sources->empty() && pools->empty()) {
    return Invalid("--egress_sources: no --egress_pools uses them (a message leaves through a pool)");
  }
  for (const net::EgressSource& source : *sources) {
    c.delivery.scheduler.source_families[source.name] = source.address.family();
  }
  c.delivery.egress_sources = *std::move(sources);
  if (pools->empty()) return absl::OkStatus();
  auto shared = std::make_shared<const queue::EgressPools>(*std::move(pools));
  c.delivery.scheduler.egress_pools = shared;
  c.smtp.egress_pools = shared;
  c.smtp.sender_pools = std::make_shared<const queue::SenderPools>(*std::move(senders));
  return absl::OkStatus();
}

// --redis, --redis_password_file and --cluster_nodes.
absl::Status ReadClusterFlags(DaemonConfig& c) {
  const uint32_t nodes = absl::GetFlag(FLAGS_cluster_nodes);
  if (nodes == 0 || nodes > 10000) return Invalid("--cluster_nodes: 1 to 10000");
  c.delivery.scheduler.cluster_nodes = nodes;
  const std::string redis = absl::GetFlag(FLAGS_redis);
  const std::string password_file = absl::GetFlag(FLAGS_redis_password_file);
  if (redis.empty()) {
    if (!password_file.empty()) return Invalid("--redis_password_file: goes with --redis");
    return absl::OkStatus();
  }
  auto address = net::ParseRedisAddress(redis);
  if (!address.ok()) return Invalid(address.status().message());
  c.redis.address = *address;
  if (!password_file.empty()) {
    std::ifstream in(password_file);
    if (!in || !std::getline(in, c.redis.password) || c.redis.password.empty()) {
      return Invalid(absl::StrCat("--redis_password_file: cannot read a password from ", password_file));
    }
  }
  c.delivery.scheduler.cluster = true;
  return absl::OkStatus();
}

absl::Status ReadDeliveryFlags(DaemonConfig& c) {
  auto routes = net::RouteTable::Parse(absl::GetFlag(FLAGS_routes));
  if (!routes.ok()) return routes.status();  // its message names --routes
  c.routes = *std::move(routes);
  c.maildir_root = absl::GetFlag(FLAGS_maildir_root);
  queue::SchedulerConfig& s = c.delivery.scheduler;
  s.retry.initial = absl::GetFlag(FLAGS_retry_initial).value;
  s.retry.max = absl::GetFlag(FLAGS_retry_max).value;
  s.retry.lifetime = absl::GetFlag(FLAGS_max_queue_lifetime).value;
  if (s.retry.initial <= absl::ZeroDuration() || s.retry.max < s.retry.initial) {
    return Invalid("--retry_initial must be positive and at most --retry_max");
  }
  s.compaction_age = absl::GetFlag(FLAGS_compaction_age).value;
  s.delay_warning = absl::GetFlag(FLAGS_delay_warning_time).value;
  if (s.delay_warning < absl::ZeroDuration()) return Invalid("--delay_warning_time: must not be negative");
  if (s.compaction_age < absl::ZeroDuration()) return Invalid("--compaction_age: must not be negative");
  // Read in main (a file that does not parse is exit status 2), and again on SIGHUP.
  c.delivery.policy_files = std::make_shared<net::DeliveryPolicyFiles>(absl::GetFlag(FLAGS_shaping),
                                                                       absl::GetFlag(FLAGS_bounce_rules));
  RP_RETURN_IF_ERROR(ReadEgressFlags(c));
  RP_RETURN_IF_ERROR(ReadClusterFlags(c));
  s.domain_max_connections = absl::GetFlag(FLAGS_domain_max_connections);
  s.max_messages_per_connection = absl::GetFlag(FLAGS_max_messages_per_connection);
  const uint32_t host_max_connections = absl::GetFlag(FLAGS_host_max_connections);
  if (s.domain_max_connections == 0 || host_max_connections == 0 || s.max_messages_per_connection == 0) {
    return Invalid(
        "--domain_max_connections, --host_max_connections and --max_messages_per_connection: at least 1");
  }
  // Per-destination-IP limits are per shard: each shard gets its share.
  s.host_max_connections = std::max<uint32_t>(1, host_max_connections / static_cast<uint32_t>(c.shards));
  s.idle_timeout = absl::GetFlag(FLAGS_outbound_idle_timeout).value;
  c.delivery.session.reply_timeout_nanos =
      absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_outbound_reply_timeout).value);
  if (s.idle_timeout <= absl::ZeroDuration() || c.delivery.session.reply_timeout_nanos <= 0) {
    return Invalid("--outbound_idle_timeout and --outbound_reply_timeout must be positive");
  }
  c.delivery.session.client.helo_name = c.hostname;
  c.delivery.hostname = c.hostname;
  RP_RETURN_IF_ERROR(ReadTlsClient(c));
  if (const std::string path = absl::GetFlag(FLAGS_route_auth); !path.empty()) {
    if (c.delivery.tls_policy == net::TlsPolicy::kNone) {
      return Invalid(
          "--route_auth needs outbound TLS (--outbound_tls=opportunistic or required): a login "
          "is only ever sent under TLS");
    }
    auto logins = net::RouteAuth::Load(path);
    if (!logins.ok()) return logins.status();
    c.delivery.route_auth = std::make_shared<const net::RouteAuth>(*std::move(logins));
  }
  const uint32_t outbound_port = absl::GetFlag(FLAGS_outbound_port);
  if (outbound_port == 0 || outbound_port > 65535) return Invalid("--outbound_port: expected 1 to 65535");
  c.outbound_port = static_cast<uint16_t>(outbound_port);
  return absl::OkStatus();
}

absl::Status ReadDnsFlags(DaemonConfig& c) {
  auto servers = dns::ResolveDnsServers(absl::GetFlag(FLAGS_dns_servers), "/etc/resolv.conf");
  if (!servers.ok()) return Invalid(absl::StrCat("--dns_servers: ", servers.status().message()));
  c.resolver.servers = *std::move(servers);
  c.resolver.timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_dns_timeout).value));
  c.resolver.tries = absl::GetFlag(FLAGS_dns_tries);
  if (c.resolver.timeout_ms <= 0 || c.resolver.tries < 1 || c.resolver.tries > 10) {
    return Invalid("--dns_timeout must be positive and --dns_tries 1 to 10");
  }
  c.mx.prefer_ipv6 = absl::GetFlag(FLAGS_dns_prefer_ipv6);
  c.mx.is_self = [self = absl::AsciiStrToLower(c.hostname)](const std::string& host) { return host == self; };
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DaemonConfig> ConfigFromFlags() {
  DaemonConfig config;
  RP_RETURN_IF_ERROR(ReadServerFlags(config));
  RP_RETURN_IF_ERROR(ReadInboundFlags(config));
  RP_RETURN_IF_ERROR(ReadQueueFlags(config));
  RP_RETURN_IF_ERROR(ReadDeliveryFlags(config));
  RP_RETURN_IF_ERROR(ReadDnsFlags(config));
  return config;
}

}  // namespace ringpost
