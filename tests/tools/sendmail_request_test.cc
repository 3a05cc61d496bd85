// ringpost-sendmail's command line and message preparation: the options programs pass
// to /usr/sbin/sendmail, RFC 5322 §3.4 address lists, -t, Bcc: and From:.
#include "tools/sendmail/sendmail_request.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ringpost::sendmail {
namespace {

using ::testing::ElementsAre;

TEST(SendmailArgsTest, TheOptionsProgramsPass) {
  auto request = ParseSendmailArgs({"-oi", "-f", "app@example.org", "-FThe App", "-odi", "-oem", "-v", "--",
                                    "a@example.net", "b@example.net, c@example.net"});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->sender, "app@example.org");
  EXPECT_TRUE(request->sender_given);
  EXPECT_EQ(request->full_name, "The App");
  EXPECT_FALSE(request->dot_ends_input);
  EXPECT_FALSE(request->recipients_from_headers);
  EXPECT_THAT(request->recipients, ElementsAre("a@example.net", "b@example.net", "c@example.net"));

  auto t = ParseSendmailArgs({"-t", "-i", "-r<>", "-N", "never", "-B", "8BITMIME", "--server=127.0.0.1:25",
                              "-Rhdrs", "-V", "batch 7+1"});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->notify, "NEVER");  // RFC 3461 parameters for MAIL and RCPT
  EXPECT_EQ(t->ret, "HDRS");
  EXPECT_EQ(t->envid, "batch+207+2B1");
  EXPECT_TRUE(t->recipients_from_headers);
  EXPECT_TRUE(t->sender_given);
  EXPECT_EQ(t->sender, "");  // the null sender
  EXPECT_EQ(t->server, "127.0.0.1:25");
  EXPECT_TRUE(t->recipients.empty());

  auto defaults = ParseSendmailArgs({"user@example.net"});
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->dot_ends_input);
  EXPECT_FALSE(defaults->sender_given);

  // A CR or LF would end the SMTP command or the From: header it goes into.
  for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{{"-bs"},
                                                                            {"-bp"},
                                                                            {"-q"},
                                                                            {"-f"},
                                                                            {"-Z"},
                                                                            {"-N", "never,success"},
                                                                            {"-R", "all"},
                                                                            {"-fa@b\r\nRCPT TO:<x@y>"},
                                                                            {"-FName\r\nBcc: x@y", "a@b"},
                                                                            {"a@b\nc"}}) {
    EXPECT_FALSE(ParseSendmailArgs(bad).ok()) << bad[0];
  }
}

TEST(SendmailArgsTest, Rfc5322_3_4_AddressListsAsPeopleWriteThem) {
  EXPECT_THAT(ParseAddressList("Ann <a@x.example>, b@y.example (Bob), \"c, d\" <c@z.example>"),
              ElementsAre("a@x.example", "b@y.example", "c@z.example"));
  EXPECT_THAT(ParseAddressList("team: e@w.example, f@w.example;, g@v.example"),
              ElementsAre("e@w.example", "f@w.example", "g@v.example"));
  EXPECT_THAT(ParseAddressList("<@relay.example:h@u.example>, \"odd user\"@t.example"),
              ElementsAre("h@u.example", "\"odd user\"@t.example"));
  EXPECT_THAT(ParseAddressList("  ,  (just a comment) , "), ElementsAre());
  EXPECT_THAT(ParseAddressList("root"), ElementsAre("root"));
}

TEST(SendmailMessageTest, LineEndingsTheLoneDotRecipientsFromHeadersAndBcc) {
  SendmailRequest request;
  request.recipients_from_headers = true;
  auto message = PrepareMessage(
      "To: Ann <a@x.example>,\n  b@y.example\nCc: c@z.example\nBcc: secret@w.example\nSubject: "
      "hi\n\nline\n.\nafter\n",
      request, "me@host.example");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_THAT(message->header_recipients,
              ElementsAre("a@x.example", "b@y.example", "c@z.example", "secret@w.example"));
  // Without -i a lone "." ends the message; Bcc: never leaves; From: is added.
  EXPECT_EQ(message->data,
            "From: me@host.example\r\nTo: Ann <a@x.example>,\r\n  b@y.example\r\nCc: c@z.example\r\n"
            "Subject: hi\r\n\r\nline\r\n");
  EXPECT_FALSE(message->eight_bit);

  SendmailRequest keep_dots;
  keep_dots.dot_ends_input = false;
  keep_dots.full_name = "The \"App\"";
  auto dots = PrepareMessage("Subject: x\r\n\r\n.\r\n\xC3\xA9t\xC3\xA9", keep_dots, "app@example.org");
  ASSERT_TRUE(dots.ok());
  EXPECT_EQ(dots->data,
            "From: \"The \\\"App\\\"\" <app@example.org>\r\nSubject: x\r\n\r\n.\r\n\xC3\xA9t\xC3\xA9\r\n");
  EXPECT_TRUE(dots->eight_bit);
  EXPECT_TRUE(dots->header_recipients.empty());  // no -t: To:/Cc: are not read

  auto bare_cr = PrepareMessage("Subject: x\r\x01\r\n\r\nb\rc\n", SendmailRequest{}, "me@host.example");
  ASSERT_TRUE(bare_cr.ok());
  EXPECT_EQ(bare_cr->data, "From: me@host.example\r\nSubject: x\x01\r\n\r\nbc\r\n");  // RFC 5322 §2.3

  auto has_from = PrepareMessage("From: Someone <s@example.org>\nBcc: x@y.example\n  z@y.example\n\nb\n",
                                 SendmailRequest{}, "me@host.example");
  ASSERT_TRUE(has_from.ok());
  EXPECT_EQ(has_from->data, "From: Someone <s@example.org>\r\n\r\nb\r\n");
}

}  // namespace
}  // namespace ringpost::sendmail
