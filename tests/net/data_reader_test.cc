// RFC 5321 §4.1.1.4 (DATA), §4.5.2 (transparency) and the SMTP smuggling family
// (CVE-2023-51764): only <CRLF>.<CRLF> ends a message.
#include "net/smtp/data_reader.h"

#include <random>

#include "gtest/gtest.h"
#include "net/smtp/dot_stuffer.h"
#include "tests/support/data_reference.h"

namespace ringpost::net {
namespace {

struct Fed {
  std::string body;
  size_t consumed = 0;
  bool done = false;
  bool saw_bare = false;
};

// Feeds `input` in pieces cut at `cuts` (sorted offsets).
Fed Feed(absl::string_view input, const std::vector<size_t>& cuts, BareLineEndings mode) {
  DataReader reader(mode);
  Fed run;
  size_t at = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(input.size());
  for (size_t end : ends) {
    while (at < end && !reader.done()) {
      at += reader.Consume(input.substr(at, end - at),
                           [&](absl::string_view piece) { run.body.append(piece.data(), piece.size()); });
    }
    if (reader.done()) break;
  }
  run.consumed = at;
  run.done = reader.done();
  run.saw_bare = reader.saw_bare_line_ending();
  EXPECT_EQ(reader.body_bytes(), run.body.size());
  return run;
}

Fed FeedWhole(absl::string_view input) { return Feed(input, {}, BareLineEndings::kNormalize); }

TEST(DataReaderTest, Rfc5321_4_1_1_4_EndsAtCrLfDotCrLf) {
  const Fed run = FeedWhole("Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n");
  EXPECT_TRUE(run.done);
  EXPECT_EQ(run.body, "Subject: hi\r\n\r\nbody\r\n");
  EXPECT_EQ(run.consumed, 24u);  // the pipelined QUIT is left for the command reader
}

TEST(DataReaderTest, Rfc5321_4_1_1_4_EmptyMessage) {
  const Fed run = FeedWhole(".\r\n");
  EXPECT_TRUE(run.done);
  EXPECT_EQ(run.body, "");
  EXPECT_EQ(run.consumed, 3u);
}

TEST(DataReaderTest, Rfc5321_4_5_2_RemovesOneLeadingDot) {
  const Fed run = FeedWhole("..hidden\r\n.x\r\n...\r\nnot.first\r\n.\r\n");
  EXPECT_EQ(run.body, ".hidden\r\nx\r\n..\r\nnot.first\r\n");
}

TEST(DataReaderTest, Smuggling_OnlyCrLfDotCrLfEnds) {
  // Each variant that some MTA once took as the end of DATA: here it is data.
  using namespace std::string_literals;
  for (const std::string& sneaky : {"\n.\n"s, "\n.\r\n"s, "\r\n.\n"s, "\r.\r"s, "\r.\r\n"s, "\n.\r"s,
                                    "\r\n.\r"s, "\r\n\0.\r\n"s, "\r\n.\0\r\n"s}) {
    const std::string input = "a" + sneaky + "MAIL FROM:<evil@example.org>\r\n";
    const Fed run = FeedWhole(input);
    EXPECT_FALSE(run.done) << "ended early on a smuggling variant";
    const Fed finished = FeedWhole(input + "\r\n.\r\n");
    EXPECT_TRUE(finished.done);
    EXPECT_NE(finished.body.find("MAIL FROM:<evil@example.org>"), std::string::npos)
        << "the smuggled command must stay inside the one message";
  }
}

TEST(DataReaderTest, BareLineEndingsAreNormalisedAndReported) {
  const Fed run = FeedWhole("a\nb\rc\r\n.\r\n");
  EXPECT_TRUE(run.done);
  EXPECT_TRUE(run.saw_bare);
  EXPECT_EQ(run.body, "a\r\nb\r\nc\r\n");
  const Fed clean = FeedWhole("a\r\nb\r\n.\r\n");
  EXPECT_FALSE(clean.saw_bare);
}

TEST(DataReaderTest, NulAndEightBitPassThrough) {
  const std::string input("x\0y\xff\r\n.\r\n", 9);
  const Fed run = FeedWhole(input);
  EXPECT_EQ(run.body, std::string("x\0y\xff\r\n", 6));
}

TEST(DataReaderTest, MatchesTheReferenceModelAtEverySplit) {
  const std::vector<std::string> inputs = {
      "hello\r\n.\r\n", "..\r\n.\r\n",      "\r\n.\r\n",          ".\r\r\n.\r\n",  "a\r\r\n..\r\n.\r\n",
      ".\r.\r\n.\r\n",  "\n.\r\n\r\n.\r\n", "x\r\n.\ry\r\n.\r\n", "\r\r\r\n.\r\n", "...\n.\r\n\r\n.\r\n",
  };
  for (const std::string& input : inputs) {
    const auto model = testing::ReferenceData(input);
    ASSERT_TRUE(model.has_value()) << input;
    for (size_t a = 0; a <= input.size(); ++a) {
      for (size_t b = a; b <= input.size(); ++b) {
        const Fed run = Feed(input, {a, b}, BareLineEndings::kNormalize);
        ASSERT_TRUE(run.done);
        ASSERT_EQ(run.body, model->body) << "split at " << a << "," << b;
        ASSERT_EQ(run.consumed, model->consumed);
        ASSERT_EQ(run.saw_bare, model->saw_bare);
      }
    }
  }
}

TEST(DataReaderTest, RandomInputsMatchTheModel) {
  std::mt19937 rng(20261129);
  const char alphabet[] = {'\r', '\n', '.', 'a', '\0'};
  for (int round = 0; round < 20000; ++round) {
    std::string input;
    const int length = static_cast<int>(rng() % 24);
    for (int i = 0; i < length; ++i) input += alphabet[rng() % sizeof(alphabet)];
    input += "\r\n.\r\n";
    const auto model = testing::ReferenceData(input);
    std::vector<size_t> cuts;
    for (int c = 0; c < 3; ++c) cuts.push_back(rng() % (input.size() + 1));
    std::sort(cuts.begin(), cuts.end());
    const Fed run = Feed(input, cuts, BareLineEndings::kNormalize);
    ASSERT_TRUE(run.done);
    ASSERT_EQ(run.body, model->body) << "seed round " << round;
    ASSERT_EQ(run.consumed, model->consumed) << "seed round " << round;
    ASSERT_EQ(run.saw_bare, model->saw_bare) << "seed round " << round;
  }
}

TEST(DotStufferTest, Rfc5321_4_5_2_RoundTripsThroughTheReader) {
  for (const char* body :
       {"", "plain\r\n", ".leading\r\n..two\r\n", "no final newline", "bare\nlf\rcr", ".", "\r\n.\r\n"}) {
    std::string wire;
    DotStuffer stuffer;
    stuffer.Stuff(body, &wire);
    stuffer.Finish(&wire);
    // Never a bare CR or LF on the wire.
    for (size_t i = 0; i < wire.size(); ++i) {
      if (wire[i] == '\n') {
        ASSERT_TRUE(i > 0 && wire[i - 1] == '\r') << body;
      }
      if (wire[i] == '\r') {
        ASSERT_TRUE(i + 1 < wire.size() && wire[i + 1] == '\n') << body;
      }
    }
    const Fed run = FeedWhole(wire);
    ASSERT_TRUE(run.done) << body;
    EXPECT_EQ(run.consumed, wire.size()) << body;
    EXPECT_FALSE(run.saw_bare);
    // The body comes back with its line endings normalised and a final CRLF.
    std::string expected;
    for (size_t i = 0; body[i]; ++i) {
      const char c = body[i];
      if (c == '\r' && body[i + 1] == '\n') {
        expected += "\r\n";
        ++i;
      } else if (c == '\r' || c == '\n')
        expected += "\r\n";
      else
        expected += c;
    }
    if (!expected.empty() && expected.substr(expected.size() >= 2 ? expected.size() - 2 : 0) != "\r\n")
      expected += "\r\n";
    EXPECT_EQ(run.body, expected) << body;
  }
}

}  // namespace
}  // namespace ringpost::net
