// ringpost-log-writer: the queue log under a steady write load, for the kill test.
// Recovers the spool first (as the daemon will), then keeps --producers messages in
// flight per shard and prints "ACK <queue id> <body bytes>" for each message only after
// the log reported it durable. A message's body is derived from its id
// (ExpectedBody), so a checker can verify every byte after recovery.
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <random>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "core/runtime.h"
#include "queue/log_writer.h"
#include "queue/queue_id.h"
#include "queue/recovery.h"
#include "tests/queue/expected_body.h"

ABSL_FLAG(std::string, spool_dir, "", "spool directory");
ABSL_FLAG(int, shards, 2, "shards");
ABSL_FLAG(int, producers, 16, "messages in flight per shard");
ABSL_FLAG(uint64_t, seed, 1, "body size seed");
ABSL_FLAG(uint64_t, segment_bytes, 1 << 20, "segment size");
ABSL_FLAG(uint32_t, heads, 1, "head segments per shard (LogWriterOptions::heads)");

namespace ringpost::queue {
namespace {

struct ShardWork {
  QueueIdGenerator ids;
  std::mt19937_64 rng;
  explicit ShardWork(int shard, uint64_t seed) : ids(static_cast<uint32_t>(shard)), rng(seed * 31 + shard) {}
};

void StartMessage(core::Shard& shard, LogWriter& writer, ShardWork& work) {
  const std::string id = work.ids.Next(static_cast<uint64_t>(time(nullptr)));
  const size_t bytes = 1 + work.rng() % 20000;
  const std::string body = testing::ExpectedBody(id, bytes);
  absl::StatusOr<uint64_t> begun = writer.BeginMessage();
  if (!begun.ok()) return;  // the free-space reserve is not set here
  const uint64_t message = *begun;
  // Several appends, as a session receives a body in pieces.
  for (size_t at = 0; at < body.size(); at += 4000) {
    if (!writer.AppendBody(message, absl::string_view(body).substr(at, 4000)).ok()) {
      writer.Abort(message);
      return;
    }
  }
  Envelope envelope;
  envelope.queue_id = id;
  envelope.mail_from = "writer@example.org";
  envelope.recipients.push_back({"rcpt@example.net", ""});
  writer.Commit(message, envelope, [&shard, &writer, &work, id, bytes](const absl::Status& status) {
    if (status.ok()) {
      // One write(2) per line: the line is either whole in the pipe or absent.
      const std::string line = absl::StrCat("ACK ", id, " ", bytes, "\n");
      ssize_t ignored = write(STDOUT_FILENO, line.data(), line.size());
      (void)ignored;
    }
    StartMessage(shard, writer, work);
  });
}

int Main() {
  const std::string spool = absl::GetFlag(FLAGS_spool_dir);
  absl::StatusOr<RecoveredQueue> recovered = RecoverSpool(spool);
  if (!recovered.ok()) {
    std::fprintf(stderr, "recovery failed: %s\n", recovered.status().ToString().c_str());
    return 1;
  }
  core::RuntimeOptions options;
  options.shards = absl::GetFlag(FLAGS_shards);
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  core::Runtime runtime(options);
  std::printf("READY recovered=%zu\n", recovered->live.size());
  std::fflush(stdout);
  absl::Status status = runtime.Run([&](core::Shard& shard) -> absl::Status {
    LogWriterOptions writer_options;
    writer_options.shard_dir = absl::StrCat(spool, "/shard-", shard.id());
    writer_options.shard = static_cast<uint32_t>(shard.id());
    writer_options.segment_bytes_max = absl::GetFlag(FLAGS_segment_bytes);
    writer_options.heads = absl::GetFlag(FLAGS_heads);
    auto& writer = shard.Make<LogWriter>(shard, writer_options);
    RP_RETURN_IF_ERROR(writer.Start());
    auto& work = shard.Make<ShardWork>(shard.id(), absl::GetFlag(FLAGS_seed));
    for (const std::string& id : recovered->queue_ids) work.ids.Observe(id);
    for (int i = 0; i < absl::GetFlag(FLAGS_producers); ++i) StartMessage(shard, writer, work);
    return absl::OkStatus();
  });
  return status.ok() ? 0 : 1;
}

}  // namespace
}  // namespace ringpost::queue

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return ringpost::queue::Main();
}
