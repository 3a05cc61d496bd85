// Bounces (RFC 3464 delivery status notifications in an RFC 6522 multipart/report) and
// the retry schedule. The DSN's MIME structure is checked by a real parser: Python's
// email package reads what BuildBounce wrote.
#include "queue/schedule/bounce.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "queue/schedule/retry_schedule.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/subprocess.h"

namespace ringpost::queue {
namespace {

using std::chrono::milliseconds;

BounceInput Input() {
  BounceInput in;
  in.reporting_mta = "mx.ringpost.test";
  in.original_sender = "sender@example.org";
  in.queue_id = "1NGQVJ8010000";
  in.arrival = absl::FromUnixSeconds(1796000000);
  in.now = absl::FromUnixSeconds(1796003600);
  in.recipients.push_back({"gone@example.net", "5.1.1", "550 5.1.1 <gone@example.net>: no such user",
                           "the server refused it", DsnAction::kFailed, ""});
  in.recipients.push_back({"late@example.net", "5.4.7", "", "delivery time expired", DsnAction::kFailed, ""});
  in.original =
      "Received: from x\r\n\tby y\r\nSubject: hello\r\nFrom: sender@example.org\r\n\r\nbody text\r\n";
  in.sequence = 1;
  return in;
}

// Runs `script` (Python, with the DSN's path as argv[1]) and expects it to print "ok":
// the report is checked by a real MIME parser.
void ExpectPythonReads(const std::string& dsn, const std::string& script) {
  const testing::ScratchDir scratch("bounce");
  const std::string& dir = scratch.path();
  std::ofstream(dir + "/dsn.eml", std::ios::binary) << dsn;
  std::ofstream(dir + "/check.py") << script;
  auto [status, output] =
      testing::RunCommand({"/usr/bin/python3", dir + "/check.py", dir + "/dsn.eml"}, milliseconds(20000));
  EXPECT_EQ(status, 0) << output << "\n" << dsn;
  EXPECT_NE(output.find("ok"), std::string::npos) << output;
}

TEST(BounceTest, Rfc3464_APythonMimeParserReadsTheReport) {
  auto dsn = BuildBounce(Input());
  ASSERT_TRUE(dsn.ok()) << dsn.status();
  ExpectPythonReads(*dsn, R"PY(
import email, email.policy, sys
m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)
assert m.get_content_type() == 'multipart/report', m.get_content_type()
assert m.get_param('report-type') == 'delivery-status'
assert m['To'].addresses[0].addr_spec == 'sender@example.org', m['To']
assert m['From'].addresses[0].addr_spec == 'MAILER-DAEMON@mx.ringpost.test', m['From']
parts = list(m.iter_parts())
assert [p.get_content_type() for p in parts] == ['text/plain', 'message/delivery-status', 'text/rfc822-headers'], \
    [p.get_content_type() for p in parts]
status = parts[1].get_payload()  # per-message block, then one block per recipient
assert status[0]['Reporting-MTA'] == 'dns; mx.ringpost.test', status[0]['Reporting-MTA']
recipients = status[1:]
assert [r['Final-Recipient'] for r in recipients] == ['rfc822; gone@example.net', 'rfc822; late@example.net']
assert [r['Action'] for r in recipients] == ['failed', 'failed']
assert [r['Status'] for r in recipients] == ['5.1.1', '5.4.7']
assert recipients[0]['Diagnostic-Code'] == 'smtp; 550 5.1.1 <gone@example.net>: no such user'
assert recipients[1]['Diagnostic-Code'] is None
headers = parts[2].get_content()
assert 'Subject: hello' in headers and 'body text' not in headers, headers
print('ok')
)PY");
}

// RFC 3461 §6.2-6.3 / RFC 3464 §2.2.1, §2.3.1: ENVID and ORCPT come back (decoded from
// xtext); Action says relayed, delivered or delayed; RET=FULL returns the whole message.
TEST(BounceTest, Rfc3464_SuccessAndDelayReportsWithEnvidOrcptAndTheFullMessage) {
  BounceInput in = Input();
  in.envid = "QQ314159";
  in.return_full = true;
  in.recipients = {
      {"relayed@example.net", "2.0.0", "250 2.0.0 ok", "", DsnAction::kRelayed, "rfc822; orig@example.org"},
      {"slow@example.net", "4.3.0", "451 4.3.0 later", "not delivered after 4h", DsnAction::kDelayed, ""},
  };
  auto dsn = BuildBounce(in);
  ASSERT_TRUE(dsn.ok()) << dsn.status();
  ExpectPythonReads(*dsn, R"PY(
import email, email.policy, sys
m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)
assert m['Subject'] == 'Delayed Mail (still being retried)', m['Subject']
parts = list(m.iter_parts())
assert [p.get_content_type() for p in parts] == ['text/plain', 'message/delivery-status', 'message/rfc822'], \
    [p.get_content_type() for p in parts]
status = parts[1].get_payload()
assert status[0]['Original-Envelope-Id'] == 'QQ314159', status[0]['Original-Envelope-Id']
assert [r['Action'] for r in status[1:]] == ['relayed', 'delayed']
assert status[1]['Original-Recipient'] == 'rfc822; orig@example.org', status[1]['Original-Recipient']
assert status[2]['Original-Recipient'] is None
original = parts[2].get_payload()[0]
assert original['Subject'] == 'hello' and original.get_content().strip() == 'body text', original
print('ok')
)PY");
  in.recipients.pop_back();
  auto success = BuildBounce(in);
  ASSERT_TRUE(success.ok());
  EXPECT_TRUE(absl::StrContains(*success, "Subject: Successful Mail Delivery Report\r\n"));
}

