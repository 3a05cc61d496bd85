// Logging in to a smarthost (RFC 4954 AUTH, PLAIN RFC 4616 and LOGIN) in the SMTP client
// engine: only under TLS, the mechanism the server offers, and a refusal that decides
// the message.
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "net/smtp/sasl.h"
#include "net/smtp/smtp_client.h"
#include "tests/support/smtp_client_harness.h"

namespace ringpost::net {
namespace {

using testing::ClientHarness;
using testing::Message;

// A client with a login, through STARTTLS to an EHLO that offers `auth`.
struct LoginHarness : ClientHarness {
  explicit LoginHarness(absl::string_view auth, TlsPolicy policy = TlsPolicy::kOpportunistic) {
    client.set_tls_policy(policy);
    client.set_login("relay-user", "s3cret");
    EXPECT_EQ(Hear("220 smarthost ESMTP\r\n"), "EHLO client.test\r\n");
    EXPECT_EQ(Hear("250-smarthost\r\n250 STARTTLS\r\n"), "STARTTLS\r\n");
    EXPECT_EQ(Hear("220 2.0.0 Ready\r\n"), "");
    client.OnTlsStarted();
    EXPECT_EQ(client.TakeOutput(), "EHLO client.test\r\n");
    EXPECT_EQ(Hear(absl::StrCat("250-smarthost\r\n250-PIPELINING\r\n", auth, "250 8BITMIME\r\n")), "");
  }
};

TEST(SmtpClientAuthTest, Rfc4616_PlainFirstThenTheTransactionAfter235) {
  LoginHarness h("250-AUTH LOGIN PLAIN\r\n");
  // RFC 4954 §4: AUTH alone, never pipelined with MAIL.
  EXPECT_EQ(h.Start(Message({"a@example.net"})),
            "AUTH PLAIN " + EncodeSaslBase64(std::string("\0relay-user\0s3cret", 18)) + "\r\n");
  EXPECT_EQ(h.Hear("235 2.7.0 Authentication successful\r\n"),
            "MAIL FROM:<sender@example.org>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n");
  EXPECT_TRUE(h.client.logged_in());
  h.Hear("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go\r\n");
  h.Hear("250 2.0.0 Ok: queued\r\n");
  ASSERT_EQ(h.events.done.size(), 1u);
  EXPECT_EQ(h.events.done[0][0].code, 250);
  // The next message on the connection needs no second login.
  EXPECT_EQ(h.Start(Message({"b@example.net"})).substr(0, 10), "MAIL FROM:");
}

TEST(SmtpClientAuthTest, LoginStepByStepWhenPlainIsNotOffered) {
  LoginHarness h("250-AUTH=LOGIN\r\n");  // the old form some servers still send
  EXPECT_EQ(h.Start(Message({"a@example.net"})), "AUTH LOGIN\r\n");
  EXPECT_EQ(h.Hear("334 VXNlcm5hbWU6\r\n"), EncodeSaslBase64("relay-user") + "\r\n");
  EXPECT_EQ(h.Hear("334 UGFzc3dvcmQ6\r\n"), EncodeSaslBase64("s3cret") + "\r\n");
  EXPECT_EQ(h.Hear("235 2.7.0 Ok\r\n").substr(0, 10), "MAIL FROM:");
}

TEST(SmtpClientAuthTest, Rfc4954_6_ARefusedLoginDecidesTheMessageAndEndsTheSession) {
  LoginHarness h("250-AUTH PLAIN\r\n");
  h.Start(Message({"a@example.net", "b@example.net"}));
  EXPECT_EQ(h.Hear("535 5.7.8 Authentication credentials invalid\r\n"), "QUIT\r\n");
  ASSERT_EQ(h.events.done.size(), 1u);
  for (const RecipientResult& r : h.events.done[0]) {
    EXPECT_EQ(std::make_pair(r.code, r.enhanced), std::make_pair(535, std::string("5.7.8")));  // it bounces
    EXPECT_EQ(r.text, "Authentication credentials invalid");
  }
  EXPECT_TRUE(h.client.wants_close());
  ASSERT_EQ(h.events.failures.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(h.events.failures[0], "login refused: 535"));

  LoginHarness later("250-AUTH PLAIN\r\n");
  later.Start(Message({"a@example.net"}));
  later.Hear("454 4.7.0 Temporary authentication failure\r\n");
  EXPECT_EQ(later.events.done.at(0).at(0).code, 454);  // deferred
}

TEST(SmtpClientAuthTest, Rfc8314_NoTlsNoLoginAndNothingSent) {
  // A server without STARTTLS: the session is ready in plaintext (opportunistic), but a
  // message that needs the login is deferred 4.7.10 before a byte of it goes out.
  ClientHarness h;
  h.client.set_tls_policy(TlsPolicy::kOpportunistic);
  h.client.set_login("relay-user", "s3cret");
  h.Connect({"PIPELINING", "AUTH PLAIN LOGIN"});
  EXPECT_EQ(h.Start(Message({"a@example.net"})), "QUIT\r\n");
  const RecipientResult& r = h.events.done.at(0).at(0);
  EXPECT_EQ(std::make_pair(r.code, r.enhanced), std::make_pair(0, std::string("4.7.10")));
  EXPECT_TRUE(absl::StrContains(r.text, "TLS is needed to log in"));
  // Nor to a TLS server that offers no mechanism we know.
  LoginHarness none("250-AUTH CRAM-MD5\r\n");
  EXPECT_EQ(none.Start(Message({"a@example.net"})), "QUIT\r\n");
  EXPECT_EQ(none.events.done.at(0).at(0).enhanced, "4.7.0");
}

}  // namespace
}  // namespace ringpost::net
