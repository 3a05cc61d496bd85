// The pieces of SMTP AUTH around the engine: the users file (--auth_users), the
// password checks handed to a worker thread and answered on the shard's own thread
// through its ring, and the failure counts that slow and block a guesser.
#include <crypt.h>

#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/runtime.h"
#include "gtest/gtest.h"
#include "net/inbound/auth_failures.h"
#include "net/inbound/auth_users.h"
#include "net/inbound/password_checker.h"
#include "tests/support/scratch_dir.h"

namespace ringpost::net {
namespace {

// A libcrypt hash of `password` with the given prefix ("$y$" yescrypt, "$6$" sha512-crypt).
std::string Hash(const char* prefix, const std::string& password) {
  crypt_data data{};
  const char* settings = crypt_gensalt_rn(prefix, 0, nullptr, 0, data.setting, sizeof(data.setting));
  EXPECT_NE(settings, nullptr);
  return crypt_r(password.c_str(), settings, &data);
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

TEST(AuthUsersTest, ReadsStrongHashesAndNamesTheLineOfAnythingElse) {
  testing::ScratchDir dir("login_test");
  Write(dir / "users", "# users\nalice:" + Hash("$y$", "one") + "\nbob:" + Hash("$6$", "two") + "\n");
  AuthUsers users(dir / "users");
  ASSERT_TRUE(users.Load().ok());
  EXPECT_EQ(users.size(), 2u);
  EXPECT_TRUE(PasswordMatches("one", *users.HashOf("alice")));
  EXPECT_FALSE(PasswordMatches("two", *users.HashOf("alice")));
  EXPECT_TRUE(PasswordMatches("two", *users.HashOf("bob")));
  EXPECT_FALSE(users.HashOf("carol").has_value());
  // MD5-crypt, plain text: refused by line, and the table in force stays.
  Write(dir / "users", "alice:" + Hash("$y$", "one") + "\ncarol:$1$salt$abcdefghijklmnopqrstuv\n");
  const absl::Status bad = users.Load();
  EXPECT_EQ(bad.message(),
            "--auth_users: " + (dir / "users") +
                " line 2: expected user:hash with a yescrypt ($y$), bcrypt ($2b$) or sha512-crypt "
                "($6$) hash");
  EXPECT_EQ(users.size(), 2u);
  EXPECT_TRUE(users.HashOf("bob").has_value());
}

TEST(AuthFailuresTest, DelaysGrowThenTheAddressIsBlockedForTheWindow) {
  AuthFailures failures(/*limit=*/3, /*window=*/absl::Minutes(15), /*delay_unit=*/absl::Seconds(1));
  const absl::Time t0 = absl::FromUnixSeconds(1796000000);
  EXPECT_EQ(failures.RecordFailure("192.0.2.1", t0).delay, absl::Seconds(1));
  EXPECT_EQ(failures.RecordFailure("192.0.2.1", t0).delay, absl::Seconds(2));
  EXPECT_EQ(failures.RecordFailure("192.0.2.2", t0).delay, absl::Seconds(1));  // per address
  EXPECT_FALSE(failures.RecordFailure("192.0.2.1", t0).blocked);
  EXPECT_TRUE(failures.RecordFailure("192.0.2.1", t0).blocked);  // the fourth: past the limit
  EXPECT_TRUE(failures.Blocked("192.0.2.1", t0 + absl::Minutes(14)));
  EXPECT_FALSE(failures.Blocked("192.0.2.2", t0));
  EXPECT_FALSE(failures.Blocked("192.0.2.1", t0 + absl::Minutes(16)));
  // A new window starts the count again.
  EXPECT_EQ(failures.RecordFailure("192.0.2.1", t0 + absl::Minutes(31)).delay, absl::Seconds(1));
}

// The handoff: checks run on the checker's thread, verdicts on the shard's, in order.
TEST(PasswordCheckerTest, VerdictsComeBackOnTheShardsThread) {
  testing::ScratchDir dir("login_test");
  Write(dir / "users", "alice:" + Hash("$y$", "right") + "\n");
  AuthUsers users(dir / "users");
  ASSERT_TRUE(users.Load().ok());
  core::RuntimeOptions options;
  options.shards = 1;
  options.pin_threads = false;
  options.shard.recv_buffer_count = 8;
  core::Runtime runtime(options);
  std::vector<std::pair<std::string, bool>> verdicts;
  bool all_on_the_shard = true;
  const absl::Status run = runtime.Run([&](core::Shard& shard) {
    auto& checker = shard.Make<PasswordChecker>(shard, users);
    const std::thread::id shard_thread = std::this_thread::get_id();
    for (const auto& [user, password] : std::vector<std::pair<std::string, std::string>>{
             {"alice", "right"}, {"alice", "wrong"}, {"nobody", "right"}}) {
      const std::string name = user + "/" + password;
      checker.Check(user, password, [&, name, shard_thread](bool matches) {
        all_on_the_shard &= std::this_thread::get_id() == shard_thread;
        verdicts.emplace_back(name, matches);
        if (verdicts.size() == 3) shard.runtime().RequestStop();
      });
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_TRUE(all_on_the_shard);
  EXPECT_EQ(verdicts, (std::vector<std::pair<std::string, bool>>{
                          {"alice/right", true}, {"alice/wrong", false}, {"nobody/right", false}}));
}

}  // namespace
}  // namespace ringpost::net
