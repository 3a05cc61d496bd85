// The block-wise line-end scans, checked against byte-by-byte readings of the same
// rules on random text long enough to cross several 64-byte blocks.
#include "net/smtp/line_scan.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "tests/support/line_scan_reference.h"

namespace ringpost::net {
namespace {

using testing::CrLfCleanByteByByte;
using testing::PlainLinesEndByLines;

std::vector<ScanIsa> SupportedIsas() {
  std::vector<ScanIsa> isas;
  for (ScanIsa isa : {ScanIsa::kPortable, ScanIsa::kSse2, ScanIsa::kAvx2, ScanIsa::kAvx512}) {
    if (ScanIsaSupported(isa)) isas.push_back(isa);
  }
  return isas;
}

// Mostly text and CRLF pairs, some dots at line starts, some lone CRs and LFs.
std::string RandomLines(std::mt19937& rng, size_t pieces) {
  std::string text;
  for (size_t i = 0; i < pieces; ++i) {
    const uint32_t pick = rng() % 40;
    text += pick < 24   ? "abcdefgh"
            : pick < 34 ? "\r\n"
            : pick < 37 ? "."
            : pick < 38 ? "\r"
            : pick < 39 ? "\n"
                        : "a";
  }
  return text;
}

// RFC 3030 §3: a BDAT body goes as it is, so only a body whose lines all end in CRLF
// (RFC 5321 §2.3.8: no bare CR, no bare LF) may take it.
TEST(IsCrLfCleanTest, Rfc5321_2_3_8_EveryCrIsFollowedByLfAndEveryLfFollowsACr) {
  for (const char* clean : {"", "a", "\r\n", "a\r\nb\r\n", "\r\n\r\n", "line\r\nlast without end"}) {
    EXPECT_TRUE(IsCrLfClean(clean)) << absl::CEscape(clean);
  }
  for (const char* bare :
       {"\r", "\n", "a\nb", "a\rb", "a\r", "\na", "\r\r\n", "\r\n\n", "\n\r", "x\r\ny\rz\r\n", "x\r\n\ry"}) {
    EXPECT_FALSE(IsCrLfClean(bare)) << absl::CEscape(bare);
  }
}

TEST(IsCrLfCleanTest, ALineEndSplitAcrossTwoBlocksIsSeenWhole) {
  for (size_t at = 60; at < 68; ++at) {
    std::string text(130, 'a');
    text.replace(at, 2, "\r\n");
    EXPECT_TRUE(IsCrLfClean(text)) << at;
    text[at + 1] = 'a';  // the CR alone
    EXPECT_FALSE(IsCrLfClean(text)) << at;
    text.replace(at, 2, "a\n");  // the LF alone
    EXPECT_FALSE(IsCrLfClean(text)) << at;
  }
  EXPECT_FALSE(IsCrLfClean(std::string(63, 'a') + "\r"));
  EXPECT_FALSE(IsCrLfClean(std::string(64, 'a') + "\r"));
  EXPECT_FALSE(IsCrLfClean(std::string(63, 'a') + "\r" + std::string(64, 'a')));
}

TEST(IsCrLfCleanTest, EveryInstructionSetAgreesWithAByteByByteReadingOnRandomText) {
  for (ScanIsa isa : SupportedIsas()) {
    std::mt19937 rng(5321);
    int clean = 0;
    for (int round = 0; round < 50000; ++round) {
      const std::string text = RandomLines(rng, rng() % (round % 2 == 0 ? 12 : 60));
      ASSERT_EQ(IsCrLfClean(text, isa), CrLfCleanByteByByte(text))
          << static_cast<int>(isa) << absl::CEscape(text);
      clean += CrLfCleanByteByByte(text);
    }
    EXPECT_GT(clean, 1000);  // both answers came up often
  }
}

TEST(PlainLinesEndTest, Rfc5321_4_5_2_StopsWhereALineNeedsALook) {
  EXPECT_EQ(PlainLinesEnd(""), 0u);
  EXPECT_EQ(PlainLinesEnd(absl::string_view()), 0u);  // no data at all
  EXPECT_TRUE(IsCrLfClean(absl::string_view()));
  EXPECT_EQ(PlainLinesEnd("text without an end"), 19u);
  EXPECT_EQ(PlainLinesEnd("ab\r\ncd\r\nef"), 10u);
  EXPECT_EQ(PlainLinesEnd("ab\r\n.dot\r\n"), 2u);  // the next line starts with a dot
  EXPECT_EQ(PlainLinesEnd("ab\r\ncd\r\n"), 6u);    // the next line is not here yet
  EXPECT_EQ(PlainLinesEnd("ab\r\n\r\n"), 2u);      // an empty line next
  EXPECT_EQ(PlainLinesEnd("ab\ncd\r\n"), 2u);      // a bare LF
  EXPECT_EQ(PlainLinesEnd("ab\rc\r\nd"), 2u);      // a bare CR
  EXPECT_EQ(PlainLinesEnd("ab\r"), 2u);            // a CR that may be half a CRLF
  EXPECT_EQ(PlainLinesEnd("\r\n.\r\n"), 0u);       // the terminator
}

TEST(PlainLinesEndTest, AFindNearABlockEndIsBeatenByOneJustAfterIt) {
  // Line ends that are not plain, placed around the first block's end: the answer
  // may lie in one block and be found in the next.
  for (size_t at = 58; at < 70; ++at) {
    std::string text(140, 'a');
    text.replace(at, 3, "\r\n.");
    EXPECT_EQ(PlainLinesEnd(text), at) << at;
    text.replace(at, 3, "a\na");
    EXPECT_EQ(PlainLinesEnd(text), at + 1) << at;
    text.replace(at, 3, "\raa");
    EXPECT_EQ(PlainLinesEnd(text), at) << at;
  }
}

TEST(PlainLinesEndTest, EveryInstructionSetAgreesWithALineByLineReadingOnRandomText) {
  for (ScanIsa isa : SupportedIsas()) {
    std::mt19937 rng(4552);
    size_t far = 0;
    for (int round = 0; round < 50000; ++round) {
      const std::string text = RandomLines(rng, rng() % (round % 2 == 0 ? 12 : 80));
      const size_t want = PlainLinesEndByLines(text);
      ASSERT_EQ(PlainLinesEnd(text, isa), want) << static_cast<int>(isa) << absl::CEscape(text);
      far += want >= 64;
    }
    EXPECT_GT(far, 1000u);  // answers past the first block came up often
  }
}

TEST(LineScanTest, EachInstructionSetIsOfferedExactlyWhenTheCpuHasIt) {
  EXPECT_TRUE(ScanIsaSupported(ScanIsa::kPortable));
#if defined(__x86_64__)
  __builtin_cpu_init();
  EXPECT_TRUE(ScanIsaSupported(ScanIsa::kSse2));  // every x86-64 has it
  EXPECT_EQ(ScanIsaSupported(ScanIsa::kAvx2), __builtin_cpu_supports("avx2") != 0);
  EXPECT_EQ(ScanIsaSupported(ScanIsa::kAvx512), __builtin_cpu_supports("avx512bw") != 0);
#else
  EXPECT_FALSE(ScanIsaSupported(ScanIsa::kSse2));
#endif
}

}  // namespace
}  // namespace ringpost::net
