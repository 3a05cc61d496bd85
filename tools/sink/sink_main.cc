// ringpost-sink: a fast SMTP sink on the ringpost runtime, with fault injection.
// Prints "listening ADDR" once bound, its counters on SIGUSR1 and at exit (SIGTERM or
// SIGINT; exit status 0), as text or, with --json, as one JSON object per line.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "core/kernel_probe.h"
#include "core/resource_limits.h"
#include "core/runtime.h"
#include "net/transport/listener.h"
#include "tools/command_line.h"
#include "tools/sink/sink_session.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:2526", "comma-separated ADDR:PORT listeners (port 0: pick one)");
ABSL_FLAG(int, shards, 1, "shard threads");
ABSL_FLAG(bool, pin_threads, false, "pin shard threads to CPUs");
ABSL_FLAG(std::string, hostname, "sink.invalid", "name in the greeting and EHLO reply");
ABSL_FLAG(uint32_t, max_connections, 8192, "connections in all");
ABSL_FLAG(std::string, record_dir, "",
          "write every accepted message (NAME.eml) and envelope (NAME.json) here");
ABSL_FLAG(bool, smtputf8, true, "advertise SMTPUTF8 in the EHLO reply");
ABSL_FLAG(bool, dsn, false, "advertise DSN (RFC 3461) in the EHLO reply");
ABSL_FLAG(uint64_t, seed, 1, "seed of the fault PRNG (a run's faults repeat with the same seed)");
ABSL_FLAG(bool, json, false, "print counters as JSON");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate; with --tls_key the sink offers STARTTLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls_cert");
ABSL_FLAG(
    std::string, auth_users, "",
    "user:password lines (plain text: a test peer): AUTH PLAIN and LOGIN offered under TLS, and no MAIL "
    "taken before a login");
ABSL_FLAG(double, rcpt_tempfail_rate, 0, "fraction of RCPTs answered 451 4.3.0");
ABSL_FLAG(double, rcpt_permfail_rate, 0, "fraction of RCPTs answered 550 5.1.1");
ABSL_FLAG(double, data_tempfail_rate, 0, "fraction of messages answered 451 4.3.0 after the final dot");
ABSL_FLAG(double, data_permfail_rate, 0, "fraction of messages answered 554 5.6.0 after the final dot");
ABSL_FLAG(std::string, tempfail_pattern, "",
          "recipients containing this text get 451 for their first --tempfail_times RCPTs");
ABSL_FLAG(uint32_t, tempfail_times, 0, "see --tempfail_pattern");
ABSL_FLAG(
    std::string, tempfail_reply, "451 4.3.0 sink: temporary failure (pattern)",
    "the reply --tempfail_pattern's recipients get (a 4xx line, such as a provider's throttling reply)");
ABSL_FLAG(uint32_t, data_delay_ms, 0, "wait this long before answering the final dot");
ABSL_FLAG(double, disconnect_rate, 0,
          "fraction of --disconnect_at events where the connection is dropped without a reply");
ABSL_FLAG(std::string, disconnect_at, "dot", "rcpt, data or dot");
ABSL_FLAG(double, silent_after_data_rate, 0, "fraction of messages whose final dot is never answered");
ABSL_FLAG(uint32_t, huge_reply_lines, 0, "make the --huge_reply_at reply this many lines long");
ABSL_FLAG(std::string, huge_reply_at, "ehlo", "ehlo, rcpt or dot");

