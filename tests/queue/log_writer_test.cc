// The queue log's write side on a real ring and a real file system: group commit,
// durable-before-acknowledged, and what failures acknowledge (nothing).
#include "queue/log_writer.h"
#include "tests/queue/log_workload.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/runtime.h"
#include "gtest/gtest.h"
#include "queue/log_reader.h"
#include "queue/segment_scan.h"

namespace ringpost::queue {
namespace {

TEST(LogWriterTest, GroupCommitAcknowledgesOnlyWhatIsDurable) {
  Workload w("group");
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

TEST(LogWriterTest, ManyLargeProducersDrain) {
  Workload w("many-large");
  w.producers = 256;
  w.total = 2000;
  w.body_bytes = 100 * 1024;
  RunWorkload(w);
  EXPECT_EQ(w.acknowledged.size() + w.failed.size(), 2000u);
  for (const auto& [id, s] : w.failed) ADD_FAILURE() << id << ": " << s;
}

// Segment files in a folder (reclamation recycles an empty old head's file at once).
int LogFiles(const std::string& dir) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    files += entry.path().extension() == ".log";
  return files;
}

// Messages per segment, from where each acknowledged one was committed.
std::map<uint32_t, int> CountBySegment(Workload& w) {
  auto counts = std::make_shared<std::map<uint32_t, int>>();
  w.on_ack = [counts](LogWriter&, Workload&, const std::string&, const MessageLocation& at) {
    ++(*counts)[at.segment];
  };
  RunWorkload(w);
  return *counts;
}

// 64 producers on a log with two heads.
Workload TwoHeadWorkload(const std::string& name, int total, size_t body_bytes) {
  Workload w(name);
  w.options.heads = 2;
  w.total = total;
  w.body_bytes = body_bytes;
  return w;
}

TEST(LogWriterTest, LargeMessagesAlternateBetweenTwoHeadsWithOneSyncInFlight) {
  // 64 producers of 100 KiB in lockstep: each group writes while the other's sync runs,
  // so both heads (segments 1 and 2) take a good share, and never two syncs at once.
  Workload w = TwoHeadWorkload("two-heads", 640, 100 * 1024);
  const std::map<uint32_t, int> counts = CountBySegment(w);
  EXPECT_EQ(w.acknowledged.size(), 640u);
  ASSERT_EQ(counts.size(), 2u);
  for (const auto& [segment, n] : counts) EXPECT_GT(n, 640 / 5) << "segment " << segment;
  EXPECT_EQ(w.faults.syncs_in_flight_peak, 1);
  const auto found = Recover(w.options.shard_dir);
  for (const auto& [id, body] : w.acknowledged) ASSERT_EQ(found.at(id), body) << id;
}

TEST(LogWriterTest, SmallMessagesGatherInOneHead) {
  // 1 KiB messages take a fraction of a sync to stage: split into two groups, each sync
  // would cover half of them. They stay together in the newest head (segment 2).
  Workload w = TwoHeadWorkload("gather", 2000, 1024);
  const std::map<uint32_t, int> counts = CountBySegment(w);
  EXPECT_EQ(w.acknowledged.size(), 2000u);
  EXPECT_GE(counts.count(2) ? counts.at(2) : 0, 1900)
      << "segment 1 took " << (counts.count(1) ? counts.at(1) : 0);
  EXPECT_LT(w.stats.syncs * 16, w.stats.commits) << "syncs " << w.stats.syncs;
}

TEST(LogWriterTest, ResultsGoToTheNewestHead) {
  // A result record must sit in a segment no older than its message's: reclamation
  // deletes the oldest segments first, and must not delete what finished a newer one.
  // Large messages use both heads (segments 1 and 2); every result goes to segment 2.
  Workload w = TwoHeadWorkload("result-head", 320, 100 * 1024);
  auto in_first = std::make_shared<int>(0);
  w.on_ack = [in_first](LogWriter& writer, Workload&, const std::string& id, const MessageLocation& at) {
    *in_first += at.segment == 1;
    DeliveryResult result;
    result.queue_id = id;
    result.outcome = Outcome::kDelivered;
    result.attempt = 1;
    writer.AppendResult(result, [](const absl::Status& s) { EXPECT_TRUE(s.ok()) << s; });
  };
  RunWorkload(w);
  ASSERT_EQ(w.acknowledged.size(), 320u);
  EXPECT_GT(*in_first, 0);
  std::map<std::string, size_t> results_by_file;
  for (const auto& entry : std::filesystem::directory_iterator(w.options.shard_dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    auto scan = ScanSegment(buffer.str());
    ASSERT_TRUE(scan.ok()) << entry.path();
    results_by_file[entry.path().filename().string()] = scan->results.size();
  }
  EXPECT_EQ(results_by_file["00000001.log"], 0u);
  EXPECT_EQ(results_by_file["00000002.log"], 320u);
}

// 2000 messages of 3000 bytes through 256 KiB segments: many rolls.
Workload RollingWorkload(const std::string& name, uint32_t heads) {
  Workload w(name);
  w.options.heads = heads;
  w.options.segment_bytes_max = 256 * 1024;
  w.total = 2000;
  w.body_bytes = 3000;
  return w;
}

// Everything acknowledged is there byte for byte, and every segment but the heads is
// sealed.
void ExpectAllButTheHeadsSealed(const Workload& w) {
  EXPECT_EQ(w.acknowledged.size(), 2000u);
  int sealed = 0;
  const auto found = Recover(w.options.shard_dir, &sealed);
  EXPECT_EQ(sealed, LogFiles(w.options.shard_dir) - static_cast<int>(w.options.heads));
  for (const auto& [id, body] : w.acknowledged) ASSERT_EQ(found.at(id), body);
}

TEST(LogWriterTest, SegmentsRollAndFinishedOnesAreSealed) {
  Workload w = RollingWorkload("roll", 1);
  RunWorkload(w);
  EXPECT_GT(w.stats.segments_created, 10u);
  ExpectAllButTheHeadsSealed(w);
}

TEST(LogWriterTest, AFailedRollReplacesNoHeadAndLeavesNoFile) {
  // The second file of the first roll cannot be created: the first one goes too, the
  // old heads take the next message, and the next roll replaces both.
  Workload w = RollingWorkload("roll-fails", 2);
  w.faults.fail_create_after = 3;
  RunWorkload(w);
  // The roll's first file was removed: every other segment is still there or was reclaimed.
  EXPECT_EQ(LogFiles(w.options.shard_dir),
            static_cast<int>(w.stats.segments_created - w.stats.segments_deleted));
  ExpectAllButTheHeadsSealed(w);
}

TEST(LogWriterTest, WithoutSyncsOldSegmentsAreStillSealed) {
  // --fsync=false (benchmarks): no sync completion comes to finish a replaced head.
  Workload w = RollingWorkload("roll-nosync", 2);
  w.options.fsync = false;
  RunWorkload(w);
  EXPECT_EQ(w.stats.syncs, 0u);
  ExpectAllButTheHeadsSealed(w);
}

TEST(LogWriterTest, LargeBodiesSpanManyRecords) {
  Workload w("large");
  w.producers = 3;
  w.total = 6;
  w.body_bytes = 3 * 1024 * 1024 + 17;
  RunWorkload(w);
  EXPECT_EQ(w.acknowledged.size(), 6u);
  const auto found = Recover(w.options.shard_dir);
  for (const auto& [id, body] : w.acknowledged) ASSERT_EQ(found.at(id), body);
}

// Runs the workload with `faults` armed, with one head and with two, and checks what
// every failure must mean: the failed messages hear `code` (when given), the rest were
// acknowledged, exactly one segment failed, and everything acknowledged is in the log
// byte for byte.
void ExpectFailureAcknowledgesNothing(const std::string& name, const LogFaults& faults,
                                      std::optional<absl::StatusCode> code) {
  for (uint32_t heads : {1u, 2u}) {
    SCOPED_TRACE(absl::StrCat("heads=", heads));
    Workload w(absl::StrCat(name, "-", heads));
    w.options.heads = heads;
    w.faults = faults;
    RunWorkload(w);
    // With two heads the Nth write can be the older head's header alone: that segment
    // fails with no message in it.
    if (heads == 1) {
      ASSERT_FALSE(w.failed.empty());
    }
    if (code) {
      for (const auto& [id, s] : w.failed) EXPECT_EQ(s.code(), *code) << id;
    }
    EXPECT_EQ(w.acknowledged.size() + w.failed.size(), 4000u);
    EXPECT_EQ(w.stats.failures, 1u);
    EXPECT_GT(w.stats.segments_created, heads);  // later messages went to fresh segments
    const auto found = Recover(w.options.shard_dir);
    for (const auto& [id, body] : w.acknowledged) ASSERT_EQ(found.at(id), body) << id;
  }
}

TEST(LogWriterTest, FullDiskIsResourceExhaustedAndLaterMessagesUseANewSegment) {
  LogFaults faults;
  faults.fail_write_after = 5;
  faults.write_errno = ENOSPC;
  ExpectFailureAcknowledgesNothing("enospc", faults, absl::StatusCode::kResourceExhausted);
}

TEST(LogWriterTest, WriteErrorIsUnavailableAndNothingItCarriedIsAcknowledged) {
  LogFaults faults;
  faults.fail_write_after = 4;
  faults.write_errno = EIO;
  ExpectFailureAcknowledgesNothing("eio-write", faults, absl::StatusCode::kUnavailable);
}

TEST(LogWriterTest, FailedSyncAcknowledgesNothingItCovered) {
  LogFaults faults;
  faults.fail_sync_after = 3;
  ExpectFailureAcknowledgesNothing("eio-sync", faults, absl::StatusCode::kUnavailable);
}

TEST(LogWriterTest, ShortWriteIsAnErrorNotARetry) {
  LogFaults faults;
  faults.short_write_after = 2;
  // A file system that takes part of a write is full (or at a quota): 452 4.3.1.
  ExpectFailureAcknowledgesNothing("short", faults, absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace ringpost::queue

namespace ringpost::queue {
namespace {

TEST(LogWriterTest, FreeSpaceReserveRefusesNewMailButNotResults) {
  Workload w("reserve");
  w.options.free_space_reserve_bytes = uint64_t{1} << 60;  // more than any disk: always "low"
  w.total = 10;
  RunWorkload(w);
  EXPECT_TRUE(w.acknowledged.empty());
  ASSERT_EQ(w.failed.size(), 10u);
  for (const auto& [id, s] : w.failed) EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << id;
  // Delivery results still get written under the reserve.
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  core::Runtime runtime(options);
  absl::Status result_status = absl::UnknownError("not written");
  ASSERT_TRUE(runtime
                  .Run([&](core::Shard& shard) -> absl::Status {
                    auto& writer = shard.Make<LogWriter>(shard, w.options);
                    RP_RETURN_IF_ERROR(writer.Start());
                    writer.AppendResult({"0000000000001", 0, Outcome::kDelivered, 1, 0, 250, "ok"},
                                        [&](const absl::Status& s) {
                                          result_status = s;
                                          shard.runtime().RequestStop();
                                        });
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_TRUE(result_status.ok()) << result_status;
}

// Start() with two heads and two files in the reuse pool; the second file creation
// fails. The first head's file was taken from the pool: it goes back there, not away.
TEST(LogWriterTest, AFailedRollReturnsAReusedFileToThePool) {
  testing::ScratchDir spool("log-writer-roll-pool");
  LogWriterOptions writer_options;
  writer_options.shard_dir = spool / "shard-0";
  writer_options.heads = 2;
  std::filesystem::create_directories(writer_options.shard_dir);
  for (const char* name : {"00000007.free", "00000008.free"}) {
    std::ofstream(writer_options.shard_dir + "/" + name) << std::string(4096, 'x');
  }
  LogFaults faults;
  faults.fail_create_after = 1;
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  core::Runtime runtime(options);
  absl::Status started;
  EXPECT_FALSE(runtime
                   .Run([&](core::Shard& shard) -> absl::Status {
                     started = shard.Make<LogWriter>(shard, writer_options).Start(&faults);
                     return started;
                   })
                   .ok());
  EXPECT_TRUE(absl::IsResourceExhausted(started)) << started;
  int free_files = 0, log_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(writer_options.shard_dir)) {
    const std::string name = entry.path().filename().string();
    free_files += name.ends_with(".free");
    log_files += name.ends_with(".log");
  }
  EXPECT_EQ(free_files, 2);
  EXPECT_EQ(log_files, 0);
}

// staged_bytes() is what the SMTP sessions watch to pause DATA while the disk is behind.
TEST(LogWriterTest, StagedBytesCountWhatIsNotWrittenYet) {
  testing::ScratchDir spool("log-writer-staged");
  LogWriterOptions writer_options;
  writer_options.shard_dir = spool / "shard-0";
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  core::Runtime runtime(options);
  uint64_t staged_after_append = 0, staged_when_durable = 1;
  ASSERT_TRUE(runtime
                  .Run([&](core::Shard& shard) -> absl::Status {
                    auto& writer = shard.Make<LogWriter>(shard, writer_options);
                    RP_RETURN_IF_ERROR(writer.Start());
                    RP_ASSIGN_OR_RETURN(const uint64_t message, writer.BeginMessage());
                    RP_RETURN_IF_ERROR(writer.AppendBody(message, std::string(1 << 20, 'b')));
                    staged_after_append = writer.staged_bytes();
                    Envelope envelope;
                    envelope.queue_id = "0000000000001";
                    envelope.recipients.push_back({"r@example.org", ""});
                    writer.Commit(message, envelope, [&](const absl::Status& status) {
                      EXPECT_TRUE(status.ok()) << status;
                      staged_when_durable = writer.staged_bytes();
                      shard.runtime().RequestStop();
                    });
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_GE(staged_after_append, uint64_t{1} << 20);
  EXPECT_EQ(staged_when_durable, 0u);
}

// Header fields made once the body is known (a DKIM-Signature) are written last but
// read first: the commit lists their extent before the body's, and both the segment
// scan (recovery) and the reader (delivery, which checks every record's CRC) agree.
TEST(LogWriterTest, PrependedBytesAreReadBeforeTheBody) {
  testing::ScratchDir spool("log-writer-prepend");
  LogWriterOptions writer_options;
  writer_options.shard_dir = spool / "shard-0";
  writer_options.body_chunk_bytes_max = 4096;  // the body in several records
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  core::Runtime runtime(options);
  const std::string body = "Received: x\r\n\r\n" + std::string(10000, 'b');
  const std::string prefix = "DKIM-Signature: v=1\r\n";
  Envelope committed;
  ASSERT_TRUE(runtime
                  .Run([&](core::Shard& shard) -> absl::Status {
                    auto& writer = shard.Make<LogWriter>(shard, writer_options);
                    RP_RETURN_IF_ERROR(writer.Start());
                    RP_ASSIGN_OR_RETURN(const uint64_t message, writer.BeginMessage());
                    RP_RETURN_IF_ERROR(writer.AppendBody(message, body));
                    RP_RETURN_IF_ERROR(writer.PrependBody(message, prefix));
                    committed.queue_id = "0000000000001";
                    committed.recipients.push_back({"r@example.org", ""});
                    writer.Commit(message, &committed,
                                  [&](const absl::Status& status, const MessageLocation&) {
                                    EXPECT_TRUE(status.ok()) << status;
                                    shard.runtime().RequestStop();
                                  });
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_EQ(committed.body.size(), 4u);
  EXPECT_GT(committed.body[0].offset, committed.body[3].offset);
  EXPECT_EQ(Recover(writer_options.shard_dir).at("0000000000001"), prefix + body);
  int read_back = 0;  // the one segment that holds it (another head may exist)
  for (const auto& entry : std::filesystem::directory_iterator(writer_options.shard_dir)) {
    absl::StatusOr<std::string> read = ReadBody(entry.path().string(), committed);
    if (read.ok() && *read == prefix + body) ++read_back;
  }
  EXPECT_EQ(read_back, 1);
}

// The newest writes stay in memory (RecentWrites): a body whose records are all there is
// copied from them, the same bytes a reader gets from the segment in the same order:
// prepended fields first, a body of several records whole, one whose records went out in
// different writes, and one after more writes than the window keeps (its buffers reused).
TEST(LogWriterTest, RecentWritesGiveTheBodyAsTheFileDoes) {
  testing::ScratchDir spool("log-writer-recent");
  LogWriterOptions writer_options;
  writer_options.shard_dir = spool / "shard-0";
  writer_options.body_chunk_bytes_max = 4096;  // the large body in several records
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  core::Runtime runtime(options);
  const std::string head = "Received: x\r\n", rest = "Subject: s\r\n\r\nbody\r\n";
  const std::string prefix = "DKIM-Signature: v=1\r\n";
  const std::string large(10000, 'L');
  constexpr int kChain = static_cast<int>(RecentWrites::kWritesMax) + 8;
  std::map<std::string, std::string> expected;               // by queue id
  std::map<std::string, Envelope> committed;                 // by queue id
  std::map<std::string, std::optional<std::string>> copied;  // what CopyBody gave when durable
  uint64_t spread = 0;
  // Outlive the setup function: the log's callbacks call them later.
  std::function<void(uint64_t, const std::string&, std::function<void()>)> commit;
  std::function<void(int)> chain;
  ASSERT_TRUE(
      runtime
          .Run([&](core::Shard& shard_ref) -> absl::Status {
            core::Shard* shard_ptr = &shard_ref;
            LogWriter* writer_ptr = &shard_ref.Make<LogWriter>(shard_ref, writer_options);
            RP_RETURN_IF_ERROR(writer_ptr->Start());
            commit = [&, writer_ptr](uint64_t message, const std::string& id, std::function<void()> then) {
              LogWriter& writer = *writer_ptr;
              committed[id].queue_id = id;
              committed[id].recipients.push_back({"r@example.org", ""});
              writer.Commit(message, &committed[id],
                            [&, id, then](const absl::Status& status, const MessageLocation& at) {
                              EXPECT_TRUE(status.ok()) << status;
                              std::string body = "old bytes";
                              const BodyLocation location = BodyOf(committed[id]);
                              if (writer.recent_writes().CopyBody(at.segment, location, &body)) {
                                copied[id] = body;
                              } else {
                                EXPECT_EQ(body, "");
                              }
                              then();
                            });
            };
            // One message per write, each begun once the one before is durable.
            chain = [&, writer_ptr, shard_ptr](int n) {
              LogWriter& writer = *writer_ptr;
              if (n == kChain) return shard_ptr->runtime().RequestStop();
              const std::string id = absl::StrCat("1", std::string(11 - std::to_string(n).size(), '0'), n);
              absl::StatusOr<uint64_t> message = writer.BeginMessage();
              ASSERT_TRUE(message.ok());
              expected[id] = absl::StrCat(rest, n);
              ASSERT_TRUE(writer.AppendBody(*message, expected[id]).ok());
              commit(*message, id, [&, n] { chain(n + 1); });
            };
            LogWriter& writer = *writer_ptr;
            RP_ASSIGN_OR_RETURN(spread, writer.BeginMessage());
            RP_RETURN_IF_ERROR(writer.AppendBody(spread, head));  // goes out in this turn's write
            RP_ASSIGN_OR_RETURN(const uint64_t small, writer.BeginMessage());
            const absl::string_view pieces[] = {head, rest};
            RP_RETURN_IF_ERROR(writer.AppendBodyParts(small, pieces));
            RP_RETURN_IF_ERROR(writer.PrependBody(small, prefix));
            expected["0000000000001"] = prefix + head + rest;
            commit(small, "0000000000001", [&, writer_ptr] {
              // Later writes: the rest of the spread body, and a large one.
              EXPECT_TRUE(writer_ptr->AppendBody(spread, large).ok());
              expected["0000000000002"] = head + large;
              commit(spread, "0000000000002", [&] { chain(0); });
            });
            return absl::OkStatus();
          })
          .ok());
  ASSERT_EQ(expected.size(), static_cast<size_t>(kChain) + 2);
  EXPECT_EQ(committed["0000000000002"].body.size(), 4u);
  for (const auto& [id, body] : expected) {
    ASSERT_TRUE(copied[id].has_value()) << id;
    EXPECT_EQ(*copied[id], body) << id;
    // What delivery would otherwise read from the segment.
    int read_back = 0;
    for (const auto& entry : std::filesystem::directory_iterator(writer_options.shard_dir)) {
      absl::StatusOr<std::string> read = ReadBody(entry.path().string(), committed[id]);
      if (read.ok() && *read == body) ++read_back;
    }
    EXPECT_EQ(read_back, 1) << id;
  }
}

}  // namespace
}  // namespace ringpost::queue
