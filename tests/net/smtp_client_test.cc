// The SMTP client engine, sans I/O: RFC 5321 sessions, PIPELINING (RFC 2920), SIZE
// (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531) and CHUNKING (RFC 3030), with
// scripted server replies.
#include "net/smtp/smtp_client.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "net/inbound/relay_policy.h"
#include "net/smtp/smtp_server.h"
#include "tests/support/smtp_client_harness.h"
#include "tests/support/smtp_memory_handler.h"

namespace ringpost::net {
namespace {

using testing::ClientHarness;
using testing::Message;
using testing::Recorder;

TEST(SmtpClientTest, Rfc5321_3_1_GreetingThenEhloAndTheExtensionsOffered) {
  ClientHarness h;
  h.Connect({"PIPELINING", "SIZE 1000", "8BITMIME", "SMTPUTF8", "CHUNKING", "STARTTLS"});
  const ServerExtensions& e = h.client.extensions();
  EXPECT_TRUE(e.esmtp && e.pipelining && e.eight_bit_mime && e.smtputf8 && e.chunking && e.starttls);
  EXPECT_TRUE(e.size_offered);
  EXPECT_EQ(e.size_max, 1000u);
  EXPECT_EQ(h.events.ready, 1);
}

constexpr absl::string_view kEhloWithStartTls = "250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n";

TEST(SmtpClientTest, Rfc3207_4_StartTlsWhenOfferedThenEhloAgainOverTls) {
  ClientHarness h;
  h.client.set_tls_policy(TlsPolicy::kOpportunistic);
  EXPECT_EQ(h.Hear("220 mx.example ESMTP\r\n"), "EHLO client.test\r\n");
  EXPECT_EQ(h.Hear(kEhloWithStartTls), "STARTTLS\r\n");
  EXPECT_EQ(h.events.ready, 0);
  // CVE-2021-38371: what the server sent after its 220 in plaintext is dropped; it
  // would otherwise be read as replies inside TLS.
  EXPECT_EQ(h.Hear("220 2.0.0 go ahead\r\n250 2.0.0 injected\r\n"), "");
  EXPECT_EQ(h.events.start_tls, 1);
  EXPECT_TRUE(h.client.awaiting_tls());
  h.client.OnTlsStarted();
  // RFC 3207 §4.2: EHLO again; what was offered before is forgotten.
  EXPECT_EQ(h.client.TakeOutput(), "EHLO client.test\r\n");
  EXPECT_FALSE(h.client.extensions().pipelining);
  EXPECT_EQ(h.Hear("250-mx.example\r\n250 CHUNKING\r\n"), "");  // no STARTTLS a second time
  EXPECT_TRUE(h.client.ready());
  EXPECT_TRUE(h.client.tls_active());
  EXPECT_TRUE(h.client.extensions().chunking);
}

TEST(SmtpClientTest, Rfc3207_OpportunisticGoesOnInPlaintextWhenNotOfferedOrRefused) {
  ClientHarness h;
  h.client.set_tls_policy(TlsPolicy::kOpportunistic);
  h.Connect({"PIPELINING"});
  EXPECT_FALSE(h.client.tls_active());

  ClientHarness refused;
  refused.client.set_tls_policy(TlsPolicy::kOpportunistic);
  refused.Hear("220 mx.example ESMTP\r\n");
  EXPECT_EQ(refused.Hear(kEhloWithStartTls), "STARTTLS\r\n");
  EXPECT_EQ(refused.Hear("454 4.7.0 TLS not available\r\n"), "");
  EXPECT_TRUE(refused.client.ready());
  EXPECT_TRUE(refused.client.extensions().pipelining);  // from the first EHLO
}

TEST(SmtpClientTest, Rfc3207_RequiredFailsWithoutStartTls) {
  ClientHarness h;
  h.client.set_tls_policy(TlsPolicy::kRequired);
  h.Hear("220 mx.example ESMTP\r\n");
  EXPECT_EQ(h.Hear("250-mx.example\r\n250 PIPELINING\r\n"), "QUIT\r\n");
  ASSERT_EQ(h.events.failures.size(), 1u);
  EXPECT_TRUE(absl::StrContains(h.events.failures[0], "does not offer STARTTLS"));
  EXPECT_EQ(h.events.ready, 0);

  ClientHarness refused;
  refused.client.set_tls_policy(TlsPolicy::kRequired);
  refused.Hear("220 mx.example ESMTP\r\n");
  refused.Hear(kEhloWithStartTls);
  EXPECT_EQ(refused.Hear("454 4.7.0 TLS not available\r\n"), "QUIT\r\n");
  ASSERT_EQ(refused.events.failures.size(), 1u);
  EXPECT_TRUE(absl::StrContains(refused.events.failures[0], "STARTTLS was refused: 454 4.7.0"));
}

TEST(SmtpClientTest, WithoutATlsPolicyStartTlsIsNeverSent) {
  ClientHarness h;
  h.Hear("220 mx.example ESMTP\r\n");
  EXPECT_EQ(h.Hear(kEhloWithStartTls), "");
  EXPECT_TRUE(h.client.ready());
}

TEST(SmtpClientTest, Rfc5321_3_2_EhloRefusedFallsBackToHelo) {
  ClientHarness h;
  EXPECT_EQ(h.Hear("220 old.example\r\n"), "EHLO client.test\r\n");
  EXPECT_EQ(h.Hear("502 5.5.1 what is EHLO\r\n"), "HELO client.test\r\n");
  EXPECT_EQ(h.Hear("250 old.example\r\n"), "");
  EXPECT_TRUE(h.client.ready());
  EXPECT_FALSE(h.client.extensions().esmtp);
  EXPECT_FALSE(h.client.extensions().pipelining);
}

TEST(SmtpClientTest, Rfc5321_3_1_RefusedGreetingEndsWithQuit) {
  ClientHarness h;
  EXPECT_EQ(h.Hear("554 5.3.2 no service here\r\n"), "QUIT\r\n");
  ASSERT_EQ(h.events.failures.size(), 1u);
  EXPECT_TRUE(absl::StrContains(h.events.failures[0], "554 5.3.2 no service here"));
  EXPECT_TRUE(h.client.wants_close());
}

TEST(SmtpClientTest, Rfc2920_TheEnvelopeLeavesInOneWriteAndDataWaitsFor354) {
  ClientHarness h;
  h.Connect({"PIPELINING", "SIZE 0"});
  EXPECT_EQ(h.Start(Message({"a@example.net", "b@example.net"}, ".dot\r\nline\r\n")),
            "MAIL FROM:<sender@example.org> SIZE=12\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\n"
            "DATA\r\n");
  // RFC 5321 §4.5.2: the leading dot is doubled; "." CRLF ends the data.
  EXPECT_EQ(h.Hear("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go on\r\n"),
            "..dot\r\nline\r\n.\r\n");
  EXPECT_EQ(h.Hear("250 2.0.0 queued as X\r\n"), "");
  ASSERT_EQ(h.events.done.size(), 1u);
  const auto& r = h.events.done[0];
  EXPECT_EQ(r[0].code, 250);
  EXPECT_EQ(r[0].enhanced, "2.0.0");
  EXPECT_EQ(r[1].code, 550);
  EXPECT_EQ(r[1].Summary(), "550 5.1.1 no such user");
  EXPECT_TRUE(h.client.ready());
}

TEST(SmtpClientTest, Rfc5321_WithoutPipeliningOneCommandPerReply) {
  ClientHarness h;
  h.Connect({"8BITMIME"});
  EXPECT_EQ(h.Start(Message({"a@example.net", "b@example.net"})), "MAIL FROM:<sender@example.org>\r\n");
  EXPECT_EQ(h.Hear("250 ok\r\n"), "RCPT TO:<a@example.net>\r\n");
  EXPECT_EQ(h.Hear("250 ok\r\n"), "RCPT TO:<b@example.net>\r\n");
  EXPECT_EQ(h.Hear("250 ok\r\n"), "DATA\r\n");
  EXPECT_EQ(h.Hear("354 go\r\n"), "Subject: x\r\n\r\nhi\r\n.\r\n");
  EXPECT_EQ(h.Hear("451 4.3.0 try later\r\n"), "");
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.events.done[0][0].code, 451);
  EXPECT_EQ(h.events.done[0][1].code, 451);
  // A refused final reply leaves the transaction to be reset before the next one.
  EXPECT_EQ(h.Start(Message({"c@example.net"})), "RSET\r\n");
  EXPECT_EQ(h.Hear("250 ok\r\n"), "MAIL FROM:<sender@example.org>\r\n");
}

TEST(SmtpClientTest, Rfc5321_NoAcceptedRecipientSendsNoDataAndResetsNextTime) {
  ClientHarness h;
  h.Connect({});
  h.Start(Message({"a@example.net"}));
  EXPECT_EQ(h.Hear("250 ok\r\n"), "RCPT TO:<a@example.net>\r\n");
  EXPECT_EQ(h.Hear("450 4.2.0 mailbox busy\r\n"), "");  // no DATA
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.events.done[0][0].code, 450);
  EXPECT_EQ(h.Start(Message({"b@example.net"})), "RSET\r\n");
}

