// Recovery time for a full queue: writes --messages messages of --bytes each through
// the LogWriter (syncing only at the end, to fill the spool quickly), evicts the files
// from the page cache (fdatasync + POSIX_FADV_DONTNEED: clean pages go, no root
// needed), then times RecoverSpool from a cold cache. Target: 1,000,000 1 KiB
// messages in under 5 seconds.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "core/runtime.h"
#include "queue/log_writer.h"
#include "queue/queue_id.h"
#include "queue/recovery.h"

ABSL_FLAG(std::string, spool_dir, "./var/bench/recovery", "spool to fill (emptied first)");
ABSL_FLAG(int, messages, 1000000, "messages to write");
ABSL_FLAG(int, bytes, 1024, "body bytes per message");

namespace ringpost {
namespace {

int Main() {
  const std::string spool = absl::GetFlag(FLAGS_spool_dir);
  const int total = absl::GetFlag(FLAGS_messages);
  const std::string body(static_cast<size_t>(absl::GetFlag(FLAGS_bytes)), 'm');
  std::filesystem::remove_all(spool);
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  core::Runtime runtime(options);
  const auto write_start = std::chrono::steady_clock::now();
  absl::Status status = runtime.Run([&](core::Shard& shard) -> absl::Status {
    queue::LogWriterOptions writer_options;
    writer_options.shard_dir = spool + "/shard-0";
    writer_options.fsync = false;  // filling only; the files are synced before eviction
    auto& writer = shard.Make<queue::LogWriter>(shard, writer_options);
    RP_RETURN_IF_ERROR(writer.Start());
    auto& ids = shard.Make<queue::QueueIdGenerator>(0u);
    auto started = std::make_shared<int>(0);
    auto done = std::make_shared<int>(0);
    auto* next = &shard.Make<std::function<void()>>();  // owned by the shard: no self-reference
    *next = [&, started, done, next] {
      if (*started == total) return;
      ++*started;
      absl::StatusOr<uint64_t> begun = writer.BeginMessage();
      if (!begun.ok()) return;  // the free-space reserve is not set here
      const uint64_t message = *begun;
      (void)writer.AppendBody(message, body);
      queue::Envelope envelope;
      envelope.queue_id = ids.Next(static_cast<uint64_t>(time(nullptr)));
      envelope.mail_from = "sender@example.org";
      envelope.recipients.push_back({"rcpt@example.net", ""});
      writer.Commit(message, envelope, [&, done, next](const absl::Status&) {
        if (++*done == total) return shard.runtime().RequestStop();
        (*next)();
      });
    };
    for (int i = 0; i < 256; ++i) (*next)();
    return absl::OkStatus();
  });
  if (!status.ok()) {
    std::fprintf(stderr, "write failed: %s\n", status.ToString().c_str());
    return 1;
  }
  const double write_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();
  uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(spool)) {
    if (!entry.is_regular_file()) continue;
    const int fd = open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    bytes += entry.file_size();
  }
  const auto start = std::chrono::steady_clock::now();
  auto recovered = queue::RecoverSpool(spool);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!recovered.ok()) {
    std::fprintf(stderr, "recovery failed: %s\n", recovered.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "wrote %d messages (%.0f MiB in %llu segments) in %.2f s; cold-cache recovery of %zu live "
      "messages took %.2f s (%.0f messages/s, %.0f MiB/s)\n",
      total, bytes / 1048576.0, (unsigned long long)recovered->report.segments, write_seconds,
      recovered->live.size(), seconds, recovered->live.size() / seconds, bytes / 1048576.0 / seconds);
  const auto warm_start = std::chrono::steady_clock::now();
  auto warm = queue::RecoverSpool(spool);
  std::printf("warm-cache recovery (CPU-bound part): %.2f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - warm_start).count());
  std::filesystem::remove_all(spool);
  return recovered->live.size() == static_cast<size_t>(total) ? 0 : 1;
}

}  // namespace
}  // namespace ringpost

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return ringpost::Main();
}
