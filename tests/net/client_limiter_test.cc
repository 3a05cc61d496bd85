// Inbound connection limits: the total and the per-address cap, and trusted clients
// that are held to the total only (Postfix exempts $mynetworks the same way).
#include "net/inbound/client_limiter.h"

#include "gtest/gtest.h"

namespace ringpost::net {
namespace {

using Verdict = ClientLimiter::Verdict;

TEST(ClientLimiterTest, PerAddressCapRefusesTheNextAndReleaseMakesRoom) {
  ClientLimiter limiter(10, 2);
  EXPECT_EQ(limiter.Admit("192.0.2.1"), Verdict::kAdmitted);
  EXPECT_EQ(limiter.Admit("192.0.2.1"), Verdict::kAdmitted);
  EXPECT_EQ(limiter.Admit("192.0.2.1"), Verdict::kTooManyFromAddress);
  EXPECT_EQ(limiter.Admit("192.0.2.2"), Verdict::kAdmitted);
  EXPECT_EQ(limiter.live(), 3u);
  limiter.Release("192.0.2.1");
  EXPECT_EQ(limiter.Admit("192.0.2.1"), Verdict::kAdmitted);
}

TEST(ClientLimiterTest, AnExemptAddressIsHeldToTheTotalOnly) {
  ClientLimiter limiter(5, 2);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(limiter.Admit("127.0.0.1", /*exempt=*/true), Verdict::kAdmitted) << i;
  // The same address without the exemption is over its cap already.
  EXPECT_EQ(limiter.Admit("127.0.0.1"), Verdict::kTooManyFromAddress);
  EXPECT_EQ(limiter.Admit("127.0.0.1", true), Verdict::kAdmitted);
  EXPECT_EQ(limiter.Admit("127.0.0.1", true), Verdict::kTooManyTotal);
  EXPECT_EQ(limiter.Admit("192.0.2.7"), Verdict::kTooManyTotal);
  for (int i = 0; i < 5; ++i) limiter.Release("127.0.0.1");
  EXPECT_EQ(limiter.live(), 0u);
  EXPECT_EQ(limiter.Admit("127.0.0.1"), Verdict::kAdmitted);
}

}  // namespace
}  // namespace ringpost::net