TEST(SmtpClientTest, Rfc2920_RefusedMailDecidesEveryRecipientAfterTheRepliesDrain) {
  ClientHarness h;
  h.Connect({"PIPELINING"});
  h.Start(Message({"a@example.net", "b@example.net"}));
  EXPECT_EQ(h.Hear("553 5.1.8 sender refused\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no MAIL\r\n"), "");
  EXPECT_TRUE(h.events.done.empty());  // DATA's reply is still to come
  EXPECT_EQ(h.Hear("503 5.5.1 no valid recipients\r\n"), "");
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.events.done[0][0].Summary(), "553 5.1.8 sender refused");
  EXPECT_EQ(h.events.done[0][1].Summary(), "553 5.1.8 sender refused");
  EXPECT_EQ(h.Start(Message({"b@example.net"})).rfind("MAIL FROM", 0), 0u) << "no RSET after a refused MAIL";
}

TEST(SmtpClientTest, Rfc2920_A354WithNobodyAcceptedGetsAnEmptyEnd) {
  ClientHarness h;
  h.Connect({"PIPELINING"});
  h.Start(Message({"a@example.net"}));
  EXPECT_EQ(h.Hear("250 ok\r\n550 no\r\n354 go on anyway\r\n"), ".\r\n");
  EXPECT_EQ(h.Hear("554 5.5.1 no valid recipients\r\n"), "");
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.events.done[0][0].code, 550);
}

