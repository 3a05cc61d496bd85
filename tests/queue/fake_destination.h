// A network of destinations for scheduler tests: every route asked for is answered
// from `routes`, every connection greets at once, every message is answered at once
// (250 unless `reply` says otherwise), in 1 ms steps of the harness's fake clock. What
// was sent is kept with its domain, egress source and time.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/log.h"
#include "queue/schedule/delivery_scheduler.h"
#include "tests/queue/scheduler_harness.h"

namespace ringpost::queue::testing {

struct FakeDestination {
  explicit FakeDestination(SchedulerHarness& harness) : h(harness) {}
  SchedulerHarness& h;
  std::map<std::string, NextHop> routes;  // by domain
  // The reply to each recipient of a message to `domain` from egress source `source`.
  std::function<AttemptReply(const std::string& domain, const std::string& source)> reply =
      [](const std::string&, const std::string&) { return Reply(250); };
  struct Sent {
    std::string domain, source;
    absl::Time at;
  };
  std::vector<Sent> sent;
  std::vector<std::string> resolved;  // the queues whose routes were asked for
  std::string accounting;             // every accounting line so far

  int SentTo(const std::string& domain, absl::Time from, absl::Time until) const {
    int n = 0;
    for (const Sent& s : sent) n += s.domain == domain && s.at >= from && s.at < until ? 1 : 0;
    return n;
  }
  int SentFrom(const std::string& source) const {
    int n = 0;
    for (const Sent& s : sent) n += s.source == source ? 1 : 0;
    return n;
  }

  // Answers everything asked until the scheduler is quiet, then moves the clock on by
  // 1 ms, until `span` has passed (zero: once).
  void RunFor(absl::Duration span) {
    core::SetLogLevel(core::LogLevel::kError);  // a line per delivery would be most of the time
    const absl::Time until = h.now + span;
    while (true) {
      Settle();
      if (h.now >= until) {
        accounting += h.AccountingText();
        return;
      }
      h.Advance(absl::Milliseconds(1));
    }
  }

 private:
  void Settle() {
    accounting += h.AccountingText();
    h.TakeAll<JobFinished>();
    for (int round = 0; round < 100; ++round) {
      bool any = false;
      for (const ResolveRoute& r : h.TakeAll<ResolveRoute>()) {
        resolved.push_back(r.queue);
        h.Resolved(r.queue, routes.at(r.domain));
        any = true;
      }
      for (const OpenConnection& open : h.TakeAll<OpenConnection>()) {
        source_of_[open.connection] = open.source;
        h.Ready(open.connection);
        any = true;
      }
      for (const SendMessage& send : h.TakeAll<SendMessage>()) {
        const std::string domain = send.recipients[0].substr(send.recipients[0].find('@') + 1);
        const std::string& source = source_of_.at(send.connection);
        sent.push_back(Sent{domain, source, h.now});
        h.Sent(send.connection, std::vector<AttemptReply>(send.recipients.size(), reply(domain, source)));
        h.WriteAllResults();
        h.Ready(send.connection);
        any = true;
      }
      for (const CloseConnection& close : h.TakeAll<CloseConnection>()) {
        h.Closed(close.connection, "QUIT");
        any = true;
      }
      for (const WriteBounce& bounce : h.TakeAll<WriteBounce>()) {
        h.BounceWritten(bounce.batch, true);
        any = true;
      }
      if (h.WriteAllResults() > 0) any = true;
      if (!any) break;
    }
  }

  std::map<ConnectionId, std::string> source_of_;
};

}  // namespace ringpost::queue::testing
