// A DeliveryScheduler with a fake clock, for the scheduler's unit tests: events go in
// with the harness's time, actions come out into a list the test takes them from by
// type. No I/O anywhere: a test is milliseconds, whatever time it simulates.
#pragma once

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/socket_address.h"
#include "queue/schedule/delivery_scheduler.h"

namespace ringpost::queue::testing {

inline const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

inline NextHop SmtpHop(const std::vector<std::string>& addresses, absl::Duration valid_for = absl::ZeroDuration()) {
  NextHop hop;
  hop.kind = NextHop::Kind::kSmtp;
  for (const std::string& a : addresses) hop.addresses.push_back(*core::ParseSocketAddress(a));
  hop.valid_for = valid_for;
  return hop;
}

inline AttemptReply Reply(int code, const std::string& enhanced = "", const std::string& text = "") {
  return AttemptReply{code, enhanced, text.empty() ? absl::StrCat(code, " reply") : text, false};
}

class SchedulerHarness {
 public:
  explicit SchedulerHarness(SchedulerConfig config = DefaultConfig()) : config_(config) {
    scheduler = std::make_unique<DeliveryScheduler>(config_, now);
  }

  static SchedulerConfig DefaultConfig() {
    SchedulerConfig config;
    config.retry.initial = absl::Minutes(5);
    config.retry.max = absl::Hours(4);
    config.retry.lifetime = absl::Hours(24 * 5);
    config.domain_max_connections = 20;
    config.host_max_connections = 10;
    config.max_messages_per_connection = 100;
    config.idle_timeout = absl::Seconds(5);
    config.compaction_age = absl::ZeroDuration();
    config.seed = 7;
    return config;
  }

  // A job of a new message for `rcpts` (all in `domain`).
  std::unique_ptr<DeliveryJob> Job(const std::string& domain, const std::vector<std::string>& local_parts,
                                   const std::string& from = "sender@origin.example",
                                   absl::Time arrival = absl::InfinitePast()) {
    auto message = std::make_shared<StoredMessage>();
    message->queue_id = absl::StrCat("Q", ++messages_);
    message->mail_from = from;
    message->arrival_unix_micros =
        static_cast<uint64_t>(absl::ToUnixMicros(arrival == absl::InfinitePast() ? now : arrival));
    message->segment_path = "/spool/shard-0/00000001.log";
    message->unfinished.store(1);
    auto job = std::make_unique<DeliveryJob>();
    job->message = message;
    job->domain = domain;
    for (size_t i = 0; i < local_parts.size(); ++i) {
      job->recipients.push_back(JobRecipient{static_cast<uint32_t>(i), local_parts[i] + "@" + domain, 0, 0, {}, false});
    }
    return job;
  }

  // ---- Events, with the harness's time; their actions are collected. ----
  void Accept(std::unique_ptr<DeliveryJob> job) { Collect([&] { scheduler->Accept(std::move(job), now); }); }
  void Resolved(const std::string& domain, NextHop hop) {
    Collect([&] { scheduler->OnRouteResolved(domain, std::move(hop), now); });
  }
  void Ready(ConnectionId id) { Collect([&] { scheduler->OnConnectionReady(id, now); }); }
  void Sent(ConnectionId id, std::vector<AttemptReply> replies, TlsReport tls = {}) {
    Collect([&] { scheduler->OnMessageSent(id, std::move(replies), tls, now); });
  }
  void NotSent(ConnectionId id, const std::string& error) {
    Collect([&] { scheduler->OnMessageNotSent(id, error, now); });
  }
  void TlsFailed(ConnectionId id) { Collect([&] { scheduler->OnTlsFailed(id, now); }); }
  void Closed(ConnectionId id, const std::string& reason = "closed", bool local = false,
              const AttemptReply* refusal = nullptr) {
    Collect([&] { scheduler->OnConnectionClosed(id, reason, local, now, refusal); });
  }
  void LocalDelivered(JobId job, std::vector<AttemptReply> replies) {
    Collect([&] { scheduler->OnLocalDelivered(job, std::move(replies), now); });
  }
  void ResultsWritten(BatchId batch) { Collect([&] { scheduler->OnResultsWritten(batch, now); }); }
  void BounceWritten(BatchId batch, bool queued) {
    Collect([&] { scheduler->OnBounceWritten(batch, queued, now); });
  }
  void CopiedForward(JobId job, std::shared_ptr<StoredMessage> copy) {
    Collect([&] { scheduler->OnCopiedForward(job, std::move(copy), now); });
  }
  void Stop() { Collect([&] { scheduler->Stop(now); }); }
  // Redis, as the driver reports it.
  void Tokens(const std::string& key, uint32_t granted, absl::Duration wait = absl::ZeroDuration(),
              bool failed = false) {
    Collect([&] { scheduler->OnTokens(key, granted, wait, failed, now); });
  }
  void ClusterState(bool up) {
    Collect([&] { scheduler->OnClusterState(up, now); });
  }
  void Lease(const std::string& key, const std::string& id, bool granted,
             absl::Duration wait = absl::ZeroDuration(), bool failed = false) {
    Collect([&] { scheduler->OnLease(key, id, granted, wait, failed, now); });
  }
  void SetShaping(std::shared_ptr<const ShapingPolicy> policy) {
    Collect([&] { scheduler->SetShaping(std::move(policy), now); });
  }
  // Operators.
  void Suspend(const std::string& domain, absl::Duration for_how_long) {
    Collect([&] { scheduler->Suspend(domain, now + for_how_long, "testing", now); });
  }
  bool Resume(const std::string& domain) {
    bool resumed = false;
    Collect([&] { resumed = scheduler->Resume(domain, now); });
    return resumed;
  }
  size_t Flush(const JobFilter& filter) {
    size_t flushed = 0;
    Collect([&] { flushed = scheduler->Flush(filter, now); });
    return flushed;
  }
  // Every page of the command; returns how many jobs matched.
  size_t Apply(AdminCommand command, const JobFilter& filter, const std::string& reason = "") {
    size_t matched = 0;
    JobId cursor = 0;
    do {
      Collect([&] { matched += scheduler->Apply(command, filter, reason, &cursor, 2, now); });
    } while (cursor != 0);
    return matched;
  }