TEST(SmtpClientTest, Rfc1870_ATooLargeMessageIsRefusedWithoutSending) {
  ClientHarness h;
  h.Connect({"PIPELINING", "SIZE 10"});
  EXPECT_EQ(h.Start(Message({"a@example.net"}, "0123456789A")), "");
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.events.done[0][0].Summary(), "552 5.3.4 message size exceeds the next hop's fixed limit");
  EXPECT_TRUE(h.client.ready());
}

TEST(SmtpClientTest, Rfc6531_Rfc6152_ParametersOnlyWhenNeededAndOffered) {
  {
    ClientHarness h;
    h.Connect({"PIPELINING", "8BITMIME"});
    OutboundMessage m = Message({"\xC3\xB6@example.net"});
    m.smtputf8 = true;
    EXPECT_EQ(h.Start(std::move(m)), "");  // DESIGN.md: no SMTPUTF8 at the next hop → 5.6.7
    EXPECT_EQ(h.events.done[0][0].Summary(), "553 5.6.7 next hop does not support SMTPUTF8");
    OutboundMessage eight = Message({"a@example.net"});
    eight.eight_bit = true;
    EXPECT_TRUE(
        absl::StartsWith(h.Start(std::move(eight)), "MAIL FROM:<sender@example.org> BODY=8BITMIME\r\n"));
  }
  {
    ClientHarness h;
    h.Connect({"PIPELINING", "SMTPUTF8"});
    OutboundMessage m = Message({"\xC3\xB6@example.net"});
    m.smtputf8 = true;
    m.eight_bit = true;  // no 8BITMIME offered: no BODY parameter
    EXPECT_TRUE(absl::StartsWith(h.Start(std::move(m)), "MAIL FROM:<sender@example.org> SMTPUTF8\r\n"));
  }
}

