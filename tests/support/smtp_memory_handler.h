// An in-memory stand-in for the queue log behind the SMTP server engine, for the
// engine's unit tests, golden transcripts, fuzz target and benchmark (the daemon's
// integration tests use the real log). It keeps what a log would: open message bytes,
// committed messages, and it checks the engine's side of the contract (no append to a
// message that is not open, no commit twice).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/check.h"
#include "net/smtp/smtp_server.h"

namespace ringpost::testing {

class SmtpMemoryHandler : public net::SmtpServerHandler {
 public:
  struct Message {
    net::SmtpEnvelope envelope;
    std::string body;
    uint64_t body_bytes = 0;
  };

  // Commits finish at once (true), or wait for CompletePending (false).
  bool commit_at_once = true;
  absl::Status begin_status = absl::OkStatus();   // what BeginMessage returns
  absl::Status append_status = absl::OkStatus();  // what AppendBody returns
  absl::Status commit_status = absl::OkStatus();  // the durability outcome
  // false (benchmarks): bodies are copied into one reused buffer, as the log's staging
  // copy would be, and not kept.
  bool keep_bodies = true;
  net::SmtpServer* engine = nullptr;

  absl::StatusOr<std::string> BeginMessage() override {
    RP_CHECK(!open_);
    if (!begin_status.ok()) return begin_status;
    open_ = true;
    body_.clear();
    body_bytes_ = 0;
    return absl::StrFormat("Q%04d", ++ids_);
  }
  absl::Status AppendBody(absl::Span<const absl::string_view> pieces) override {
    RP_CHECK(open_);
    ++append_calls;
    if (!append_status.ok()) return append_status;
    for (absl::string_view piece : pieces) {
      body_bytes_ += piece.size();
      if (keep_bodies) {
        body_.append(piece.data(), piece.size());
      } else {
        // Allocated on first use only: a fuzz input builds a handler per run.
        if (scratch_.capacity() < kScratchBytes) scratch_.reserve(kScratchBytes);
        if (scratch_.size() + piece.size() > scratch_.capacity()) scratch_.clear();
        scratch_.append(piece.data(), piece.size());
      }
    }
    return absl::OkStatus();
  }
  void CommitMessage(net::SmtpEnvelope envelope) override {
    RP_CHECK(open_);
    open_ = false;
    pending_ = Message{std::move(envelope), std::move(body_), body_bytes_};
    has_pending_ = true;
    if (commit_at_once) CompletePending();
  }
  void AbortMessage() override {
    RP_CHECK(open_);
    open_ = false;
    ++aborted;
  }
  void OnRefused(absl::string_view command, absl::string_view reply) override {
    refusals.push_back(absl::StrCat(command, ": ", reply));
  }
  // AUTH: the login is recorded; the test (or the fuzzer) answers with
  // engine->OnLoginChecked, as the session does once the password is checked.
  void CheckLogin(const std::string& user, const std::string& password) override {
    logins.emplace_back(user, password);
  }

  void CompletePending() {
    RP_CHECK(has_pending_);
    has_pending_ = false;
    const std::string id = pending_.envelope.queue_id;
    if (commit_status.ok()) committed.push_back(std::move(pending_));
    RP_CHECK(engine != nullptr);
    engine->OnCommitted(commit_status, id);
  }
  bool has_pending() const { return has_pending_; }
  bool open() const { return open_; }

  std::vector<Message> committed;
  std::vector<std::string> refusals;
  std::vector<std::pair<std::string, std::string>> logins;  // (user, password) asked
  int aborted = 0;
  int append_calls = 0;

 private:
  bool open_ = false;
  bool has_pending_ = false;
  Message pending_;
  std::string body_;
  static constexpr size_t kScratchBytes = 1 << 20;
  std::string scratch_;
  uint64_t body_bytes_ = 0;
  int ids_ = 0;
};

}  // namespace ringpost::testing
