// ringpost: the daemon. Reads the operator flags (tools/daemon_config.h), probes the
// kernel, takes the spool lock, recovers the queue, binds the listeners, drops
// privileges, prints one start-up line and runs the shards (tools/daemon_shard.h) until
// SIGTERM/SIGINT (exit 0).
#include <grp.h>
#include <ifaddrs.h>
#include <pwd.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/check.h"
#include "core/duration_flag.h"
#include "core/kernel_probe.h"
#include "core/log.h"
#include "core/resource_limits.h"
#include "core/runtime.h"
#include "dns/resolver.h"
#include "net/transport/listener.h"
#include "net/transport/tls_context.h"
#include "net/transport/tls_library.h"
#include "queue/recovery.h"
#include "queue/schedule/bounce_class.h"
#include "queue/spool_lock.h"
#include "tools/command_line.h"
#include "tools/daemon_config.h"
#include "tools/daemon_shard.h"
#include "tools/service/service_notify.h"

namespace ringpost {
namespace {

// Every start-up failure (a flag's value, or a machine that cannot do what the flags
// ask: a spool locked by another daemon, a port in use, a shard that cannot start) is
// one line on stderr and exit status 1, as Abseil's own flag parser does.
int Fatal(absl::string_view message) {
  std::fprintf(stderr, "ringpost: %.*s\n", static_cast<int>(message.size()), message.data());
  return 1;
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

// A path as the daemon uses it, whatever directory it was started from: relative
// defaults (./var/spool) are relative to the working directory.
std::string AbsolutePath(const std::string& path) {
  if (path.empty()) return path;
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(path, error);
  return error ? path : absolute.lexically_normal().string();
}

// Local mail goes under --maildir_root: a root the daemon (after --user) cannot create
// or write would fail every local delivery, so it stops the start instead.
absl::Status CheckMaildirRoot(const std::string& root) {
  std::error_code error;
  std::filesystem::create_directories(root, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("--maildir_root ", AbsolutePath(root), " cannot be created: ", error.message()));
  }
  if (access(root.c_str(), W_OK | X_OK) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("--maildir_root ", AbsolutePath(root), " is not writable"));
  }
  return absl::OkStatus();
}

// One list a SIGHUP re-read (`status`: how its Load went; `count`: what it now holds).
void LogReload(absl::string_view what, const std::string& path, const absl::Status& status, size_t count,
               absl::string_view one, absl::string_view many) {
  if (!status.ok()) {
    RP_LOG(kError) << "SIGHUP: " << what << " not reloaded (the previous " << count
                   << " stay): " << status.message();
  } else {
    RP_LOG(kInfo) << "SIGHUP: " << what << " reloaded from " << AbsolutePath(path) << " (" << count << " "
                  << (count == 1 ? one : many) << ")";
  }
}

// SIGHUP re-reads the files that may change under a running daemon: the TLS
// certificate and key, --local_recipients, --auth_users, --dkim_key_table, --shaping and
// --bounce_rules. Each keeps what it had on an error.
void Reload(net::TlsServerCredentials* tls, net::LocalRecipients* local_recipients,
            net::AuthUsers* auth_users, net::DkimKeyTable* dkim_keys,
            std::shared_ptr<net::DeliveryPolicyFiles> policy_files) {
  const bool policies = !policy_files->shaping_path().empty() || !policy_files->bounce_rules_path().empty();
  if (tls == nullptr && local_recipients == nullptr && auth_users == nullptr && dkim_keys == nullptr &&
      !policies) {
    RP_LOG(kInfo) << "SIGHUP: nothing to reload (no --tls_cert, no --local_recipients, no --auth_users, "
                     "no --dkim_key_table, no --shaping, no --bounce_rules)";
    return;
  }
  if (policies) {
    // A file of many destinations takes seconds to parse: off the shard's thread (the
    // shards take the new snapshot once it is in).
    std::thread([policy_files] {
      const absl::Status status = policy_files->Load();
      const auto snapshot = policy_files->Get();
      if (!status.ok()) {
        RP_LOG(kError) << "SIGHUP: " << status.message() << " (the previous policy stays)";
      }
      if (!policy_files->shaping_path().empty()) {
        RP_LOG(kInfo) << "SIGHUP: shaping in force from " << AbsolutePath(policy_files->shaping_path())
                      << " (" << snapshot->shaping->destinations() << " destinations, "
                      << snapshot->shaping->automation().size() << " rules)";
      }
    }).detach();
  }
  if (dkim_keys != nullptr) {
    const absl::Status status = dkim_keys->Load();
    LogReload("DKIM keys", dkim_keys->path(), status, dkim_keys->size(), "key", "keys");
  }
  if (auth_users != nullptr) {
    const absl::Status status = auth_users->Load();
    LogReload("users", auth_users->path(), status, auth_users->size(), "user", "users");
  }
  if (tls != nullptr) {
    if (absl::Status s = tls->Reload(); !s.ok()) {
      RP_LOG(kError) << "SIGHUP: TLS certificate not reloaded (the previous one stays): " << s.message();
    } else {
      RP_LOG(kInfo) << "SIGHUP: TLS certificate reloaded from " << AbsolutePath(tls->cert_path());
    }
  }
  if (local_recipients != nullptr) {
    const absl::Status status = local_recipients->Load();
    LogReload("local recipients", local_recipients->path(), status, local_recipients->size(), "address",
              "addresses");
  }
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

// The metrics endpoint: one socket, served by shard 0. Auxiliary: a port taken by
// another daemon on this machine must not stop the mail.
net::ListenerSet BindMetrics(const std::string& text, std::string* where) {
  *where = "off";
  if (text.empty()) return {};
  auto bound = net::BindListeners({*core::ParseSocketAddress(text)}, 1, 64, /*reuse_port=*/false);
  if (!bound.ok()) {
    RP_LOG(kError) << "--metrics_listen " << text << ": " << bound.status().message() << "; /metrics is off";
    return {};
  }
  *where = bound->bound[0].ToString();
  return *std::move(bound);
}

void LogStart(const DaemonConfig& config, const DaemonShared& shared, const core::KernelFeatures& kernel,
              const std::string& metrics_at, bool starttls) {
  const net::ListenerSet& listeners = shared.listeners;
  const queue::RecoveredQueue& recovered = shared.recovered;
  auto join = [](const net::ListenerSet& set) {
    std::vector<std::string> bound;
    for (const auto& address : set.bound) bound.push_back(address.ToString());
    return bound.empty() ? std::string("off") : absl::StrJoin(bound, ",");
  };
  std::vector<std::string> resolvers;
  for (const auto& server : config.resolver.servers) resolvers.push_back(server.ToString());
  const queue::RetrySchedule& retry = config.delivery.scheduler.retry;
  // What this daemon was told, before what it made of it (a failed start says only why).
  const std::vector<std::string> set = NonDefaultFlags();
  RP_LOG(kInfo) << "flags set: "
                << (set.empty() ? std::string("none (every flag at its default)") : absl::StrJoin(set, " "));
  RP_LOG(kInfo)
      << "ringpost " << RINGPOST_VERSION << " started: shards=" << config.shards
      << " listen=" << join(listeners) << " submission=" << join(shared.submission_listeners)
      << " submissions=" << join(shared.submissions_listeners) << " spool=" << AbsolutePath(config.spool_dir)
      << " node_id=" << shared.node_id << " hostname=" << config.hostname
      << " dns=" << absl::StrJoin(resolvers, ",") << " tls_library=" << net::TlsLibraryVersion()
      << " starttls=" << (starttls ? "on" : "off") << " outbound_tls=" << config.outbound_tls
      << " kernel=" << kernel.Describe() << " log_heads=" << config.log.heads
      << " fsync=" << (config.log.fsync ? "on" : "OFF-UNSAFE") << " queue_live=" << recovered.live.size()
      << " recovered_segments=" << recovered.report.segments << " torn_tails=" << recovered.report.torn_tails
      << " quarantined=" << recovered.report.quarantined
      << " set_aside=" << recovered.report.unwritten_segments
      << " reused_unwritten=" << recovered.report.recycled_unused
      << " max_message_size=" << config.smtp.server.message_bytes_max << " bare_lf="
      << (config.smtp.server.bare_line_endings == net::BareLineEndings::kReject ? "reject" : "normalize")
      << " routes=" << config.routes.size() << " metrics=" << metrics_at
      << " admin=" << (shared.admin_socket.has_value() ? AbsolutePath(shared.admin_socket->path()) : "off")
      << (shared.admin_listener.bound.empty() ? "" : ",")
      << (shared.admin_listener.bound.empty() ? "" : shared.admin_listener.bound[0].ToString())
      << " retry=" << core::FormatFlagDuration(retry.initial) << "/" << core::FormatFlagDuration(retry.max)
      << "/" << core::FormatFlagDuration(retry.lifetime)
      << " accounting_log=" << (config.accounting_log.empty() ? "off" : AbsolutePath(config.accounting_log))
      << " maildir_root=" << AbsolutePath(config.maildir_root);
}

// What systemd shows in `systemctl status` once the daemon is up.
std::string ReadyState(const DaemonShared& shared) {
  std::vector<std::string> bound;
  for (const auto& address : shared.listeners.bound) bound.push_back(address.ToString());
  return absl::StrCat("READY=1\nSTATUS=accepting mail on ", absl::StrJoin(bound, ","), "; recovered ",
                      shared.recovered.live.size(), " queued messages");
}

int Main() {
  absl::StatusOr<DaemonConfig> loaded = ConfigFromFlags();
  if (!loaded.ok()) return Fatal(loaded.status().message());
  DaemonConfig& config = *loaded;
  // A policy file that does not parse: status 2, one line naming its file, line and key.
  if (absl::Status s = config.delivery.policy_files->Load(); !s.ok()) {
    Fatal(s.message());
    return 2;
  }
  if (PrintConfigRequested()) {
    std::vector<std::string> resolvers;
    for (const auto& server : config.resolver.servers) resolvers.push_back(server.ToString());
    // Defaults decided by the machine, as this start would take them.
    const std::string text =
        absl::StrCat(ConfigAsFlagfile(), "# Decided at start on this machine: --hostname=", config.hostname,
                     " --shards=", config.shards, " --dns_servers=", absl::StrJoin(resolvers, ","), "\n");
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  core::SetLogLevel(config.log_level);
  std::unique_ptr<net::TlsServerCredentials> tls;
  if (!config.tls_cert.empty()) {
    tls = std::make_unique<net::TlsServerCredentials>(config.tls_cert, config.tls_key, config.tls_legacy_ciphers);
    // Read before privileges are dropped (--user); a reload reads them as that user.
    if (absl::Status s = tls->Reload(); !s.ok()) return Fatal(s.message());
    config.smtp.tls = tls.get();
  }
  if (absl::Status s = dns::InitDnsLibrary(); !s.ok()) return Fatal(s.message());
  auto features = core::ProbeKernel();
  if (!features.ok()) return Fatal(features.status().message());
  auto spool_lock = queue::SpoolLock::Acquire(config.spool_dir);
  if (!spool_lock.ok()) return Fatal(spool_lock.status().message());
  absl::StatusOr<uint32_t> node_id = config.node_id >= 0 ? static_cast<uint32_t>(config.node_id)
                                                         : queue::LoadOrCreateNodeId(config.spool_dir);
  if (!node_id.ok()) return Fatal(node_id.status().message());
  // Recovery before anything listens: every shard-K folder, whatever --shards is now.
  auto recovered = queue::RecoverSpool(config.spool_dir);
  if (!recovered.ok()) return Fatal(absl::StrCat("queue recovery: ", recovered.status().message()));
  // Every connection is a descriptor, plus listeners, spool segments and slack.
  if (absl::Status s = core::RaiseFileLimit(uint64_t{config.max_connections} + 1024); !s.ok()) {
    return Fatal(s.message());
  }
  auto listeners = net::BindListeners(config.listen, config.shards, 4096);
  if (!listeners.ok()) return Fatal(listeners.status().message());
  net::ListenerSet submission, submissions;
  for (auto [addresses, set, flag] :
       {std::tuple{&config.submission_listen, &submission, "--submission_listen"},
        std::tuple{&config.submissions_listen, &submissions, "--submissions_listen"}}) {
    if (addresses->empty()) continue;
    auto bound = net::BindListeners(*addresses, config.shards, 4096);
    if (!bound.ok()) return Fatal(absl::StrCat(flag, ": ", bound.status().message()));
    *set = *std::move(bound);
  }
  std::string metrics_at;
  net::ListenerSet metrics_listener = BindMetrics(config.metrics_listen, &metrics_at);
  config.mx.is_local_address = [local = LocalMailAddresses(listeners->bound, config.outbound_port)](
                                   const std::string& ip) { return local.contains(ip); };
  if (absl::Status s = DropPrivileges(config.user, config.spool_dir); !s.ok()) return Fatal(s.message());
  if (!config.relay.local_domains().empty()) {
    if (absl::Status s = CheckMaildirRoot(config.maildir_root); !s.ok()) return Fatal(s.message());
  }
  if (!config.log.fsync) {
    RP_LOG(kWarning) << "--fsync=false: UNSAFE, acknowledged mail can be lost on a crash (benchmarks only)";
  }
  // The admin API: essential to steer the queue, so a socket that cannot be bound stops
  // the start (another daemon answering there is refused like a taken port).
  std::optional<net::UnixListener> admin_socket;
  if (!config.admin_socket.empty()) {
    auto bound = net::UnixListener::Bind(config.admin_socket, 64);
    if (!bound.ok()) return Fatal(absl::StrCat("--admin_socket: ", bound.status().message()));
    admin_socket.emplace(*std::move(bound));
  }
  net::ListenerSet admin_listener;
  if (!config.admin_listen.empty()) {
    auto bound = net::BindListeners({*core::ParseSocketAddress(config.admin_listen)}, 1, 64, /*reuse_port=*/false);
    if (!bound.ok()) return Fatal(absl::StrCat("--admin_listen: ", bound.status().message()));
    admin_listener = *std::move(bound);
  }
  if (admin_socket.has_value() && !config.user.empty()) {
    // The socket stays usable by the user the daemon runs as (and root).
    if (const passwd* entry = getpwnam(config.user.c_str()); entry != nullptr) {
      if (chown(admin_socket->path().c_str(), entry->pw_uid, entry->pw_gid) != 0) {
        return Fatal(absl::StrCat("chown ", admin_socket->path(), ": ", strerror(errno)));
      }
    }
  }
  DaemonShared shared(config, *node_id, *std::move(recovered), *std::move(listeners), std::move(metrics_listener));
  shared.submission_listeners = std::move(submission);
  shared.submissions_listeners = std::move(submissions);
  shared.metrics.set_top_destinations(config.metrics_top_destinations);
  std::vector<std::string> failure_classes;
  for (size_t c = 0; c < queue::kBounceClassCount; ++c) {
    failure_classes.push_back(queue::BounceClassName(static_cast<queue::BounceClass>(c)));
  }
  shared.metrics.set_failure_classes(std::move(failure_classes));
  shared.admin_socket = std::move(admin_socket);
  shared.admin_listener = std::move(admin_listener);
  if (absl::Status s = shared.accounting.Open(); !s.ok()) return Fatal(s.message());

  core::Runtime runtime(config.runtime);  // blocks the signals before we announce the start
  // SIGHUP: new certificate and key for new handshakes (sessions keep theirs), and the
  // local recipients list for the next RCPT.
  runtime.SetSignalHandler(
      SIGHUP, [tls = tls.get(), local = config.local_recipients.get(), users = config.auth_users.get(),
               keys = config.dkim_keys.get(), policies = config.delivery.policy_files] {
        NotifyServiceManager(ReloadingState());
        Reload(tls, local, users, keys, policies);
        NotifyServiceManager("READY=1");
      });
  runtime.SetSignalHandler(SIGTERM, [] { NotifyServiceManager("STOPPING=1"); });
  absl::Status status = runtime.Run([&shared](core::Shard& shard) { return SetUpShard(shard, shared); },
                                    [&] {
                                      LogStart(config, shared, *features, metrics_at, tls != nullptr);
                                      NotifyServiceManager(ReadyState(shared));
                                    });
  if (!status.ok()) return Fatal(status.message());
  RP_LOG(kInfo) << "ringpost stopped";
  return 0;
}

}  // namespace
}  // namespace ringpost

int main(int argc, char** argv) {
  ringpost::Program program{"ringpost", "a high-throughput mail transfer agent on io_uring",
                            "usage: ringpost [--flag=value ...] [--flagfile=FILE] [--print_config]\n",
                            "tools/daemon_config.cc", /*refuse_postfix_parameters=*/true};
  ringpost::ParseProgramCommandLine(argc, argv, program);
  return ringpost::Main();
}