TEST(SmtpClientTest, Rfc3030_ChunkingSendsTheBodyAsOneLastChunk) {
  ClientHarness h;
  h.Connect({"CHUNKING"});
  // Without PIPELINING, one command at a time, and the body only for an accepted
  // recipient.
  EXPECT_EQ(h.Start(Message({"a@example.net"}, ".x\r\n")), "MAIL FROM:<sender@example.org>\r\n");
  EXPECT_EQ(h.Hear("250 ok\r\n"), "RCPT TO:<a@example.net>\r\n");
  EXPECT_EQ(h.Hear("250 ok\r\n"), "BDAT 4 LAST\r\n.x\r\n");  // no dot-stuffing in BDAT
  EXPECT_EQ(h.Hear("250 2.0.0 ok\r\n"), "");
  EXPECT_EQ(h.events.done[0][0].code, 250);
  EXPECT_EQ(h.Start(Message({"a@example.net"})), "MAIL FROM:<sender@example.org>\r\n");
  EXPECT_EQ(h.Hear("250 ok\r\n"), "RCPT TO:<a@example.net>\r\n");
  EXPECT_EQ(h.Hear("550 5.1.1 no such user\r\n"), "");  // nobody accepted: no body
  EXPECT_EQ(h.events.done[1][0].code, 550);
}

TEST(SmtpClientTest, Rfc3030_4_2_WithPipeliningTheLastChunkLeavesWithTheCommands) {
  ClientHarness h;
  h.Connect({"PIPELINING", "CHUNKING"});
  EXPECT_EQ(h.Start(Message({"a@example.net", "b@example.net"}, ".x\r\n")),
            "MAIL FROM:<sender@example.org>\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\n"
            "BDAT 4 LAST\r\n.x\r\n");
  EXPECT_EQ(h.Hear("250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n250 2.0.0 queued\r\n"), "");
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.events.done[0][0].code, 250);
  EXPECT_EQ(h.events.done[0][1].code, 550);
  // A body with a bare LF goes through DATA, whose stuffer makes it CRLF.
  EXPECT_EQ(h.Start(Message({"a@example.net"}, "bare\nlf\n")),
            "MAIL FROM:<sender@example.org>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n");
  EXPECT_EQ(h.Hear("250 ok\r\n250 ok\r\n354 go\r\n"), "bare\r\nlf\r\n.\r\n");
}

TEST(SmtpClientTest, Rfc3030_2_TheChunkLeavesFromTheMessagesOwnBufferRightAfterItsCommand) {
  ClientHarness h;
  h.Connect({"PIPELINING", "CHUNKING"});
  OutboundMessage m = Message({"a@example.net"}, std::string(20000, 'x') + "\r\n");
  const char* const buffer = m.body.data();
  h.client.StartMessage(std::move(m));
  EXPECT_EQ(h.client.output(),
            "MAIL FROM:<sender@example.org>\r\nRCPT TO:<a@example.net>\r\nBDAT 20002 LAST\r\n");
  EXPECT_TRUE(h.client.has_output());
  h.client.ClearOutput();
  EXPECT_TRUE(h.client.has_output());  // the chunk is still to go
  const std::string body = h.client.TakeBodyOutput();
  EXPECT_EQ(body.data(), buffer);  // the message's own buffer: not copied
  EXPECT_EQ(body, std::string(20000, 'x') + "\r\n");
  EXPECT_FALSE(h.client.has_output());
  EXPECT_EQ(h.Hear("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n"), "");
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.events.done[0][0].code, 250);
}

TEST(SmtpClientTest, ABodySentStuffedComesBackForTheNextReadAndAHandedOverOneDoesNot) {
  ClientHarness h;
  h.Connect({"PIPELINING", "CHUNKING"});
  OutboundMessage stuffed = Message({"a@example.net"}, std::string(20000, 'x') + "\nbare LF: DATA\r\n");
  const char* const stuffed_buffer = stuffed.body.data();
  h.Start(std::move(stuffed));
  h.Hear("250 ok\r\n250 ok\r\n354 go\r\n250 2.0.0 queued\r\n");
  ASSERT_EQ(h.events.done.size(), 1u);
  const std::string spent = h.client.TakeSpentBody();
  EXPECT_EQ(spent.data(), stuffed_buffer);
  EXPECT_EQ(h.client.TakeSpentBody(), "");
  h.client.StartMessage(Message({"a@example.net"}, std::string(20000, 'y') + "\r\n"));
  EXPECT_EQ(h.client.TakeBodyOutput().size(), 20002u);  // BDAT: handed over
  h.client.ClearOutput();
  h.client.Feed("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n");
  ASSERT_EQ(h.events.done.size(), 2u);
  EXPECT_EQ(h.client.TakeSpentBody(), "");
}

