#include "net/delivery_agent.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/check.h"
#include "core/log.h"
#include "queue/bounce.h"
#include "queue/log_reader.h"
#include "queue/maildir.h"

namespace ringpost::net {
namespace {

thread_local DeliveryAgent* this_thread_agent = nullptr;

uint64_t NowUnixMicros() { return static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())); }

}  // namespace

struct DeliveryAgent::Job {
  DeliveryAgent* agent = nullptr;
  std::list<Job>::iterator self;
  std::unique_ptr<queue::DeliveryJob> work;
  Domain* domain = nullptr;
  core::TimerNode timer;
  std::string body;             // loaded for an attempt, dropped after it
  std::vector<size_t> attempt;  // positions in work->recipients tried in this attempt
};

struct DeliveryAgent::Domain {
  DeliveryAgent* agent = nullptr;
  std::string name;
  enum class Route { kUnknown, kResolving, kKnown } route = Route::kUnknown;
  NextHop hop;
  std::deque<Job*> due;
  std::vector<std::unique_ptr<Member>> members;
  uint32_t jobs = 0;             // owned jobs in any state
  uint32_t failures_in_row = 0;  // connections that never became ready
  uint32_t rests = 0;            // rests in a row (the breaker's backoff step)
  size_t next_address = 0;
  core::MonoNanos resting_until = 0;  // no new connection before this
  bool waiting_for_host = false;      // in waiting_for_host_
  core::TimerNode wake;
};

struct DeliveryAgent::Member final : OutboundOwner {
  DeliveryAgent* agent = nullptr;
  Domain* domain = nullptr;
  OutboundSession* session = nullptr;
  std::string host;  // the next hop's address, "ip:port"
  Job* in_flight = nullptr;
  uint32_t messages = 0;
  bool ever_ready = false;
  bool closed = false;
  bool local_failure = false;  // refused by our own table (no slot, no descriptor)
  bool idle_listed = false;    // in idle_members_ (stays until closed; idle.armed() tells)
  core::TimerNode idle;

  void OnReady(OutboundSession& s) override {
    (void)s;
    agent->OnMemberReady(*this);
  }
  void OnMessageDone(OutboundSession& s, std::vector<RecipientResult> results) override {
    (void)s;
    agent->OnMemberDone(*this, std::move(results));
  }
  void OnSessionClosed(OutboundSession& s, const std::string& reason) override {
    (void)s;
    agent->OnMemberClosed(*this, reason);
  }
};

// One attempt's outcome for a job, kept until its records are durable.
struct DeliveryAgent::Batch {
  std::vector<queue::DeliveryResult> results;                          // records to write
  std::vector<queue::BouncedRecipient> bounced;                        // for the DSN
  std::vector<uint32_t> bounced_indexes;                               // envelope indexes of `bounced`
  std::vector<std::pair<uint32_t, queue::RecipientOutcome>> outcomes;  // by envelope index
  std::vector<uint32_t> again_now;  // 452 beside accepted recipients: new transaction
  size_t pending = 0;
};

DeliveryAgent::DeliveryAgent(core::Shard& shard, const DeliveryConfig& config, NextHopResolver& next_hops,
                             queue::LogWriter& log, queue::QueueIdGenerator& ids,
                             queue::AccountingLog& accounting)
    : shard_(shard),
      config_(config),
      next_hops_(next_hops),
      log_(log),
      ids_(ids),
      accounting_(accounting),
      alive_(std::make_shared<DeliveryAgent*>(this)),
      random_(static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) ^ static_cast<uint64_t>(shard.id())) {
  RP_CHECK(this_thread_agent == nullptr);
  this_thread_agent = this;
  shard_.AddTurnHook([this] { OnTurn(); });
  shard_.AddStopHandler([this](core::MonoNanos) { stopping_ = true; });
}

DeliveryAgent::~DeliveryAgent() {
  *alive_ = nullptr;
  for (Job& job : jobs_) shard_.timers().Cancel(&job.timer);
  for (auto& [name, domain] : domains_) {
    shard_.timers().Cancel(&domain->wake);
    for (auto& member : domain->members) shard_.timers().Cancel(&member->idle);
  }
  for (auto& member : closed_members_) shard_.timers().Cancel(&member->idle);
  for (auto& [target, envelope] : unposted_) {
    if (envelope.dispose != nullptr) envelope.dispose(envelope.pointer, envelope.argument);
  }
  if (this_thread_agent == this) this_thread_agent = nullptr;
}

double DeliveryAgent::UnitRandom() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_) * 0.999999;
}

// ---- Home side -----------------------------------------------------------------------

