// A simulated power cut. SIGKILL keeps the page cache, so only a test that drops what
// no completed fdatasync covers can catch a missing or misplaced sync. At a random
// acknowledgement we image the log as a power loss could leave it: sealed segments
// whole, and each active segment's bytes past its last completed sync either gone,
// replaced by garbage, or replaced by stale (valid-looking, other-generation) records
// from older segments. Recovery of the image must hold every message acknowledged by
// then, byte for byte, and nothing that was not committed whole.
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "gtest/gtest.h"
#include "queue/recovery.h"
#include "tests/queue/log_workload.h"

namespace ringpost::queue {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes the post-power-loss image of `shard_dir` into `image_shard_dir`. What survives
// of each file is what a completed fdatasync covered, taken from the operations
// themselves (LogFaults' shadow), not from the writer's own idea of it.
void CutPower(const LogFaults& faults, const std::string& shard_dir, const std::string& image_shard_dir,
              std::mt19937& rng, int* mode_used) {
  fs::create_directories(image_shard_dir);
  std::map<std::string, uint64_t> synced;
  for (const auto& [path, shadow] : faults.shadow) synced[path] = shadow.durable;
  std::vector<std::string> older;  // images of finished segments, the source of stale bytes
  for (const auto& entry : fs::directory_iterator(shard_dir)) {
    older.push_back(ReadAll(entry.path()));
  }
  const int mode = static_cast<int>(rng() % 3);
  *mode_used = mode;
  for (const auto& entry : fs::directory_iterator(shard_dir)) {
    std::string bytes = ReadAll(entry.path());
    auto it = synced.find(entry.path().string());
    if (it != synced.end() && it->second < bytes.size()) {
      const size_t tail = bytes.size() - it->second;
      bytes.resize(it->second);
      if (mode == 1) {
        for (size_t i = 0; i < tail; ++i) bytes.push_back(static_cast<char>(rng()));
      } else if (mode == 2 && !older.empty()) {
        // Stale blocks: the same offsets of an older segment's records.
        const std::string& stale = older[rng() % older.size()];
        for (size_t i = 0; i < tail; ++i) {
          const size_t at = bytes.size();
          bytes.push_back(at < stale.size() ? stale[at] : '\0');
        }
      }
    }
    std::ofstream(fs::path(image_shard_dir) / entry.path().filename(), std::ios::binary) << bytes;
  }
}

TEST(PowerLossTest, AcknowledgedMessagesSurviveAndNothingHalfWrittenAppears) {
  std::mt19937 rng(4242);
  int trials = 0, checked = 0;
  int modes[3] = {0, 0, 0};
  for (int trial = 0; trial < 12; ++trial) {
    Workload w("power");
    const std::string base = w.spool->path();
    w.options.shard_dir = base + "/live/shard-0";
    w.options.segment_bytes_max = 64 * 1024;
    w.total = 1500;
    w.body_bytes = 700 + trial * 37;
    if (trial % 2 == 1) {
      // Two heads, with bodies large enough that the producers split between them.
      w.options.heads = 2;
      w.options.segment_bytes_max = 1 << 20;
      w.body_bytes = 20 * 1024 + trial * 37;
    }
    const size_t cut_at = 50 + rng() % 1300;
    std::map<std::string, std::string> acknowledged_at_cut;
    bool cut = false;
    w.on_ack = [&](LogWriter&, Workload& work, const std::string&, const MessageLocation&) {
      if (cut || work.acknowledged.size() < cut_at) return;
      cut = true;
      acknowledged_at_cut = work.acknowledged;
      int mode = 0;
      CutPower(work.faults, work.options.shard_dir, base + "/image/shard-0", rng, &mode);
      ++modes[mode];
    };
    RunWorkload(w);
    ASSERT_TRUE(cut);
    auto recovered = RecoverSpool(base + "/image");
    ASSERT_TRUE(recovered.ok()) << recovered.status();
    EXPECT_EQ(recovered->report.quarantined, 0u) << "trial " << trial;
    std::map<std::string, std::string> found = LiveBodies(*recovered);
    for (const auto& [id, body] : acknowledged_at_cut) {
      auto it = found.find(id);
      ASSERT_NE(it, found.end()) << "trial " << trial << ": acknowledged " << id << " lost";
      ASSERT_EQ(it->second, body) << id;
      ++checked;
    }
    // Whatever else came back was committed whole (written, just not yet acknowledged).
    for (const auto& [id, body] : found) {
      int producer = 0, sequence = 0;
      ASSERT_EQ(std::sscanf(id.c_str(), "P%d-%d", &producer, &sequence), 2) << id;
      ASSERT_EQ(body, BodyFor(producer, sequence, w.body_bytes)) << id;
    }
    ++trials;
  }
  std::printf(
      "power loss: %d trials (cut tail %d, garbage %d, stale records %d), %d acknowledged messages checked\n",
      trials, modes[0], modes[1], modes[2], checked);
}

// With delivery finishing most messages, finished segments are recycled: a reused
// file holds the old segment's records, whole and valid, behind (or instead of) ours.
// After a power cut no finished message may come back, and none acknowledged and
// unfinished may be missing.
TEST(PowerLossTest, RecycledFilesNeverBringFinishedMailBack) {
  std::mt19937 rng(777);
  uint64_t recycled_total = 0;
  for (int trial = 0; trial < 8; ++trial) {
    Workload w("power-recycle");
    const std::string base = w.spool->path();
    w.options.shard_dir = base + "/live/shard-0";
    w.options.segment_bytes_max = 32 * 1024;
    w.total = 3000;
    w.producers = 16;
    const size_t cut_at = 1000 + rng() % 1900;
    std::set<std::string> delivering;  // a result record was appended (maybe durable)
    std::set<std::string> finished;    // its result durable and its segment released
    std::set<std::string> finished_at_cut;
    std::map<std::string, std::string> live_at_cut;
    std::vector<std::pair<std::string, MessageLocation>> later;  // delivered in batches
    bool cut = false;
    auto deliver = [&](LogWriter& writer, const std::string& id, const MessageLocation& at) {
      delivering.insert(id);
      writer.AppendResult({id, 0, Outcome::kDelivered, 1, 0, 250, "ok"},
                          [&writer, &finished, id, at](const absl::Status& s) {
                            if (!s.ok()) return;
                            finished.insert(id);
                            writer.MessageFinished(at.segment);
                          });
    };
    w.on_ack = [&](LogWriter& writer, Workload& work, const std::string& id, const MessageLocation& at) {
      if (!cut && work.acknowledged.size() >= cut_at) {
        cut = true;
        finished_at_cut = finished;
        // Present after the cut: acknowledged, and no result record written for it yet
        // (a written result may already be durable: then the message is finished).
        for (const auto& [acked, body] : work.acknowledged) {
          if (!delivering.count(acked)) live_at_cut[acked] = body;
        }
        int mode = 0;
        CutPower(work.faults, work.options.shard_dir, base + "/image/shard-0", rng, &mode);
      }
      int producer = 0, sequence = 0;
      std::sscanf(id.c_str(), "P%d-%d", &producer, &sequence);
      if (sequence % 3 != 0) return deliver(writer, id, at);
      // Every third message waits for a batch of 60: those stay queued for a while and
      // pin old segments, then everything behind them is freed (and recycled) at once.
      later.emplace_back(id, at);
      if (later.size() < 60) return;
      for (const auto& [waiting, where] : later) deliver(writer, waiting, where);
      later.clear();
    };
    RunWorkload(w);
    ASSERT_TRUE(cut);
    recycled_total += w.stats.segments_recycled;
    auto recovered = RecoverSpool(base + "/image");
    ASSERT_TRUE(recovered.ok()) << recovered.status();
    std::map<std::string, std::string> found = LiveBodies(*recovered);
    for (const auto& [id, body] : live_at_cut) {
      ASSERT_TRUE(found.count(id)) << "trial " << trial << ": acknowledged, unfinished " << id << " lost";
      ASSERT_EQ(found[id], body);
    }
    for (const std::string& id : finished_at_cut) {
      ASSERT_FALSE(found.count(id)) << "trial " << trial << ": finished " << id << " came back";
    }
  }
  EXPECT_GT(recycled_total, 0u) << "no segment file was reused: the test did not test reuse";
  std::printf("recycled segment files reused across trials: %llu\n", (unsigned long long)recycled_total);
}

}  // namespace
}  // namespace ringpost::queue