TEST(SmtpClientTest, Rfc3030_2_AChunkNotYetTakenStillLeavesBeforeTheNextTransaction) {
  // A server that answers the pipelined transaction before the caller took the chunk:
  // the announced BDAT's octets still leave, and before the next message's MAIL.
  ClientHarness h;
  h.Connect({"PIPELINING", "CHUNKING"});
  h.client.StartMessage(Message({"a@example.net"}, ".x\r\n"));
  h.client.Feed("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n");
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.client.TakeBodyOutput(), "");
  EXPECT_EQ(h.Start(Message({"b@example.net"})),
            "MAIL FROM:<sender@example.org>\r\nRCPT TO:<a@example.net>\r\nBDAT 4 LAST\r\n.x\r\n"
            "MAIL FROM:<sender@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 18 LAST\r\n"
            "Subject: x\r\n\r\nhi\r\n");
}

TEST(SmtpClientTest, Rfc2920_APipelinedChunkAfterARefusedMailLeavesTheMailReplyDeciding) {
  ClientHarness h;
  h.Connect({"PIPELINING", "CHUNKING"});
  h.Start(Message({"a@example.net"}));
  h.Hear("451 4.3.0 try later\r\n503 5.5.1 no MAIL\r\n554 5.5.1 no valid recipients\r\n");
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.events.done[0][0].code, 451);
  // Every RCPT refused: each keeps its own reply. A transaction whose chunk was refused
  // is reset before the next.
  EXPECT_TRUE(absl::StartsWith(h.Start(Message({"a@example.net"})), "RSET\r\nMAIL FROM:"));
  h.Hear("250 reset\r\n250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n");
  ASSERT_EQ(h.events.done.size(), 2u);
  EXPECT_EQ(h.events.done[1][0].code, 550);
  EXPECT_TRUE(absl::StartsWith(h.Start(Message({"a@example.net"})), "RSET\r\nMAIL FROM:"));
}

TEST(SmtpClientTest, ALostConnectionAfterAPipelinedChunkIsAPossibleDuplicate) {
  // The server may have taken the message before the replies were read.
  ClientHarness h;
  h.Connect({"PIPELINING", "CHUNKING"});
  h.Start(Message({"a@example.net"}));
  h.client.OnConnectionLost();
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.events.done[0][0].code, 0);
  EXPECT_TRUE(h.events.done[0][0].possible_duplicate);
}

TEST(SmtpClientTest, NoReplyAfterTheFinalDotIsAPossibleDuplicateNeverADelivery) {
  ClientHarness h;
  h.Connect({"PIPELINING"});
  h.Start(Message({"a@example.net", "b@example.net"}));
  h.Hear("250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n");
  h.client.OnConnectionLost();
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.events.done[0][0].code, 0);
  EXPECT_TRUE(h.events.done[0][0].possible_duplicate);
  EXPECT_EQ(h.events.done[0][1].code, 550);
  EXPECT_TRUE(h.client.closed());

  ClientHarness early;
  early.Connect({"PIPELINING"});
  early.Start(Message({"a@example.net"}));
  early.client.OnConnectionLost();
  EXPECT_EQ(early.events.done[0][0].code, 0);
  EXPECT_FALSE(early.events.done[0][0].possible_duplicate);
}

TEST(SmtpClientTest, AHostileEndlessReplyFailsTheSessionWithinItsBound) {
  ClientHarness h;
  h.client.Feed("220 mx\r\n");
  h.client.TakeOutput();
  std::string endless;
  for (int i = 0; i < 100000; ++i) endless += "250-filler line of a hostile server\r\n";
  h.client.Feed(endless);
  ASSERT_EQ(h.events.failures.size(), 1u);
  EXPECT_TRUE(absl::StrContains(h.events.failures[0], "too many lines")) << h.events.failures[0];
  EXPECT_TRUE(h.client.wants_close());
}

TEST(SmtpClientTest, UnaskedRepliesAndBrokenLinesFailTheSession) {
  ClientHarness h;
  h.Connect({});
  h.Hear("250 surprise\r\n");
  ASSERT_EQ(h.events.failures.size(), 1u);
  EXPECT_TRUE(absl::StrContains(h.events.failures[0], "nobody asked"));
  ClientHarness broken;
  broken.Hear("2x0 what\r\n");
  ASSERT_EQ(broken.events.failures.size(), 1u);
}

