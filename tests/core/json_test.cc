// JSON strings and times as the accounting log and the admin replies write them,
// checked against slow reference readings of the same rules.
#include "core/json.h"

#include <cstdio>
#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "core/mail_date.h"
#include "core/utf8.h"
#include "gtest/gtest.h"

namespace ringpost::core {
namespace {

TEST(JsonTimeTest, Rfc3339_5_6_AgreesWithTheGeneralFormatterInUtcWithMicroseconds) {
  std::mt19937_64 rng(3339);
  std::vector<int64_t> micros = {0,
                                 1,
                                 -1,
                                 951782400123456 /* 2000-02-29 */,
                                 4107542400999999 /* 2100-03-01 */,
                                 253402300799999999 /* 9999-12-31T23:59:59.999999 */,
                                 -86400000001};
  for (int i = 0; i < 5000; ++i)
    micros.push_back(static_cast<int64_t>(rng() % 8000000000000000ull) - 1000000000000000);
  for (int64_t m : micros) {
    const absl::Time t = absl::FromUnixMicros(m);
    EXPECT_EQ(JsonTime(t), absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone())) << m;
  }
  EXPECT_EQ(JsonTime(absl::FromUnixSeconds(1796000000)), "2026-11-30T00:53:20.000000Z");
  EXPECT_EQ(JsonTime(absl::InfiniteFuture()), "infinite-future");
}

TEST(JsonObjectTest, SecondsAreWrittenAsPrintfWritesTheirDoubleToSixDecimals) {
  std::mt19937_64 rng(8259);
  std::vector<absl::Duration> durations = {absl::ZeroDuration(),
                                           absl::Nanoseconds(400),
                                           absl::Nanoseconds(600),
                                           absl::Microseconds(1),
                                           absl::Milliseconds(2500),
                                           absl::Seconds(59),
                                           absl::Hours(24 * 365 * 5) + absl::Nanoseconds(999'999),
                                           -absl::Milliseconds(1500)};
  for (int i = 0; i < 2000; ++i) {
    durations.push_back(absl::Microseconds(static_cast<int64_t>(rng() % 10'000'000'000'000ull)));
  }
  for (absl::Duration d : durations) {
    std::string line;
    JsonObject(&line).Seconds("s", d);
    char expected[64];
    std::snprintf(expected, sizeof(expected), "{\"s\":%.6f}", absl::ToDoubleSeconds(d));
    EXPECT_EQ(line, expected) << absl::FormatDuration(d);
  }
  std::string infinite;
  JsonObject(&infinite).Seconds("s", absl::InfiniteDuration());
  EXPECT_EQ(infinite, "{\"s\":null}");
}

TEST(CivilUtcTest, WeekdaysFollowTheCalendar) {
  EXPECT_EQ(CivilUtcOf(0).weekday, 4);          // 1970-01-01, a Thursday
  EXPECT_EQ(CivilUtcOf(-86400).weekday, 3);     // 1969-12-31, a Wednesday
  EXPECT_EQ(CivilUtcOf(951782400).weekday, 2);  // 2000-02-29, a Tuesday
  const CivilUtc c = CivilUtcOf(1796000000);    // 2026-11-30 00:53:20, a Monday
  EXPECT_EQ(c.year, 2026);
  EXPECT_EQ(c.month, 11);
  EXPECT_EQ(c.day, 30);
  EXPECT_EQ(c.weekday, 1);
  EXPECT_EQ(c.second, 20);
}

// RFC 8259 §7, as this project writes it: '"' and '\' escaped, control characters and
// DEL as \u00XX, valid UTF-8 as it is, anything else as U+FFFD; one byte at a time.
std::string ByteByByte(absl::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
      out += escaped;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (const size_t n = Utf8SequenceLength(s, i); n > 0) {
      out.append(s.data() + i, n);
      i += n;
      continue;
    } else {
      out += "\\ufffd";
    }
    ++i;
  }
  return out + "\"";
}

TEST(AppendJsonStringTest, Rfc8259_7_AgreesWithAByteByByteReadingOnRandomText) {
  EXPECT_EQ(ByteByByte("a\"b\\c\x01\x7f\xC3\xB6\xFF"), "\"a\\\"b\\\\c\\u0001\\u007f\xC3\xB6\\ufffd\"");
  std::mt19937 rng(8259);
  const std::string alphabet[] = {"a",    "Z",   " ", "\"", "\\", "\n", "\x7f", "\xC3\xB6", "\xE2\x82\xAC",
                                  "\xFF", "\xC3"};
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const size_t length = rng() % 24;
    for (size_t i = 0; i < length; ++i) text += alphabet[rng() % std::size(alphabet)];
    std::string out = "prefix";
    AppendJsonString(text, &out);
    ASSERT_EQ(out, "prefix" + ByteByByte(text)) << absl::CEscape(text);
  }
}

}  // namespace
}  // namespace ringpost::core