namespace ringpost::sink {
namespace {

int Fatal(const std::string& message) {
  std::fprintf(stderr, "ringpost-sink: %s\n", message.c_str());
  return 2;
}

bool ValidRate(double rate) { return rate >= 0 && rate <= 1; }

int Main() {
  SinkConfig config;
  config.hostname = absl::GetFlag(FLAGS_hostname);
  config.smtputf8 = absl::GetFlag(FLAGS_smtputf8);
  config.dsn = absl::GetFlag(FLAGS_dsn);
  config.record_dir = absl::GetFlag(FLAGS_record_dir);
  config.seed = absl::GetFlag(FLAGS_seed);
  if (!absl::GetFlag(FLAGS_tls_cert).empty()) {
    auto tls = net::TlsContext::Server(absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key));
    if (!tls.ok()) return Fatal(std::string(tls.status().message()));
    config.tls = *std::move(tls);
  }
  if (const std::string path = absl::GetFlag(FLAGS_auth_users); !path.empty()) {
    auto users = ReadSinkUsers(path);
    if (!users.ok()) return Fatal(std::string(users.status().message()));
    if (config.tls == nullptr)
      return Fatal("--auth_users needs --tls_cert and --tls_key (AUTH only under TLS)");
    config.users = *std::move(users);
  }
  FaultConfig& f = config.faults;
  f.rcpt_tempfail_rate = absl::GetFlag(FLAGS_rcpt_tempfail_rate);
  f.rcpt_permfail_rate = absl::GetFlag(FLAGS_rcpt_permfail_rate);
  f.data_tempfail_rate = absl::GetFlag(FLAGS_data_tempfail_rate);
  f.data_permfail_rate = absl::GetFlag(FLAGS_data_permfail_rate);
  f.tempfail_pattern = absl::GetFlag(FLAGS_tempfail_pattern);
  f.tempfail_reply = absl::GetFlag(FLAGS_tempfail_reply);
  f.tempfail_times = absl::GetFlag(FLAGS_tempfail_times);
  f.data_delay_ms = absl::GetFlag(FLAGS_data_delay_ms);
  f.disconnect_rate = absl::GetFlag(FLAGS_disconnect_rate);
  f.disconnect_at = absl::GetFlag(FLAGS_disconnect_at);
  f.silent_after_data_rate = absl::GetFlag(FLAGS_silent_after_data_rate);
  f.huge_reply_lines = absl::GetFlag(FLAGS_huge_reply_lines);
  f.huge_reply_at = absl::GetFlag(FLAGS_huge_reply_at);
  for (auto [name, rate] : {std::pair<const char*, double>{"rcpt_tempfail_rate", f.rcpt_tempfail_rate},
                            {"rcpt_permfail_rate", f.rcpt_permfail_rate},
                            {"data_tempfail_rate", f.data_tempfail_rate},
                            {"data_permfail_rate", f.data_permfail_rate},
                            {"disconnect_rate", f.disconnect_rate},
                            {"silent_after_data_rate", f.silent_after_data_rate}}) {
    if (!ValidRate(rate)) return Fatal(absl::StrCat("--", name, ": expected a fraction in [0, 1]"));
  }
  const std::string& reply = f.tempfail_reply;
  if (reply.size() < 4 || reply[0] != '4' || reply.find_first_of("\r\n") != std::string::npos) {
    return Fatal("--tempfail_reply: expected one 4xx reply line");
  }
  if (f.disconnect_at != "rcpt" && f.disconnect_at != "data" && f.disconnect_at != "dot") {
    return Fatal("--disconnect_at: expected rcpt, data or dot");
  }
  if (f.huge_reply_at != "ehlo" && f.huge_reply_at != "rcpt" && f.huge_reply_at != "dot") {
    return Fatal("--huge_reply_at: expected ehlo, rcpt or dot");
  }
  if (!config.record_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(config.record_dir, error);
    if (error) return Fatal(absl::StrCat("--record_dir: ", error.message()));
  }
  const int shards = absl::GetFlag(FLAGS_shards);
  if (shards < 1 || shards > 256) return Fatal("--shards: expected 1 to 256");
  auto features = core::ProbeKernel();
  if (!features.ok()) return Fatal(std::string(features.status().message()));
  const uint32_t max_connections = absl::GetFlag(FLAGS_max_connections);
  if (absl::Status s = core::RaiseFileLimit(uint64_t{max_connections} + 64); !s.ok()) {
    return Fatal(std::string(s.message()));
  }
  auto addresses = core::ParseSocketAddressList(absl::GetFlag(FLAGS_listen));
  if (!addresses.ok()) return Fatal(absl::StrCat("--listen: ", addresses.status().message()));
  auto listeners = net::BindListeners(*addresses, shards, 4096);
  if (!listeners.ok()) return Fatal(std::string(listeners.status().message()));
  core::RuntimeOptions options;
  options.shards = shards;
  options.pin_threads = absl::GetFlag(FLAGS_pin_threads);
  options.shutdown_grace_nanos = core::kNanosPerSecond;
  core::Runtime runtime(options);  // signals blocked before we announce readiness
  for (const auto& bound : listeners->bound) std::printf("listening %s\n", bound.ToString().c_str());
  std::fflush(stdout);
  SinkShared shared;
  std::vector<SinkCounters> counters(static_cast<size_t>(shards));
  std::vector<SinkCounters*> counter_pointers;
  for (auto& c : counters) counter_pointers.push_back(&c);
  const bool json = absl::GetFlag(FLAGS_json);
  auto print = [&] {
    const SinkTotals totals = Sum(counter_pointers, shared);
    std::printf("%s\n", (json ? FormatJson(totals) : FormatText(totals)).c_str());
    std::fflush(stdout);
  };
  runtime.SetSignalHandler(SIGUSR1, print);
  net::ConnectionTableOptions table_options;
  table_options.connections_max = (max_connections + shards - 1) / shards;
  absl::Status status = runtime.Run([&](core::Shard& shard) -> absl::Status {
    auto& service = shard.Make<SinkService>(config, counters[shard.id()], shared, shard.id());
    auto& table = shard.Make<net::ConnectionTable>(shard, service, table_options);
    for (auto& per_address : listeners->fds) {
      table.AddListener(per_address[shard.id()]);
      per_address[shard.id()] = -1;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return Fatal(std::string(status.message()));
  print();
  return 0;
}

}  // namespace
}  // namespace ringpost::sink

int main(int argc, char** argv) {
  const ringpost::Program program{"ringpost-sink", "a fast SMTP sink with fault injection",
                                  "usage: ringpost-sink [--flag=value ...]\n", "tools/sink/sink_main.cc"};
  ringpost::ParseProgramCommandLine(argc, argv, program);
  return ringpost::sink::Main();
}
