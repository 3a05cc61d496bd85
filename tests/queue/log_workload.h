// A steady write load on one shard's LogWriter, on a real ring and file system, and a
// way to read back what a folder of segments holds. Shared by the log writer and
// power-loss tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/runtime.h"
#include "gtest/gtest.h"
#include "queue/log_reader.h"
#include "queue/log_writer.h"
#include "queue/recovery.h"
#include "queue/segment_scan.h"
#include "tests/support/scratch_dir.h"

namespace ringpost::queue {

inline std::string MessageName(int producer, int sequence) {
  return absl::StrCat("P", producer, "-", sequence);
}

inline std::string BodyFor(int producer, int sequence, size_t bytes) {
  std::string body = absl::StrCat("Message-ID: <", producer, ".", sequence, "@test>\r\n\r\n");
  while (body.size() < bytes) body += absl::StrCat("line ", body.size(), " of ", producer, "\r\n");
  body.resize(bytes);
  return body;
}

// Everything committed and found again: queue id -> body.
inline std::map<std::string, std::string> Recover(const std::string& dir, int* sealed_segments = nullptr) {
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
  // Runs in a spool of its own (`options.shard_dir` is its shard-0), removed with the
  // workload; `name` names the folder.
  explicit Workload(const std::string& name)
      : spool(std::make_unique<testing::ScratchDir>("log-writer-" + name)) {
    options.shard_dir = *spool / "shard-0";
  }

  std::unique_ptr<testing::ScratchDir> spool;
  int producers = 64;
  int total = 4000;
  size_t body_bytes = 1024;
  LogWriterOptions options;
  LogFaults faults;
  // Results, filled on the shard.
  std::map<std::string, std::string> acknowledged;
  std::map<std::string, absl::Status> failed;
  LogWriter::Stats stats;
  // Called on the shard after each acknowledgement (the power-loss test cuts here).
  std::function<void(LogWriter&, Workload&, const std::string& id, const MessageLocation& at)> on_ack;
};

inline void RunWorkload(Workload& w) {
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
    // Owned by the shard (not by itself): a self-capturing shared_ptr would leak.
    auto* start_one = &shard.Make<std::function<void(int)>>();
    *start_one = [&w, &writer, &shard, started, finished, start_one](int producer) {
      if (*started == w.total) return;
      const int sequence = (*started)++;
      const std::string id = MessageName(producer, sequence);
      const std::string body = BodyFor(producer, sequence, w.body_bytes);
      auto done = [&w, &shard, &writer, id, body, producer, finished, start_one](const absl::Status& s,
                                                                                 const MessageLocation& at) {
        if (s.ok()) {
          w.acknowledged[id] = body;
          if (w.on_ack) w.on_ack(writer, w, id, at);
        } else {
          w.failed[id] = s;
        }
        if (++*finished == w.total) {
          w.stats = writer.stats();
          shard.runtime().RequestStop();
          return;
        }
        (*start_one)(producer);
      };
      absl::StatusOr<uint64_t> begun = writer.BeginMessage();
      if (!begun.ok()) return done(begun.status(), MessageLocation{});
      const uint64_t message = *begun;
      absl::Status appended = writer.AppendBody(message, body);
      if (!appended.ok()) {
        writer.Abort(message);
        return done(appended, MessageLocation{});
      }
      Envelope envelope;
      envelope.queue_id = id;
      envelope.mail_from = "sender@example.org";
      envelope.recipients.push_back({"rcpt@example.net", ""});
      writer.Commit(message, envelope, CommitCallback(done));
    };
    for (int p = 0; p < w.producers; ++p) (*start_one)(p);
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
}

// Every live message's body, read back through the reader API (which checks CRCs).
inline std::map<std::string, std::string> LiveBodies(const RecoveredQueue& recovered) {
  std::map<std::string, std::string> bodies;
  for (const RecoveredMessage& m : recovered.live) {
    const std::string& path = recovered.segments[m.segment].path;
    absl::StatusOr<Envelope> envelope = ReadEnvelope(path, m.commit_offset);
    EXPECT_TRUE(envelope.ok()) << envelope.status();
    if (!envelope.ok()) continue;
    EXPECT_EQ(envelope->queue_id, m.queue_id);
    absl::StatusOr<std::string> body = ReadBody(path, *envelope);
    EXPECT_TRUE(body.ok()) << body.status();
    if (body.ok()) bodies[m.queue_id] = *body;
  }
  return bodies;
}

}  // namespace ringpost::queue