void DeliveryAgent::Submit(const queue::QueuedMessage& message) {
  std::vector<std::unique_ptr<queue::DeliveryJob>> jobs = queue::SplitByDomain(message);
  if (jobs.empty()) {  // every recipient was final already (recovered)
    if (message.reclaim && message.home_shard == shard_.id()) log_.MessageFinished(message.segment);
    return;
  }
  for (auto& job : jobs) {
    const int target = queue::DomainShard(job->domain, shard_.shard_count());
    if (target == shard_.id()) {
      Accept(std::move(job));
    } else {
      PostOrKeep(target,
                 core::Envelope{&DeliveryAgent::ReceiveJob, job.release(), 0, &DeliveryAgent::DisposeJob});
    }
  }
}

void DeliveryAgent::SubmitDurable(queue::Envelope envelope, const queue::MessageLocation& location) {
  queue::QueuedMessage message;
  message.envelope = std::move(envelope);
  message.segment = location.segment;
  message.segment_path = log_.SegmentPath(location.segment);
  message.commit_offset = location.commit_offset;
  message.home_shard = shard_.id();
  Submit(message);
}

void DeliveryAgent::PostOrKeep(int target, const core::Envelope& envelope) {
  // Order per target is kept: once one waits, later ones wait behind it.
  if (unposted_.empty() && shard_.Post(target, envelope)) return;
  unposted_.emplace_back(target, envelope);
  shard_.RequestTurn();
}

void DeliveryAgent::ReceiveJob(core::Shard& shard, void* pointer, uint64_t argument) {
  (void)shard;
  (void)argument;
  std::unique_ptr<queue::DeliveryJob> job(static_cast<queue::DeliveryJob*>(pointer));
  // A shard whose setup failed has no agent; the daemon is exiting anyway.
  if (this_thread_agent == nullptr) return;
  this_thread_agent->Accept(std::move(job));
}

void DeliveryAgent::DisposeJob(void* pointer, uint64_t argument) {
  (void)argument;
  delete static_cast<queue::DeliveryJob*>(pointer);
}

void DeliveryAgent::ReceiveFinished(core::Shard& shard, void* pointer, uint64_t argument) {
  (void)shard;
  (void)pointer;
  if (this_thread_agent == nullptr) return;
  this_thread_agent->log_.MessageFinished(static_cast<uint32_t>(argument));
}

