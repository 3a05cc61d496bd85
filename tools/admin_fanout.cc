#include "tools/admin_fanout.h"

#include <algorithm>
#include <utility>

#include "core/log.h"
#include "queue/log_reader.h"
#include "queue/schedule/delivery_job.h"

namespace ringpost {
namespace {

constexpr queue::JobId kExhausted = UINT64_MAX;  // a shard's listing cursor past its end
constexpr core::MonoNanos kCommandWait = core::kNanosPerMilli;
constexpr size_t kListExamine = 16 * 1024;  // jobs a listing page looks at, per shard

// A fan-out whose parts are values, one slot per shard (written by that shard only).
// `run(agent, part, done)` fills the part and calls `done` once complete; `finish`
// merges the parts on shard 0. Both callables are only read while in use.
template <typename Part>
class Gather final : public AdminAgent::Fanout {
 public:
  using RunFn = std::function<void(AdminAgent&, Part&, std::function<void()>)>;
  using FinishFn = std::function<void(std::vector<Part>&)>;
  Gather(int shards, RunFn run, FinishFn finish) : parts_(static_cast<size_t>(shards)), run_(std::move(run)), finish_(std::move(finish)) {}
  void Run(AdminAgent& agent, const std::shared_ptr<Fanout>& self) override {
    run_(agent, parts_[static_cast<size_t>(agent.shard().id())], [&agent, self] { agent.PartDone(self); });
  }
  void Finish() override { finish_(parts_); }

 private:
  std::vector<Part> parts_;
  const RunFn run_;
  const FinishFn finish_;
};

template <typename Part>
std::shared_ptr<AdminAgent::Fanout> MakeGather(int shards, typename Gather<Part>::RunFn run,
                                               typename Gather<Part>::FinishFn finish) {
  return std::make_shared<Gather<Part>>(shards, std::move(run), std::move(finish));
}

// Waits (a timer tick at a time) until the scheduler reported back every write decided
// up to now, then until every result record written so far is durable (in whichever
// shard's log it went) and so is this shard's log; then `done(status)`.
struct DurableWait {
  AdminAgent* agent = nullptr;
  queue::BatchId last = 0;
  core::TimerNode timer;
  std::function<void(absl::Status)> done;
  ~DurableWait() { RP_CHECK(!timer.armed()); }

  static void Start(AdminAgent& agent, std::function<void(absl::Status)> done) {
    auto* wait = new DurableWait;
    wait->agent = &agent;
    wait->last = agent.driver().scheduler().last_batch();
    wait->done = std::move(done);
    wait->timer.Bind(&DurableWait::Check, wait);
    Check(wait);
  }
  static void Check(void* context) {
    auto* wait = static_cast<DurableWait*>(context);
    AdminAgent& agent = *wait->agent;
    if (!agent.driver().scheduler().WrittenThrough(wait->last)) {
      agent.shard().timers().Schedule(&wait->timer, agent.shard().now() + kCommandWait);
      return;
    }
    agent.driver().spool().WhenResultsDurable([wait](const absl::Status& status) {
      std::unique_ptr<DurableWait> owned(wait);
      owned->done(status);
    });
  }
};

// One shard's share of a paged command (hold, release, delete, bounce).
struct CommandPart {
  queue::JobId cursor = 0;
  size_t jobs = 0;
  size_t recipients = 0;
  absl::Status status;
};

struct PagedCommand {
  AdminAgent* agent = nullptr;
  queue::AdminCommand command = queue::AdminCommand::kHold;
  queue::JobFilter filter;
  std::string reason;
  CommandPart* part = nullptr;
  std::function<void()> done;
  core::TimerNode timer;
  ~PagedCommand() { RP_CHECK(!timer.armed()); }

