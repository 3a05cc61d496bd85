#include "core/size_flag.h"

#include "gtest/gtest.h"

namespace ringpost::core {
namespace {

TEST(SizeFlagTest, ReadsSizesAsTheReadmeWritesThem) {
  const std::pair<const char*, uint64_t> cases[] = {
      {"52428800", 52428800}, {"0", 0},
      {"100k", 100 * 1024},   {"100K", 100 * 1024},
      {"100KB", 100 * 1024},  {"100KiB", 100 * 1024},
      {"50M", 50ull << 20},   {"64MiB", 64ull << 20},
      {"64mb", 64ull << 20},  {"1G", 1ull << 30},
      {"2TiB", 2ull << 40},   {"512B", 512},
  };
  for (const auto& [text, bytes] : cases) {
    uint64_t parsed = 1;
    ASSERT_TRUE(ParseFlagSize(text, &parsed)) << text;
    EXPECT_EQ(parsed, bytes) << text;
  }
}

TEST(SizeFlagTest, RefusesWhatIsNotAWholeSize) {
  uint64_t parsed = 0;
  for (const char* bad : {"", "M", "-1", "1.5M", " 1M", "1M ", "1 M", "1X", "1Mi", "1MiBB", "1kk", "0x10",
                          "2000000T", "99999999999999999999", "1152921504606846977"}) {
    EXPECT_FALSE(ParseFlagSize(bad, &parsed)) << bad;
  }
}

TEST(SizeFlagTest, FormatsWithTheLargestExactSuffixAndRoundTrips) {
  EXPECT_EQ(FormatFlagSize(52428800), "50MiB");
  EXPECT_EQ(FormatFlagSize(256ull << 20), "256MiB");
  EXPECT_EQ(FormatFlagSize(16384), "16KiB");
  EXPECT_EQ(FormatFlagSize(1000), "1000");
  EXPECT_EQ(FormatFlagSize(0), "0");
  for (uint64_t bytes : {uint64_t{0}, uint64_t{1}, uint64_t{1536}, uint64_t{1} << 40, uint64_t{1} << 60}) {
    uint64_t back = 7;
    ASSERT_TRUE(ParseFlagSize(FormatFlagSize(bytes), &back)) << bytes;
    EXPECT_EQ(back, bytes);
  }
}

TEST(SizeFlagTest, AnErrorNamesTheAcceptedForms) {
  FlagSize flag;
  std::string error;
  EXPECT_FALSE(AbslParseFlag("50 megabytes", &flag, &error));
  EXPECT_EQ(
      error,
      "expected a size in bytes, alone or with a suffix in powers of 1024: 1048576, 100k, 50M, 64MiB, 1G");
}

}  // namespace
}  // namespace ringpost::core
