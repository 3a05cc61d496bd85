#include "net/inbound/password_checker.h"

#include <crypt.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "core/check.h"
#include "core/log.h"

namespace ringpost::net {
namespace {

// A yescrypt hash of a random password at libcrypt's default cost, made once per
// checker: what an unknown user's password is checked against.
std::string MakeDummyHash() {
  crypt_data data{};
  const char* settings = crypt_gensalt_rn("$y$", 0, nullptr, 0, data.setting, sizeof(data.setting));
  RP_CHECK_MSG(settings != nullptr, "libcrypt cannot make a yescrypt salt");
  const char* hash = crypt_r("not a password anyone has", settings, &data);
  RP_CHECK_MSG(hash != nullptr && hash[0] != '*', "libcrypt cannot hash with yescrypt");
  return hash;
}

}  // namespace

PasswordChecker::PasswordChecker(core::Shard& shard, const AuthUsers& users)
    : shard_(shard), users_(users), dummy_hash_(MakeDummyHash()) {
  event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  RP_CHECK_MSG(event_fd_ >= 0, "eventfd for the password checker");
  shard_.SetSink(core::OpKind::kPasswordCheck, this);
  ArmPoll();
  worker_ = std::thread([this] { Work(); });
}

PasswordChecker::~PasswordChecker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_worker_.notify_all();
  worker_.join();
  // The poll in flight is cancelled by the ring's teardown; the kernel keeps the file.
  close(event_fd_);
}

void PasswordChecker::Check(std::string user, std::string password, Verdict verdict) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    to_check_.push_back(Job{std::move(user), std::move(password), std::move(verdict)});
  }
  wake_worker_.notify_one();
}

void PasswordChecker::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_worker_.wait(lock, [this] { return stopping_ || !to_check_.empty(); });
    if (stopping_) return;
    Job job = std::move(to_check_.front());
    to_check_.pop_front();
    lock.unlock();
    const std::optional<std::string> hash = users_.HashOf(job.user);
    const bool matches = PasswordMatches(job.password, hash.value_or(dummy_hash_));
    job.matches = hash.has_value() && matches;
    job.password.assign(job.password.size(), '\0');  // not kept past its check
    lock.lock();
    checked_.push_back(std::move(job));
    const uint64_t one = 1;
    const ssize_t written = write(event_fd_, &one, sizeof(one));  // wakes the shard's poll
    (void)written;  // EAGAIN only when the counter is full: the shard is woken already
  }
}

void PasswordChecker::ArmPoll() {
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  io_uring_prep_poll_add(sqe, event_fd_, POLLIN);
  io_uring_sqe_set_data64(sqe, core::OpTag{0, 0, core::OpKind::kPasswordCheck}.Encode());
}

void PasswordChecker::OnCompletion(const core::Completion& completion) {
  if (completion.res == -ECANCELED) return;  // the ring is going away
  uint64_t count = 0;
  const ssize_t read_bytes = read(event_fd_, &count, sizeof(count));  // resets the counter
  (void)read_bytes;
  std::deque<Job> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(checked_);
  }
  ArmPoll();
  for (Job& job : done) job.verdict(job.matches);
}

}  // namespace ringpost::net
