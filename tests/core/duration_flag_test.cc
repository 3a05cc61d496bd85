#include "core/duration_flag.h"

#include "gtest/gtest.h"

namespace ringpost::core {
namespace {

TEST(DurationFlagTest, ParsesDesignDefaults) {
  absl::Duration d;
  ASSERT_TRUE(ParseFlagDuration("30s", &d));
  EXPECT_EQ(d, absl::Seconds(30));
  ASSERT_TRUE(ParseFlagDuration("5m", &d));
  EXPECT_EQ(d, absl::Minutes(5));
  ASSERT_TRUE(ParseFlagDuration("4h", &d));
  EXPECT_EQ(d, absl::Hours(4));
  ASSERT_TRUE(ParseFlagDuration("5d", &d));  // absl::ParseDuration cannot do this
  EXPECT_EQ(d, absl::Hours(120));
  ASSERT_TRUE(ParseFlagDuration("1d12h", &d));
  EXPECT_EQ(d, absl::Hours(36));
  ASSERT_TRUE(ParseFlagDuration("250ms", &d));
  EXPECT_EQ(d, absl::Milliseconds(250));
  ASSERT_TRUE(ParseFlagDuration("1.5s", &d));
  EXPECT_EQ(d, absl::Milliseconds(1500));
  ASSERT_TRUE(ParseFlagDuration("0", &d));
  EXPECT_EQ(d, absl::ZeroDuration());
}

TEST(DurationFlagTest, RejectsGarbage) {
  absl::Duration d;
  for (const char* bad : {"", "5", "s", "5x", "-5s", "5 s", "5ss", "1d-1h", "99999999999999999d",
                          "2522222222232d",  // found by duration_flag_fuzz: int64 overflow
                          "1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s"}) {
    EXPECT_FALSE(ParseFlagDuration(bad, &d)) << bad;
  }
}

TEST(DurationFlagTest, FormatRoundTrips) {
  for (absl::Duration d : {absl::Hours(120), absl::Hours(4), absl::Minutes(5), absl::Seconds(30),
                           absl::Milliseconds(250), absl::ZeroDuration()}) {
    absl::Duration back;
    ASSERT_TRUE(ParseFlagDuration(FormatFlagDuration(d), &back));
    EXPECT_EQ(back, d);
  }
  EXPECT_EQ(FormatFlagDuration(absl::Hours(120)), "5d");
}

}  // namespace
}  // namespace ringpost::core
