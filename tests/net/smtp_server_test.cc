// The SMTP server engine, sans I/O: RFC 5321 (and RFC 1870 SIZE, 2920 PIPELINING,
// 3030 CHUNKING, 3463 enhanced codes, 6531 SMTPUTF8) pinned by unit tests named after
// their sections, and golden transcripts (tests/testdata/smtp/NAME.in → NAME.ref),
// each also replayed at random chunk splits.
#include "net/smtp/smtp_server.h"

#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "core/mail_date.h"
#include "gtest/gtest.h"
#include "net/inbound/relay_policy.h"
#include "tests/support/smtp_memory_handler.h"
#include "tests/support/smtp_server_harness.h"

namespace ringpost::net {
namespace {

using testing::Harness;
using testing::kNow;

std::string Transaction(absl::string_view body) {
  return absl::StrCat("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n", body);
}

TEST(SmtpServerTest, Rfc5321_4_3_1_GreetingNamesTheHost) {
  Harness h;
  EXPECT_EQ(h.Greeted(), "220 mx.test ESMTP ringpost\r\n");
}

TEST(SmtpServerTest, Rfc5321_4_1_1_1_EhloAdvertisesTheExtensions) {
  Harness h;
  h.Greeted();
  EXPECT_EQ(
      h.Say("EHLO client.example\r\n"),
      "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
      "250-SMTPUTF8\r\n250-DSN\r\n250 CHUNKING\r\n");
  EXPECT_EQ(h.Say("HELO client.example\r\n"), "250 mx.test\r\n");
  EXPECT_EQ(h.Say("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
}

TEST(SmtpServerTest, Rfc5321_D1_SessionQueuesTheMessageWithAReceivedHeader) {
  Harness h;
  h.Greeted();
  h.Say("EHLO bar.com\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<Smith@bar.com>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<Jones@foo.com>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(h.Say("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(h.Say("Blah blah blah...\r\n..etc. etc. etc.\r\n.\r\n"), "250 2.0.0 Ok: queued as Q0001\r\n");
  EXPECT_EQ(h.Say("QUIT\r\n"), "221 2.0.0 Bye\r\n");
  EXPECT_TRUE(h.engine.closed());
  ASSERT_EQ(h.handler.committed.size(), 1u);
  const auto& m = h.handler.committed[0];
  EXPECT_EQ(m.envelope.queue_id, "Q0001");
  EXPECT_EQ(m.envelope.mail_from, "Smith@bar.com");
  ASSERT_EQ(m.envelope.recipients.size(), 1u);
  EXPECT_EQ(m.envelope.recipients[0].address, "Jones@foo.com");
  EXPECT_EQ(m.envelope.helo, "bar.com");
  EXPECT_EQ(m.envelope.protocol, "ESMTP");
  EXPECT_EQ(m.envelope.client_address, "192.0.2.9");
  EXPECT_EQ(m.envelope.arrival, absl::FromUnixSeconds(1796000000));
  // RFC 5321 §4.4: one Received: prepended; §4.5.2: the leading dot is removed.
  EXPECT_EQ(m.body,
            "Received: from bar.com ([192.0.2.9])\r\n\tby mx.test (ringpost) with ESMTP id Q0001\r\n"
            "\tfor <Jones@foo.com>; Mon, 30 Nov 2026 00:53:20 +0000\r\n"
            "Blah blah blah...\r\n.etc. etc. etc.\r\n");
}

// The session a reader types into telnet: HELO, then bare addresses (RFC 5321 §4.1.2
// wants <path>; Postfix takes these unless strict_rfc821_envelopes is set).
TEST(SmtpServerTest, BareAddressesAsTypedByHandUnlessStrict) {
  Harness h;
  h.Greeted();
  EXPECT_EQ(h.Say("HELO client.example\r\n"), "250 mx.test\r\n");
  EXPECT_EQ(h.Say("MAIL FROM: aryamansharda@example.com\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.Say("RCPT TO: steve@apple.com\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(h.Say("RCPT TO:tim@apple.com\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(h.Say("RCPT TO: a@b.example c@d.example\r\n"), "501 5.1.3 Bad recipient address syntax\r\n");
  h.Say("DATA\r\nhello\r\n.\r\n");
  ASSERT_EQ(h.handler.committed.size(), 1u);
  EXPECT_EQ(h.handler.committed[0].envelope.mail_from, "aryamansharda@example.com");
  ASSERT_EQ(h.handler.committed[0].envelope.recipients.size(), 2u);
  EXPECT_EQ(h.handler.committed[0].envelope.recipients[0].address, "steve@apple.com");
  EXPECT_EQ(h.handler.committed[0].envelope.recipients[1].address, "tim@apple.com");

  SmtpServerOptions strict = Harness::Options();
  strict.strict_envelope = true;
  Harness s(true, strict);
  s.Greeted();
  s.Say("HELO client.example\r\n");
  EXPECT_EQ(s.Say("MAIL FROM: aryamansharda@example.com\r\n"), "501 5.1.7 Bad sender address syntax\r\n");
  EXPECT_EQ(s.Say("MAIL FROM:<aryamansharda@example.com>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(s.Say("RCPT TO: steve@apple.com\r\n"), "501 5.1.3 Bad recipient address syntax\r\n");
}

// RFC 5322 §3.6: Date: and Message-ID: SHOULD be there; for mail from clients that may
// relay (local submission) the server adds the missing ones at the end of the header
// section, as Postfix does. Strangers' mail is stored as sent.
TEST(SmtpServerTest, Rfc5322_3_6_MissingDateAndMessageIdAreAddedForTrustedClients) {
  SmtpServerOptions options = Harness::Options();
  options.add_missing_headers = true;
  const std::string kReceived =
      "Received: from c ([192.0.2.9])\r\n\tby mx.test (ringpost) with SMTP id Q0001\r\n"
      "\tfor <b@example.net>; Mon, 30 Nov 2026 00:53:20 +0000\r\n";
  const std::string kAdded =
      "Date: Mon, 30 Nov 2026 00:53:20 +0000\r\nMessage-ID: <20261130005320.Q0001@mx.test>\r\n";
  struct Case {
    std::string data;  // what the client sends after DATA, before the final dot
    std::string stored;
  };
  for (const Case& c : std::vector<Case>{
           {"Subject: hi\r\n\r\nbody\r\n", "Subject: hi\r\n" + kAdded + "\r\nbody\r\n"},
           {"Subject: hi\r\nDate: x\r\n\r\nDate: body\r\n",
            "Subject: hi\r\nDate: x\r\nMessage-ID: <20261130005320.Q0001@mx.test>\r\n\r\nDate: body\r\n"},
           {"Message-ID: <m@x>\r\nDate: x\r\n\r\nb\r\n", "Message-ID: <m@x>\r\nDate: x\r\n\r\nb\r\n"},
           {"Subject: no empty line\r\n", "Subject: no empty line\r\n" + kAdded},
           {"\r\nonly a body\r\n", kAdded + "\r\nonly a body\r\n"},
       }) {
    Harness h(/*may_relay=*/true, options);
    h.Greeted();
    h.Say("HELO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    // A byte at a time: where the header section ends never depends on the pieces.
    for (char byte : c.data) h.Say(std::string(1, byte));
    EXPECT_EQ(h.Say(".\r\n"), "250 2.0.0 Ok: queued as Q0001\r\n");
    ASSERT_EQ(h.handler.committed.size(), 1u);
    EXPECT_EQ(h.handler.committed[0].body, kReceived + c.stored) << c.data;
    const bool added_id = absl::StrContains(c.stored, "Q0001@mx.test");
    EXPECT_EQ(h.handler.committed[0].envelope.message_id, added_id ? "<20261130005320.Q0001@mx.test>" : "<m@x>");
  }
  Harness stranger(/*may_relay=*/false, options);
  stranger.Greeted();
  stranger.Say("HELO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@relay.example>\r\nDATA\r\nSubject: hi\r\n\r\nx\r\n.\r\n");
  ASSERT_EQ(stranger.handler.committed.size(), 1u);
  EXPECT_FALSE(absl::StrContains(stranger.handler.committed[0].body, "Message-ID"));
  EXPECT_FALSE(absl::StrContains(stranger.handler.committed[0].body, "Date:"));
}

TEST(SmtpServerTest, Rfc5321_4_4_ReceivedNamesNoRecipientWhenThereAreSeveral) {
  Harness h;
  h.Greeted();
  h.Say(
      "HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\nhi\r\n.\r\n");
  ASSERT_EQ(h.handler.committed.size(), 1u);
  EXPECT_FALSE(absl::StrContains(h.handler.committed[0].body, "for <"));
  EXPECT_TRUE(absl::StrContains(h.handler.committed[0].body, "with SMTP id"));  // HELO: RFC 3848 SMTP
  EXPECT_EQ(h.handler.committed[0].envelope.mail_from, "");                     // the null sender
}

TEST(SmtpServerTest, Rfc2920_PipelinedCommandsAreAnsweredInOrderInOneBatch) {
  Harness h;
  h.Greeted();
  const std::string out = h.Say(
      "EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@>\r\n"
      "RCPT TO:<d@example.net>\r\nDATA\r\n");
  const std::string after_ehlo = "250 CHUNKING\r\n";
  ASSERT_NE(out.find(after_ehlo), std::string::npos);
  EXPECT_EQ(out.substr(out.find(after_ehlo) + after_ehlo.size()),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n501 5.1.3 Bad recipient address syntax\r\n250 2.1.5 Ok\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n");
}

TEST(SmtpServerTest, Rfc5321_6_1_TheAnswerWaitsUntilTheMessageIsDurable) {
  Harness h;
  h.handler.commit_at_once = false;
  h.Greeted();
  h.Say("EHLO c\r\n");
  // The client pipelines the next transaction behind the final dot (RFC 2920 §3.1).
  EXPECT_EQ(h.Say(Transaction("one\r\n.\r\nMAIL FROM:<a@example.org>\r\n")),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_TRUE(h.engine.awaiting_commit());
  EXPECT_EQ(h.rest, "MAIL FROM:<a@example.org>\r\n");  // not read before the reply
  h.handler.CompletePending();
  h.Pump();
  EXPECT_EQ(h.engine.TakeOutput(), "250 2.0.0 Ok: queued as Q0001\r\n250 2.1.0 Ok\r\n");
}

TEST(SmtpServerTest, Rfc5321_4_2_5_StorageFailuresAreTransientAndKeepNothing) {
  {
    Harness h;
    h.handler.begin_status = absl::ResourceExhaustedError("spool reserve reached");
    h.Greeted();
    h.Say("EHLO c\r\n");
    EXPECT_EQ(h.Say(Transaction("")),
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n452 4.3.1 Insufficient system storage\r\n");
  }
  {
    Harness h;
    h.handler.append_status = absl::DataLossError("EIO");
    h.Greeted();
    h.Say("EHLO c\r\n");
    EXPECT_TRUE(
        absl::EndsWith(h.Say(Transaction("x\r\n.\r\n")), "451 4.3.0 Error: queue file write error\r\n"));
    EXPECT_EQ(h.handler.aborted, 1);
  }
  {
    Harness h;
    h.handler.commit_status = absl::DataLossError("fdatasync failed");
    h.Greeted();
    h.Say("EHLO c\r\n");
    EXPECT_TRUE(
        absl::EndsWith(h.Say(Transaction("x\r\n.\r\n")), "451 4.3.0 Error: queue file write error\r\n"));
    EXPECT_TRUE(h.handler.committed.empty());
    ASSERT_EQ(h.handler.refusals.size(), 1u);
    EXPECT_TRUE(absl::StartsWith(h.handler.refusals[0], "DATA: 451"));
  }
}

TEST(SmtpServerTest, Rfc5321_4_1_1_4_OnlyCrLfDotCrLfEndsTheMessage) {
  // SMTP smuggling (CVE-2023-51764 family): none of these end the data, so the
  // "commands" after them are body text and one DATA yields one message.
  const std::string fakes[] = {"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", std::string("\r\n\0.\r\n", 6)};
  for (const std::string& fake_end : fakes) {
    Harness h;
    h.Greeted();
    h.Say("EHLO c\r\n");
    std::string out =
        h.Say(Transaction(absl::StrCat("Subject: a\r\n\r\nfirst", fake_end,
                                       "MAIL FROM:<evil@x.org>\r\nRCPT TO:<v@example.net>\r\nDATA\r\n"
                                       "smuggled\r\n.\r\n")));
    EXPECT_EQ(h.handler.committed.size(), 1u) << absl::CHexEscape(fake_end);
    EXPECT_EQ(absl::StrSplit(out, "queued as").begin()->size(), out.find("queued as")) << out;
    EXPECT_TRUE(absl::StrContains(h.handler.committed[0].body, "smuggled")) << "part of the one message";
    EXPECT_EQ(out.find("250 2.1.0"), out.rfind("250 2.1.0")) << "the smuggled MAIL never ran: " << out;
  }
}

TEST(SmtpServerTest, Rfc5321_2_3_8_BareLineEndingsAreNormalisedOrRejected) {
  {
    Harness h;
    h.Greeted();
    h.Say("EHLO c\r\n");
    h.Say(Transaction("a\nb\rc\r\n.\r\n"));
    ASSERT_EQ(h.handler.committed.size(), 1u);
    EXPECT_TRUE(absl::EndsWith(h.handler.committed[0].body, "\r\na\r\nb\r\nc\r\n"));
  }
  {
    SmtpServerOptions options = Harness::Options();
    options.bare_line_endings = BareLineEndings::kReject;
    Harness h(true, options);
    h.Greeted();
    h.Say("EHLO c\r\n");
    EXPECT_TRUE(absl::EndsWith(h.Say(Transaction("a\nb\r\n.\r\n")),
                               "550 5.5.2 Error: bare <LF> or <CR> in message data\r\n"));
    EXPECT_TRUE(h.handler.committed.empty());
    EXPECT_TRUE(absl::EndsWith(h.Say(Transaction("clean\r\n.\r\n")), "250 2.0.0 Ok: queued as Q0002\r\n"));
  }
}

TEST(SmtpServerTest, Rfc5321_4_5_3_1_4_AnOverlongLineGets500AndItsTailNeverRuns) {
  Harness h;
  h.Greeted();
  const std::string out = h.Say(absl::StrCat("NOOP ", std::string(100 * 1024, 'x'), "QUIT\r\nNOOP\r\n"));
  EXPECT_EQ(out, "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
  EXPECT_FALSE(h.engine.closed());
}

TEST(SmtpServerTest, Rfc5321_2_3_8_BareCrOrNulInACommandIs501) {
  Harness h;
  h.Greeted();
  EXPECT_EQ(h.Say("NOOP\rRSET\r\n"), "501 5.5.2 Error: bare <CR> or NUL in command\r\n");
  EXPECT_EQ(h.Say(std::string("NO\0OP\r\n", 7)), "501 5.5.2 Error: bare <CR> or NUL in command\r\n");
}

TEST(SmtpServerTest, Rfc5321_4_5_3_1_10_TooManyRecipientsIs452) {
  SmtpServerOptions options = Harness::Options();
  options.recipients_max = 2;
  Harness h(true, options);
  h.Greeted();
  h.Say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<1@example.net>\r\nRCPT TO:<2@example.net>\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<3@example.net>\r\n"), "452 4.5.3 Error: too many recipients\r\n");
}

TEST(SmtpServerTest, Rfc1870_MessageSizeIsLimitedAtMailAndOnTheRealCount) {
  SmtpServerOptions options = Harness::Options();
  options.message_bytes_max = 1000;
  Harness h(true, options);
  h.Greeted();
  h.Say("EHLO c\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org> SIZE=1001\r\n"),
            "552 5.3.4 Message size exceeds fixed limit\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org> SIZE=1000\r\n"), "250 2.1.0 Ok\r\n");
  h.Say("RCPT TO:<b@example.net>\r\nDATA\r\n");
  EXPECT_EQ(h.Say(absl::StrCat(std::string(2000, 'y'), "\r\n.\r\n")),
            "552 5.3.4 Error: message exceeds fixed maximum message size\r\n");
  EXPECT_TRUE(h.handler.committed.empty());
  EXPECT_EQ(h.handler.aborted, 1);
  EXPECT_EQ(h.Say("RCPT TO:<b@example.net>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");  // reset
}

TEST(SmtpServerTest, Rfc5321_4_1_4_CommandsOutOfSequenceAre503) {
  Harness h;
  h.Greeted();
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  h.Say("EHLO c\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<b@example.net>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(h.Say("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  h.Say("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org>\r\n"), "503 5.5.1 Error: nested MAIL command\r\n");
  EXPECT_EQ(h.Say("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");  // RFC 5321 §3.3
  EXPECT_EQ(h.Say("RSET\r\nDATA\r\n"), "250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n");
}

TEST(SmtpServerTest, Rfc5321_4_2_4_UnknownCommandsAre500AndOthersAnswerAsDocumented) {
  Harness h;
  h.Greeted();
  EXPECT_EQ(h.Say("FROB\r\n"), "500 5.5.1 Error: command not recognized\r\n");
  EXPECT_EQ(h.Say("VRFY someone\r\n"),
            "252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery\r\n");
  EXPECT_EQ(h.Say("NOOP\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_TRUE(absl::StartsWith(h.Say("HELP\r\n"), "214 2.0.0 "));
  EXPECT_EQ(h.Say("STARTTLS\r\n"), "454 4.7.0 TLS not available\r\n");
}

TEST(SmtpServerTest, TooManyErrorsClosesWith421) {
  Harness h;
  h.Greeted();
  std::string out;
  for (int i = 0; i < 19; ++i) out += h.Say("FROB\r\n");
  EXPECT_FALSE(h.engine.closed());
  EXPECT_EQ(h.Say("FROB\r\nNOOP\r\n"),
            "500 5.5.1 Error: command not recognized\r\n421 4.7.0 mx.test Error: too many errors\r\n");
  EXPECT_TRUE(h.engine.closed());
}

TEST(SmtpServerTest, RelayPermissionComesFromNetworksAndDomainsOnly) {
  Harness h(/*may_relay=*/false);
  h.Greeted();
  h.Say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<b@example.net>\r\n"), "554 5.7.1 <b@example.net>: Relay access denied\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<b@Relay.Example>\r\n"), "250 2.1.5 Ok\r\n");    // --relay_domains
  EXPECT_EQ(h.Say("RCPT TO:<bob@local.example>\r\n"), "250 2.1.5 Ok\r\n");  // --local_domains
  EXPECT_EQ(h.Say("RCPT TO:<Postmaster>\r\n"), "250 2.1.5 Ok\r\n");         // RFC 5321 §4.5.1
  // Local parts that could leave the Maildir folder are refused (quoted ones included).
  EXPECT_EQ(h.Say("RCPT TO:<\".hidden\"@local.example>\r\n"),
            "550 5.1.1 <\".hidden\"@local.example>: Recipient address rejected: unsafe local part\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<\"a/../b\"@local.example>\r\n"),
            "550 5.1.1 <\"a/../b\"@local.example>: Recipient address rejected: unsafe local part\r\n");
  // '%' and '!' are only characters: never a route to somewhere else (RFC 5321 §3.6.1).
  EXPECT_EQ(h.Say("RCPT TO:<b%example.net@relay.example>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<relay.example!b@example.net>\r\n"),
            "554 5.7.1 <relay.example!b@example.net>: Relay access denied\r\n");
  // A source route is stripped (RFC 5321 Appendix C); the mailbox decides.
  EXPECT_EQ(h.Say("RCPT TO:<@relay.example:b@example.net>\r\n"),
            "554 5.7.1 <b@example.net>: Relay access denied\r\n");
  ASSERT_EQ(h.handler.refusals.size(), 5u);
}

TEST(SmtpServerTest, Rfc5321_4_5_1_PostmasterIsThisHostsAndNeverRelayed) {
  // From a client that may not relay: <postmaster> (any case, source-routed too) is
  // accepted and stored as the configured postmaster's address, never as a bare
  // local part that routing (a '*' smarthost) could take anywhere.
  Harness h(/*may_relay=*/false);
  h.Greeted();
  h.Say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<Postmaster>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<@relay.example:postmaster>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(h.Say("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  h.Say("hi\r\n.\r\n");
  ASSERT_EQ(h.handler.committed.size(), 1u);
  const auto& recipients = h.handler.committed[0].envelope.recipients;
  ASSERT_EQ(recipients.size(), 2u);
  EXPECT_EQ(recipients[0].address, "postmaster@local.example");
  EXPECT_EQ(recipients[1].address, "postmaster@local.example");
}

TEST(SmtpServerTest, Rfc5321_4_5_1_WithoutAPostmasterItIsRefusedNamingTheSetting) {
  Harness h(/*may_relay=*/true);
  h.relay.SetPostmaster("");
  h.Greeted();
  h.Say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<postmaster>\r\n"),
            "550 5.1.1 <postmaster>: Recipient address rejected: no postmaster here (set --postmaster or "
            "--local_domains)\r\n");
}

TEST(SmtpServerTest, AParameterGivenTwiceIsRefused) {
  Harness h;
  h.Greeted();
  h.Say("EHLO c\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org> SIZE=1 SIZE=2\r\n"), "501 5.5.4 Parameter SIZE given twice\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org> BODY=7BIT body=8BITMIME\r\n"),
            "501 5.5.4 Parameter BODY given twice\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org> BODY=8BITMIME SIZE=10\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<b@example.net> NOTIFY=NEVER NOTIFY=NEVER\r\n"),
            "501 5.5.4 Parameter NOTIFY given twice\r\n");
}

TEST(SmtpServerTest, Rfc6531_NonAsciiAddressesNeedSmtputf8) {
  Harness h;
  h.Greeted();
  h.Say("EHLO c\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<j\xC3\xB6rg@example.org>\r\n"),
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org>\r\nRCPT TO:<\xC3\xB6@example.net>\r\nRSET\r\n"),
            "250 2.1.0 Ok\r\n553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n250 2.0.0 Ok\r\n");
  h.Say("MAIL FROM:<j\xC3\xB6rg@example.org> SMTPUTF8 BODY=8BITMIME\r\nRCPT TO:<\xC3\xB6@example.net>\r\n");
  EXPECT_EQ(h.Say("DATA\r\nx\r\n.\r\n"),
            "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as Q0001\r\n");
  ASSERT_EQ(h.handler.committed.size(), 1u);
  EXPECT_EQ(h.handler.committed[0].envelope.protocol, "UTF8SMTP");  // RFC 6531 §3.7.3
  EXPECT_EQ(h.handler.committed[0].envelope.mail_params, "SMTPUTF8 BODY=8BITMIME");
}

TEST(SmtpServerTest, Rfc5321_4_1_1_11_UnknownParametersAre555) {
  Harness h;
  h.Greeted();
  h.Say("EHLO c\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org> FOO=1\r\n"), "555 5.5.4 Unsupported option: FOO\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org> BODY=BINARYMIME\r\n"),
            "501 5.5.4 Unsupported BODY parameter\r\n");
  h.Say("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<b@example.net> FOO=1\r\n"), "555 5.5.4 Unsupported option: FOO\r\n");
}

// RFC 3461: DSN is offered; RET and ENVID (§4.3, §4.4) on MAIL, NOTIFY and ORCPT (§4.1,
// §4.2) on RCPT are kept with the message as received; malformed ones get 501.
TEST(SmtpServerTest, Rfc3461_DsnParametersAreKeptAndMalformedOnesAre501) {
  Harness h;
  h.Greeted();
  h.Say("EHLO c\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ+2B314\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40example.net\r\n"),
            "250 2.1.5 Ok\r\n");
  EXPECT_EQ(h.Say("RCPT TO:<c@example.net> NOTIFY=never\r\n"), "250 2.1.5 Ok\r\n");
  for (const char* bad : {"NOTIFY=NEVER,SUCCESS", "NOTIFY=SOMETIMES", "NOTIFY", "NOTIFY=SUCCESS,SUCCESS",
                          "ORCPT=b@example.net", "ORCPT=rfc822;", "ORCPT=rfc822;a+4", "ORCPT=rfc822;a+4a"}) {
    const std::string reply = h.Say(absl::StrCat("RCPT TO:<d@example.net> ", bad, "\r\n"));
    EXPECT_TRUE(absl::StartsWith(reply, "501 5.5.4 Bad DSN parameter: ")) << bad << ": " << reply;
  }
  h.Say("DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(h.handler.committed.size(), 1u);
  const SmtpEnvelope& envelope = h.handler.committed[0].envelope;
  EXPECT_EQ(envelope.mail_params, "RET=HDRS ENVID=QQ+2B314");
  ASSERT_EQ(envelope.recipients.size(), 2u);
  EXPECT_EQ(envelope.recipients[0].params, "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40example.net");
  EXPECT_EQ(envelope.recipients[1].params, "NOTIFY=never");
  h.Say("EHLO c\r\n");
  for (const std::string& bad : {std::string("RET=ALL"), std::string("ENVID=a+zz"), "ENVID=" + std::string(101, 'x')}) {
    const std::string reply = h.Say(absl::StrCat("MAIL FROM:<a@example.org> ", bad, "\r\n"));
    EXPECT_TRUE(absl::StartsWith(reply, "501 5.5.4 Bad DSN parameter: ")) << bad << ": " << reply;
  }
}

TEST(SmtpServerTest, Rfc5321_6_3_MoreThanFiftyReceivedHeadersIsALoop) {
  std::string fifty;
  for (int i = 0; i < 50; ++i) fifty += "Received: from a by b; x\r\n";
  for (bool loop : {false, true}) {
    Harness h;
    h.Greeted();
    h.Say("EHLO c\r\n");
    const std::string headers = loop ? absl::StrCat(fifty, "received: one more\r\n") : fifty;
    const std::string out = h.Say(Transaction(absl::StrCat(headers, "\r\nReceived: in the body\r\n.\r\n")));
    if (loop) {
      EXPECT_TRUE(absl::EndsWith(out, "554 5.4.6 Error: too many hops (mail loop)\r\n")) << out;
    } else {
      EXPECT_TRUE(absl::EndsWith(out, "queued as Q0001\r\n")) << out;  // ours is the 51st
    }
  }
}

TEST(SmtpServerTest, Rfc3030_BdatChunksMakeOneMessage) {
  Harness h;
  h.Greeted();
  h.Say("EHLO c\r\n");
  EXPECT_EQ(
      h.Say("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 5\r\nhelloBDAT 8 LAST\r\n world\r\n"
            "NOOP\r\n"),
      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 5 octets received\r\n250 2.0.0 Ok: queued as Q0001\r\n"
      "250 2.0.0 Ok\r\n");
  ASSERT_EQ(h.handler.committed.size(), 1u);
  EXPECT_TRUE(absl::EndsWith(h.handler.committed[0].body,
                             "for <b@example.net>; Mon, 30 Nov 2026 00:53:20 +0000\r\n"
                             "hello world\r\n"));
  // BDAT 0 LAST ends a message too, and a chunk "looks like" commands only to a
  // server that lost count: its bytes are data.
  EXPECT_EQ(
      h.Say("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 6\r\nQUIT\r\nBDAT 0 LAST\r\n"),
      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 6 octets received\r\n250 2.0.0 Ok: queued as Q0002\r\n");
  EXPECT_FALSE(h.engine.closed());
}

TEST(SmtpServerTest, Rfc3030_RefusedBdatChunksAreReadAndDropped) {
  SmtpServerOptions options = Harness::Options();
  options.message_bytes_max = 10;
  Harness h(true, options);
  h.Greeted();
  h.Say("EHLO c\r\n");
  EXPECT_EQ(h.Say("BDAT 4\r\nRSETNOOP\r\n"), "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n");
  // A chunk that takes the message past the limit is read, dropped, then answered.
  EXPECT_EQ(
      h.Say("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 6\r\n012345BDAT 5 LAST\r\n6789A"),
      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 6 octets received\r\n"
      "552 5.3.4 Error: message exceeds fixed maximum message size\r\n");
  EXPECT_EQ(h.Say("DATA\r\n"),
            "503 5.5.1 Error: need MAIL command\r\n");  // RFC 3030 §2: the transaction failed
  EXPECT_TRUE(h.handler.committed.empty());
  EXPECT_FALSE(h.engine.closed());
}

TEST(SmtpServerTest, Rfc3030_AChunkLargerThanTheLimitIsAnsweredAtOnceAndTheSessionEnds) {
  // Its bytes are never read (they could be gigabytes the client sends slowly): 552
  // at once, then the close, since the chunk must never run as commands.
  SmtpServerOptions options = Harness::Options();
  options.message_bytes_max = 10;
  Harness h(true, options);
  h.Greeted();
  h.Say("EHLO c\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 11 LAST\r\n0123"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n552 5.3.4 Error: chunk exceeds fixed maximum message size\r\n");
  EXPECT_TRUE(h.engine.closed());
  EXPECT_TRUE(h.handler.committed.empty());
  EXPECT_FALSE(h.handler.open());
}

TEST(SmtpServerTest, Rfc3030_ABdatWithoutAReadableSizeClosesRatherThanRunItsChunkAsCommands) {
  Harness h;
  h.Greeted();
  h.Say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n");
  EXPECT_EQ(h.Say("BDAT 1000 LASTX\r\nRCPT TO:<smuggled@example.net>\r\n"),
            "501 5.5.4 Syntax: BDAT count [LAST]\r\n");
  EXPECT_TRUE(h.engine.closed());
  // Extra blanks are forgiven.
  Harness blanks;
  blanks.Greeted();
  blanks.Say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n");
  EXPECT_EQ(blanks.Say("BDAT  2\tLAST \r\nhi"), "250 2.0.0 Ok: queued as Q0001\r\n");
}

TEST(SmtpServerTest, ADrippedBodyReachesTheLogInFewPieces) {
  Harness h;
  h.Greeted();
  h.Say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 100000\r\n");
  const int calls_before = h.handler.append_calls;
  const std::string line = std::string(98, 'x') + "\r\n";
  std::string sent;
  for (int i = 0; i < 100000; ++i) {  // one byte per receive
    sent += line[i % line.size()];
    h.Say(sent.substr(sent.size() - 1));
  }
  // One record per kBodyFlushBytesMin, not one per byte (a commit record lists them all).
  EXPECT_LE(h.handler.append_calls - calls_before,
            100000 / static_cast<int>(SmtpServer::kBodyFlushBytesMin) + 1);
  EXPECT_EQ(h.Say("BDAT 0 LAST\r\n"), "250 2.0.0 Ok: queued as Q0001\r\n");
  ASSERT_EQ(h.handler.committed.size(), 1u);
  EXPECT_TRUE(absl::EndsWith(h.handler.committed[0].body, sent));
}

TEST(SmtpServerTest, GreetingDelayRefusesClientsThatTalkFirst) {
  Harness h;  // Greet() not called yet: --greeting_delay is running
  EXPECT_EQ(h.Say("EHLO impatient\r\n"), "554 5.5.0 mx.test Error: SMTP protocol synchronization\r\n");
  EXPECT_TRUE(h.engine.closed());
}

TEST(SmtpServerTest, ShutdownSends421ToIdleSessionsAndLetsTransactionsFinish) {
  {
    Harness h;
    h.Greeted();
    h.engine.OnShutdown();
    EXPECT_EQ(h.engine.TakeOutput(), "421 4.3.2 mx.test Service shutting down\r\n");
    EXPECT_TRUE(h.engine.closed());
  }
  {
    Harness h;
    h.Greeted();
    h.Say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
    h.engine.OnShutdown();
    EXPECT_FALSE(h.engine.closed());
    EXPECT_EQ(h.Say("RCPT TO:<b@example.net>\r\nDATA\r\nx\r\n.\r\nMAIL FROM:<a@example.org>\r\n"),
              "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as Q0001\r\n"
              "421 4.3.2 mx.test Service shutting down\r\n");
    EXPECT_TRUE(h.engine.closed());
  }
}

TEST(SmtpServerTest, Rfc5321_4_5_3_2_TimeoutCloses421AndDropsTheOpenMessage) {
  Harness h;
  h.Greeted();
  h.Say(absl::StrCat("EHLO c\r\n", Transaction("partial")));
  h.engine.OnTimeout();
  EXPECT_TRUE(absl::EndsWith(h.engine.TakeOutput(), "421 4.4.2 mx.test Error: timeout exceeded\r\n"));
  EXPECT_EQ(h.handler.aborted, 1);
  EXPECT_FALSE(h.handler.open());
}

TEST(SmtpServerTest, Rfc2034_EveryReplyButGreetingAndEhloCarriesAnEnhancedCode) {
  Harness h(/*may_relay=*/false);
  std::string out = h.Greeted();
  out += h.Say(
      "FROB\r\nMAIL FROM:<a@b.c>\r\nHELO c\r\nNOOP\r\nVRFY x\r\nMAIL FROM:<a@b.c> SIZE=x\r\n"
      "MAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nRCPT TO:<p@relay.example>\r\nRCPT TO:bad\r\nDATA\r\nx\r\n.\r\n"
      "BDAT 1 LAST\r\nxRSET\r\nHELP\r\nEXPN x\r\nAUTH x\r\nQUIT\r\n");
  const std::regex enhanced("^[245][0-9][0-9][ -][245]\\.[0-9]{1,3}\\.[0-9]{1,3} .*");
  int checked = 0;
  for (absl::string_view line : absl::StrSplit(out, "\r\n", absl::SkipEmpty())) {
    // RFC 3463 codes exist for classes 2, 4 and 5; the greeting, the HELO/EHLO lines
    // (RFC 2034 §3) and the intermediate 354 carry none.
    if (absl::StartsWith(line, "220 ") || line == "250 mx.test" || absl::StartsWith(line, "354 ")) continue;
    EXPECT_TRUE(std::regex_match(std::string(line), enhanced)) << line;
    ++checked;
  }
  EXPECT_EQ(checked, 16);
}

// STARTTLS (RFC 3207). The handshake itself is the session's (net/tls_channel.h); the
// engine's part is the reply, what it stops reading, and the reset after TLS.
struct TlsHarness : Harness {
  TlsHarness() : Harness(true, Options(), /*tls_offered=*/true) { Greeted(); }
};

TEST(SmtpServerTest, Rfc3207_4_EhloOffersStartTlsOnlyWithACertificateAndOnlyBeforeTls) {
  Harness plain;
  plain.Greeted();
  EXPECT_FALSE(absl::StrContains(plain.Say("EHLO client.example\r\n"), "STARTTLS"));
  // RFC 3207 §4: without TLS available, 454.
  EXPECT_EQ(plain.Say("STARTTLS\r\n"), "454 4.7.0 TLS not available\r\n");

  TlsHarness h;
  EXPECT_TRUE(absl::StrContains(h.Say("EHLO client.example\r\n"), "250-STARTTLS\r\n"));
  EXPECT_EQ(h.Say("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_TRUE(h.engine.starting_tls());
  h.engine.OnTlsStarted("TLSv1.3 TLS_AES_128_GCM_SHA256");
  // RFC 3207 §4.2: STARTTLS is not offered (nor accepted) again.
  EXPECT_FALSE(absl::StrContains(h.Say("EHLO client.example\r\n"), "STARTTLS"));
  EXPECT_EQ(h.Say("STARTTLS\r\n"), "503 5.5.1 Error: TLS already active\r\n");
}

TEST(SmtpServerTest, Rfc3207_4_2_PlaintextPipelinedAfterStartTlsIsDroppedCve2011_0411) {
  TlsHarness h;
  h.Say("EHLO client.example\r\n");
  // The injection: commands in the same segment as STARTTLS get no reply, ever.
  EXPECT_EQ(h.Say("STARTTLS\r\nRSET\r\nMAIL FROM:<evil@example.org>\r\n"),
            "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_TRUE(h.rest.empty());       // consumed, not waiting: dropped
  EXPECT_EQ(h.Say("NOOP\r\n"), "");  // nothing is read until the handshake is done
  h.engine.OnTlsStarted("TLSv1.3 TLS_AES_128_GCM_SHA256");
  // The session was reset: the EHLO before TLS counts for nothing (RFC 3207 §4.2).
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  h.Say("EHLO client.example\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST(SmtpServerTest, Rfc3207_4_StartTlsNeedsNoArgumentAndNoOpenTransaction) {
  TlsHarness h;
  h.Say("EHLO client.example\r\n");
  EXPECT_EQ(h.Say("STARTTLS now\r\n"), "501 5.5.4 Syntax: STARTTLS\r\n");
  h.Say("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(h.Say("STARTTLS\r\n"), "503 5.5.1 Error: MAIL transaction in progress\r\n");
  EXPECT_FALSE(h.engine.starting_tls());
}

TEST(SmtpServerTest, Rfc3030_StartTlsInsideABdatChunkIsData) {
  TlsHarness h;
  h.Say("EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n");
  EXPECT_EQ(h.Say("BDAT 10 LAST\r\nSTARTTLS\r\n"), "250 2.0.0 Ok: queued as Q0001\r\n");
  EXPECT_FALSE(h.engine.starting_tls());
  ASSERT_EQ(h.handler.committed.size(), 1u);
  EXPECT_TRUE(absl::EndsWith(h.handler.committed[0].body, "STARTTLS\r\n"));
}

TEST(SmtpServerTest, Rfc3207_ReceivedSaysEsmtpsWithTheVersionAndCipher) {
  TlsHarness h;
  h.Say("EHLO client.example\r\nSTARTTLS\r\n");
  h.engine.OnTlsStarted("TLSv1.3 TLS_AES_256_GCM_SHA384");
  h.Say("EHLO client.example\r\n");
  EXPECT_EQ(h.Say(Transaction("Subject: x\r\n\r\nhi\r\n.\r\n")).substr(0, 3), "250");
  ASSERT_EQ(h.handler.committed.size(), 1u);
  const auto& message = h.handler.committed[0];
  EXPECT_TRUE(absl::StrContains(message.body,
                                "with ESMTPS (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384) id Q0001"))
      << message.body;
  EXPECT_EQ(message.envelope.protocol, "ESMTPS");
  EXPECT_EQ(message.envelope.tls, "TLSv1.3 TLS_AES_256_GCM_SHA384");
}

TEST(ReceivedHeaderTest, Rfc5322_3_3_DateMatchesAbslFormattingAcrossCenturies) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> times = {0, 951782400 /* 2000-02-29 */, 4107542400 /* 2100-03-01 */, 1796000000, -1};
  for (int i = 0; i < 2000; ++i) times.push_back(static_cast<int64_t>(rng() % 8000000000ull));
  for (int64_t t : times) {
    EXPECT_EQ(core::FormatRfc5322Date(t),
              absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", absl::FromUnixSeconds(t), absl::UTCTimeZone()))
        << t;
  }
}

TEST(ReceivedHeaderTest, CounterFindsReceivedLinesOnlyInTheHeaderAtAnySplit) {
  const std::string body =
      "Received: a\r\nX-Received: b\r\nRECEIVED:c\r\nSubject: Received: d\r\nreceived: e\r\n\r\nReceived: "
      "f\r\n";
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    ReceivedHeaderCounter counter;
    counter.Feed(absl::string_view(body).substr(0, cut));
    counter.Feed(absl::string_view(body).substr(cut));
    EXPECT_EQ(counter.count(), 3u) << cut;
  }
}

// --- golden transcripts ----------------------------------------------------------

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Replays NAME.in with the input cut at `cuts` and returns everything the server said.
std::string Replay(const std::string& input, const std::vector<size_t>& cuts, std::string* bodies) {
  Harness h;
  std::string out = h.Greeted();
  size_t at = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(input.size());
  for (size_t end : ends) {
    if (end > at) out += h.Say(absl::string_view(input).substr(at, end - at));
    at = std::max(at, end);
  }
  for (const auto& m : h.handler.committed)
    absl::StrAppend(bodies, "--- ", m.envelope.queue_id, "\n", m.body);
  return out;
}

class GoldenTranscriptTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTranscriptTest, MatchesTheReferenceAtAnySplit) {
  const std::string dir = std::string(RINGPOST_SOURCE_DIR) + "/tests/testdata/smtp/";
  const std::string input = ReadFile(dir + GetParam() + ".in");
  const std::string expected = ReadFile(dir + GetParam() + ".ref");
  std::string bodies;
  EXPECT_EQ(Replay(input, {}, &bodies), expected);
  std::mt19937 rng(20261129);
  for (int round = 0; round < 50; ++round) {
    std::vector<size_t> cuts;
    for (int i = 0; i < 8; ++i) cuts.push_back(std::uniform_int_distribution<size_t>(0, input.size())(rng));
    std::sort(cuts.begin(), cuts.end());
    std::string split_bodies;
    ASSERT_EQ(Replay(input, cuts, &split_bodies), expected) << "round " << round;
    ASSERT_EQ(split_bodies, bodies) << "round " << round;
  }
  std::string byte_bodies;
  std::vector<size_t> every_byte(input.size());
  for (size_t i = 0; i < input.size(); ++i) every_byte[i] = i;
  EXPECT_EQ(Replay(input, every_byte, &byte_bodies), expected);
  EXPECT_EQ(byte_bodies, bodies);
}

INSTANTIATE_TEST_SUITE_P(Smtp, GoldenTranscriptTest,
                         ::testing::Values("rfc5321_d1", "pipelining", "bdat", "errors", "smuggling"));

}  // namespace
}  // namespace ringpost::net
