// ringpost-echo-server: the echo service on the real runtime, for the runtime's
// integration tests and the echo benchmark. Prints "listening ADDR" once bound, and
// per-shard counters at exit ("shard K accepted=... enobufs=..."), after SIGTERM.
#include <cstdio>
#include <mutex>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/kernel_probe.h"
#include "core/log.h"
#include "core/resource_limits.h"
#include "core/runtime.h"
#include "net/transport/listener.h"
#include "tests/net/echo_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "ADDR:PORT to listen on (port 0: pick one)");
ABSL_FLAG(int, shards, 2, "shard threads");
ABSL_FLAG(bool, pin_threads, false, "pin shard threads to CPUs");
ABSL_FLAG(uint32_t, buffer_count, 1024, "receive buffers per shard (power of two)");
ABSL_FLAG(uint32_t, buffer_bytes, 16384, "bytes per receive buffer");
ABSL_FLAG(uint32_t, loans_per_connection, 32, "receive buffers one connection may hold");
ABSL_FLAG(uint32_t, connections_per_shard, 4096, "connection slots per shard");

namespace ringpost {
namespace {

struct ShardReport {
  net::ConnectionTable* table = nullptr;
};

void PrintStats(const std::vector<ShardReport>& reports) {
  for (size_t i = 0; i < reports.size(); ++i) {
    if (reports[i].table == nullptr) continue;
    const net::ConnectionStats& s = reports[i].table->stats();
    std::printf(
        "shard %zu accepted=%llu closed=%llu live_peak=%u enobufs=%llu cap_pauses=%llu bytes_in=%llu "
        "bytes_out=%llu\n",
        i, (unsigned long long)s.accepted_total, (unsigned long long)s.closed_total, s.live_peak,
        (unsigned long long)s.enobufs_total, (unsigned long long)s.loan_cap_pauses_total,
        (unsigned long long)s.bytes_received_total, (unsigned long long)s.bytes_sent_total);
  }
  std::fflush(stdout);
}

int Main() {
  absl::StatusOr<core::KernelFeatures> features = core::ProbeKernel();
  if (!features.ok()) {
    std::fprintf(stderr, "echo-server: %s\n", features.status().ToString().c_str());
    return 2;
  }
  const int shards = absl::GetFlag(FLAGS_shards);
  if (absl::Status s =
          core::RaiseFileLimit(uint64_t{absl::GetFlag(FLAGS_connections_per_shard)} * shards + 64);
      !s.ok()) {
    std::fprintf(stderr, "echo-server: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  auto addresses = core::ParseSocketAddressList(absl::GetFlag(FLAGS_listen));
  if (!addresses.ok()) {
    std::fprintf(stderr, "echo-server: --listen: %s\n", addresses.status().message().data());
    return 2;
  }
  auto listeners = net::BindListeners(*addresses, shards, 4096);
  if (!listeners.ok()) {
    std::fprintf(stderr, "echo-server: %s\n", listeners.status().ToString().c_str());
    return 2;
  }
  core::RuntimeOptions options;
  options.shards = shards;
  options.pin_threads = absl::GetFlag(FLAGS_pin_threads);
  options.shutdown_grace_nanos = 2 * core::kNanosPerSecond;
  options.shard.recv_buffer_count = absl::GetFlag(FLAGS_buffer_count);
  options.shard.recv_buffer_bytes = absl::GetFlag(FLAGS_buffer_bytes);
  core::Runtime runtime(options);  // signals blocked before we announce readiness
  for (const auto& bound : listeners->bound) std::printf("listening %s\n", bound.ToString().c_str());
  std::fflush(stdout);
  std::vector<ShardReport> reports(shards);
  net::ConnectionTableOptions table_options;
  table_options.connections_max = absl::GetFlag(FLAGS_connections_per_shard);
  table_options.loans_per_connection_max = absl::GetFlag(FLAGS_loans_per_connection);
  absl::Status status = runtime.Run([&](core::Shard& shard) -> absl::Status {
    auto& service = shard.Make<testing::EchoService>();
    auto& table = shard.Make<net::ConnectionTable>(shard, service, table_options);
    reports[shard.id()].table = &table;
    for (auto& per_address : listeners->fds) {
      table.AddListener(per_address[shard.id()]);
      per_address[shard.id()] = -1;  // the table owns it now
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    std::fprintf(stderr, "echo-server: %s\n", status.ToString().c_str());
    return 1;
  }
  PrintStats(reports);
  std::printf("exited cleanly\n");
  return 0;
}

}  // namespace
}  // namespace ringpost

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return ringpost::Main();
}
