// SMTP AUTH in the server engine (RFC 4954, PLAIN RFC 4616, LOGIN): offered only under
// TLS, the exchange decoded strictly, the password left to the handler, and what a
// login changes (relaying, Received: "with ESMTPSA", the envelope's user).
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "net/smtp/sasl.h"
#include "net/smtp/smtp_server.h"
#include "tests/support/smtp_server_harness.h"

namespace ringpost::net {
namespace {

using testing::Harness;
using Verdict = SmtpServer::LoginVerdict;

SmtpServerOptions AuthOptions() {
  SmtpServerOptions o = Harness::Options();
  o.auth_offered = true;
  o.command_line_bytes_max = 12288;  // RFC 4954 §4
  return o;
}

// A client that may not relay by its address, after STARTTLS and EHLO.
struct AuthHarness : Harness {
  explicit AuthHarness(bool auth_required = false)
      : Harness(/*may_relay=*/false, AuthOptions(), /*tls_offered=*/true, auth_required) {
    Greeted();
    Say("EHLO client.example\r\nSTARTTLS\r\n");
    engine.OnTlsStarted("TLSv1.3 TLS_AES_128_GCM_SHA256");
    ehlo = Say("EHLO client.example\r\n");
  }
  std::string ehlo;
};

std::string Plain(absl::string_view authzid, absl::string_view user, absl::string_view password) {
  return EncodeSaslBase64(absl::StrCat(authzid, std::string(1, '\0'), user, std::string(1, '\0'), password));
}

TEST(SmtpAuthTest, Rfc4954_4_OfferedOnlyUnderTlsAndRefusedBefore538) {
  Harness h(/*may_relay=*/false, AuthOptions(), /*tls_offered=*/true);
  h.Greeted();
  EXPECT_FALSE(absl::StrContains(h.Say("EHLO client.example\r\n"), "AUTH"));
  EXPECT_EQ(h.Say("AUTH PLAIN " + Plain("", "alice", "secret") + "\r\n"),
            "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  EXPECT_TRUE(h.handler.logins.empty());  // the password never reached a check
  AuthHarness tls;
  EXPECT_TRUE(absl::StrContains(tls.ehlo, "\r\n250-AUTH PLAIN LOGIN\r\n")) << tls.ehlo;
  // Without --auth_users there is no AUTH at all.
  Harness off(false, Harness::Options(), true);
  off.Greeted();
  off.Say("EHLO client.example\r\n");
  EXPECT_EQ(off.Say("AUTH PLAIN =\r\n"), "502 5.5.1 Error: authentication not enabled\r\n");
}

TEST(SmtpAuthTest, Rfc4616_PlainWithAnInitialResponseThenRelayAndEsmtpsa) {
  AuthHarness h;
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"),
            "250 2.1.0 Ok\r\n554 5.7.1 <b@example.net>: Relay access denied\r\n");
  h.Say("RSET\r\n");
  // The engine stops reading while the password is checked; pipelined commands wait.
  EXPECT_EQ(h.Say("AUTH PLAIN " + Plain("", "alice", "secret") + "\r\nMAIL FROM:<a@example.org>\r\n"), "");
  ASSERT_EQ(h.handler.logins.size(), 1u);
  EXPECT_EQ(h.handler.logins[0], (std::pair<std::string, std::string>("alice", "secret")));
  EXPECT_TRUE(h.engine.awaiting_login());
  h.engine.OnLoginChecked(Verdict::kAccepted);
  h.Pump();
  EXPECT_EQ(h.engine.TakeOutput(), "235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.engine.auth_user(), "alice");
  // RFC 4954 §5: MAIL's AUTH= parameter is taken and kept.
  h.Say("RSET\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org> AUTH=<>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(h.Say("Subject: x\r\n\r\nhi\r\n.\r\n"), "250 2.0.0 Ok: queued as Q0001\r\n");
  ASSERT_EQ(h.handler.committed.size(), 1u);
  const auto& message = h.handler.committed[0];
  EXPECT_EQ(message.envelope.auth_user, "alice");
  EXPECT_EQ(message.envelope.protocol, "ESMTPSA");  // RFC 3848
  EXPECT_EQ(message.envelope.mail_params, "AUTH=<>");
  EXPECT_TRUE(absl::StrContains(message.body, "with ESMTPSA (using TLSv1.3")) << message.body;
}

TEST(SmtpAuthTest, Rfc4954_4_PlainWithoutAnInitialResponseAndLoginStepByStep) {
  AuthHarness plain;
  EXPECT_EQ(plain.Say("AUTH PLAIN\r\n"), "334 \r\n");
  EXPECT_EQ(plain.Say(Plain("bob", "bob", "pw") + "\r\n"), "");  // authzid = authcid is allowed
  EXPECT_EQ(plain.handler.logins.at(0).first, "bob");

  AuthHarness login;
  EXPECT_EQ(login.Say("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");                    // "Username:"
  EXPECT_EQ(login.Say(EncodeSaslBase64("carol") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");  // "Password:"
  EXPECT_EQ(login.Say(EncodeSaslBase64("hunter2") + "\r\n"), "");
  EXPECT_EQ(login.handler.logins.at(0), (std::pair<std::string, std::string>("carol", "hunter2")));
  login.engine.OnLoginChecked(Verdict::kRefused);
  EXPECT_EQ(login.engine.TakeOutput(), "535 5.7.8 Error: authentication failed\r\n");
  EXPECT_EQ(login.engine.auth_user(), "");
  // A failed login may be tried again; LOGIN with its user name as initial response.
  EXPECT_EQ(login.Say("auth login " + EncodeSaslBase64("carol") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
}

TEST(SmtpAuthTest, Rfc4954_HostileExchangesGetTheirRepliesAndNoCheck) {
  AuthHarness h;
  EXPECT_EQ(h.Say("AUTH PLAIN\r\n*\r\n"), "334 \r\n501 5.7.0 Authentication cancelled\r\n");
  EXPECT_EQ(h.Say("AUTH PLAIN not-base64!\r\n"), "501 5.5.2 Error: cannot decode response\r\n");
  EXPECT_EQ(h.Say("AUTH PLAIN QUJD\r\n"), "501 5.5.2 Error: malformed PLAIN response\r\n");  // "ABC"
  EXPECT_EQ(h.Say("AUTH PLAIN " + Plain("mallory", "alice", "pw") + "\r\n"),
            "535 5.7.8 Error: authentication failed\r\n");  // acting as someone else
  EXPECT_EQ(h.Say("AUTH PLAIN " + Plain("", "", "pw") + "\r\n"),
            "501 5.5.2 Error: malformed PLAIN response\r\n");
  EXPECT_EQ(h.Say("AUTH CRAM-MD5\r\n"), "504 5.5.4 Unrecognized authentication type\r\n");
  EXPECT_EQ(h.Say("AUTH PLAIN a b\r\n"), "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n");
  EXPECT_EQ(h.Say("AUTH LOGIN\r\n" + EncodeSaslBase64(std::string(256, 'u')) + "\r\n"),
            "334 VXNlcm5hbWU6\r\n501 5.5.2 Error: malformed user name\r\n");
  EXPECT_EQ(h.Say("AUTH PLAIN\r\n" + std::string(13000, 'A') + "\r\nNOOP\r\n"),
            "334 \r\n500 5.5.6 Authentication Exchange line is too long\r\n250 2.0.0 Ok\r\n");
  EXPECT_TRUE(h.handler.logins.empty());
  // During a transaction, and twice.
  h.Say("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(h.Say("AUTH PLAIN =\r\n"), "503 5.5.1 Error: MAIL transaction in progress\r\n");
  h.Say("RSET\r\nAUTH PLAIN " + Plain("", "alice", "pw") + "\r\n");
  h.engine.OnLoginChecked(Verdict::kAccepted);
  h.engine.TakeOutput();
  EXPECT_EQ(h.Say("AUTH PLAIN " + Plain("", "alice", "pw") + "\r\n"),
            "503 5.5.1 Error: already authenticated\r\n");
}

TEST(SmtpAuthTest, Rfc4954_6_ASubmissionPortTakesNoMailBeforeLogin) {
  AuthHarness h(/*auth_required=*/true);
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org>\r\n"), "530 5.7.0 Authentication required\r\n");
  h.Say("AUTH PLAIN " + Plain("", "alice", "pw") + "\r\n");
  h.engine.OnLoginChecked(Verdict::kAccepted);
  EXPECT_EQ(h.engine.TakeOutput(), "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(h.Say("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST(SmtpAuthTest, TooManyFailuresEndTheSessionWith421) {
  AuthHarness h;
  h.Say("AUTH PLAIN " + Plain("", "alice", "guess") + "\r\nNOOP\r\n");
  h.engine.OnLoginChecked(Verdict::kRefusedAndClosing);
  EXPECT_EQ(h.engine.TakeOutput(), "421 4.7.0 mx.test Error: too many failed logins\r\n");
  EXPECT_TRUE(h.engine.closed());
}

TEST(SaslTest, Rfc4648_StrictBase64) {
  EXPECT_EQ(*DecodeSaslBase64("="), "");
  EXPECT_EQ(*DecodeSaslBase64("YWxpY2U="), "alice");
  EXPECT_EQ(*DecodeSaslBase64("YWI="), "ab");
  for (const char* bad :
       {"", "YWxpY2U", "YWxp Y2U=", "YW=xY2U=", "YWxpY2U===", "YWxp\nY2U=", "====", "YWxpY2U*"}) {
    EXPECT_FALSE(DecodeSaslBase64(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace ringpost::net
