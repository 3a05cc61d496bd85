#include "queue/spool_lock.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "gtest/gtest.h"
#include "tests/support/scratch_dir.h"

namespace ringpost::queue {
namespace {

TEST(SpoolLockTest, CreatesTheDirectoryAndLocksIt) {
  const testing::ScratchDir scratch("spool-lock-create");
  const std::string dir = scratch / "nested/spool";
  auto lock = SpoolLock::Acquire(dir);
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  // flock locks belong to the open file description: another process is refused.
  const pid_t child = fork();
  if (child == 0) _exit(SpoolLock::Acquire(dir).ok() ? 1 : 0);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "a second process took the spool lock";
}

TEST(SpoolLockTest, ReleasedWhenTheHolderGoesAway) {
  const testing::ScratchDir scratch("spool-lock-release");
  const std::string dir = scratch / "nested/spool";
  {
    auto lock = SpoolLock::Acquire(dir);
    ASSERT_TRUE(lock.ok());
  }
  EXPECT_TRUE(SpoolLock::Acquire(dir).ok());
  // A holder killed with SIGKILL leaves no stale lock behind.
  const pid_t child = fork();
  if (child == 0) {
    auto lock = SpoolLock::Acquire(dir);
    pause();
    _exit(0);
  }
  // The child may not have locked yet; either way, after it dies the lock is free.
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(SpoolLock::Acquire(dir).ok());
}

TEST(SpoolLockTest, SecondLockInTheSameProcessIsRefusedWithAClearMessage) {
  const testing::ScratchDir scratch("spool-lock-twice");
  const std::string dir = scratch / "nested/spool";
  auto first = SpoolLock::Acquire(dir);
  ASSERT_TRUE(first.ok());
  auto second = SpoolLock::Acquire(dir);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("locked by another ringpost process"), std::string::npos);
}

}  // namespace
}  // namespace ringpost::queue