void DeliveryAgent::NoticeFinished(const std::shared_ptr<queue::MessageParts>& parts) {
  if (parts->unfinished.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  ++stats_.messages_finished;
  if (!parts->reclaim) return;
  if (parts->home_shard == shard_.id()) {
    log_.MessageFinished(parts->segment);
  } else {
    PostOrKeep(parts->home_shard, core::Envelope{&DeliveryAgent::ReceiveFinished, nullptr, parts->segment});
  }
}

void DeliveryAgent::OnTurn() {
  if (!unposted_.empty()) {
    size_t kept = 0;
    for (size_t i = 0; i < unposted_.size(); ++i) {
      if (kept == 0 && shard_.Post(unposted_[i].first, unposted_[i].second)) continue;
      unposted_[kept++] = unposted_[i];
    }
    unposted_.resize(kept);
    if (kept > 0) shard_.RequestTurn();
  }
  closed_members_.clear();
  std::vector<std::string> names;
  names.swap(maybe_empty_);
  for (const std::string& name : names) {
    auto it = domains_.find(name);
    if (it != domains_.end()) MaybeForget(*it->second);
  }
}

void DeliveryAgent::MaybeForget(Domain& domain) {
  // A domain without jobs, connections or a rest in progress costs nothing to forget
  // (a bulk sender reaches millions of domains over time).
  if (domain.jobs > 0 || !domain.members.empty() || domain.wake.armed() ||
      domain.route == Domain::Route::kResolving) {
    return;
  }
  domains_.erase(domain.name);
}

// ---- Owning side ---------------------------------------------------------------------

DeliveryAgent::Domain& DeliveryAgent::DomainFor(const std::string& name) {
  auto [it, inserted] = domains_.try_emplace(name);
  if (inserted) {
    it->second = std::make_unique<Domain>();
    Domain& domain = *it->second;
    domain.agent = this;
    domain.name = name;
    domain.wake.Bind(&DeliveryAgent::OnDomainTimer, &domain);
  }
  return *it->second;
}

void DeliveryAgent::Accept(std::unique_ptr<queue::DeliveryJob> work) {
  ++stats_.jobs_accepted;
  Domain& domain = DomainFor(work->domain);
  jobs_.emplace_back();
  Job& job = jobs_.back();
  job.agent = this;
  job.self = std::prev(jobs_.end());
  job.work = std::move(work);
  job.domain = &domain;
  job.timer.Bind(&DeliveryAgent::OnJobTimer, &job);
  segment_files_.Acquire(job.work->segment_path);
  ++domain.jobs;
  Schedule(&job);
}

void DeliveryAgent::Schedule(Job* job) {
  uint64_t due = UINT64_MAX;
  for (const queue::JobRecipient& r : job->work->recipients) due = std::min(due, r.next_attempt_unix_micros);
  const uint64_t now = NowUnixMicros();
  if (due <= now) return MakeDue(job);
  // A recovered time far away (or corrupt) is clamped: the job wakes, finds itself not
  // due and sleeps again.
  const uint64_t wait_micros = std::min<uint64_t>(due - now, uint64_t{365} * 24 * 3600 * 1000000);
  shard_.timers().Schedule(&job->timer, shard_.now() + static_cast<core::MonoNanos>(wait_micros) * 1000);
}

void DeliveryAgent::OnJobTimer(void* context) {
  Job* job = static_cast<Job*>(context);
  job->agent->Schedule(job);  // due now, or (clamped wait) not yet
}

void DeliveryAgent::BeginAttempt(Job* job) {
  // Only recipients whose time has come: a job's recipients can have different retry
  // times (a 452 sent some again at once; recovery restores each one's own).
  job->attempt.clear();
  const std::vector<queue::JobRecipient>& recipients = job->work->recipients;
  const uint64_t now = NowUnixMicros();
  uint64_t earliest = UINT64_MAX;
  for (const queue::JobRecipient& r : recipients) earliest = std::min(earliest, r.next_attempt_unix_micros);
  for (size_t i = 0; i < recipients.size(); ++i) {
    // The earliest always goes (timers and the wall clock may disagree by a tick).
    if (recipients[i].next_attempt_unix_micros <= now || recipients[i].next_attempt_unix_micros == earliest) {
      job->attempt.push_back(i);
    }
  }
}

void DeliveryAgent::MakeDue(Job* job) {
  job->domain->due.push_back(job);
  Pump(*job->domain);
}

void DeliveryAgent::OnDomainTimer(void* context) {
  Domain* domain = static_cast<Domain*>(context);
  domain->agent->Pump(*domain);
  domain->agent->maybe_empty_.push_back(domain->name);
}

void DeliveryAgent::Pump(Domain& domain) {
  if (stopping_ || domain.due.empty()) return;
  if (domain.route == Domain::Route::kResolving) return;  // the answer pumps again
  if (domain.route == Domain::Route::kKnown && domain.hop.valid_until != 0 &&
      domain.hop.valid_until < shard_.now()) {
    domain.route = Domain::Route::kUnknown;  // a DNS answer: ask again (the resolver caches)
  }
  if (domain.route == Domain::Route::kUnknown) {
    domain.route = Domain::Route::kResolving;
    next_hops_.Resolve(domain.name, [alive = alive_, name = domain.name](NextHop hop) {
      if (*alive == nullptr) return;
      DeliveryAgent& agent = **alive;
      auto it = agent.domains_.find(name);
      if (it == agent.domains_.end()) return;
      it->second->hop = std::move(hop);
      it->second->route = Domain::Route::kKnown;
      agent.Pump(*it->second);
    });
    return;
  }
  switch (domain.hop.kind) {
    case NextHop::Kind::kLocal:
      while (!domain.due.empty()) {
        Job* job = domain.due.front();
        domain.due.pop_front();
        DeliverLocal(job);
      }
      return;
    case NextHop::Kind::kTempFail:
      domain.route = Domain::Route::kUnknown;  // asked again next time
      return FailAll(domain, domain.hop.status, 0, domain.hop.text);
    case NextHop::Kind::kPermFail:
      return FailAll(domain, domain.hop.status, domain.hop.code, domain.hop.text);
    case NextHop::Kind::kSmtp:
      return PumpSmtp(domain);
  }
}

void DeliveryAgent::FailAll(Domain& domain, const std::string& status, int code, const std::string& text) {
  std::deque<Job*> due;
  due.swap(domain.due);
  for (Job* job : due) {
    BeginAttempt(job);
    Complete(job,
             std::vector<queue::AttemptReply>(job->attempt.size(), queue::AttemptReply{code, status, text}),
             "");
  }
}

void DeliveryAgent::PumpSmtp(Domain& domain) {
  if (domain.hop.addresses.empty()) {  // a route without an address (an MX without A/AAAA)
    domain.route = Domain::Route::kUnknown;
    return FailAll(domain, "4.4.4", 0, absl::StrCat("no address for ", domain.name));
  }
  // Idle connections first (one is idle while its idle timer runs).
  for (size_t i = 0; i < domain.members.size() && !domain.due.empty(); ++i) {
    Member& member = *domain.members[i];
    if (member.session != nullptr && member.in_flight == nullptr && member.session->ready())
      OnMemberReady(member);
  }
  if (domain.resting_until > shard_.now()) {  // the breaker: no new connection yet
    if (!domain.wake.armed()) shard_.timers().Schedule(&domain.wake, domain.resting_until);
    return;
  }
  size_t connecting = 0;
  for (const auto& member : domain.members) connecting += member->ever_ready ? 0 : 1;
  while (domain.due.size() > connecting && domain.members.size() < config_.domain_max_connections &&
         domain.resting_until <= shard_.now()) {
    if (!OpenConnection(domain)) break;
    ++connecting;
  }
}

bool DeliveryAgent::OpenConnection(Domain& domain) {
  if (connections_ == nullptr || domain.hop.addresses.empty()) return false;
  const size_t n = domain.hop.addresses.size();
  for (size_t k = 0; k < n; ++k) {
    const core::SocketAddress& address = domain.hop.addresses[(domain.next_address + k) % n];
    std::string host = address.ToString();
    uint32_t& count = host_connections_[host];
    if (count >= config_.host_max_connections) continue;
    ++count;
    ++stats_.connections_opened;
    auto owned = std::make_unique<Member>();
    Member* member = owned.get();
    member->agent = this;
    member->domain = &domain;
    member->host = std::move(host);
    member->idle.Bind(&DeliveryAgent::OnIdleTimer, member);
    domain.members.push_back(std::move(owned));
    auto session = std::make_unique<OutboundSession>(*member, config_.session);
    member->session = session.get();
    // A refusal at once (no free slot, no descriptor) reports OnSessionClosed from in
    // here: our own shortage, not the domain's fault. Try again in a second.
    opening_ = true;
    connections_->Connect(address, std::move(session));
    opening_ = false;
    if (!member->closed) return true;
    if (!domain.wake.armed()) shard_.timers().Schedule(&domain.wake, shard_.now() + core::kNanosPerSecond);
    return false;
  }
  // Every host is at its limit: an idle session to one of them (another domain's,
  // waiting out its idle timeout) is taken over at once.
  for (Member* idle : idle_members_) {
    if (idle->domain == &domain || idle->in_flight != nullptr || idle->session == nullptr ||
        !idle->session->ready() || !idle->idle.armed() ||
        domain.members.size() >= config_.domain_max_connections) {
      continue;
    }
    for (const core::SocketAddress& address : domain.hop.addresses) {
      if (address.ToString() != idle->host) continue;
      HandOver(*idle, domain);
      return true;
    }
  }
  if (!domain.waiting_for_host) {  // a connection to the host closing or idling pumps it
    domain.waiting_for_host = true;
    waiting_for_host_.push_back(domain.name);
  }
  return false;
}

void DeliveryAgent::OnMemberReady(Member& member) {
  Domain& domain = *member.domain;
  if (!member.ever_ready) {  // the destination works: the breaker closes
    member.ever_ready = true;
    domain.failures_in_row = 0;
    domain.rests = 0;
    domain.resting_until = 0;
    shard_.timers().Cancel(&domain.wake);
  }
  shard_.timers().Cancel(&member.idle);
  if (member.in_flight != nullptr || member.session == nullptr || !member.session->ready()) return;
  if (stopping_ || member.messages >= config_.max_messages_per_connection) return member.session->Quit();
  while (!domain.due.empty()) {
    Job* job = domain.due.front();
    domain.due.pop_front();
    std::string error;
    if (!LoadBody(job, &error)) {
      BeginAttempt(job);
      Complete(job, {job->attempt.size(), queue::AttemptReply{0, "4.3.0", error}}, member.host);
      if (member.in_flight != nullptr || member.session == nullptr || !member.session->ready()) return;
      continue;
    }
    return StartOn(member, job);
  }
  // Other domains may wait for a connection slot. One that goes to this connection's
  // host takes it over as it is (a session is to a host, not to a domain: domains
  // behind one smarthost or one provider's MX share connections); otherwise the slot
  // is given back now rather than after the idle timeout.
  if (Domain* taker = DomainWaitingFor(member.host); taker != nullptr) return HandOver(member, *taker);
  if (!waiting_for_host_.empty()) return member.session->Quit();
  shard_.timers().Schedule(&member.idle, shard_.now() + config_.idle_timeout_nanos);
  if (!member.idle_listed) {
    member.idle_listed = true;
    idle_members_.push_back(&member);
  }
}

DeliveryAgent::Domain* DeliveryAgent::DomainWaitingFor(const std::string& host) {
  Domain* found = nullptr;
  size_t kept = 0;
  for (size_t i = 0; i < waiting_for_host_.size(); ++i) {
    auto it = domains_.find(waiting_for_host_[i]);
    if (it == domains_.end()) continue;
    Domain& domain = *it->second;
    if (domain.due.empty()) {  // served meanwhile: it waits no more
      domain.waiting_for_host = false;
      continue;
    }
    waiting_for_host_[kept++] = waiting_for_host_[i];
    if (found != nullptr || domain.route != Domain::Route::kKnown ||
        domain.hop.kind != NextHop::Kind::kSmtp || domain.members.size() >= config_.domain_max_connections) {
      continue;
    }
    for (const core::SocketAddress& address : domain.hop.addresses) {
      if (address.ToString() == host) found = &domain;
    }
  }
  waiting_for_host_.resize(kept);
  return found;
}

void DeliveryAgent::HandOver(Member& member, Domain& taker) {
  Domain& from = *member.domain;
  auto it = std::find_if(from.members.begin(), from.members.end(),
                         [&](const std::unique_ptr<Member>& m) { return m.get() == &member; });
  RP_CHECK(it != from.members.end());
  taker.members.push_back(std::move(*it));
  from.members.erase(it);
  member.domain = &taker;
  maybe_empty_.push_back(from.name);
  ++stats_.connections_handed_over;
  OnMemberReady(member);
}

void DeliveryAgent::StartOn(Member& member, Job* job) {
  member.in_flight = job;
  ++member.messages;
  ++stats_.attempts;
  BeginAttempt(job);
  OutboundMessage message;
  message.mail_from = job->work->mail_from;
  for (size_t position : job->attempt) message.recipients.push_back(job->work->recipients[position].address);
  message.body = job->body;
  message.eight_bit = job->work->eight_bit;
  message.smtputf8 = job->work->smtputf8;
  member.session->Deliver(std::move(message));  // may finish at once (refused before sending)
}

void DeliveryAgent::OnIdleTimer(void* context) {
  Member* member = static_cast<Member*>(context);
  // An idle outbound connection ends with QUIT, not just a close (DESIGN.md).
  if (member->session != nullptr && member->in_flight == nullptr && member->session->ready()) {
    member->session->Quit();
  }
}

void DeliveryAgent::OnMemberDone(Member& member, std::vector<RecipientResult> results) {
  Job* job = member.in_flight;
  RP_CHECK(job != nullptr);
  member.in_flight = nullptr;
  std::vector<queue::AttemptReply> replies;
  replies.reserve(results.size());
  for (RecipientResult& r : results) {
    std::string text = r.code == 0 ? r.Summary() : std::move(r.text);
    if (r.code == 0 && r.possible_duplicate) {
      RP_LOG(kWarning) << "possible duplicate: id=" << job->work->queue_id << " host=" << member.host
                       << " (no reply after the final dot; deferred)";
    }
    replies.push_back(queue::AttemptReply{r.code, std::move(r.enhanced), std::move(text)});
  }
  Complete(job, replies, member.host);
}

void DeliveryAgent::OnMemberClosed(Member& member, const std::string& reason) {
  Domain& domain = *member.domain;
  member.closed = true;
  member.session = nullptr;
  member.local_failure = opening_;
  if (member.idle_listed) {
    idle_members_.erase(std::find(idle_members_.begin(), idle_members_.end(), &member));
    member.idle_listed = false;
  }
  shard_.timers().Cancel(&member.idle);
  if (member.in_flight != nullptr) {  // the session reports messages first; defensive
    Job* job = member.in_flight;
    member.in_flight = nullptr;
    Complete(job, {job->attempt.size(), queue::AttemptReply{0, "4.4.1", reason}}, member.host);
  }
  if (auto it = host_connections_.find(member.host); it != host_connections_.end() && --it->second == 0) {
    host_connections_.erase(it);
  }
  auto it = std::find_if(domain.members.begin(), domain.members.end(),
                         [&](const std::unique_ptr<Member>& m) { return m.get() == &member; });
  RP_CHECK(it != domain.members.end());
  closed_members_.push_back(std::move(*it));  // freed at the end of the turn, off its own stack
  domain.members.erase(it);

  maybe_empty_.push_back(domain.name);
  if (member.local_failure) {
    RP_LOG(kWarning) << "no outbound connection slot for " << domain.name << ": " << reason;
    return;  // OpenConnection retries in a second; pumping from here would recurse
  }
  if (!member.ever_ready) {
    ++stats_.connection_failures;
    ++domain.failures_in_row;
    ++domain.next_address;  // the next attempt starts at the next address
    RP_LOG(kInfo) << "connection failed: domain=" << domain.name << " host=" << member.host << " " << reason;
    const size_t addresses = std::max<size_t>(1, domain.hop.addresses.size());
    if (domain.failures_in_row >= addresses && domain.resting_until <= shard_.now()) {
      // Every address failed in a row: no new connection for a while (once per rest,
      // however many connections were failing at once).
      const bool any_ready = std::any_of(domain.members.begin(), domain.members.end(),
                                         [](const std::unique_ptr<Member>& m) { return m->ever_ready; });
      absl::Duration rest = queue::RetryDelay(config_.retry, ++domain.rests, UnitRandom());
      if (any_ready) {
        // Working connections carry the due jobs; only the opening of more pauses.
        rest = std::min(rest, absl::Minutes(1));
      } else {
        FailAll(domain, "4.4.1", 0, absl::StrCat("connection to ", member.host, " failed: ", reason));
      }
      domain.resting_until = shard_.now() + absl::ToInt64Nanoseconds(rest);
      shard_.timers().Schedule(&domain.wake, domain.resting_until);
    }
  }
  std::vector<std::string> waiting;
  waiting.swap(waiting_for_host_);
  Pump(domain);
  for (const std::string& name : waiting) {
    if (auto w = domains_.find(name); w != domains_.end()) {
      w->second->waiting_for_host = false;
      Pump(*w->second);
    }
  }
}

bool DeliveryAgent::LoadBody(Job* job, std::string* error) {
  const std::string& path = job->work->segment_path;
  absl::StatusOr<int> fd = segment_files_.Open(path);
  if (!fd.ok()) {
    *error = absl::StrCat("cannot read the queued message: ", fd.status().message());
    return false;
  }
  auto envelope = queue::ReadEnvelopeAt(*fd, path, job->work->commit_offset);
  if (!envelope.ok()) {
    *error = absl::StrCat("cannot read the queued message: ", envelope.status().message());
    return false;
  }
  auto body = queue::ReadBodyAt(*fd, path, *envelope);
  if (!body.ok()) {
    *error = absl::StrCat("cannot read the queued message: ", body.status().message());
    return false;
  }
  job->body = std::move(*body);
  return true;
}

void DeliveryAgent::DeliverLocal(Job* job) {
  ++stats_.attempts;
  BeginAttempt(job);
  std::vector<queue::AttemptReply> replies;
  std::string error;
  if (!LoadBody(job, &error)) {
    replies.assign(job->attempt.size(), queue::AttemptReply{0, "4.3.0", error});
    return Complete(job, replies, "maildir");
  }
  for (size_t position : job->attempt) {
    const queue::JobRecipient& r = job->work->recipients[position];
    queue::MaildirMessage message;
    message.domain = job->work->domain;
    message.local_part = r.address.substr(0, r.address.rfind('@'));
    message.return_path = job->work->mail_from;
    message.delivered_to = r.address;
    message.body = job->body;
    std::string path;
    const absl::Status status =
        queue::DeliverToMaildir(config_.maildir_root, message, ++maildir_unique_, &path);
    if (status.ok()) {
      replies.push_back(queue::AttemptReply{250, "2.0.0", absl::StrCat("delivered to maildir ", path)});
    } else if (absl::IsInvalidArgument(status)) {
      replies.push_back(queue::AttemptReply{550, "5.1.1", std::string(status.message())});
    } else if (absl::IsResourceExhausted(status)) {
      replies.push_back(queue::AttemptReply{452, "4.2.2", std::string(status.message())});
    } else {
      replies.push_back(queue::AttemptReply{451, "4.3.0", std::string(status.message())});
    }
  }
  Complete(job, replies, "maildir");
}

// ---- Outcomes ------------------------------------------------------------------------

void DeliveryAgent::Complete(Job* job, const std::vector<queue::AttemptReply>& replies,
                             const std::string& host) {
  RP_CHECK_EQ(replies.size(), job->attempt.size());
  const absl::Time now = absl::Now();
  const absl::Time arrival = absl::FromUnixMicros(static_cast<int64_t>(job->work->arrival_unix_micros));
  const bool some_accepted = std::any_of(replies.begin(), replies.end(),
                                         [](const queue::AttemptReply& r) { return r.code / 100 == 2; });
  auto batch = std::make_shared<Batch>();
  std::string lines;
  for (size_t i = 0; i < replies.size(); ++i) {
    const queue::AttemptReply& reply = replies[i];
    const queue::JobRecipient& r = job->work->recipients[job->attempt[i]];
    queue::AccountingEntry entry;
    entry.time = now;
    entry.queue_id = job->work->queue_id;
    entry.from = job->work->mail_from;
    entry.rcpt = r.address;
    entry.domain = job->work->domain;
    entry.host = host;
    entry.code = reply.code;
    entry.text = reply.text;
    entry.tls = "none";
    if (reply.code == 452 && some_accepted) {
      // Too many recipients for this transaction (RFC 5321 §4.5.3.1.10): the rest go
      // in a new one at once, not as a failed attempt.
      batch->again_now.push_back(r.index);
      entry.result = "deferred";
      entry.status = reply.enhanced;
      entry.attempt = r.attempts + 1;
      if (accounting_.enabled()) queue::AppendAccountingLine(entry, &lines);
      continue;
    }
    queue::RecipientOutcome outcome =
        queue::DecideOutcome(config_.retry, reply, arrival, now, r.attempts, UnitRandom());
    switch (outcome.outcome) {
      case queue::Outcome::kDelivered:
        ++stats_.delivered;
        break;
      case queue::Outcome::kDeferred:
        ++stats_.deferred;
        break;
      case queue::Outcome::kBounced:
        ++stats_.bounced;
        break;
      case queue::Outcome::kExpired:
        ++stats_.expired;
        break;
    }
    entry.result = queue::OutcomeName(outcome.outcome);
    entry.status = outcome.status;
    entry.attempt = outcome.attempt;
    if (accounting_.enabled()) queue::AppendAccountingLine(entry, &lines);
    RP_LOG(kDebug) << entry.result << " id=" << job->work->queue_id << " rcpt=<" << r.address
                   << "> host=" << host << " code=" << reply.code << " " << reply.text;

    queue::DeliveryResult result;
    result.queue_id = job->work->queue_id;
    result.recipient_index = r.index;
    result.outcome = outcome.outcome;
    result.attempt = outcome.attempt;
    if (outcome.outcome == queue::Outcome::kDeferred) {
      result.next_attempt_unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(outcome.next_attempt));
    }
    result.code = static_cast<uint16_t>(reply.code);
    result.text = reply.text.substr(0, 512);
    batch->results.push_back(std::move(result));
    if (outcome.bounces()) {
      queue::BouncedRecipient failed;
      failed.address = r.address;
      failed.status = outcome.status;
      if (reply.code != 0) {
        failed.diagnostic =
            absl::StrCat(reply.code, reply.enhanced.empty() ? "" : " ", reply.enhanced, " ", reply.text);
      }
      failed.reason = outcome.outcome == queue::Outcome::kExpired
                          ? absl::StrCat("delivery time expired; last error: ", reply.text)
                          : (reply.code != 0 && !host.empty() && host != "maildir"
                                 ? absl::StrCat("the server ", host, " refused it")
                                 : reply.text);
      batch->bounced.push_back(std::move(failed));
      batch->bounced_indexes.push_back(r.index);
    }
    batch->outcomes.emplace_back(r.index, std::move(outcome));
  }
  accounting_.Write(lines);

  if (batch->bounced.empty()) {
    job->body.clear();
    job->body.shrink_to_fit();
    return WriteResults(job, batch);
  }
  if (job->work->mail_from.empty()) {
    // RFC 5321 §6.1 / RFC 3464 §2: never a DSN for a message from the null sender.
    ++stats_.dsns_suppressed;
    RP_LOG(kInfo) << "bounce dropped: id=" << job->work->queue_id
                  << " from=<> failed_recipients=" << batch->bounced.size() << " (null sender)";
    job->body.clear();
    job->body.shrink_to_fit();
    return WriteResults(job, batch);
  }
  QueueBounce(job, batch);
}

