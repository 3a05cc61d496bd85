// The shaping file (queue/schedule/shaping.h): scopes and how settings inherit, sites
// by MX host pattern, reply-driven rules with the built-in set, and every mistake named
// by file, line and key (unknown keys are errors, never ignored).
#include "queue/schedule/shaping.h"

#include <string>

#include "gtest/gtest.h"

namespace ringpost::queue {
namespace {

ShapingPolicy ParseOk(const std::string& text) {
  absl::StatusOr<ShapingPolicy> policy = ShapingPolicy::Parse(text, "shaping.toml");
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *std::move(policy) : ShapingPolicy();
}

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<ShapingPolicy> policy = ShapingPolicy::Parse(text, "shaping.toml");
  return policy.ok() ? "(parsed)" : std::string(policy.status().message());
}

TEST(RateTest, ParsesPeriodsAndSuspension) {
  EXPECT_EQ(Rate::Parse("100/s")->interval(), absl::Milliseconds(10));
  EXPECT_EQ(Rate::Parse("5000/h")->interval(), absl::Milliseconds(720));
  EXPECT_EQ(Rate::Parse("1/5m")->interval(), absl::Minutes(5));
  EXPECT_EQ(Rate::Parse("10/m")->ToString(), "10/m");
  EXPECT_EQ(Rate::Parse("2/500ms")->interval(), absl::Milliseconds(250));
  EXPECT_TRUE(Rate::Parse("0")->suspended());
  EXPECT_EQ(Rate::Parse("0")->interval(), absl::InfiniteDuration());
  for (const char* bad :
       {"", "100", "/s", "-1/s", "1/x", "1/0s", "100/s/s", "99999999999/s", "1 /s", "a/s"}) {
    EXPECT_FALSE(Rate::Parse(bad).ok()) << bad;
  }
}

TEST(RateTest, SharesNeverAddUpToMoreThanTheWhole) {
  EXPECT_EQ(Rate::Parse("100/s")->Share(2), (Rate{50, absl::Seconds(1)}));
  EXPECT_EQ(Rate::Parse("1/s")->Share(2), (Rate{1, absl::Seconds(2)}));
  const Rate odd = Rate::Parse("3/s")->Share(2);
  EXPECT_GE(odd.interval() / 2, Rate::Parse("3/s")->interval());
  EXPECT_EQ(Rate::Parse("1/s")->Doubled().ToString(), "2/s");
  EXPECT_TRUE(Rate::Parse("1/s")->SlowerThan(*Rate::Parse("2/s")));
  EXPECT_TRUE(Rate::Parse("0")->SlowerThan(*Rate::Parse("1/d")));
}

TEST(ShapingTest, GlobMatchesHostPatterns) {
  EXPECT_TRUE(GlobMatches("*.google.com", "aspmx.l.google.com"));
  EXPECT_TRUE(GlobMatches("*.google.com", "ALT1.ASPMX.L.GOOGLE.COM"));
  EXPECT_FALSE(GlobMatches("*.google.com", "google.com"));
  EXPECT_FALSE(GlobMatches("*.google.com", "mx.google.com.evil.example"));
  EXPECT_FALSE(GlobMatches("mx*.yahoodns.net", "mta5.am0.yahoodns.net"));
  EXPECT_TRUE(GlobMatches("*.am0.yahoodns.net", "mta5.am0.yahoodns.net"));
  EXPECT_TRUE(GlobMatches("*", "anything"));
  EXPECT_TRUE(GlobMatches("a*b*c", "axxbyyc"));
  EXPECT_FALSE(GlobMatches("a*b*c", "axxbyy"));
}

TEST(ShapingTest, ScopesInheritFromDefaultThroughSiteToDomain) {
  const ShapingPolicy policy = ParseOk(R"(
[default]
max_message_rate = "1000/s"
connection_limit = 20
retry_initial = "1m"

[destination."mx:*.google.com"]
max_message_rate = "100/s"
connection_limit = 10
tls = "required"

[destination."mx:*.l.google.com"]
connection_limit = 5

[destination."Gmail.com"]
max_recipients_per_transaction = 50
retry_max = "2h"
)");
  // The most specific site pattern wins, for the first MX name that matches any.
  EXPECT_EQ(policy.SiteOf({"aspmx.l.google.com."}), "mx:*.l.google.com");
  EXPECT_EQ(policy.SiteOf({"mx.other.example", "smtp.google.com"}), "mx:*.google.com");
  EXPECT_EQ(policy.SiteOf({"mx.other.example"}), "");
  EXPECT_EQ(policy.SiteOf({}), "");

  const ShapeSettings gmail = policy.SettingsFor("gmail.com", "mx:*.google.com");
  EXPECT_EQ(gmail.max_message_rate->ToString(), "100/s");  // the site's
  EXPECT_EQ(*gmail.connection_limit, 10u);
  EXPECT_EQ(*gmail.tls, TlsMode::kRequired);
  EXPECT_EQ(*gmail.max_recipients_per_transaction, 50u);  // the domain's own
  EXPECT_EQ(*gmail.retry_initial, absl::Minutes(1));      // [default]
  EXPECT_EQ(*gmail.retry_max, absl::Hours(2));
  EXPECT_FALSE(gmail.max_queue_lifetime.has_value());  // the flags decide

  // A domain's own budget is [default] and its own scope; the site's is its own.
  const ShapeSettings own = policy.DomainBudget("gmail.com");
  EXPECT_EQ(own.max_message_rate->ToString(), "1000/s");
  EXPECT_EQ(*own.connection_limit, 20u);
  ASSERT_TRUE(policy.SiteBudget("mx:*.google.com").has_value());
  EXPECT_EQ(policy.SiteBudget("mx:*.google.com")->max_message_rate->ToString(), "100/s");
  EXPECT_FALSE(policy.SiteBudget("mx:*.other.example").has_value());
  EXPECT_EQ(policy.destinations(), 3u);
}

TEST(ShapingTest, SharedIsASettingLikeTheOthers) {
  const ShapingPolicy policy = ParseOk(R"(
[destination."mx:*.google.com"]
max_message_rate = "100/s"
shared = true

[destination."mx:*.google.com".source."warming-ip"]
shared = false
)");
  EXPECT_TRUE(policy.has_shared());
  EXPECT_TRUE(*policy.SiteBudget("mx:*.google.com")->shared);
  EXPECT_FALSE(*policy.SiteBudget("mx:*.google.com", "warming-ip")->shared);
  EXPECT_FALSE(policy.DomainBudget("example.com").shared.has_value());
  EXPECT_FALSE(ParseOk("[destination.\"a.example\"]\nshared = false\n").has_shared());
}

TEST(ShapingTest, SourceScopesTakeOverTheirDestinationsForThatSourceOnly) {
  const ShapingPolicy policy = ParseOk(R"(
[default]
max_message_rate = "1000/s"

[destination."mx:*.google.com"]
max_message_rate = "100/s"
connection_limit = 10

[destination."mx:*.google.com".source."warming-ip"]
max_message_rate = "5/s"

[destination."example.com"]
connection_limit = 4

[destination."example.com".source."warming-ip"]
connection_limit = 1
tls = "required"
)");
  // A warming address sends more slowly to Google; the site's other settings hold.
  EXPECT_EQ(policy.SiteBudget("mx:*.google.com", "warming-ip")->max_message_rate->ToString(), "5/s");
  EXPECT_EQ(*policy.SiteBudget("mx:*.google.com", "warming-ip")->connection_limit, 10u);
  EXPECT_EQ(policy.SiteBudget("mx:*.google.com", "other-ip")->max_message_rate->ToString(), "100/s");
  EXPECT_EQ(policy.SiteBudget("mx:*.google.com")->max_message_rate->ToString(), "100/s");
  EXPECT_EQ(policy.SettingsFor("gmail.com", "mx:*.google.com", "warming-ip").max_message_rate->ToString(),
            "5/s");
  // The domain's own scope, then the domain's for the source.
  EXPECT_EQ(*policy.DomainBudget("example.com", "warming-ip").connection_limit, 1u);
  EXPECT_EQ(*policy.DomainBudget("example.com").connection_limit, 4u);
  EXPECT_EQ(*policy.SettingsFor("example.com", "", "warming-ip").tls, TlsMode::kRequired);
  EXPECT_FALSE(policy.SettingsFor("example.com", "", "other-ip").tls.has_value());

  EXPECT_NE(ErrorOf("[destination.\"example.com\".source.\"a b\"]\nconnection_limit = 1\n")
                .find("shaping.toml:1: destination.\"example.com\".source.\"a b\": a source is named"),
            std::string::npos)
      << ErrorOf("[destination.\"example.com\".source.\"a b\"]\nconnection_limit = 1\n");
  EXPECT_NE(ErrorOf("[destination.\"example.com\".source.\"a\"]\nrate = 1\n").find("rate: unknown key in"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[default.source.\"a\"]\nconnection_limit = 1\n").find("source: unknown key in default"),
            std::string::npos);
}

TEST(ShapingTest, RateOfZeroMeansSuspended) {
  const ShapingPolicy policy = ParseOk("[destination.\"paused.example\"]\nmax_message_rate = 0\n");
  EXPECT_TRUE(policy.DomainBudget("paused.example").max_message_rate->suspended());
  const ShapingPolicy also = ParseOk("[destination.\"paused.example\"]\nmax_message_rate = \"0\"\n");
  EXPECT_TRUE(also.DomainBudget("paused.example").max_message_rate->suspended());
}

TEST(ShapingTest, AutomationRulesComeBeforeTheBuiltInOnes) {
  const ShapingPolicy policy = ParseOk(R"(
[[automation]]
name = "slow-down"
code = 421
enhanced = "4.7.0"
text = "(?i)try again later"
threshold = 3
within = "5m"
action = "set_rate"
rate = "10/m"
duration = "30m"
)");
  ASSERT_EQ(policy.automation().size(), 1 + ShapingPolicy::built_in_rules());
  const AutomationRule& rule = policy.automation()[0];
  EXPECT_EQ(rule.name, "slow-down");
  EXPECT_EQ(rule.action, AutomationAction::kSetRate);
  EXPECT_EQ(rule.threshold, 3u);
  EXPECT_EQ(rule.within, absl::Minutes(5));
  EXPECT_EQ(rule.rate.ToString(), "10/m");
  EXPECT_TRUE(rule.pattern.Matches(ReplyPattern::Reply(421, "4.7.0", "please TRY AGAIN LATER")));
  EXPECT_FALSE(rule.pattern.Matches(ReplyPattern::Reply(450, "4.7.0", "try again later")));
  EXPECT_FALSE(rule.pattern.Matches(ReplyPattern::Reply(421, "4.7.1", "try again later")));

  const ShapingPolicy without = ParseOk("builtin_automation = false\n");
  EXPECT_TRUE(without.automation().empty());
}

TEST(ShapingTest, BuiltInRulesKnowTheProvidersThrottlingReplies) {
  const ShapingPolicy policy;  // no file
  ASSERT_GE(policy.automation().size(), 4u);
  auto first_match = [&](int code, const char* status, const char* text) -> std::string {
    const ReplyPattern::Reply reply(code, status, text);
    for (const AutomationRule& rule : policy.automation()) {
      if (rule.pattern.Matches(reply)) return rule.name + ":" + AutomationActionName(rule.action);
    }
    return "none";
  };
  EXPECT_EQ(
      first_match(421, "4.7.28",
                  "Our system has detected an unusual rate of unsolicited mail originating from your IP "
                  "address. To protect our users from spam, mail sent from your IP address has been "
                  "temporarily rate limited."),
      "gmail-rate-limited:suspend");
  EXPECT_EQ(
      first_match(421, "4.7.0",
                  "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user "
                  "complaints - 4.16.55.1"),
      "yahoo-tss04:suspend");
  EXPECT_EQ(
      first_match(451, "4.7.650",
                  "The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation."),
      "microsoft-rate-limited:suspend");
  EXPECT_EQ(first_match(550, "5.7.1",
                        "Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet "
                        "service provider since part of their network is on our block list (S3150)."),
            "microsoft-s3150-temporary:temporary");
  EXPECT_EQ(first_match(550, "5.1.1", "user unknown"), "none");
  EXPECT_EQ(first_match(421, "4.7.0", "try again later"), "none");
}

TEST(ShapingTest, MistakesNameTheFileTheLineAndTheKey) {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"[default]\nmax_message_rate = \"100/x\"\n",
       "shaping.toml:2: max_message_rate: '100/x' is not a rate"},
      {"[default]\nmax_mesage_rate = \"100/s\"\n", "shaping.toml:2: max_mesage_rate: unknown key in default"},
      {"[defaults]\nconnection_limit = 1\n", "defaults: unknown key"},
      {"[default]\nconnection_limit = -1\n",
       "shaping.toml:2: connection_limit: expected a whole number from 0"},
      {"[default]\nconnection_limit = \"5\"\n", "shaping.toml:2: connection_limit: expected a whole number"},
      {"[default]\nretry_initial = \"forever\"\n", "shaping.toml:2: retry_initial: expected a duration"},
      {"[default]\nretry_initial = \"1h\"\nretry_max = \"1m\"\n", "default.retry_max: must be at least"},
      {"[default]\ntls = \"maybe\"\n", "shaping.toml:2: tls: expected \"none\""},
      {"[destination.\"not a domain\"]\nconnection_limit = 1\n", "neither a domain"},
      {"[destination.\"mx:\"]\nconnection_limit = 1\n", "a site is mx: and a host name pattern"},
      {"[[automation]]\nname = \"x\"\naction = \"suspend\"\n",
       "automation \"x\": action suspend needs a duration"},
      {"[[automation]]\naction = \"bounce\"\n", "a rule needs a name"},
      {"[[automation]]\nname = \"x\"\nevery_source = \"yes\"\naction = \"bounce\"\n",
       "shaping.toml:3: every_source: expected true or false"},
      {"[destination.\"a.example\"]\nshared = 1\n", "shaping.toml:2: shared: expected true or false"},
      {"[[automation]]\nname = \"x\"\n", "automation \"x\": a rule needs an action"},
      {"[[automation]]\nname = \"x\"\naction = \"explode\"\n", "shaping.toml:3: action: expected suspend"},
      {"[[automation]]\nname = \"x\"\naction = \"bounce\"\ntext = \"([\"\n",
       "invalid regular expression '(['"},
      {"[[automation]]\nname = \"x\"\naction = \"bounce\"\ncode = \"4x1\"\n", "'4x1' is not a reply code"},
      {"[[automation]]\nname = \"x\"\naction = \"set_rate\"\nduration = \"1m\"\n", "set_rate needs a rate"},
      {"[[automation]]\nname = \"x\"\naction = \"temporary\"\ncode = 421\n", "temporary is for 5xx replies"},
      {"[[automation]]\nname = \"x\"\naction = \"bounce\"\nthreshold = 0\n",
       "threshold: expected a whole number"},
      {"[[automation]]\nname = \"x\"\naction = \"bounce\"\ncolour = \"red\"\n",
       "shaping.toml:4: colour: unknown key in [[automation]]"},
      {"[[automation]]\nname = \"x\"\naction = \"bounce\"\ndestination = \"mx:*.nowhere.example\"\n",
       "destination 'mx:*.nowhere.example' is not a site of this file"},
      {"[default\nconnection_limit = 1\n", "shaping.toml:1: "},
      {"automation = 3\n", "automation: expected [[automation]] tables"},
      {"builtin_automation = \"no\"\n", "builtin_automation: expected true or false"},
      // Not UTF-8 (a file toml11 would read out of bounds on, found by shaping_file_fuzz).
      {"a = 1\nb = '\xc5\x9a\xa2'\n", "shaping.toml:2: not UTF-8 (byte 14)"},
  };
  for (const Case& c : cases) {
    EXPECT_NE(ErrorOf(c.text).find(c.expected), std::string::npos) << "for:\n"
                                                                   << c.text << "got: " << ErrorOf(c.text);
  }
}

}  // namespace
}  // namespace ringpost::queue