  static void Step(void* context) {
    auto* self = static_cast<PagedCommand*>(context);
    AdminAgent& agent = *self->agent;
    core::Shard& shard = agent.shard();
    if (agent.driver().scheduler().writes_pending() > kCommandWritesMax) {
      shard.timers().Schedule(&self->timer, shard.now() + kCommandWait);  // let the log catch up
      return;
    }
    CommandPart& part = *self->part;
    part.jobs += agent.driver().Control([&](queue::DeliveryScheduler& scheduler, absl::Time now) {
      return scheduler.Apply(self->command, self->filter, self->reason, &part.cursor, kCommandPage, now,
                             &part.recipients);
    });
    if (part.cursor != 0) {
      shard.timers().Schedule(&self->timer, shard.now());  // the next page, next loop turn
      return;
    }
    DurableWait::Start(agent, [self](absl::Status status) {
      std::unique_ptr<PagedCommand> owned(self);
      owned->part->status = status;
      owned->done();
    });
  }
};

}  // namespace

AdminAgent::AdminAgent(core::Shard& shard, core::Sharded<AdminAgent>& agents, net::DeliveryDriver& driver,
                       queue::LogWriter& log, queue::AccountingWriter& accounting)
    : shard_(shard), agents_(agents), driver_(driver), log_(log), accounting_(accounting), outbox_(shard) {
  agents_.Register(shard_, this);
}

AdminAgent::~AdminAgent() { agents_.Unregister(shard_); }

int AdminAgent::Owner(const std::string& domain) const {
  return domain.empty() ? -1 : queue::DomainShard(domain, shard_.shard_count());
}

void AdminAgent::Start(std::shared_ptr<Fanout> fanout, int target) {
  const int shards = shard_.shard_count();
  fanout->left = target < 0 ? shards : 1;
  for (int k = 0; k < shards; ++k) {
    if (target >= 0 && k != target) continue;
    outbox_.Send(k, agents_.Call<&AdminAgent::RunHere>(new std::shared_ptr<Fanout>(fanout), 0, &Dispose));
  }
}

void AdminAgent::RunHere(void* pointer, uint64_t) {
  std::unique_ptr<std::shared_ptr<Fanout>> fanout(static_cast<std::shared_ptr<Fanout>*>(pointer));
  (*fanout)->Run(*this, *fanout);
}

void AdminAgent::PartDone(const std::shared_ptr<Fanout>& fanout) {
  outbox_.Send(0, agents_.Call<&AdminAgent::DoneHere>(new std::shared_ptr<Fanout>(fanout), 0, &Dispose));
}

void AdminAgent::DoneHere(void* pointer, uint64_t) {
  std::unique_ptr<std::shared_ptr<Fanout>> fanout(static_cast<std::shared_ptr<Fanout>*>(pointer));
  if (--(*fanout)->left == 0) (*fanout)->Finish();
}

void AdminAgent::Dispose(void* pointer, uint64_t) { delete static_cast<std::shared_ptr<Fanout>*>(pointer); }

// ---- Views ---------------------------------------------------------------------------

void AdminAgent::Summary(size_t top, std::function<void(std::vector<queue::DomainSummary>)> done) {
  using Part = std::vector<queue::DomainSummary>;
  Start(MakeGather<Part>(
            shard_.shard_count(),
            [top](AdminAgent& agent, Part& part, std::function<void()> part_done) {
              // A domain lives on one shard: the top N overall are among each shard's top N.
              part = agent.driver().scheduler().Summary(top, absl::Now());
              part_done();
            },
            [top, done = std::move(done)](std::vector<Part>& parts) {
              Part all;
              for (Part& part : parts) std::move(part.begin(), part.end(), std::back_inserter(all));
              const size_t keep = std::min(top, all.size());
              std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(keep), all.end(),
                                [](const queue::DomainSummary& a, const queue::DomainSummary& b) {
                                  return a.recipients != b.recipients ? a.recipients > b.recipients
                                                                      : a.domain < b.domain;
                                });
              all.resize(keep);
              done(std::move(all));
            }),
        -1);
}