TEST(SmtpClientTest, Rfc5321_4_1_1_10_QuitEndsTheSession) {
  ClientHarness h;
  h.Connect({"PIPELINING"});
  h.client.Quit();
  EXPECT_EQ(h.client.TakeOutput(), "QUIT\r\n");
  EXPECT_FALSE(h.client.closed());
  h.Hear("221 2.0.0 bye\r\n");
  EXPECT_TRUE(h.client.closed());
}

TEST(SmtpClientTest, TheNextMessageMayStartFromInsideTheDoneCallback) {
  struct Chain : Recorder {
    SmtpClient* client = nullptr;
    int started = 0;
    void OnMessageDone(std::vector<RecipientResult> results) override {
      Recorder::OnMessageDone(std::move(results));
      if (started++ < 2 && client->ready()) {
        OutboundMessage m;
        m.recipients = {"next@example.net"};
        client->StartMessage(std::move(m));
      }
    }
  };
  SmtpClientOptions options;
  Chain chain;
  SmtpClient client(options, chain);
  chain.client = &client;
  client.Feed("220 mx\r\n250-mx\r\n250 PIPELINING\r\n");
  OutboundMessage m;
  m.recipients = {"first@example.net"};
  client.StartMessage(std::move(m));
  // Three transactions answered in one burst.
  for (int i = 0; i < 3; ++i) client.Feed("250 ok\r\n250 ok\r\n354 go\r\n250 done\r\n");
  EXPECT_EQ(chain.done.size(), 3u);
  const std::string out = client.TakeOutput();
  EXPECT_EQ(out.find("MAIL FROM:<>"), 16u) << out;  // right after "EHLO localhost\r\n"
  EXPECT_TRUE(client.ready());
}

// The client engine against ringpost's own server engine, bytes passed in memory: what
// the server stores is the client's body (CRLF-normalised), for DATA and for BDAT.
TEST(SmtpClientTest, TalksToRingpostsServerEngineAndTheBodyArrivesIntact) {
  for (bool chunking : {false, true}) {
    for (absl::string_view body : {absl::string_view("Subject: t\r\n\r\n.lead\r\n..two\r\n.\r\nend\r\n"),
                                   absl::string_view("no final newline"), absl::string_view("")}) {
      SmtpServerOptions server_options;
      server_options.hostname = "mx.test";
      const RelayPolicy relay = *RelayPolicy::Parse("0.0.0.0/0", "", "");
      testing::SmtpMemoryHandler handler;
      SmtpServer server(server_options, relay, SmtpClientInfo{"192.0.2.7", true}, handler);
      handler.engine = &server;
      Recorder events;
      SmtpClientOptions options;
      options.helo_name = "client.test";
      SmtpClient client(options, events);
      server.Greet();
      bool started = false;
      for (int round = 0; round < 20 && events.done.empty(); ++round) {
        std::string to_client = server.TakeOutput();
        if (!chunking) {  // hide CHUNKING from the client: it uses DATA
          const size_t at = to_client.find("250-DSN\r\n250 CHUNKING\r\n");
          if (at != std::string::npos) to_client.replace(at, std::string::npos, "250 DSN\r\n");
        }
        client.Feed(to_client);
        if (client.ready() && !started) {
          started = true;
          OutboundMessage m = Message({"rcpt@example.net"}, body);
          client.StartMessage(std::move(m));
        }
        const std::string to_server = client.TakeOutput();
        size_t used = 0;
        while (used < to_server.size())
          used += server.Feed(absl::string_view(to_server).substr(used), absl::Now());
      }
      ASSERT_EQ(events.done.size(), 1u) << chunking;
      EXPECT_EQ(events.done[0][0].code, 250) << events.done[0][0].Summary();
      ASSERT_EQ(handler.committed.size(), 1u);
      const std::string& stored = handler.committed[0].body;
      const std::string expected = body == "no final newline" ? "no final newline\r\n" : std::string(body);
      // BDAT stores the bytes as sent (no final CRLF is added to a chunked body).
      const std::string want = chunking && body == "no final newline" ? "no final newline" : expected;
      EXPECT_EQ(stored.substr(stored.find("+0000\r\n") + 7), want) << chunking << " " << absl::CEscape(body);
    }
  }
}

}  // namespace
}  // namespace ringpost::net
