// ringpost-blast: an io_uring SMTP load generator on the ringpost runtime.
// Sends --messages (or runs for --duration) over --connections, pipelined by default,
// and prints a live progress line on a terminal and a summary at the end: messages/s,
// latency percentiles from the final dot to its reply, and final replies by code.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/duration_flag.h"
#include "core/kernel_probe.h"
#include "core/resource_limits.h"
#include "core/runtime.h"
#include "tools/blast/blast_shard.h"
#include "tools/command_line.h"

ABSL_FLAG(std::string, target, "127.0.0.1:2525", "server ADDR:PORT");
ABSL_FLAG(int, connections, 16, "concurrent connections");
ABSL_FLAG(int64_t, messages, 0, "messages to send in all (0: until --duration)");
ABSL_FLAG(ringpost::core::FlagDuration, duration, ringpost::core::FlagDuration{},
          "how long to send (e.g. 10s)");
ABSL_FLAG(std::string, size, "1k", "message size: 1k, 1k-100k (uniform) or 2k:60,20k:30,200k:10 (weighted)");
ABSL_FLAG(int, rcpts, 1, "recipients per message");
ABSL_FLAG(int, domains, 1, "spread recipients over this many domains (dK.blast.test)");
ABSL_FLAG(std::string, domain_prefix, "d", "recipient domains are PREFIXK.blast.test (one load for the queue, another to relay)");
ABSL_FLAG(double, zipf, 0, "skew the domain spread (Zipf exponent, e.g. 1.1; 0: uniform)");
ABSL_FLAG(bool, pipelining, true, "pipeline MAIL/RCPT/DATA when the server offers PIPELINING");
ABSL_FLAG(double, rate, 0, "cap on messages started per second, evenly spaced (0: none)");
ABSL_FLAG(int, messages_per_connection, 0, "reconnect after this many messages (0: never)");
ABSL_FLAG(ringpost::core::FlagDuration, reply_timeout, ringpost::core::FlagDuration{absl::Seconds(30)},
          "give up on a reply after this long (the message counts as failed)");
ABSL_FLAG(int, shards, 1, "shard threads");
ABSL_FLAG(bool, pin_threads, false, "pin shard threads to CPUs");
ABSL_FLAG(std::string, helo, "blast.ringpost.invalid", "EHLO name");
ABSL_FLAG(std::string, from, "blast@ringpost-blast.invalid", "envelope sender");
ABSL_FLAG(std::string, message_ids_out, "", "write the Message-ID of every accepted message here");
ABSL_FLAG(bool, json, false, "print the summary as JSON");
ABSL_FLAG(bool, progress, true, "live progress line when stderr is a terminal");
ABSL_FLAG(uint64_t, seed, 1, "seed for sizes and recipients");
ABSL_FLAG(bool, starttls, false,
          "STARTTLS when the server offers it (no certificate check; sessions resumed)");
ABSL_FLAG(bool, tls_resume, true,
          "with --starttls: offer the shard's last session for resumption (false: full handshakes)");

