// The queue log's write side on a real ring and a real file system: group commit,
// durable-before-acknowledged, and what failures acknowledge (nothing).
#include "queue/log_writer.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/runtime.h"
#include "gtest/gtest.h"
#include "queue/segment_scan.h"

namespace ringpost::queue {
namespace {

std::string TempShardDir(const std::string& name) {
  const std::string dir =
      std::string(::testing::TempDir()) + "/log-writer-" + name + "-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  return dir + "/shard-0";
}

std::string BodyFor(int producer, int sequence, size_t bytes) {
  std::string body = absl::StrCat("Message-ID: <", producer, ".", sequence, "@test>\r\n\r\n");
  while (body.size() < bytes) body += absl::StrCat("line ", body.size(), " of ", producer, "\r\n");
  body.resize(bytes);
  return body;
}

// Everything committed and found again: queue id -> body.
std::map<std::string, std::string> Recover(const std::string& dir, int* sealed_segments = nullptr) {
  std::map<std::string, std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string bytes = buffer.str();
    auto scan = ScanSegment(bytes);
    EXPECT_TRUE(scan.ok()) << entry.path() << ": " << scan.status();
    if (!scan.ok()) continue;
    if (sealed_segments != nullptr && scan->sealed) ++*sealed_segments;
    for (const auto& m : scan->messages) {
      std::string body;
      for (const auto& x : m.envelope.body) body += bytes.substr(x.offset, x.bytes);
      found[m.envelope.queue_id] = body;
    }
  }
  return found;
}

// `producers` concurrent writers on one shard, each committing messages back to back
// until `total` are durable (or failed).
struct Workload {
  int producers = 64;
  int total = 4000;
  size_t body_bytes = 1024;
  LogWriterOptions options;
  LogFaults faults;
  // Results, filled on the shard.
  std::map<std::string, std::string> acknowledged;
  std::map<std::string, absl::Status> failed;
  LogWriter::Stats stats;
};

void RunWorkload(Workload& w) {
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  options.shard.ring.cq_entries = 1024;
  core::Runtime runtime(options);
  absl::Status status = runtime.Run([&w](core::Shard& shard) -> absl::Status {
    auto& writer = shard.Make<LogWriter>(shard, w.options);
    if (absl::Status s = writer.Start(&w.faults); !s.ok()) return s;
    struct Producer {
      int id;
      int sequence = 0;
    };
    auto started = std::make_shared<int>(0);
    auto finished = std::make_shared<int>(0);
    auto start_one = std::make_shared<std::function<void(int)>>();
    *start_one = [&w, &writer, &shard, started, finished, start_one](int producer) {
      if (*started == w.total) return;
      const int sequence = (*started)++;
      const std::string id = absl::StrCat("P", producer, "-", sequence);
      const std::string body = BodyFor(producer, sequence, w.body_bytes);
      const uint64_t message = writer.BeginMessage();
      absl::Status appended = writer.AppendBody(message, body);
      auto done = [&w, &shard, &writer, id, body, producer, finished, start_one](const absl::Status& s) {
        if (s.ok()) w.acknowledged[id] = body;
        else w.failed[id] = s;
        if (++*finished == w.total) {
          w.stats = writer.stats();
          shard.runtime().RequestStop();
          return;
        }
        (*start_one)(producer);
      };
      if (!appended.ok()) {
        writer.Abort(message);
        return done(appended);
      }
      Envelope envelope;
      envelope.queue_id = id;
      envelope.mail_from = "sender@example.org";
      envelope.recipients.push_back({"rcpt@example.net", ""});
      writer.Commit(message, envelope, done);
    };
    for (int p = 0; p < w.producers; ++p) (*start_one)(p);
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
}

TEST(LogWriterTest, GroupCommitAcknowledgesOnlyWhatIsDurable) {
  Workload w;
  w.options.shard_dir = TempShardDir("group");
  RunWorkload(w);
  EXPECT_EQ(w.acknowledged.size(), 4000u);
  EXPECT_TRUE(w.failed.empty());
  // 64 producers share each fdatasync.
  EXPECT_LT(w.stats.syncs * 4, w.stats.commits) << "syncs " << w.stats.syncs;
  std::printf("4000 commits, %llu writes, %llu syncs\n", (unsigned long long)w.stats.writes,
              (unsigned long long)w.stats.syncs);
  const auto found = Recover(w.options.shard_dir);
  for (const auto& [id, body] : w.acknowledged) {
    auto it = found.find(id);
    ASSERT_NE(it, found.end()) << id;
    ASSERT_EQ(it->second, body) << id;
  }
}

TEST(LogWriterTest, SegmentsRollAndFinishedOnesAreSealed) {
  Workload w;
  w.options.shard_dir = TempShardDir("roll");
  w.options.segment_bytes_max = 256 * 1024;
  w.total = 2000;
  w.body_bytes = 3000;
  RunWorkload(w);
  EXPECT_EQ(w.acknowledged.size(), 2000u);
  EXPECT_GT(w.stats.segments_created, 10u);
  int sealed = 0;
  const auto found = Recover(w.options.shard_dir, &sealed);
  EXPECT_GE(sealed, static_cast<int>(w.stats.segments_created) - 2);  // all but the last one or two
  for (const auto& [id, body] : w.acknowledged) ASSERT_EQ(found.at(id), body);
}

TEST(LogWriterTest, LargeBodiesSpanManyRecords) {
  Workload w;
  w.options.shard_dir = TempShardDir("large");
  w.producers = 3;
  w.total = 6;
  w.body_bytes = 3 * 1024 * 1024 + 17;
  RunWorkload(w);
  EXPECT_EQ(w.acknowledged.size(), 6u);
  const auto found = Recover(w.options.shard_dir);
  for (const auto& [id, body] : w.acknowledged) ASSERT_EQ(found.at(id), body);
}

TEST(LogWriterTest, FullDiskIsResourceExhaustedAndLaterMessagesUseANewSegment) {
  Workload w;
  w.options.shard_dir = TempShardDir("enospc");
  w.faults.fail_write_after = 5;
  w.faults.write_errno = ENOSPC;
  RunWorkload(w);
  ASSERT_FALSE(w.failed.empty());
  for (const auto& [id, s] : w.failed) EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << id;
  EXPECT_EQ(w.acknowledged.size() + w.failed.size(), 4000u);
  EXPECT_GT(w.stats.segments_created, 1u);
  EXPECT_EQ(w.stats.failures, 1u);
  const auto found = Recover(w.options.shard_dir);
  for (const auto& [id, body] : w.acknowledged) ASSERT_EQ(found.at(id), body) << id;
}

TEST(LogWriterTest, FailedSyncAcknowledgesNothingItCovered) {
  Workload w;
  w.options.shard_dir = TempShardDir("eio");
  w.faults.fail_sync_after = 3;
  RunWorkload(w);
  ASSERT_FALSE(w.failed.empty());
  for (const auto& [id, s] : w.failed) EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << id;
  EXPECT_EQ(w.acknowledged.size() + w.failed.size(), 4000u);
  const auto found = Recover(w.options.shard_dir);
  for (const auto& [id, body] : w.acknowledged) ASSERT_EQ(found.at(id), body) << id;
}

TEST(LogWriterTest, ShortWriteIsAnErrorNotARetry) {
  Workload w;
  w.options.shard_dir = TempShardDir("short");
  w.faults.short_write_after = 2;
  RunWorkload(w);
  ASSERT_FALSE(w.failed.empty());
  EXPECT_EQ(w.stats.failures, 1u);
  const auto found = Recover(w.options.shard_dir);
  for (const auto& [id, body] : w.acknowledged) ASSERT_EQ(found.at(id), body) << id;
}

}  // namespace
}  // namespace ringpost::queue