TEST(BounceTest, ReportSummaryCountsEachRfc3464ActionInOrder) {
  std::vector<ReportedRecipient> recipients(4);
  recipients[0].action = DsnAction::kDelayed;
  recipients[1].action = DsnAction::kFailed;
  recipients[2].action = DsnAction::kDelayed;
  recipients[3].action = DsnAction::kRelayed;
  EXPECT_EQ(ReportSummary(recipients), "failed=1 delayed=2 relayed=1");
  EXPECT_EQ(ReportSummary({}), "");
}

TEST(BounceTest, Rfc5321_6_1_NeverABounceToTheNullSender) {
  BounceInput in = Input();
  in.original_sender = "";
  EXPECT_EQ(BuildBounce(in).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(BounceTest, HostileTextStaysInsideItsLineAndLinesStayShort) {
  BounceInput in = Input();
  in.recipients[0].diagnostic = "550 5.1.1 evil\r\nBcc: victim@example.com\r\n" + std::string(5000, 'x');
  in.original = "Subject: bare\nlf\rcr\r\n\r\nbody";
  auto dsn = BuildBounce(in);
  ASSERT_TRUE(dsn.ok());
  EXPECT_FALSE(absl::StrContains(*dsn, "\r\nBcc:"));
  for (absl::string_view line : absl::StrSplit(*dsn, "\r\n")) {
    EXPECT_LT(line.size(), 998u);
    EXPECT_EQ(line.find('\n'), absl::string_view::npos);
    EXPECT_EQ(line.find('\r'), absl::string_view::npos);
  }
}

TEST(RetryScheduleTest, DoublesFromInitialUpToTheCapWithTenPercentJitter) {
  RetrySchedule s;  // 5m, 4h, 5d
  EXPECT_EQ(RetryDelay(s, 1, 0.5), absl::Minutes(5));
  EXPECT_EQ(RetryDelay(s, 2, 0.5), absl::Minutes(10));
  EXPECT_EQ(RetryDelay(s, 4, 0.5), absl::Minutes(40));
  EXPECT_EQ(RetryDelay(s, 7, 0.5), absl::Hours(4));  // 320m capped at 240m
  EXPECT_EQ(RetryDelay(s, 4000000000u, 0.5), absl::Hours(4));
  EXPECT_EQ(RetryDelay(s, 1, 0.0), absl::Minutes(5) * 0.9);
  EXPECT_LT(RetryDelay(s, 1, 0.999999), absl::Minutes(5) * 1.1);
}

TEST(RetryScheduleTest, ExpiresWhenTheNextTryWouldComePastTheLifetime) {
  RetrySchedule s;
  const absl::Time arrival = absl::FromUnixSeconds(1796000000);
  EXPECT_EQ(NextAttempt(s, arrival, arrival, 1, 0.5), arrival + absl::Minutes(5));
  const absl::Time late = arrival + absl::Hours(24 * 5) - absl::Hours(1);
  EXPECT_EQ(NextAttempt(s, arrival, late, 10, 0.5), absl::InfiniteFuture());  // +4h is past 5 days
  EXPECT_EQ(NextAttempt(s, arrival, late, 1, 0.5), late + absl::Minutes(5));
}

}  // namespace
}  // namespace ringpost::queue