namespace ringpost::blast {
namespace {

int Fatal(const std::string& message) {
  std::fprintf(stderr, "ringpost-blast: %s\n", message.c_str());
  return 2;
}

struct Totals {
  uint64_t started = 0, accepted = 0, refused = 0, failed = 0, timeouts = 0, connect_failures = 0,
           sessions_failed = 0, connections = 0, bytes = 0, tls_handshakes = 0, tls_resumed = 0;
  std::vector<std::pair<int, uint64_t>> codes;
};

Totals Sum(const std::vector<std::unique_ptr<BlastCounters>>& counters) {
  Totals t;
  std::vector<uint64_t> codes(600, 0);
  for (const auto& c : counters) {
    auto get = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
    t.started += get(c->started);
    t.accepted += get(c->accepted);
    t.refused += get(c->refused);
    t.failed += get(c->failed);
    t.timeouts += get(c->timeouts);
    t.connect_failures += get(c->connect_failures);
    t.sessions_failed += get(c->sessions_failed);
    t.connections += get(c->connections_opened);
    t.bytes += get(c->bytes_sent);
    t.tls_handshakes += get(c->tls_handshakes);
    t.tls_resumed += get(c->tls_resumed);
    for (int code = 0; code < 600; ++code) codes[code] += get(c->final_codes[code]);
  }
  for (int code = 0; code < 600; ++code) {
    if (codes[code] > 0) t.codes.emplace_back(code, codes[code]);
  }
  return t;
}

std::vector<const LatencyHistogram*> Histograms(const std::vector<std::unique_ptr<BlastCounters>>& counters) {
  std::vector<const LatencyHistogram*> h;
  for (const auto& c : counters) h.push_back(&c->latency);
  return h;
}

std::string Summary(const Totals& t, double seconds, const std::vector<const LatencyHistogram*>& h,
                    bool json) {
  const double rate = seconds > 0 ? static_cast<double>(t.accepted) / seconds : 0;
  const uint64_t p50 = Percentile(h, 50), p90 = Percentile(h, 90), p99 = Percentile(h, 99),
                 p999 = Percentile(h, 99.9);
  std::string codes;
  for (const auto& [code, count] : t.codes) {
    absl::StrAppend(&codes, codes.empty() ? "" : (json ? "," : " "), json ? "\"" : "", code,
                    json ? "\":" : "=", count);
  }
  if (json) {
    return absl::StrFormat(
        "{\"messages\":%d,\"accepted\":%d,\"refused\":%d,\"failed\":%d,\"timeouts\":%d,"
        "\"connect_failures\":%d,\"sessions_failed\":%d,\"connections\":%d,\"tls_handshakes\":%d,"
        "\"tls_resumed\":%d,\"bytes_sent\":%d,\"seconds\":%.3f,"
        "\"messages_per_second\":%.1f,\"latency_us\":{\"p50\":%d,\"p90\":%d,\"p99\":%d,\"p999\":%d},"
        "\"codes\":{%s}}",
        t.started, t.accepted, t.refused, t.failed, t.timeouts, t.connect_failures, t.sessions_failed,
        t.connections, t.tls_handshakes, t.tls_resumed, t.bytes, seconds, rate, p50, p90, p99, p999, codes);
  }
  return absl::StrFormat(
      "messages=%d accepted=%d refused=%d failed=%d timeouts=%d connect_failures=%d sessions_failed=%d "
      "connections=%d tls_handshakes=%d tls_resumed=%d "
      "bytes_sent=%d seconds=%.3f messages_per_second=%.1f latency_us p50=%d p90=%d p99=%d p999=%d codes %s",
      t.started, t.accepted, t.refused, t.failed, t.timeouts, t.connect_failures, t.sessions_failed,
      t.connections, t.tls_handshakes, t.tls_resumed, t.bytes, seconds, rate, p50, p90, p99, p999,
      codes.empty() ? "none" : codes);
}

int Main() {
  BlastConfig config;
  auto target = core::ParseSocketAddress(absl::GetFlag(FLAGS_target));
  if (!target.ok()) return Fatal(absl::StrCat("--target: ", target.status().message()));
  config.target = *target;
  config.connections = absl::GetFlag(FLAGS_connections);
  config.messages = absl::GetFlag(FLAGS_messages);
  config.duration_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_duration).value);
  auto size = SizeSpec::Parse(absl::GetFlag(FLAGS_size));
  if (!size.ok()) return Fatal(absl::StrCat("--size: ", size.status().message()));
  config.size = *size;
  config.rcpts = absl::GetFlag(FLAGS_rcpts);
  config.domains = absl::GetFlag(FLAGS_domains);
  config.domain_prefix = absl::GetFlag(FLAGS_domain_prefix);
  config.zipf = absl::GetFlag(FLAGS_zipf);
  config.pipelining = absl::GetFlag(FLAGS_pipelining);
  config.rate = absl::GetFlag(FLAGS_rate);
  config.messages_per_connection = absl::GetFlag(FLAGS_messages_per_connection);
  config.reply_timeout_nanos = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_reply_timeout).value);
  config.helo = absl::GetFlag(FLAGS_helo);
  if (absl::GetFlag(FLAGS_starttls)) {
    auto tls = net::TlsContext::Client("");
    if (!tls.ok()) return Fatal(std::string(tls.status().message()));
    config.tls = *std::move(tls);
    config.tls_resume = absl::GetFlag(FLAGS_tls_resume);
  }
  config.from = absl::GetFlag(FLAGS_from);
  config.keep_message_ids = !absl::GetFlag(FLAGS_message_ids_out).empty();
  config.seed = absl::GetFlag(FLAGS_seed);
  const int shards = absl::GetFlag(FLAGS_shards);
  if (config.connections < 1 || config.connections > 100000)
    return Fatal("--connections: expected 1 to 100000");
  if (config.messages < 0) return Fatal("--messages: must not be negative");
  if (config.messages == 0 && config.duration_nanos == 0) return Fatal("--messages or --duration is needed");
  if (config.rcpts < 1 || config.rcpts > 1000) return Fatal("--rcpts: expected 1 to 1000");
  if (config.domains < 1 || config.domains > 1000000) return Fatal("--domains: expected 1 to 1000000");
  if (config.domain_prefix.empty() || config.domain_prefix.size() > 32 ||
      !std::all_of(config.domain_prefix.begin(), config.domain_prefix.end(),
                   [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-'; })) {
    return Fatal("--domain_prefix: 1 to 32 letters, digits or hyphens");
  }
  if (config.zipf < 0) return Fatal("--zipf: must not be negative");
  if (shards < 1 || shards > 256) return Fatal("--shards: expected 1 to 256");
  if (config.reply_timeout_nanos <= 0) return Fatal("--reply_timeout: must be positive");
  auto features = core::ProbeKernel();
  if (!features.ok()) return Fatal(std::string(features.status().message()));
  if (absl::Status s = core::RaiseFileLimit(static_cast<uint64_t>(config.connections) + 64); !s.ok()) {
    return Fatal(std::string(s.message()));
  }

  BlastShared shared;
  shared.messages_left = config.messages;
  const auto start = std::chrono::steady_clock::now();
  const core::MonoNanos start_nanos = core::MonotonicNowNanos();
  if (config.duration_nanos > 0) shared.deadline = start_nanos + config.duration_nanos;
  std::vector<std::unique_ptr<BlastCounters>> counters;
  for (int i = 0; i < shards; ++i) counters.push_back(std::make_unique<BlastCounters>());
  std::vector<BlastShard*> blasts(static_cast<size_t>(shards), nullptr);
  const std::string run_id = absl::StrCat(absl::Hex(static_cast<uint64_t>(start_nanos)), "-", getpid());

  core::RuntimeOptions options;
  options.shards = shards;
  options.pin_threads = absl::GetFlag(FLAGS_pin_threads);
  options.shutdown_grace_nanos = core::kNanosPerSecond;
  options.shard.recv_buffer_count = 256;
  options.shard.recv_buffer_bytes = 4096;  // replies are small
  core::Runtime runtime(options);

  // The live progress line (terminal only): once a second, from this thread.
  std::mutex mutex;
  std::condition_variable finished_cv;
  bool finished = false;
  std::thread progress;
  if (absl::GetFlag(FLAGS_progress) && isatty(STDERR_FILENO)) {
    progress = std::thread([&] {
      uint64_t last_accepted = 0;
      std::unique_lock<std::mutex> lock(mutex);
      while (!finished_cv.wait_for(lock, std::chrono::seconds(1), [&] { return finished; })) {
        const Totals t = Sum(counters);
        const auto h = Histograms(counters);
        std::fprintf(stderr, "\r%8llu accepted  %8llu msg/s  errors %llu  p50 %llu us  p99 %llu us   ",
                     (unsigned long long)t.accepted, (unsigned long long)(t.accepted - last_accepted),
                     (unsigned long long)(t.refused + t.failed), (unsigned long long)Percentile(h, 50),
                     (unsigned long long)Percentile(h, 99));
        last_accepted = t.accepted;
      }
      std::fprintf(stderr, "\n");
    });
  }

  net::ConnectionTableOptions table_options;
  table_options.connections_max = static_cast<uint32_t>(config.connections / shards + 1);
  absl::Status status = runtime.Run([&](core::Shard& shard) -> absl::Status {
    const int share = config.connections / shards + (shard.id() < config.connections % shards ? 1 : 0);
    auto& blast = shard.Make<BlastShard>(shard, config, shared, *counters[shard.id()], share, run_id);
    auto& table = shard.Make<net::ConnectionTable>(shard, blast, table_options);
    blasts[shard.id()] = &blast;
    blast.Start(&table);
    return absl::OkStatus();
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  {
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
  }
  finished_cv.notify_all();
  if (progress.joinable()) progress.join();
  if (!status.ok()) return Fatal(std::string(status.message()));
  const std::string ids_path = absl::GetFlag(FLAGS_message_ids_out);
  if (!ids_path.empty()) {
    std::ofstream out(ids_path);
    for (BlastShard* blast : blasts) {
      for (const std::string& id : blast->accepted_message_ids()) out << id << "\n";
    }
  }
  std::printf("%s\n",
              Summary(Sum(counters), seconds, Histograms(counters), absl::GetFlag(FLAGS_json)).c_str());
  return 0;
}

}  // namespace
}  // namespace ringpost::blast

int main(int argc, char** argv) {
  const ringpost::Program program{"ringpost-blast", "an SMTP load generator",
                                  "usage: ringpost-blast [--flag=value ...]\n", "tools/blast/blast_main.cc"};
  ringpost::ParseProgramCommandLine(argc, argv, program);
  return ringpost::blast::Main();
}