void DeliveryAgent::QueueBounce(Job* job, const std::shared_ptr<Batch>& batch) {
  if (job->body.empty()) {  // outcomes decided without loading it (no route, no connection)
    std::string error;
    if (!LoadBody(job, &error)) {
      RP_LOG(kWarning) << "bounce without the original's headers: " << error;
    }
  }
  const absl::Time now = absl::Now();
  queue::BounceInput input;
  input.reporting_mta = config_.hostname;
  input.original_sender = job->work->mail_from;
  input.queue_id = job->work->queue_id;
  input.arrival = absl::FromUnixMicros(static_cast<int64_t>(job->work->arrival_unix_micros));
  input.now = now;
  input.failed = batch->bounced;
  input.original = job->body;
  input.sequence = ++dsn_sequence_;
  absl::StatusOr<std::string> dsn = queue::BuildBounce(input);
  job->body.clear();
  job->body.shrink_to_fit();

  // The DSN is durable before the results that say "bounced": a crash in between sends
  // it twice rather than never.
  absl::StatusOr<uint64_t> message = dsn.ok() ? log_.BeginMessage() : dsn.status();
  absl::Status appended = message.ok() ? log_.AppendBody(*message, *dsn) : message.status();
  if (!appended.ok()) {
    if (message.ok()) log_.Abort(*message);
    RP_LOG(kWarning) << "bounce for id=" << job->work->queue_id << " not queued (" << appended
                     << "); its recipients are tried again later";
    KeepBouncesDeferred(*batch);
    return WriteResults(job, batch);
  }
  queue::Envelope envelope;
  envelope.queue_id = ids_.Next(static_cast<uint64_t>(absl::ToUnixSeconds(now)));
  envelope.arrival_unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(now));
  envelope.helo = config_.hostname;
  envelope.protocol = "LOCAL";
  envelope.mail_from = "";
  envelope.recipients.push_back(queue::Recipient{job->work->mail_from, "", false, 0, 0});
  queue::Envelope copy = envelope;
  log_.Commit(*message, std::move(envelope),
              [alive = alive_, job, batch, copy = std::move(copy)](const absl::Status& status,
                                                                   const queue::MessageLocation& location) {
                if (*alive == nullptr) return;
                DeliveryAgent& agent = **alive;
                if (!status.ok()) {
                  RP_LOG(kWarning) << "bounce for id=" << job->work->queue_id << " not durable (" << status
                                   << "); its recipients are tried again later";
                  agent.KeepBouncesDeferred(*batch);
                  return agent.WriteResults(job, batch);
                }
                ++agent.stats_.dsns_queued;
                RP_LOG(kInfo) << "bounce queued: id=" << copy.queue_id << " for id=" << job->work->queue_id
                              << " to=<" << job->work->mail_from
                              << "> failed_recipients=" << batch->bounced.size();
                queue::QueuedMessage queued;
                queued.envelope = copy;
                queued.segment = location.segment;
                queued.segment_path = agent.log_.SegmentPath(location.segment);
                queued.commit_offset = location.commit_offset;
                queued.home_shard = agent.shard_.id();
                agent.Submit(queued);
                agent.WriteResults(job, batch);
              });
}

