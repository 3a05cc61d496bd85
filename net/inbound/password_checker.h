// Checks SMTP AUTH passwords off the shard's thread. libcrypt's hashes (yescrypt,
// bcrypt) take tens of milliseconds on purpose; run on the shard they would stall every
// session on it. Each shard owns one PasswordChecker: a worker thread takes the checks
// from a queue and posts the verdicts back, waking the shard through an eventfd that
// the shard's ring polls (no polling loop, no lock on the shard's side but the queue's).
// A user that does not exist costs the same hash as one that does (no user
// enumeration by timing). Verdicts run on the shard's thread, in the order the worker
// finished them; one whose session has gone finds nobody (the caller's weak handle).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/shard.h"
#include "net/inbound/auth_users.h"

namespace ringpost::net {

class PasswordChecker final : public core::CompletionSink {
 public:
  using Verdict = std::function<void(bool matches)>;

  PasswordChecker(core::Shard& shard, const AuthUsers& users);
  ~PasswordChecker();
  PasswordChecker(const PasswordChecker&) = delete;
  PasswordChecker& operator=(const PasswordChecker&) = delete;

  // Queues a check; `verdict` runs later on this shard's thread, never inside Check.
  void Check(std::string user, std::string password, Verdict verdict);

  void OnCompletion(const core::Completion& completion) override;

 private:
  struct Job {
    std::string user, password;
    Verdict verdict;
    bool matches = false;
  };
  void Work();  // the worker thread's loop
  void ArmPoll();

  core::Shard& shard_;
  const AuthUsers& users_;
  const std::string dummy_hash_;  // hashed for unknown users, so they cost the same
  int event_fd_ = -1;
  std::mutex mu_;
  std::condition_variable wake_worker_;
  std::deque<Job> to_check_;  // guarded by mu_
  std::deque<Job> checked_;   // guarded by mu_
  bool stopping_ = false;     // guarded by mu_
  std::thread worker_;
};

}  // namespace ringpost::net