  // Moves the clock to `now + d`, firing every timer on the way at its own time.
  void Advance(absl::Duration d) {
    const absl::Time until = now + d;
    for (int guard = 0; guard < 1'000'000 && scheduler->NextTimer() <= until; ++guard) {
      now = std::max(now, scheduler->NextTimer());
      Collect([&] { scheduler->OnTimer(now); });
    }
    now = until;
  }

  // Writes every WriteResults at once (what a healthy log does), as often as new ones
  // come, and returns how many batches were written.
  int WriteAllResults() {
    int written = 0;
    for (int guard = 0; guard < 1000; ++guard) {
      std::vector<WriteResults> batches = TakeAll<WriteResults>();
      if (batches.empty()) break;
      for (const WriteResults& w : batches) {
        results.insert(results.end(), w.results.begin(), w.results.end());
        if (w.finished == nullptr) ResultsWritten(w.batch);
        ++written;
      }
    }
    return written;
  }

  // ---- Actions ----
  template <typename T>
  size_t Count() const {
    size_t n = 0;
    for (const DeliveryAction& a : actions) n += std::holds_alternative<T>(a) ? 1 : 0;
    return n;
  }
  // Removes and returns every action of type T, in order.
  template <typename T>
  std::vector<T> TakeAll() {
    std::vector<T> taken;
    std::vector<DeliveryAction> rest;
    for (DeliveryAction& a : actions) {
      if (T* t = std::get_if<T>(&a)) {
        taken.push_back(std::move(*t));
      } else {
        rest.push_back(std::move(a));
      }
    }
    actions = std::move(rest);
    return taken;
  }
  // Removes and returns the first action of type T (checked to exist).
  template <typename T>
  T Take() {
    for (auto it = actions.begin(); it != actions.end(); ++it) {
      if (T* t = std::get_if<T>(&*it)) {
        T taken = std::move(*t);
        actions.erase(it);
        return taken;
      }
    }
    RP_CHECK_MSG(false, "no action of the asked type");
    return T{};
  }
  std::string AccountingText() {
    std::string all;
    for (AccountingLines& lines : TakeAll<AccountingLines>()) all += lines.lines;
    return all;
  }

  absl::Time now = kStart;
  std::unique_ptr<DeliveryScheduler> scheduler;
  std::vector<DeliveryAction> actions;
  std::vector<DeliveryResult> results;  // every record WriteAllResults wrote

 private:
  template <typename F>
  void Collect(F event) {
    event();
    std::vector<DeliveryAction> out;
    scheduler->TakeActions(&out);
    for (DeliveryAction& a : out) actions.push_back(std::move(a));
  }
  SchedulerConfig config_;
  int messages_ = 0;
};

// A connection to the domain's only address, opened and greeted; returns its id.
inline ConnectionId OpenAndGreet(SchedulerHarness& h) {
  const OpenConnection open = h.Take<OpenConnection>();
  h.Ready(open.connection);
  return open.connection;
}

}  // namespace ringpost::queue::testing
