// Reclamation: a steady flow of delivered mail keeps the spool bounded,
// and messages that stay deferred are compacted forward so old segments go, surviving
// a restart with their delivery state.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/runtime.h"
#include "core/sharded.h"
#include "gtest/gtest.h"
#include "queue/log_compaction.h"
#include "queue/log_reader.h"
#include "queue/log_writer.h"
#include "queue/queue_id.h"
#include "queue/recovery.h"
#include "queue/schedule/delivery_job.h"
#include "queue/spool.h"
#include "tests/queue/log_workload.h"

namespace ringpost::queue {
namespace {

namespace fs = std::filesystem;

core::RuntimeOptions OneShard() {
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  return options;
}

LogWriter& StartWriter(core::Shard& shard, const std::string& dir) {
  LogWriterOptions options;
  options.shard_dir = dir;
  options.segment_bytes_max = 64 * 1024;
  auto& writer = shard.Make<LogWriter>(shard, options);
  const absl::Status started = writer.Start();
  EXPECT_TRUE(started.ok()) << started;
  return writer;
}

size_t SegmentFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) n += entry.path().extension() == ".log" ? 1 : 0;
  return n;
}

// Commits `total` messages (16 in flight); `on_durable` decides each one's fate.
void Produce(core::Shard& shard, LogWriter& writer, int total, size_t bytes,
             std::function<void(const std::string& id, const MessageLocation&)> on_durable) {
  auto started = std::make_shared<int>(0);
  auto* next = &shard.Make<std::function<void()>>();  // owned by the shard: no self-reference
  *next = [&writer, total, bytes, on_durable, started, next] {
    if (*started == total) return;
    const std::string id = absl::StrCat("M", (*started)++);
    absl::StatusOr<uint64_t> message = writer.BeginMessage();
    ASSERT_TRUE(message.ok());
    ASSERT_TRUE(writer.AppendBody(*message, BodyFor(0, std::stoi(id.substr(1)), bytes)).ok());
    Envelope envelope;
    envelope.queue_id = id;
    envelope.recipients.push_back({"rcpt@example.net", ""});
    writer.Commit(*message, envelope,
                  [id, on_durable, next](const absl::Status& s, const MessageLocation& at) {
                    ASSERT_TRUE(s.ok()) << s;
                    on_durable(id, at);
                    (*next)();
                  });
  };
  for (int i = 0; i < 16; ++i) (*next)();
}

