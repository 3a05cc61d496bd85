// The log's promise under SIGKILL, with real processes: a writer prints each id only
// after its durable notice; we kill it at random moments, recover, and check that every
// printed id is there with a byte-identical body. (SIGKILL keeps the page cache, so
// this catches lost commits and bad recovery; power_loss_test covers missing syncs.)
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include "gtest/gtest.h"
#include "queue/recovery.h"
#include "tests/queue/expected_body.h"
#include "tests/queue/log_workload.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/subprocess.h"

namespace ringpost::queue {
namespace {

using std::chrono::milliseconds;

TEST(KillTest, EveryAcknowledgedMessageSurvivesSigkill) {
  const testing::ScratchDir scratch("kill-test");
  const std::string spool = scratch / "spool";
  std::mt19937 rng(20261129);
  std::map<std::string, size_t> acknowledged;  // id -> body bytes, over every round
  const int rounds = 50;
  for (int round = 0; round < rounds; ++round) {
    testing::Subprocess writer({testing::BuildPath("tests/ringpost-log-writer"), "--spool_dir=" + spool,
                                "--seed=" + std::to_string(round + 1), "--segment_bytes=262144",
                                "--heads=" + std::to_string(1 + round % 2)});  // one head, then two
    ASSERT_TRUE(writer.WaitForLine("READY", milliseconds(30000))) << "round " << round;
    // Let it run for a random number of acknowledgements, then kill it mid-flight.
    const int wait_for = 1 + static_cast<int>(rng() % 400);
    for (int i = 0; i < wait_for; ++i) {
      auto line = writer.ReadLine(milliseconds(10000));
      ASSERT_TRUE(line.has_value()) << "writer stalled in round " << round;
      std::istringstream words(*line);
      std::string tag, id;
      size_t bytes = 0;
      if (words >> tag >> id >> bytes && tag == "ACK") acknowledged[id] = bytes;
    }
    writer.Signal(SIGKILL);
    // Whatever it printed before dying counts too (whole lines only).
    for (auto line = writer.ReadLine(milliseconds(2000)); line; line = writer.ReadLine(milliseconds(2000))) {
      std::istringstream words(*line);
      std::string tag, id;
      size_t bytes = 0;
      if (words >> tag >> id >> bytes && tag == "ACK" && id.size() == 13) acknowledged[id] = bytes;
    }
    EXPECT_EQ(writer.Wait(milliseconds(5000)), -SIGKILL);
  }
  auto recovered = RecoverSpool(spool);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  const std::map<std::string, std::string> found = LiveBodies(*recovered);
  size_t checked = 0;
  for (const auto& [id, bytes] : acknowledged) {
    auto it = found.find(id);
    ASSERT_NE(it, found.end()) << "acknowledged message " << id << " was lost";
    ASSERT_EQ(it->second, testing::ExpectedBody(id, bytes)) << id;
    ++checked;
  }
  EXPECT_EQ(recovered->report.quarantined, 0u);
  std::printf(
      "kill test: %d rounds, %zu acknowledged messages checked byte for byte, %zu recovered in all, "
      "%llu torn tails cut, %llu segments\n",
      rounds, checked, recovered->live.size(), (unsigned long long)recovered->report.torn_tails,
      (unsigned long long)recovered->report.segments);
}

}  // namespace
}  // namespace ringpost::queue
