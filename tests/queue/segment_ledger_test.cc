// Reclamation's rule on real files: finished segments go oldest first, only as a whole
// finished prefix, and up to the pool size they are kept as .free files for reuse.
#include "queue/segment_ledger.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/support/scratch_dir.h"

namespace ringpost::queue {
namespace {

namespace fs = std::filesystem;

std::set<std::string> Files(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

std::string MakeSegment(const std::string& dir, uint32_t number) {
  const std::string path = absl::StrFormat("%s/%08u.log", dir, number);
  std::ofstream(path) << "segment " << number;
  return path;
}

TEST(SegmentLedgerTest, ASegmentGoesOnlyWhenItAndEveryOlderOneAreFinished) {
  const testing::ScratchDir dir("segment-ledger-prefix");
  SegmentLedger ledger(dir.path(), /*recycled_files_max=*/0);
  for (uint32_t n = 1; n <= 3; ++n) ledger.AddWriting(n, MakeSegment(dir.path(), n));
  ledger.Pin(1);
  ledger.Pin(3);
  ledger.FinishedWriting(2);  // empty and sealed, but 1 is older and still live
  ledger.FinishedWriting(3);
  EXPECT_EQ(ledger.files(), 3u);
  EXPECT_EQ(ledger.OldestPinned(), 1u);
  ledger.FinishedWriting(1);
  ledger.Unpin(1);  // 1 and 2 go; 3 holds a live message
  EXPECT_EQ(Files(dir.path()), std::set<std::string>{"00000003.log"});
  EXPECT_EQ(ledger.deleted(), 2u);
  EXPECT_EQ(ledger.OldestPinned(), 3u);
  EXPECT_EQ(ledger.PathOf(1), "");
  ledger.Unpin(3);
  EXPECT_TRUE(Files(dir.path()).empty());
  EXPECT_EQ(ledger.OldestPinned(), 0u);
}

TEST(SegmentLedgerTest, ASegmentStillBeingWrittenIsKeptEvenWithNothingLive) {
  const testing::ScratchDir dir("segment-ledger-head");
  SegmentLedger ledger(dir.path(), 0);
  ledger.AddWriting(1, MakeSegment(dir.path(), 1));
  ledger.Pin(1);
  ledger.Unpin(1);  // the head: more records may still go in
  EXPECT_EQ(Files(dir.path()), std::set<std::string>{"00000001.log"});
}

TEST(SegmentLedgerTest, FinishedFilesAreKeptForReuseUpToThePoolSize) {
  const testing::ScratchDir dir("segment-ledger-pool");
  SegmentLedger ledger(dir.path(), /*recycled_files_max=*/2);
  for (uint32_t n = 1; n <= 3; ++n) ledger.AddWriting(n, MakeSegment(dir.path(), n));
  for (uint32_t n = 1; n <= 3; ++n) ledger.FinishedWriting(n);
  EXPECT_EQ(Files(dir.path()), (std::set<std::string>{"00000001.free", "00000002.free"}));
  EXPECT_EQ(ledger.deleted(), 3u);
  const std::string reused = ledger.TakeFreeFile();
  EXPECT_TRUE(reused == dir / "00000001.free" || reused == dir / "00000002.free") << reused;
  EXPECT_NE(ledger.TakeFreeFile(), "");
  EXPECT_EQ(ledger.TakeFreeFile(), "");  // the pool is empty
}

TEST(SegmentLedgerTest, RecoveredSegmentsWithNothingLiveGoAtOnce) {
  const testing::ScratchDir dir("segment-ledger-adopt");
  SegmentLedger ledger(dir.path(), 0);
  ledger.Adopt(1, MakeSegment(dir.path(), 1), /*live_messages=*/0);
  ledger.Adopt(2, MakeSegment(dir.path(), 2), /*live_messages=*/1);
  ledger.Adopt(3, MakeSegment(dir.path(), 3), /*live_messages=*/0);
  EXPECT_EQ(Files(dir.path()), (std::set<std::string>{"00000002.log", "00000003.log"}));
  ledger.Unpin(2);
  EXPECT_TRUE(Files(dir.path()).empty());
}

}  // namespace
}  // namespace ringpost::queue