void AdminAgent::Suspensions(std::function<void(std::vector<queue::Suspension>)> done) {
  using Part = std::vector<queue::Suspension>;
  Start(MakeGather<Part>(
            shard_.shard_count(),
            [](AdminAgent& agent, Part& part, std::function<void()> part_done) {
              part = agent.driver().scheduler().Suspensions(absl::Now());
              part_done();
            },
            [done = std::move(done)](std::vector<Part>& parts) {
              Part all;
              for (Part& part : parts) std::move(part.begin(), part.end(), std::back_inserter(all));
              std::sort(all.begin(), all.end(),
                        [](const queue::Suspension& a, const queue::Suspension& b) { return a.domain < b.domain; });
              done(std::move(all));
            }),
        -1);
}

void AdminAgent::List(const queue::JobFilter& filter, std::vector<queue::JobId> cursor, size_t per_shard,
                      std::function<void(Page)> done) {
  struct Part {
    std::vector<queue::JobView> jobs;
    queue::JobId next = kExhausted;
  };
  const auto shards = static_cast<size_t>(shard_.shard_count());
  cursor.resize(shards, 0);
  Start(MakeGather<Part>(
            shard_.shard_count(),
            [filter, cursor, per_shard](AdminAgent& agent, Part& part, std::function<void()> part_done) {
              const queue::JobId after = cursor[static_cast<size_t>(agent.shard().id())];
              if (after != kExhausted) {
                // A page looks at a bounded number of jobs, so a listing of rare matches
                // in a large queue takes many short turns rather than one long one.
                queue::JobId next = 0;
                part.jobs = agent.driver().scheduler().List(filter, after, per_shard, absl::Now(), kListExamine, &next);
                part.next = next == 0 ? kExhausted : next;
              }
              part_done();
            },
            [done = std::move(done)](std::vector<Part>& parts) {
              Page page;
              page.end = true;
              for (Part& part : parts) {
                std::move(part.jobs.begin(), part.jobs.end(), std::back_inserter(page.jobs));
                page.next.push_back(part.next);
                page.end &= part.next == kExhausted;
              }
              done(std::move(page));
            }),
        -1);
}

void AdminAgent::Show(const std::string& queue_id,
                      std::function<void(std::vector<queue::JobView>, absl::StatusOr<queue::Envelope>)> done) {
  using Part = std::vector<queue::JobView>;
  queue::JobFilter filter;
  filter.queue_id = queue_id;
  Start(MakeGather<Part>(
            shard_.shard_count(),
            [filter](AdminAgent& agent, Part& part, std::function<void()> part_done) {
              part = agent.driver().scheduler().List(filter, 0, SIZE_MAX, absl::Now());
              part_done();
            },
            [done = std::move(done)](std::vector<Part>& parts) {
              Part all;
              for (Part& part : parts) std::move(part.begin(), part.end(), std::back_inserter(all));
              if (all.empty()) return done(std::move(all), absl::NotFoundError("not queued"));
              // One small read of the commit record (client, HELO, parameters).
              const queue::StoredMessage& m = *all.front().message;
              absl::StatusOr<queue::Envelope> envelope = queue::ReadEnvelope(m.segment_path, m.commit_offset);
              done(std::move(all), std::move(envelope));
            }),
        -1);
}

void AdminAgent::Body(const std::string& queue_id, std::function<void(absl::StatusOr<std::string>)> done) {
  struct Part {
    bool found = false;
    absl::StatusOr<std::string> body;
  };
  queue::JobFilter filter;
  filter.queue_id = queue_id;
  Start(MakeGather<Part>(
            shard_.shard_count(),
            [filter](AdminAgent& agent, Part& part, std::function<void()> part_done) {
              std::vector<queue::JobView> jobs = agent.driver().scheduler().List(filter, 0, 1, absl::Now());
              if (!jobs.empty()) {
                part.found = true;
                std::string body;
                const absl::Status read = agent.driver().ReadBody(*jobs.front().message, &body);
                part.body = read.ok() ? absl::StatusOr<std::string>(std::move(body)) : read;
              }
              part_done();
            },
            [done = std::move(done)](std::vector<Part>& parts) {
              for (Part& part : parts) {
                if (part.found) return done(std::move(part.body));
              }
              done(absl::NotFoundError("not queued"));
            }),
        -1);
}