TEST(ReclamationTest, SteadyDeliveredFlowKeepsTheSpoolBounded) {
  testing::ScratchDir spool("log-writer-steady");
  const std::string dir = spool / "shard-0";
  core::Runtime runtime(OneShard());
  LogWriter::Stats stats;
  size_t files_max = 0;
  ASSERT_TRUE(runtime
                  .Run([&](core::Shard& shard) -> absl::Status {
                    auto& writer = StartWriter(shard, dir);
                    auto delivered = std::make_shared<int>(0);
                    Produce(shard, writer, 5000, 2000,
                            [&, delivered](const std::string& id, const MessageLocation& at) {
                              // Delivery: the result record first, then the "done" notice home.
                              writer.AppendResult({id, 0, Outcome::kDelivered, 1, 0, 250, "ok"},
                                                  [&, at, delivered](const absl::Status& s) {
                                                    ASSERT_TRUE(s.ok());
                                                    writer.MessageFinished(at.segment);
                                                    files_max = std::max(files_max, writer.segment_files());
                                                    if (++*delivered == 5000) {
                                                      stats = writer.stats();
                                                      shard.runtime().RequestStop();
                                                    }
                                                  });
                            });
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_GT(stats.segments_created, 100u);
  EXPECT_GE(stats.segments_deleted, stats.segments_created - 3);
  EXPECT_LE(SegmentFiles(dir), 3u);
  std::printf("steady flow: %llu segments created, %llu deleted, at most %zu on disk at once\n",
              (unsigned long long)stats.segments_created, (unsigned long long)stats.segments_deleted,
              files_max);
  // What is left is finished: a restart finds nothing live.
  auto recovered = RecoverSpool(spool.path());
  ASSERT_TRUE(recovered.ok());
  EXPECT_TRUE(recovered->live.empty());
}

TEST(ReclamationTest, AStandingOrderOutlivesEverySegmentItWasWrittenIn) {
  testing::ScratchDir spool("log-writer-orders");
  const std::string dir = spool / "shard-0";
  core::Runtime runtime(OneShard());
  const ControlRecord order{ControlRecord::Kind::kSuspend, "slow.example", 1, 4'000'000'000'000'000, "421s"};
  LogWriter::Stats stats;
  bool durable_before_stop = false;
  ASSERT_TRUE(runtime
                  .Run([&](core::Shard& shard) -> absl::Status {
                    auto& writer = StartWriter(shard, dir);
                    writer.set_standing_orders([order] { return std::vector<ControlRecord>{order}; });
                    writer.AppendControl(order, [](const absl::Status& s) { ASSERT_TRUE(s.ok()); });
                    auto delivered = std::make_shared<int>(0);
                    Produce(shard, writer, 2000, 2000,
                            [&, delivered](const std::string& id, const MessageLocation& at) {
                              writer.AppendResult({id, 0, Outcome::kDelivered, 1, 0, 250, "ok"},
                                                  [&, at, delivered](const absl::Status& s) {
                                                    ASSERT_TRUE(s.ok());
                                                    writer.MessageFinished(at.segment);
                                                    if (++*delivered < 2000) return;
                                                    stats = writer.stats();
                                                    writer.WhenDurable([&](const absl::Status& done) {
                                                      durable_before_stop = done.ok();
                                                      shard.runtime().RequestStop();
                                                    });
                                                  });
                            });
                    return absl::OkStatus();
                  })
                  .ok());
  // The segment the order was first written in went long ago; a copy in each new one kept it.
  EXPECT_GT(stats.segments_deleted, 20u);
  EXPECT_TRUE(durable_before_stop);
  auto recovered = RecoverSpool(spool.path());
  ASSERT_TRUE(recovered.ok());
  ASSERT_EQ(recovered->controls.size(), 1u);
  EXPECT_EQ(recovered->controls[0].domain, "slow.example");
  EXPECT_EQ(recovered->controls[0].reason, "421s");
  EXPECT_EQ(recovered->controls[0].until_unix_micros, order.until_unix_micros);
}

TEST(ReclamationTest, DeferredMessagesAreCompactedForwardAndSurviveRestart) {
  testing::ScratchDir scratch("log-writer-compact");
  const std::string spool = scratch.path();
  const std::string dir = scratch / "shard-0";
  std::map<std::string, MessageLocation> deferred;
  LogWriter::Stats stats;
  size_t copies = 0;  // relocations that became durable
  {
    core::Runtime runtime(OneShard());
    ASSERT_TRUE(runtime
                    .Run([&](core::Shard& shard) -> absl::Status {
                      auto& writer = StartWriter(shard, dir);
                      auto settled = std::make_shared<int>(0);
                      auto compact = [&, settled] {
                        if (++*settled < 1000) return;
                        // Everything settled: move the deferred ones forward.
                        auto relocated = std::make_shared<size_t>(0);
                        const auto old = deferred;
                        for (const auto& [id, at] : old) {
                          Recipient state{"rcpt@example.net", "", false, 2, 1'900'000'000'000'000};
                          RelocateMessage(writer, at.segment, at.commit_offset, {state},
                                          [&, id = id, relocated, total = old.size()](
                                              const absl::Status& s, const MessageLocation& now) {
                                            ASSERT_TRUE(s.ok()) << s;
                                            deferred[id] = now;
                                            ++copies;
                                            if (++*relocated == total) {
                                              stats = writer.stats();
                                              shard.runtime().RequestStop();
                                            }
                                          });
                        }
                      };
                      Produce(shard, writer, 1000, 1500,
                              [&, compact](const std::string& id, const MessageLocation& at) {
                                const int n = std::stoi(id.substr(1));
                                if (n % 100 == 7) {  // ten messages stay deferred (attempt 2)
                                  deferred[id] = at;
                                  writer.AppendResult(
                                      {id, 0, Outcome::kDeferred, 2, 1'900'000'000'000'000, 451, "later"},
                                      [compact](const absl::Status&) { compact(); });
                                  return;
                                }
                                writer.AppendResult({id, 0, Outcome::kDelivered, 1, 0, 250, "ok"},
                                                    [&, at, compact](const absl::Status&) {
                                                      writer.MessageFinished(at.segment);
                                                      compact();
                                                    });
                              });
                      return absl::OkStatus();
                    })
                    .ok());
  }
  EXPECT_EQ(copies, 10u);
  // The old segments went: only the head (holding the copies) and a few near it remain.
  EXPECT_LE(SegmentFiles(dir), 3u) << "created " << stats.segments_created;
  auto recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  ASSERT_EQ(recovered->live.size(), 10u);
  for (const RecoveredMessage& m : recovered->live) {
    ASSERT_TRUE(deferred.count(m.queue_id)) << m.queue_id;
    EXPECT_EQ(m.recipients[0].attempts, 2u);
    EXPECT_EQ(m.recipients[0].next_attempt_unix_micros, 1'900'000'000'000'000u);
  }
  for (const auto& [id, body] : LiveBodies(*recovered)) {
    EXPECT_EQ(body, BodyFor(0, std::stoi(id.substr(1)), 1500)) << id;
  }
}

// The delivering shard's compaction (net/delivery_agent): a deferred share of a message
// becomes a new message; "relocated" results finish it in the old one, so a restart
// finds only the copy, with its recipients' retry state.
TEST(ReclamationTest, ACopiedShareSupersedesItsRecipientsInTheOriginal) {
  testing::ScratchDir scratch("log-writer-copy");
  const std::string spool = scratch.path();
  const std::string dir = scratch / "shard-0";
  {
    core::Runtime runtime(OneShard());
    ASSERT_TRUE(
        runtime
            .Run([&](core::Shard& shard) -> absl::Status {
              auto& writer = StartWriter(shard, dir);
              absl::StatusOr<uint64_t> message = writer.BeginMessage();
              EXPECT_TRUE(message.ok());
              EXPECT_TRUE(writer.AppendBody(*message, BodyFor(0, 7, 3000)).ok());
              Envelope envelope;
              envelope.queue_id = "M7";
              envelope.recipients.push_back({"done@example.net", ""});
              envelope.recipients.push_back({"later@example.org", "NOTIFY=NEVER"});
              writer.Commit(*message, envelope, [&](const absl::Status& s, const MessageLocation& at) {
                ASSERT_TRUE(s.ok()) << s;
                writer.AppendResult({"M7", 0, Outcome::kDelivered, 1, 0, 250, "ok"},
                                    [](const absl::Status&) {});
                CopyMessage(writer, writer.SegmentPath(at.segment), at.commit_offset, "N1",
                            {{1, 3, 1'900'000'000'000'000}},
                            [&, at](const absl::Status& copied, const Envelope& copy, const MessageLocation&) {
                              ASSERT_TRUE(copied.ok()) << copied;
                              EXPECT_EQ(copy.queue_id, "N1");
                              ASSERT_EQ(copy.recipients.size(), 1u);
                              EXPECT_EQ(copy.recipients[0].address, "later@example.org");
                              EXPECT_EQ(copy.recipients[0].attempts, 3u);
                              writer.AppendResult({"M7", 1, Outcome::kRelocated, 3, 0, 0, "relocated to N1"},
                                                  [&, at](const absl::Status& moved) {
                                                    ASSERT_TRUE(moved.ok());
                                                    writer.MessageFinished(at.segment);
                                                    shard.runtime().RequestStop();
                                                  });
                            });
              });
              return absl::OkStatus();
            })
            .ok());
  }
  auto recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  ASSERT_EQ(recovered->live.size(), 1u);
  const RecoveredMessage& copy = recovered->live[0];
  EXPECT_EQ(copy.queue_id, "N1");
  ASSERT_EQ(copy.recipients.size(), 1u);
  EXPECT_EQ(copy.recipients[0].attempts, 3u);
  EXPECT_EQ(copy.recipients[0].next_attempt_unix_micros, 1'900'000'000'000'000u);
  const auto bodies = LiveBodies(*recovered);
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(bodies.begin()->second, BodyFor(0, 7, 3000));
  auto envelope = ReadEnvelope(recovered->segments[copy.segment].path, copy.commit_offset);
  ASSERT_TRUE(envelope.ok());
  ASSERT_EQ(envelope->recipients.size(), 1u);
  EXPECT_EQ(envelope->recipients[0].address, "later@example.org");
  EXPECT_EQ(envelope->recipients[0].params, "NOTIFY=NEVER");  // the parameters travel too
}

// Runs `*work` on shard `target`: a test's step on another shard (`work` outlives the
// runtime).
bool PostWork(core::Shard& from, int target, std::function<void(core::Shard&)>* work) {
  core::Envelope call;
  call.function = [](core::Shard& shard, const core::Envelope& e) {
    (*static_cast<std::function<void(core::Shard&)>*>(e.pointer))(shard);
  };
  call.pointer = work;
  return from.Post(target, call);
}

// A message for two domains: its recipients are delivered by different shards.
Envelope TwoRecipients(const std::string& id) {
  Envelope envelope;
  envelope.queue_id = id;
  envelope.recipients.push_back({"first@one.example", ""});
  envelope.recipients.push_back({"second@two.example", ""});
  return envelope;
}

// A message's results are written by the shard that delivers its domain, which need not
// be the shard whose log holds the message. Each log deletes its own segments once they
// hold nothing live, so a result kept in the delivering shard's log would go with that
// log's traffic while its message lived on: after a restart the recipient would be sent
// to again. Spool::WriteResults writes them in the message's own log instead.
TEST(ReclamationTest, AResultWrittenForAnotherShardsMessageOutlivesTheWritersReclamation) {
  testing::ScratchDir spool("log-writer-results-home");
  core::RuntimeOptions options = OneShard();
  options.shards = 2;
  core::Sharded<Spool> spools(2);  // outlives the runtime, whose shards unregister from it
  core::Runtime runtime(options);
  std::string id;  // committed on shard 0, two recipients
  // Runs on shard 1, as its delivery would: the first recipient's result, then a flood
  // of shard 1's own mail, delivered and finished, until its early segments are gone.
  std::function<void(core::Shard&)> deliver_on_1 = [&](core::Shard& shard) {
    Spool& writer_spool = *spools.Local(shard);
    writer_spool.WriteResults(
        /*home_shard=*/0, {{id, 0, Outcome::kDelivered, 1, 0, 250, "ok"}}, [&](const absl::Status& written) {
          ASSERT_TRUE(written.ok()) << written;
          LogWriter& writer = writer_spool.log();
          auto delivered = std::make_shared<int>(0);
          Produce(shard, writer, 2000, 2000,
                  [&, delivered](const std::string& own, const MessageLocation& at) {
                    writer.AppendResult({own, 0, Outcome::kDelivered, 1, 0, 250, "ok"},
                                        [&, at, delivered](const absl::Status& s) {
                                          ASSERT_TRUE(s.ok());
                                          writer.MessageFinished(at.segment);
                                          if (++*delivered < 2000) return;
                                          EXPECT_GT(writer.stats().segments_deleted, 20u);
                                          shard.runtime().RequestStop();
                                        });
                  });
        });
  };
  ASSERT_TRUE(runtime
                  .Run([&](core::Shard& shard) -> absl::Status {
                    auto& writer = StartWriter(shard, spool / absl::StrCat("shard-", shard.id()));
                    auto& ids = shard.Make<QueueIdGenerator>(static_cast<uint32_t>(shard.id()));
                    auto& home = shard.Make<Spool>(shard, writer, ids, spools);
                    if (shard.id() != 0) return absl::OkStatus();
                    absl::StatusOr<uint64_t> message = home.BeginMessage();
                    EXPECT_TRUE(message.ok());
                    EXPECT_TRUE(home.AppendBody(*message, BodyFor(0, 1, 3000)).ok());
                    id = home.NextQueueId(absl::Now());
                    Envelope envelope = TwoRecipients(id);
                    home.Commit(*message, envelope, [&](const absl::Status& committed) {
                      ASSERT_TRUE(committed.ok()) << committed;
                      ASSERT_TRUE(PostWork(shard, 1, &deliver_on_1));
                    });
                    return absl::OkStatus();
                  })
                  .ok());
  auto recovered = RecoverSpool(spool.path());
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  ASSERT_EQ(recovered->live.size(), 1u);
  const RecoveredMessage& m = recovered->live[0];
  EXPECT_EQ(m.queue_id, id);
  ASSERT_EQ(m.recipients.size(), 2u);
  EXPECT_TRUE(m.recipients[0].final);  // delivered: not sent again
  EXPECT_EQ(m.recipients[0].last_outcome, Outcome::kDelivered);
  EXPECT_FALSE(m.recipients[1].final);
}

// Takes each job a spool hands it, to finish later.
class KeptJobs : public JobSink {
 public:
  void AcceptJob(std::unique_ptr<DeliveryJob> job) override { jobs.push_back(std::move(job)); }
  std::vector<std::unique_ptr<DeliveryJob>> jobs;
};

// The second run below, on shard 1: a flow of its own mail, delivered and finished;
// then M's last recipient delivered; then more of the flow.
struct FloodAroundTheFinish {
  core::Shard* shard = nullptr;
  LogWriter* writer = nullptr;
  Spool* spool = nullptr;
  KeptJobs* jobs = nullptr;
  std::string held_path;
  bool kept_while_live = false, gone_after = false;

  void Flood(std::function<void()> then) {
    auto left = std::make_shared<int>(600);
    LogWriter* log = writer;
    Produce(*shard, *log, 600, 2000, [log, left, then](const std::string& own, const MessageLocation& at) {
      log->AppendResult({own, 0, Outcome::kDelivered, 1, 0, 250, "ok"},
                        [log, at, left, then](const absl::Status& s) {
                          ASSERT_TRUE(s.ok()) << s;
                          log->MessageFinished(at.segment);
                          if (--*left == 0) then();
                        });
    });
  }
  void Start() {
    Flood([this] {
      kept_while_live = fs::exists(held_path) && writer->stats().segments_deleted == 0;
      ASSERT_EQ(jobs->jobs.size(), 1u);
      spool->JobFinished(jobs->jobs[0]->message);
      Flood([this] {
        gone_after = !fs::exists(held_path);
        shard->runtime().RequestStop();
      });
    });
  }
};

// A spool from a run that kept results in the delivering shard's log: after a restart,
// the live message's result in another shard's segment keeps that segment (counted live
// at adoption) until the message is finished, then lets it go.
TEST(ReclamationTest, AnEarlierRunsResultInAnotherShardsLogStaysUntilItsMessageIsFinished) {
  testing::ScratchDir spool("log-writer-results-pinned");
  core::RuntimeOptions options = OneShard();
  options.shards = 2;
  auto dir = [&](int shard) { return spool / absl::StrCat("shard-", shard); };
  // The first run: shard 0 commits M; shard 1 writes its first recipient's result in
  // its own log, as delivery once did.
  LogWriter* writers[2] = {nullptr, nullptr};
  std::function<void(core::Shard&)> result_on_1 = [&](core::Shard& shard) {
    writers[1]->AppendResult({"M", 0, Outcome::kDelivered, 1, 0, 250, "ok"}, [&shard](const absl::Status& s) {
      ASSERT_TRUE(s.ok()) << s;
      shard.runtime().RequestStop();
    });
  };
  {
    core::Runtime runtime(options);
    ASSERT_TRUE(runtime
                    .Run([&](core::Shard& shard) -> absl::Status {
                      LogWriter& writer = StartWriter(shard, dir(shard.id()));
                      writers[shard.id()] = &writer;
                      if (shard.id() != 0) return absl::OkStatus();
                      absl::StatusOr<uint64_t> message = writer.BeginMessage();
                      EXPECT_TRUE(message.ok());
                      EXPECT_TRUE(writer.AppendBody(*message, BodyFor(0, 1, 3000)).ok());
                      Envelope envelope = TwoRecipients("M");
                      writer.Commit(*message, envelope, [&](const absl::Status& s, const MessageLocation&) {
                        ASSERT_TRUE(s.ok()) << s;
                        ASSERT_TRUE(PostWork(shard, 1, &result_on_1));
                      });
                      return absl::OkStatus();
                    })
                    .ok());
  }
  auto recovered = RecoverSpool(spool.path());
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  ASSERT_EQ(recovered->live.size(), 1u);
  const RecoveredMessage& m = recovered->live[0];
  EXPECT_TRUE(m.recipients[0].final);
  ASSERT_EQ(m.result_segments.size(), 1u);
  const RecoveredSegment& held = recovered->segments[m.result_segments[0]];
  EXPECT_EQ(held.shard, 1u);
  EXPECT_EQ(held.live, 1u);  // no message of its own, but M's result

  // The second run: shard 1 delivers M's second recipient (to a domain it owns).
  std::string domain = "two.example";
  for (int i = 0; DomainShard(domain, 2) != 1; ++i) domain = absl::StrCat("d", i, ".example");
  FloodAroundTheFinish second;
  second.held_path = held.path;
  core::Sharded<Spool> spools(2);  // outlives the runtime, whose shards unregister from it
  core::Runtime runtime(options);
  ASSERT_TRUE(runtime
                  .Run([&](core::Shard& shard) -> absl::Status {
                    LogWriter& writer = StartWriter(shard, dir(shard.id()));
                    for (const RecoveredSegment& segment : recovered->segments) {
                      if (static_cast<int>(segment.shard) == shard.id()) {
                        writer.AdoptRecovered(segment.number, segment.path, segment.live);
                      }
                    }
                    auto& ids = shard.Make<QueueIdGenerator>(static_cast<uint32_t>(shard.id()));
                    auto& home = shard.Make<Spool>(shard, writer, ids, spools);
                    auto& jobs = shard.Make<KeptJobs>();
                    home.set_delivery(&jobs);
                    if (shard.id() == 1) {
                      second = {&shard, &writer, &home, &jobs, second.held_path};
                      shard.AddTurnHook([&second, &jobs, started = false]() mutable {
                        if (started || jobs.jobs.empty()) return;
                        started = true;
                        second.Start();
                      });
                      return absl::OkStatus();
                    }
                    const RecoveredSegment& segment = recovered->segments[m.segment];
                    absl::StatusOr<Envelope> envelope = ReadEnvelope(segment.path, m.commit_offset);
                    EXPECT_TRUE(envelope.ok());
                    envelope->recipients[0].final = true;
                    envelope->recipients[1].address = "second@" + domain;
                    home.ScheduleRecovered(*envelope, segment.number, segment.path, m.commit_offset, true,
                                           {{static_cast<int>(held.shard), held.number}});
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_TRUE(second.kept_while_live);
  EXPECT_TRUE(second.gone_after);
}
}  // namespace
}  // namespace ringpost::queue
