// Failure classes (queue/schedule/bounce_class.h): RFC 3463 status codes, the replies the
// large providers document on their postmaster pages, ringpost's own reasons for a
// failure without a reply, and a rules file that extends and overrides the built-in
// rules, with its mistakes named by line.
#include "queue/schedule/bounce_class.h"

#include <string>

#include "gtest/gtest.h"

namespace ringpost::queue {
namespace {

std::string ClassOf(const BounceRules& rules, int code, absl::string_view status, absl::string_view text) {
  return BounceClassName(rules.Classify(code, status, text));
}

TEST(BounceClassTest, EveryBuiltInRuleParsesAndNamesRoundTrip) {
  EXPECT_EQ(BounceRules().size(), BounceRules::built_in_size());
  for (size_t c = 0; c < kBounceClassCount; ++c) {
    const auto named = BounceClassNamed(BounceClassName(static_cast<BounceClass>(c)));
    ASSERT_TRUE(named.has_value());
    EXPECT_EQ(static_cast<size_t>(*named), c);
  }
  EXPECT_FALSE(BounceClassNamed("soft_bounce").has_value());
}

TEST(BounceClassTest, Rfc3463_StatusCodesAndTheProvidersThrottlingReplies) {
  const BounceRules rules;
  struct Case {
    int code;
    const char* status;
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      // Gmail (support.google.com/mail/answer/81126 and its SMTP error reference).
      {421, "4.7.28", "Gmail has detected an unusual rate of unsolicited mail originating from your IP",
       "rate_limited"},
      {550, "5.7.28", "Our system has detected an unusual rate of unsolicited mail", "rate_limited"},
      {550, "5.7.1", "Our system has detected that this message is likely unsolicited mail", "spam_block"},
      {550, "5.7.26", "Unauthenticated email from example.com is not accepted due to domain's DMARC policy",
       "policy"},
      {550, "5.1.1", "The email account that you tried to reach does not exist", "invalid_recipient"},
      {452, "4.2.2", "The email account that you tried to reach is over quota", "mailbox_full"},
      {552, "5.3.4", "Your message exceeded Google's message size limits", "message_too_large"},
      // Yahoo (senders.yahooinc.com/smtp-error-codes).
      {421, "4.7.0",
       "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user "
       "complaints",
       "rate_limited"},
      {554, "5.7.9", "Message not accepted for policy reasons", "policy"},
      // Microsoft (S3150: the IP's rate is limited; blocklists by name).
      {451, "4.7.500", "Server busy. Please try again later from [192.0.2.1]. (S3150)", "rate_limited"},
      {550, "5.7.1", "Service unavailable, Client host [192.0.2.1] blocked using Spamhaus", "spam_block"},
      // ringpost's own, for failures without a reply.
      {0, "4.4.1", "connection to 192.0.2.1:25 failed: connect: Connection refused", "connection_failure"},
      {0, "4.4.1", "TLS handshake failed: CERTIFICATE_VERIFY_FAILED", "tls_failure"},
      {0, "4.7.10", "the next hop offers no STARTTLS: no login without TLS", "tls_failure"},
      {0, "4.4.3", "DNS lookup of example.com failed: timeout", "dns_failure"},
      {0, "4.4.4", "no address for mx.example.com", "dns_failure"},
      {550, "5.1.2", "example.invalid does not exist (NXDOMAIN)", "invalid_recipient"},
      {550, "5.1.10", "example.com accepts no mail (null MX)", "invalid_recipient"},
      // A status alone, and a code alone.
      {550, "5.2.1", "", "invalid_recipient"},
      {452, "4.5.3", "", "rate_limited"},
      {552, "", "Requested mail action aborted: exceeded storage allocation", "message_too_large"},
      {451, "4.3.0", "Requested action aborted: local error in processing", "other"},
      {554, "", "", "other"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ClassOf(rules, c.code, c.status, c.text), c.expected)
        << c.code << " " << c.status << " " << c.text;
  }
}

TEST(BounceClassTest, ARulesFileComesFirstAndItsMistakesAreNamedByLine) {
  auto rules = BounceRules::WithFile(
      "# our smarthost's words\n"
      "\n"
      "policy        5*  *.7.1  (?i)listed\n"
      "rate_limited  421 *\n"
      "spam_block    *   *      content rejected\n",
      "rules.txt");
  ASSERT_TRUE(rules.ok()) << rules.status();
  EXPECT_EQ(rules->size(), 3 + BounceRules::built_in_size());
  // Overrides the built-in spam rule for 5xx x.7.1 replies naming a list...
  EXPECT_EQ(ClassOf(*rules, 550, "5.7.1", "blocked: listed on spamhaus"), "policy");
  // ... but not a 4xx one, which falls through to the built-in rules.
  EXPECT_EQ(ClassOf(*rules, 451, "4.7.1", "blocked: listed on spamhaus"), "spam_block");
  EXPECT_EQ(ClassOf(*rules, 421, "", "closing"), "rate_limited");
  EXPECT_EQ(ClassOf(*rules, 554, "5.6.0", "Content REJECTED"), "spam_block");  // without regard to case

  const std::pair<const char*, const char*> mistakes[] = {
      {"bounced 550 *\n",
       "r:1: unknown class 'bounced' (invalid_recipient, mailbox_full, message_too_large, "
       "spam_block, policy, rate_limited, dns_failure, tls_failure, connection_failure, admin, "
       "other)"},
      {"\n\nother 5xx *\n", "r:3: '5xx' is not a reply code (550, 5*, *)"},
      {"other 550 5.1\n", "r:1: '5.1' is not a status code (5.1.1, *.7.28, *)"},
      {"other 550 * (unclosed\n", "r:1: invalid regular expression '(unclosed': missing ): (unclosed"},
      {"other 550\n", "r:1: expected 'class code status [text-regex]'"},
  };
  for (const auto& [text, error] : mistakes) {
    EXPECT_EQ(BounceRules::WithFile(text, "r").status().message(), error) << text;
  }
}

}  // namespace
}  // namespace ringpost::queue