// ---- Commands ------------------------------------------------------------------------

void AdminAgent::Suspend(const std::string& domain, absl::Time until, const std::string& reason,
                         std::function<void(absl::Status)> done) {
  Start(MakeGather<absl::Status>(
            shard_.shard_count(),
            [domain, until, reason](AdminAgent& agent, absl::Status& part, std::function<void()> part_done) {
              agent.driver().Control([&](queue::DeliveryScheduler& scheduler, absl::Time now) {
                scheduler.Suspend(domain, until, reason, now);
                return 0;
              });
              agent.log().WhenDurable([&part, part_done = std::move(part_done)](const absl::Status& status) {
                part = status;
                part_done();
              });
            },
            [done = std::move(done)](std::vector<absl::Status>& parts) {
              absl::Status status;
              for (const absl::Status& part : parts) status.Update(part);
              done(status);
            }),
        Owner(domain));
}

void AdminAgent::Resume(const std::string& domain, std::function<void(bool, absl::Status)> done) {
  struct Part {
    bool found = false;
    absl::Status status;
  };
  Start(MakeGather<Part>(
            shard_.shard_count(),
            [domain](AdminAgent& agent, Part& part, std::function<void()> part_done) {
              part.found = agent.driver().Control([&](queue::DeliveryScheduler& scheduler, absl::Time now) {
                return scheduler.Resume(domain, now);
              });
              if (!part.found) return part_done();
              agent.log().WhenDurable([&part, part_done = std::move(part_done)](const absl::Status& status) {
                part.status = status;
                part_done();
              });
            },
            [done = std::move(done)](std::vector<Part>& parts) {
              bool found = false;
              absl::Status status;
              for (const Part& part : parts) {
                found |= part.found;
                status.Update(part.status);
              }
              done(found, status);
            }),
        Owner(domain));
}

void AdminAgent::Flush(const queue::JobFilter& filter, std::function<void(Counts)> done) {
  Start(MakeGather<Counts>(
            shard_.shard_count(),
            [filter](AdminAgent& agent, Counts& part, std::function<void()> part_done) {
              size_t recipients = 0;
              part.jobs = agent.driver().Control([&](queue::DeliveryScheduler& scheduler, absl::Time now) {
                return scheduler.Flush(filter, now, &recipients);
              });
              part.recipients = recipients;
              part_done();
            },
            [done = std::move(done)](std::vector<Counts>& parts) {
              Counts all;
              for (const Counts& part : parts) {
                all.jobs += part.jobs;
                all.recipients += part.recipients;
              }
              done(all);
            }),
        Owner(filter.domain));
}

void AdminAgent::Apply(queue::AdminCommand command, const queue::JobFilter& filter, const std::string& reason,
                       std::function<void(Counts, absl::Status)> done) {
  Start(MakeGather<CommandPart>(
            shard_.shard_count(),
            [command, filter, reason](AdminAgent& agent, CommandPart& part, std::function<void()> part_done) {
              auto* paged = new PagedCommand;
              paged->agent = &agent;
              paged->command = command;
              paged->filter = filter;
              paged->reason = reason;
              paged->part = &part;
              paged->done = std::move(part_done);
              paged->timer.Bind(&PagedCommand::Step, paged);
              PagedCommand::Step(paged);
            },
            [done = std::move(done)](std::vector<CommandPart>& parts) {
              Counts all;
              absl::Status status;
              for (const CommandPart& part : parts) {
                all.jobs += part.jobs;
                all.recipients += part.recipients;
                status.Update(part.status);
              }
              done(all, status);
            }),
        Owner(filter.domain));
}

}  // namespace ringpost
