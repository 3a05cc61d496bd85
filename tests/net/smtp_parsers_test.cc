// Command lines (RFC 5321 §4.1), paths (§4.1.2), replies (§4.2) and line assembly.
#include "gtest/gtest.h"
#include "net/smtp/header_section.h"
#include "net/smtp/line_assembler.h"
#include "net/smtp/message_id.h"
#include "net/smtp/smtp_command.h"
#include "net/smtp/smtp_reply.h"

namespace ringpost::net {
namespace {

std::vector<std::string> Lines(LineAssembler& assembler, absl::string_view input, int* too_long) {
  std::vector<std::string> lines;
  absl::string_view line;
  for (;;) {
    const auto result = assembler.Next(&input, &line);
    if (result == LineAssembler::Result::kNeedMore) break;
    if (result == LineAssembler::Result::kTooLong)
      ++*too_long;
    else
      lines.emplace_back(line);
  }
  return lines;
}

TEST(LineAssemblerTest, Rfc5321_2_3_8_LinesEndInCrLf) {
  LineAssembler assembler(512);
  int too_long = 0;
  EXPECT_EQ(Lines(assembler, "EHLO a\r\nNOOP\nQU", &too_long), (std::vector<std::string>{"EHLO a", "NOOP"}));
  EXPECT_EQ(assembler.buffered_bytes(), 2u);  // the partial line stays in the assembler
  EXPECT_EQ(Lines(assembler, "IT\r\n", &too_long), (std::vector<std::string>{"QUIT"}));
  EXPECT_EQ(too_long, 0);
}

TEST(LineAssemblerTest, Rfc5321_4_5_3_1_4_OverlongLineIsSkippedWholeAndReportedOnce) {
  LineAssembler assembler(16);
  int too_long = 0;
  // The tail of the long line must never come out as a command of its own.
  const std::string input = std::string(40, 'A') + "RSET\r\nNOOP\r\n";
  EXPECT_EQ(Lines(assembler, input, &too_long), (std::vector<std::string>{"NOOP"}));
  EXPECT_EQ(too_long, 1);
  // Across chunks too, with bounded buffering.
  too_long = 0;
  EXPECT_TRUE(Lines(assembler, std::string(10, 'B'), &too_long).empty());
  EXPECT_TRUE(Lines(assembler, std::string(100000, 'B'), &too_long).empty());
  EXPECT_LE(assembler.buffered_bytes(), 16u);
  EXPECT_EQ(Lines(assembler, "QUIT\r\nNOOP\r\n", &too_long), (std::vector<std::string>{"NOOP"}));
  EXPECT_EQ(too_long, 1);
}

TEST(SmtpCommandTest, Rfc5321_4_1_VerbsAreCaseInsensitive) {
  EXPECT_EQ(ParseCommand("ehlo client.example").verb, SmtpVerb::kEhlo);
  EXPECT_EQ(ParseCommand("ehlo client.example").argument, "client.example");
  EXPECT_EQ(ParseCommand("Mail FROM:<a@b.c>").verb, SmtpVerb::kMail);
  EXPECT_EQ(ParseCommand("QUIT").verb, SmtpVerb::kQuit);
  EXPECT_EQ(ParseCommand("STARTTLS").verb, SmtpVerb::kStartTls);
  EXPECT_EQ(ParseCommand("XYZZY").verb, SmtpVerb::kUnknown);
  EXPECT_EQ(ParseCommand("").verb, SmtpVerb::kUnknown);
}

TEST(SmtpCommandTest, Rfc5321_4_1_2_PathsAndParameters) {
  auto mail = ParseMailFrom("FROM:<user@example.org> SIZE=1000 BODY=8BITMIME");
  ASSERT_TRUE(mail.ok()) << mail.status();
  EXPECT_EQ(mail->path.mailbox, "user@example.org");
  EXPECT_EQ(mail->path.local_part(), "user");
  EXPECT_EQ(mail->path.domain(), "example.org");
  ASSERT_NE(mail->Find("size"), nullptr);
  EXPECT_EQ(mail->Find("SIZE")->value, "1000");
  auto null_sender = ParseMailFrom("FROM:<>");
  ASSERT_TRUE(null_sender.ok());
  EXPECT_TRUE(null_sender->path.is_null);
  EXPECT_FALSE(ParseRcptTo("TO:<>").ok());
  auto postmaster = ParseRcptTo("TO:<Postmaster>");
  ASSERT_TRUE(postmaster.ok());
  EXPECT_TRUE(postmaster->path.is_postmaster);
  auto quoted = ParseRcptTo("TO:<\"odd user@x\"@example.org>");
  ASSERT_TRUE(quoted.ok()) << quoted.status();
  EXPECT_EQ(quoted->path.domain(), "example.org");
  auto literal = ParseRcptTo("TO:<u@[192.0.2.1]>");
  ASSERT_TRUE(literal.ok());
  EXPECT_TRUE(ParseRcptTo("TO:<u@[IPv6:2001:db8::1]>").ok());
  EXPECT_TRUE(ParseMailFrom("FROM: <a@b.example>").ok());  // lenient space, as most MTAs
}

// RFC 5321 §4.1.2 wants "<path>"; a person typing into telnet writes the bare address
// ("MAIL FROM: aryamansharda@example.com"), which Postfix takes unless
// strict_rfc821_envelopes is set. kBareAllowed takes exactly one whole mailbox.
TEST(SmtpCommandTest, BareAddressesAsTypedByHand) {
  for (const char* typed : {"FROM: aryamansharda@example.com", "FROM:aryamansharda@example.com"}) {
    EXPECT_FALSE(ParseMailFrom(typed).ok()) << typed;
    auto mail = ParseMailFrom(typed, PathSyntax::kBareAllowed);
    ASSERT_TRUE(mail.ok()) << typed << ": " << mail.status();
    EXPECT_EQ(mail->path.mailbox, "aryamansharda@example.com");
    EXPECT_EQ(mail->path.domain(), "example.com");
  }
  auto rcpt = ParseRcptTo("TO: steve@apple.com", PathSyntax::kBareAllowed);
  ASSERT_TRUE(rcpt.ok());
  EXPECT_EQ(rcpt->path.mailbox, "steve@apple.com");
  auto with_params = ParseMailFrom("FROM: a@b.example SIZE=10", PathSyntax::kBareAllowed);
  ASSERT_TRUE(with_params.ok());
  EXPECT_EQ(with_params->path.mailbox, "a@b.example");
  ASSERT_NE(with_params->Find("SIZE"), nullptr);
  auto postmaster = ParseRcptTo("TO: Postmaster", PathSyntax::kBareAllowed);
  ASSERT_TRUE(postmaster.ok());
  EXPECT_TRUE(postmaster->path.is_postmaster);
  // Bracketed paths mean the same either way.
  auto bracketed = ParseMailFrom("FROM:<>", PathSyntax::kBareAllowed);
  ASSERT_TRUE(bracketed.ok());
  EXPECT_TRUE(bracketed->path.is_null);
  // Nothing else relaxes: a bare form is one whole valid mailbox, never a null path, a
  // source route, a fragment of a bracketed path or two addresses.
  for (const char* bad : {"FROM:", "FROM: ", "FROM: postmaster", "FROM: user", "FROM: @a.example:u@b.example",
                          "FROM: user@example.org>", "FROM: <user@example.org", "FROM: us\"er@example.org",
                          "FROM: a@b.example c@d.example", "FROM: user@example.org\r", "FROM: user@exa_mple.org",
                          "FROM: a@b.example =x"}) {
    EXPECT_FALSE(ParseMailFrom(bad, PathSyntax::kBareAllowed).ok()) << bad;
  }
  EXPECT_FALSE(ParseRcptTo("TO: " + std::string(300, 'a') + "@example.org", PathSyntax::kBareAllowed).ok());
}

// RFC 5322 §2.1: header fields, then an empty line. The scanner finds where that line
// starts and which of Date:/Message-ID: (§3.6) came before it, in any pieces.
TEST(HeaderSectionScannerTest, Rfc5322_2_1_FindsTheEmptyLineAndTheFieldsBeforeIt) {
  const std::string message =
      "From: a@example.org\r\nDATE: Mon, 30 Nov 2026 00:53:20 +0000\r\nSubject: the\r\n Message-ID: folded\r\n"
      "\r\nMessage-ID: <in@body>\r\n";
  const size_t empty_line = message.find("\r\n\r\n") + 2;
  for (size_t split = 0; split <= message.size(); ++split) {
    HeaderSectionScanner scanner;
    size_t end = scanner.Feed(absl::string_view(message).substr(0, split));
    if (end == absl::string_view::npos) {
      const size_t rest = scanner.Feed(absl::string_view(message).substr(split));
      ASSERT_NE(rest, absl::string_view::npos) << split;
      end = split + rest;
    }
    EXPECT_EQ(end, empty_line) << split;
    EXPECT_TRUE(scanner.has_date());
    EXPECT_FALSE(scanner.has_message_id()) << "a folded line or the body never counts";
    EXPECT_FALSE(scanner.in_headers());
  }
  HeaderSectionScanner obsolete;  // RFC 5322 §4.5: "Message-ID :" is the same field
  EXPECT_EQ(obsolete.Feed("Message-Id :<a@b>\r\nDated: no\r\nDate-X: no\r\n\r\n"), 42u);
  EXPECT_TRUE(obsolete.has_message_id());
  EXPECT_FALSE(obsolete.has_date());
  HeaderSectionScanner no_empty_line;
  EXPECT_EQ(no_empty_line.Feed("Subject: only headers\r\nX-Long: " + std::string(5000, 'x')),
            absl::string_view::npos);
  EXPECT_TRUE(no_empty_line.in_headers());
  HeaderSectionScanner body_only;
  EXPECT_EQ(body_only.Feed("\r\nhello\r\n"), 0u);
}

TEST(SmtpCommandTest, Rfc5321_AppendixC_SourceRoutesAreStripped) {
  auto routed = ParseRcptTo("TO:<@relay.example,@other.example:user@final.example>");
  ASSERT_TRUE(routed.ok()) << routed.status();
  EXPECT_EQ(routed->path.mailbox, "user@final.example");
}

TEST(SmtpCommandTest, PercentAndBangAreOnlyCharacters) {
  auto percent = ParseRcptTo("TO:<user%other.example@example.org>");
  ASSERT_TRUE(percent.ok());
  EXPECT_EQ(percent->path.domain(), "example.org");
  auto bang = ParseRcptTo("TO:<host!user@example.org>");
  ASSERT_TRUE(bang.ok());
  EXPECT_EQ(bang->path.domain(), "example.org");
}

TEST(SmtpCommandTest, RejectsBadSyntaxAndOverLimits) {
  for (const char* bad : {"TO:user@example.org", "TO:<user@example.org", "TO:<@example.org>", "TO:<user@>",
                          "TO:<user>", "TO:<us er@example.org>", "TO:<.user@example.org>",
                          "TO:<user..x@example.org>", "TO:<user@-bad.example>", "TO:<user@exa_mple.org>",
                          "TO:<user@[999.1.1.1]>", "TO:<user@example.org>junk", "TO:<\"unterminated@x.org>",
                          "TO:<user@example.org> =value", "FROM:<user@example.org>"}) {
    EXPECT_FALSE(ParseRcptTo(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseRcptTo("TO:<" + std::string(65, 'a') + "@example.org>").ok());
  EXPECT_FALSE(ParseRcptTo("TO:<a@" + std::string(250, 'b') + ".org>").ok());
  std::string many = "TO:<a@b.org>";
  for (int i = 0; i < 17; ++i) many += " X" + std::to_string(i) + "=1";
  EXPECT_FALSE(ParseRcptTo(many).ok());
}

TEST(SmtpCommandTest, Rfc6531_NonAsciiIsReported) {
  auto utf8 = ParseRcptTo("TO:<us\xC3\xA9r@ex\xC3\xA4mple.org>");
  ASSERT_TRUE(utf8.ok());
  EXPECT_TRUE(utf8->path.non_ascii);
  auto ascii = ParseRcptTo("TO:<user@example.org>");
  EXPECT_FALSE(ascii->path.non_ascii);
}

TEST(SmtpReplyTest, Rfc5321_4_2_1_MultiLineReplies) {
  ReplyParser parser;
  EXPECT_EQ(parser.OnLine("250-mx.example greets you"), ReplyParser::Result::kNeedMore);
  EXPECT_EQ(parser.OnLine("250-PIPELINING"), ReplyParser::Result::kNeedMore);
  EXPECT_EQ(parser.OnLine("250 SIZE 1000"), ReplyParser::Result::kReply);
  EXPECT_EQ(parser.reply().code, 250);
  EXPECT_EQ(parser.reply().lines, 3u);
  EXPECT_EQ(parser.reply().text, "mx.example greets you\nPIPELINING\nSIZE 1000");
  EXPECT_EQ(parser.OnLine("451 4.3.0 try later"), ReplyParser::Result::kReply);
  EXPECT_EQ(parser.reply().enhanced, "4.3.0");
  EXPECT_EQ(parser.reply().text, "try later");
  EXPECT_EQ(parser.reply().Summary(), "451 4.3.0 try later");
  EXPECT_EQ(parser.OnLine("354"), ReplyParser::Result::kReply);
}

TEST(SmtpReplyTest, Rfc5321_4_2_MalformedReplies) {
  for (const char* bad : {"", "25", "abc", "250x", "150 too low", "650 too high"}) {
    ReplyParser parser;
    EXPECT_EQ(parser.OnLine(bad), ReplyParser::Result::kError) << bad;
  }
  ReplyParser changing;
  changing.OnLine("250-a");
  EXPECT_EQ(changing.OnLine("550 b"), ReplyParser::Result::kError);
}

TEST(SmtpReplyTest, HostileHugeReplyIsBounded) {
  ReplyParser parser;
  ReplyParser::Result result = ReplyParser::Result::kNeedMore;
  int lines = 0;
  while (result == ReplyParser::Result::kNeedMore && lines < 100000) {
    result = parser.OnLine("250-" + std::string(500, 'x'));
    ++lines;
  }
  EXPECT_EQ(result, ReplyParser::Result::kError);
  EXPECT_EQ(lines, static_cast<int>(ReplyParser::kLinesMax) + 1);
  EXPECT_LE(parser.reply().text.size(), ReplyParser::kTextBytesMax);
}

TEST(SmtpReplyTest, Rfc3463_EnhancedCodes) {
  EXPECT_EQ(ParseEnhancedCode("2.0.0 ok"), 5u);
  EXPECT_EQ(ParseEnhancedCode("5.1.10 null MX"), 6u);
  EXPECT_EQ(ParseEnhancedCode("4.7.0"), 5u);
  EXPECT_EQ(ParseEnhancedCode("3.0.0 no"), 0u);
  EXPECT_EQ(ParseEnhancedCode("2.0 no"), 0u);
  EXPECT_EQ(ParseEnhancedCode("2.0.0x"), 0u);
}

TEST(MessageIdFinderTest, Rfc5322_3_6_4_TheFirstMessageIdOfTheHeaderWhateverTheSplit) {
  const std::string message =
      "Subject: hi\r\nmessage-ID:\r\n  <left@right.example>\r\nMessage-ID: <second@x>\r\n\r\n"
      "Message-ID: <in-the-body@x>\r\n";
  for (size_t step = 1; step <= message.size(); ++step) {
    MessageIdFinder finder;
    for (size_t at = 0; at < message.size(); at += step) finder.Feed(message.substr(at, step));
    EXPECT_EQ(finder.value(), "<left@right.example>") << step;
  }
}

TEST(MessageIdFinderTest, NoneInTheHeaderAndOverlongValuesAreBounded) {
  MessageIdFinder none;
  none.Feed("Subject: x\r\nX-Message-ID: <not@this>\r\n\r\nMessage-ID: <body@x>\r\n");
  EXPECT_EQ(none.value(), "");
  MessageIdFinder huge;
  huge.Feed("Message-ID: <" + std::string(5000, 'a') + ">\r\n\r\n");
  EXPECT_EQ(huge.value().size(), MessageIdFinder::kValueBytesMax);
  MessageIdFinder reset;
  reset.Feed("Message-ID: <a@b>\r\n\r\n");
  reset.Reset();
  reset.Feed("Message-ID: <c@d>\r\n\r\n");
  EXPECT_EQ(reset.value(), "<c@d>");
}

}  // namespace
}  // namespace ringpost::net
