#include "net/delivery_agent.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/check.h"
#include "core/domain_name.h"
#include "core/log.h"
#include "net/delivery_agent_parts.h"
#include "queue/log_reader.h"
#include "queue/maildir.h"

namespace ringpost::net {
namespace {

thread_local DeliveryAgent* this_thread_agent = nullptr;

uint64_t NowUnixMicros() { return static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())); }

}  // namespace

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
  job.written_at = shard_.now();
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
    const size_t index = (domain.next_address + k) % n;
    const core::SocketAddress& address = domain.hop.addresses[index];
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
    const std::string& name = index < domain.hop.names.size() ? domain.hop.names[index] : std::string();
    OutboundTls tls = TlsFor(member->host, name);
    member->tls_key = TlsSessionKey(member->host, tls.sni);
    auto session = std::make_unique<OutboundSession>(*member, config_.session, std::move(tls));
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

std::string DeliveryAgent::TlsSessionKey(const std::string& host, const std::string& sni) {
  return absl::StrCat(host, " ", sni);  // a session is for one server and one name
}

OutboundTls DeliveryAgent::TlsFor(const std::string& host, const std::string& name) {
  OutboundTls tls;
  tls.policy = config_.session.tls_client == nullptr ? TlsPolicy::kNone : config_.tls_policy;
  if (tls.policy == TlsPolicy::kOpportunistic) {
    // A host whose handshake failed gets plaintext for a while (RFC 7435: opportunistic
    // security never makes delivery worse than plaintext).
    if (auto it = plaintext_until_.find(host); it != plaintext_until_.end()) {
      if (it->second > shard_.now()) {
        tls.policy = TlsPolicy::kNone;
      } else {
        plaintext_until_.erase(it);
      }
    }
  }
  if (tls.policy == TlsPolicy::kNone) return tls;
  // RFC 6066 §3: the server name is a host name, never an address.
  if (core::IsHostName(name)) tls.sni = name;
  // A ticket is offered once (RFC 8446 §C.4); the connection's own new one refills it.
  if (auto it = tls_sessions_.find(TlsSessionKey(host, tls.sni)); it != tls_sessions_.end()) {
    tls.resume = std::move(it->second);
    tls_sessions_.erase(it);
  }
  return tls;
}

void DeliveryAgent::KeepTlsSession(const std::string& key, bssl::UniquePtr<SSL_SESSION> session) {
  if (tls_sessions_.size() >= kTlsSessionsMax && !tls_sessions_.contains(key)) tls_sessions_.clear();
  tls_sessions_[key] = std::move(session);
}

void DeliveryAgent::OnMemberTlsFailed(Member& member, const std::string& error) {
  member.tls_failed = true;
  ++stats_.tls_handshake_failures;
  // Sessions that resume badly are not offered again.
  tls_sessions_.erase(member.tls_key);
  RP_LOG(kInfo) << "outbound tls handshake failed: domain=" << member.domain->name << " host=" << member.host
                << ": " << error;
  if (config_.tls_policy == TlsPolicy::kOpportunistic) {
    // Bounded like the session cache: forgetting only means one more failed try.
    if (plaintext_until_.size() >= kTlsSessionsMax) plaintext_until_.clear();
    plaintext_until_[member.host] = shard_.now() + config_.tls_fallback_nanos;
  }
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
  const TlsSummary* tls = member.session != nullptr ? member.session->tls() : nullptr;
  if (tls == nullptr || !tls->peer_verified || tls->sni == NameOf(*member.domain, member.host)) {
    return Complete(job, replies, member.host, tls);
  }
  // A session handed over from another domain was verified for that domain's MX name.
  TlsSummary unverified = *tls;
  unverified.peer_verified = false;
  Complete(job, replies, member.host, &unverified);
}

std::string DeliveryAgent::NameOf(const Domain& domain, const std::string& host) {
  for (size_t i = 0; i < domain.hop.addresses.size() && i < domain.hop.names.size(); ++i) {
    if (domain.hop.addresses[i].ToString() == host) return domain.hop.names[i];
  }
  return "";
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
  if (!member.ever_ready && member.tls_failed && config_.tls_policy == TlsPolicy::kOpportunistic) {
    // Not the destination's fault as far as delivery goes: the next connection to it
    // is plaintext (TlsFor), opened by the Pump below.
    RP_LOG(kInfo) << "retrying in plaintext: domain=" << domain.name << " host=" << member.host;
  } else if (!member.ever_ready) {
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
  if (job->body.empty() && !spare_bodies_.empty()) {
    job->body.swap(spare_bodies_.back());
    spare_bodies_.pop_back();
  }
  const absl::Status read = queue::ReadBodyInto(*fd, path, *envelope, &job->body);
  if (!read.ok()) {
    *error = absl::StrCat("cannot read the queued message: ", read.message());
    DropBody(job);
    return false;
  }
  return true;
}

void DeliveryAgent::DropBody(Job* job) {
  // Bounded: a few buffers of ordinary sizes; a huge body's memory goes back at once.
  // (A body never loaded has no buffer worth keeping.)
  constexpr size_t kSpareBodies = 16, kSpareBodyBytesMin = 4096, kSpareBodyBytesMax = 1 << 20;
  std::string body;
  body.swap(job->body);
  if (spare_bodies_.size() < kSpareBodies && body.capacity() >= kSpareBodyBytesMin &&
      body.capacity() <= kSpareBodyBytesMax) {
    spare_bodies_.push_back(std::move(body));
  }
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

}  // namespace ringpost::net
