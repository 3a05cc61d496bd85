// RFC 3461 DSN parameters: NOTIFY, RET, ENVID and ORCPT values, xtext, and reading them
// back from the stored parameter text.
#include "core/dsn_params.h"

#include "gtest/gtest.h"

namespace ringpost::core {
namespace {

TEST(DsnParamsTest, Rfc3461_4_1_Notify) {
  uint8_t notify = 0;
  ASSERT_TRUE(ParseNotify("SUCCESS,delay", &notify).ok());
  EXPECT_EQ(notify, kNotifySuccess | kNotifyDelay);
  ASSERT_TRUE(ParseNotify("NEVER", &notify).ok());
  EXPECT_EQ(notify, kNotifyNever);
  for (const char* bad : {"", "NEVER,FAILURE", "SUCCESS,,FAILURE", "ALWAYS", "FAILURE,FAILURE"}) {
    EXPECT_FALSE(ParseNotify(bad, &notify).ok()) << bad;
  }
}

TEST(DsnParamsTest, Rfc3461_4_XtextEnvidAndOrcpt) {
  EXPECT_TRUE(IsXtext("abc+2B+3D"));
  EXPECT_FALSE(IsXtext("a+2b"));  // lower-case hex
  EXPECT_FALSE(IsXtext("a+2"));   // cut short
  EXPECT_FALSE(IsXtext("a=b"));   // '=' must be encoded
  EXPECT_FALSE(IsXtext("a b"));   // space too
  EXPECT_EQ(DecodeXtext("user+40example.org+2B"), "user@example.org+");
  EXPECT_EQ(EncodeXtext("a b+c=d"), "a+20b+2Bc+3Dd");
  EXPECT_EQ(DecodeXtext(EncodeXtext("batch 7+1=x")), "batch 7+1=x");
  EXPECT_TRUE(IsXtext(EncodeXtext("\x01\xff any text")));
  EXPECT_EQ(DecodeXtext("a+0Db+0A"), "a?b?");  // control characters never reach a header
  EXPECT_TRUE(CheckEnvid(std::string(100, 'x')).ok());
  EXPECT_FALSE(CheckEnvid(std::string(101, 'x')).ok());
  EXPECT_FALSE(CheckEnvid("").ok());
  EXPECT_TRUE(CheckOrcpt("rfc822;user+40example.org").ok());
  for (const char* bad : {"user@example.org", "rfc822;", ";user", "rfc 822;x", "rfc822;a b"}) {
    EXPECT_FALSE(CheckOrcpt(bad).ok()) << bad;
  }
  EXPECT_FALSE(CheckOrcpt("rfc822;" + std::string(500, 'x')).ok());
  DsnReturn ret;
  EXPECT_TRUE(ParseRet("hdrs", &ret).ok());
  EXPECT_EQ(ret, DsnReturn::kHeaders);
  EXPECT_FALSE(ParseRet("SOME", &ret).ok());
}

TEST(DsnParamsTest, StoredParameterTextReadsBackAndIsPassedOn) {
  const DsnMessageParams mail = DsnMessageParamsOf("SIZE=100 BODY=8BITMIME RET=FULL ENVID=Q+2B1 SMTPUTF8");
  EXPECT_EQ(mail.ret, DsnReturn::kFull);
  EXPECT_EQ(mail.envid, "Q+2B1");
  EXPECT_EQ(mail.ForMail(), " RET=FULL ENVID=Q+2B1");
  EXPECT_EQ(DsnMessageParamsOf("SIZE=1").ForMail(), "");
  const DsnRecipientParams rcpt = DsnRecipientParamsOf("NOTIFY=failure,success ORCPT=rfc822;a+40b.example");
  EXPECT_EQ(rcpt.notify, kNotifySuccess | kNotifyFailure);
  EXPECT_EQ(rcpt.ForRcpt(), " NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b.example");
  EXPECT_EQ(rcpt.OriginalRecipient(), "rfc822; a@b.example");
  EXPECT_TRUE(rcpt.NotifiesSuccess());
  EXPECT_TRUE(rcpt.NotifiesFailure());
  EXPECT_FALSE(rcpt.NotifiesDelay());
  const DsnRecipientParams none = DsnRecipientParamsOf("");
  EXPECT_TRUE(none.NotifiesFailure());  // absent: failures are reported, delays may be
  EXPECT_TRUE(none.NotifiesDelay());
  EXPECT_FALSE(none.NotifiesSuccess());
  EXPECT_EQ(none.ForRcpt(), "");
  const DsnRecipientParams never = DsnRecipientParamsOf("NOTIFY=NEVER");
  EXPECT_FALSE(never.NotifiesFailure());
  EXPECT_FALSE(never.NotifiesDelay());
}

}  // namespace
}  // namespace ringpost::core