void DeliveryAgent::KeepBouncesDeferred(Batch& batch) {
  // No DSN could be queued: the failed recipients get no record and are tried again
  // after the initial delay (their attempt count unchanged), so the bounce comes later.
  for (auto& [index, outcome] : batch.outcomes) {
    if (!outcome.bounces()) continue;
    outcome.outcome = queue::Outcome::kDeferred;
    outcome.next_attempt = absl::Now() + config_.retry.initial;
    outcome.attempt -= 1;
  }
  batch.results.erase(std::remove_if(batch.results.begin(), batch.results.end(),
                                     [](const queue::DeliveryResult& r) {
                                       return r.outcome == queue::Outcome::kBounced ||
                                              r.outcome == queue::Outcome::kExpired;
                                     }),
                      batch.results.end());
}

void DeliveryAgent::WriteResults(Job* job, const std::shared_ptr<Batch>& batch) {
  if (batch->results.empty()) return FinishBatch(job, *batch);
  batch->pending = batch->results.size();
  for (const queue::DeliveryResult& result : batch->results) {
    log_.AppendResult(result, [alive = alive_, job, batch](const absl::Status& status) {
      if (*alive == nullptr) return;
      if (!status.ok()) {
        // The outcome stands in memory; after a restart the recipient is tried again.
        RP_LOG(kWarning) << "delivery result for id=" << job->work->queue_id << " not durable: " << status;
      }
      if (--batch->pending == 0) (*alive)->FinishBatch(job, *batch);
    });
  }
}

void DeliveryAgent::FinishBatch(Job* job, const Batch& batch) {
  std::vector<queue::JobRecipient>& recipients = job->work->recipients;
  auto find = [&](uint32_t index) {
    return std::find_if(recipients.begin(), recipients.end(),
                        [&](const queue::JobRecipient& r) { return r.index == index; });
  };
  for (const auto& [index, outcome] : batch.outcomes) {
    auto it = find(index);
    if (it == recipients.end()) continue;
    if (outcome.outcome != queue::Outcome::kDeferred) {
      recipients.erase(it);
      continue;
    }
    it->attempts = outcome.attempt;
    it->next_attempt_unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(outcome.next_attempt));
  }
  for (uint32_t index : batch.again_now) {
    if (auto it = find(index); it != recipients.end()) it->next_attempt_unix_micros = 0;
  }
  if (recipients.empty()) return FinishJob(job);
  Schedule(job);
}

void DeliveryAgent::FinishJob(Job* job) {
  Domain& domain = *job->domain;
  shard_.timers().Cancel(&job->timer);
  std::shared_ptr<queue::MessageParts> parts = job->work->parts;
  segment_files_.Release(job->work->segment_path);
  --domain.jobs;
  jobs_.erase(job->self);
  NoticeFinished(parts);
  maybe_empty_.push_back(domain.name);
}

}  // namespace ringpost::net
