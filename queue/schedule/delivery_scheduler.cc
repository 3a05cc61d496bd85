// DeliveryScheduler, first half: jobs and their times, destination domains and their
// pools, connections. The second half (delivery_scheduler_outcomes.cc) turns an
// attempt's replies into outcomes, result records and bounces.
#include "queue/schedule/delivery_scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/log.h"
#include "queue/schedule/delivery_scheduler_parts.h"

namespace ringpost::queue {

DeliveryScheduler::DeliveryScheduler(const SchedulerConfig& config, absl::Time now)
    : config_(config),
      now_(now),
      wheel_(WheelTime(now)),
      random_(config.seed),
      shaping_(config.shaping != nullptr ? config.shaping : std::make_shared<const ShapingPolicy>()),
      bounce_rules_(config.bounce_rules) {
  RP_CHECK_GT(config_.domain_max_connections, 0u);
  RP_CHECK_GT(config_.host_max_connections, 0u);
  RP_CHECK_GT(config_.max_messages_per_connection, 0u);
}

DeliveryScheduler::~DeliveryScheduler() {
  // Timer nodes must be disarmed before they die.
  for (auto& [name, domain] : domains_) wheel_.Cancel(&domain->wake);
  for (auto& [id, connection] : connections_) wheel_.Cancel(&connection->idle);
}

double DeliveryScheduler::UnitRandom() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_) * 0.999999;
}

void DeliveryScheduler::TakeActions(std::vector<DeliveryAction>* out) {
  out->clear();
  out->swap(actions_);
}

absl::Time DeliveryScheduler::NextTimer() const {
  const core::MonoNanos next = wheel_.NextDeadlineNanos();
  const absl::Time wheel = next == core::TimerWheel::kNever ? absl::InfiniteFuture() : absl::FromUnixNanos(next);
  // A stale job entry may make this early: the wake finds nothing to do.
  return job_wakes_.empty() ? wheel : std::min(wheel, job_wakes_.top().at);
}

void DeliveryScheduler::OnTimer(absl::Time now) {
  now_ = std::max(now_, now);
  wheel_.Advance(WheelTime(now_));
  WakeDueJobs();
  EndEvent();
}

void DeliveryScheduler::Stop(absl::Time now) {
  now_ = std::max(now_, now);
  stopping_ = true;
  std::vector<Connection*> ready;
  for (auto& [id, connection] : connections_) {
    if (connection->ready && connection->in_flight == nullptr) ready.push_back(connection.get());
  }
  for (Connection* connection : ready) Quit(*connection);
  // Shared tokens not spent, and leases not in use, go back for the other nodes.
  for (auto& [key, shared] : shared_rates_) ReturnUnused(*shared, shared->TakeAll());
  for (auto& [key, leases] : shared_leases_) {
    if (std::vector<std::string> free = leases->TakeFree(); !free.empty() && cluster_up_) {
      actions_.push_back(ReleaseLeases{key, std::move(free)});
    }
  }
  EndEvent();
}

void DeliveryScheduler::EndEvent() {
  // Forgetting a domain frees it: done here, when no caller holds one. A domain with no
  // jobs, connections, rest or lookup costs nothing to forget (a bulk sender reaches
  // millions of domains over time). A domain whose throttle still holds something (a
  // suspension, a ramp, a rate's debt) is kept and looked at again later.
  if (!automation_bounces_.empty()) BounceForAutomation();
  SweepShared();
  std::vector<std::string> names;
  names.swap(maybe_empty_);
  for (const std::string& name : names) {
    auto it = domains_.find(name);
    if (it == domains_.end()) continue;
    Domain& domain = *it->second;
    if (domain.jobs > 0 || !domain.connections.empty() || domain.wake.armed() ||
        domain.route == Domain::Route::kResolving) {
      continue;
    }
    if (const absl::Time keep_until = std::max(SuspendedUntil(domain), domain.throttle.IdleAt(now_));
        keep_until > now_) {
      WakeAt(domain, std::min(keep_until, now_ + kThrottleRecheck));
      continue;
    }
    Detach(domain);
    HoldShared(domain.shared_rate, domain.key, std::nullopt);
    HoldLeases(domain.shared_leases, domain.key, std::nullopt);
    domains_.erase(it);
  }
  if (sites_may_be_idle_ || now_ >= sites_recheck_at_) {
    // A site share without domains whose throttle still holds something (a rule's
    // suspension from another shard, say) is looked at again once that lapses.
    sites_may_be_idle_ = false;
    sites_recheck_at_ = absl::InfiniteFuture();
    absl::erase_if(sites_, [this](const auto& entry) {
      Site& site = *entry.second;
      if (SiteIdle(site)) {
        HoldShared(site.shared_rate, site.name, std::nullopt);
        HoldLeases(site.shared_leases, site.name, std::nullopt);
        return true;
      }
      if (site.domains == 0) sites_recheck_at_ = std::min(sites_recheck_at_, site.throttle.IdleAt(now_));
      return false;
    });
  }
}

// ---- Jobs ----------------------------------------------------------------------------

std::string DeliveryScheduler::QueueKey(const std::string& domain, const std::string& source) {
  return source.empty() ? domain : absl::StrCat(domain, "/", source);  // '/' is in no domain name
}

DeliveryScheduler::Domain& DeliveryScheduler::DomainFor(const std::string& name, const std::string& source) {
  std::string key = QueueKey(name, source);
  auto [it, inserted] = domains_.try_emplace(key);
  if (inserted) {
    it->second = std::make_unique<Domain>();
    Domain& domain = *it->second;
    domain.scheduler = this;
    domain.name = name;
    domain.source = source;
    domain.key = std::move(key);
    domain.wake.Bind(&DeliveryScheduler::OnDomainTimer, &domain);
    Shape(domain);
  }
  return *it->second;
}

void DeliveryScheduler::Accept(std::unique_ptr<DeliveryJob> work, absl::Time now) {
  RP_CHECK(work != nullptr && work->message != nullptr);
  RP_CHECK(!work->recipients.empty());
  now_ = std::max(now_, now);
  ++stats_.jobs_accepted;
  auto owned = std::make_unique<Job>();
  Job& job = *owned;
  job.scheduler = this;
  job.id = next_job_++;
  job.work = std::move(work);
  // A message with an egress pool: this job leaves from one of its sources.
  const std::string& source = config_.egress_pools != nullptr
                                  ? sources_.Pick(*config_.egress_pools, job.work->message->pool)
                                  : std::string();
  job.domain = &DomainFor(job.work->domain, source);
  job.taken_at = now_;
  job.held = job.work->held;
  job.arrival = absl::FromUnixMicros(static_cast<int64_t>(job.work->message->arrival_unix_micros));
  ++job.domain->jobs;
  job.domain->arrivals.emplace(job.arrival, job.id);
  Count(job, +1);
  jobs_.emplace(job.id, std::move(owned));
  Index(job);
  Schedule(job);
  EndEvent();
}

void DeliveryScheduler::Count(const Job& job, int sign) {
  Domain& domain = *job.domain;
  const uint64_t recipients = job.work->recipients.size();
  uint64_t tried = 0;
  for (const JobRecipient& r : job.work->recipients) tried += r.attempts > 0 ? 1 : 0;
  const uint64_t held = job.held ? recipients : 0;
  if (sign > 0) {
    domain.recipients += recipients;
    domain.deferred += tried;
    domain.held += held;
  } else {
    domain.recipients -= recipients;
    domain.deferred -= tried;
    domain.held -= held;
  }
}

void DeliveryScheduler::Schedule(Job& job) {
  RP_CHECK(!job.busy);
  if (job.held) return;  // Release schedules it
  uint64_t due = UINT64_MAX;
  for (const JobRecipient& r : job.work->recipients) due = std::min(due, r.next_attempt_unix_micros);
  const absl::Time due_at = absl::FromUnixMicros(static_cast<int64_t>(std::min<uint64_t>(due, INT64_MAX)));
  if (due_at <= now_) return MakeDue(job);
  job_wakes_.push(JobWake{std::min(due_at, now_ + kLongestWait), job.id, ++job.wake});
}

void DeliveryScheduler::WakeDueJobs() {
  while (!job_wakes_.empty() && job_wakes_.top().at <= now_) {
    const JobWake wake = job_wakes_.top();
    job_wakes_.pop();
    auto it = jobs_.find(wake.job);
    // Finished, or scheduled again since (a newer entry is the live one).
    if (it == jobs_.end() || it->second->wake != wake.wake || it->second->busy) continue;
    Schedule(*it->second);  // due now, or (a clamped wait) not yet
  }
}

void DeliveryScheduler::MakeDue(Job& job) {
  job.domain->due.push_back(&job);
  Pump(*job.domain);
}

void DeliveryScheduler::BeginAttempt(Job& job, size_t recipients_max) {
  // Only recipients whose time has come: a job's recipients can have different retry
  // times (a 452 sent some again at once; recovery restores each one's own). The
  // earliest always goes (timers may fire a tick before their wall-clock time).
  job.busy = true;
  job.attempt.clear();
  const std::vector<JobRecipient>& recipients = job.work->recipients;
  const auto now = static_cast<uint64_t>(absl::ToUnixMicros(now_));
  uint64_t earliest = UINT64_MAX;
  for (const JobRecipient& r : recipients) earliest = std::min(earliest, r.next_attempt_unix_micros);
  for (size_t i = 0; i < recipients.size(); ++i) {
    if (job.attempt.size() == recipients_max) break;  // the rest go in the next transaction
    if (recipients[i].next_attempt_unix_micros <= now || recipients[i].next_attempt_unix_micros == earliest) {
      job.attempt.push_back(i);
    }
  }
  RP_CHECK(!job.attempt.empty());
  job.domain->in_flight += job.attempt.size();
  job.attempt_started = now_;
}

// ---- Domains -------------------------------------------------------------------------

void DeliveryScheduler::OnDomainTimer(void* context) {
  Domain& domain = *static_cast<Domain*>(context);
  domain.scheduler->Pump(domain);
  domain.scheduler->maybe_empty_.push_back(domain.key);
}

void DeliveryScheduler::OnRouteResolved(const std::string& queue, NextHop hop, absl::Time now) {
  now_ = std::max(now_, now);
  auto it = domains_.find(queue);
  if (it != domains_.end() && it->second->route == Domain::Route::kResolving) {
    Domain& domain = *it->second;
    domain.route_valid_until =
        hop.valid_for > absl::ZeroDuration() ? now_ + hop.valid_for : absl::InfiniteFuture();
    domain.hop = std::move(hop);
    KeepSourceFamily(domain);
    domain.hosts.clear();
    for (const core::SocketAddress& address : domain.hop.addresses)
      domain.hosts.push_back(address.ToString());
    domain.route = Domain::Route::kKnown;
    Shape(domain);  // its MX hosts may put it in a site
    Pump(domain);
    maybe_empty_.push_back(queue);
  }
  EndEvent();
}

void DeliveryScheduler::KeepSourceFamily(Domain& domain) {
  if (domain.source.empty() || domain.hop.kind != NextHop::Kind::kSmtp) return;
  auto family = config_.source_families.find(domain.source);
  if (family == config_.source_families.end()) return;
  NextHop& hop = domain.hop;
  size_t kept = 0;
  for (size_t i = 0; i < hop.addresses.size(); ++i) {
    if (hop.addresses[i].family() != family->second) continue;
    if (i < hop.names.size()) {
      hop.names[kept] = std::move(hop.names[i]);
    } else if (kept < hop.names.size()) {
      hop.names[kept].clear();
    }
    hop.addresses[kept++] = hop.addresses[i];
  }
  hop.names.resize(std::min(hop.names.size(), kept));
  hop.addresses.resize(kept);
}

void DeliveryScheduler::Pump(Domain& domain) {
  if (stopping_ || domain.due.empty()) return;
  if (Suspended(domain)) {  // an operator's or a rule's: nothing new until it lapses or is lifted
    WakeAt(domain, SuspendedUntil(domain));
    return;
  }
  if (domain.route == Domain::Route::kResolving) return;  // the answer pumps again
  if (domain.route == Domain::Route::kKnown && domain.route_valid_until <= now_) {
    domain.route = Domain::Route::kUnknown;  // a DNS answer: ask again (the resolver caches)
  }
  if (domain.route == Domain::Route::kUnknown) {
    // A destination its shaping suspends (max_message_rate = 0 for the domain or the
    // default) is not looked up either: as with an operator's suspension, nothing is
    // attempted until the shaping changes (a reload pumps every domain again).
    if (domain.throttle.held_by_configuration()) return;
    domain.route = Domain::Route::kResolving;
    actions_.push_back(ResolveRoute{domain.name, domain.key});
    return;
  }
  switch (domain.hop.kind) {
    case NextHop::Kind::kLocal:
      while (!domain.due.empty()) {
        Job& job = *domain.due.front();
        domain.due.pop_front();
        ++stats_.attempts;
        BeginAttempt(job);
        DeliverLocally local{job.id, job.work->message, domain.name, {}};
        for (size_t position : job.attempt) local.recipients.push_back(job.work->recipients[position].address);
        actions_.push_back(std::move(local));
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

void DeliveryScheduler::FailAll(Domain& domain, const std::string& status, int code, const std::string& text) {
  std::deque<Job*> due;
  due.swap(domain.due);
  for (Job* job : due) {
    BeginAttempt(*job);
    Complete(*job, std::vector<AttemptReply>(job->attempt.size(), AttemptReply{code, status, text, false}), "",
             TlsReport{});
  }
}

void DeliveryScheduler::PumpSmtp(Domain& domain) {
  if (domain.hop.addresses.empty()) {  // a route without an address (an MX without A/AAAA)
    domain.route = Domain::Route::kUnknown;
    return FailAll(domain, "4.4.4", 0,
                   absl::StrCat("no address for ", domain.name,
                                domain.source.empty() ? "" : " of the family of source ", domain.source));
  }
  // Idle connections first.
  for (size_t i = 0; i < domain.connections.size() && !domain.due.empty(); ++i) {
    Connection& connection = *domain.connections[i];
    if (connection.ready && connection.in_flight == nullptr && !connection.quitting) Ready(connection);
  }
  if (domain.due.empty()) return;
  if (domain.resting_until > now_) {  // the breaker: no new connection yet
    if (!domain.wake.armed()) wheel_.Schedule(&domain.wake, WheelTime(domain.resting_until));
    return;
  }
  // A connection opened now would only wait for the message rate.
  if (const absl::Time at = MessageAt(domain); at > now_) return WakeAt(domain, at);
  size_t connecting = 0;
  for (const Connection* connection : domain.connections) connecting += connection->ever_ready ? 0 : 1;
  while (domain.due.size() > connecting && MayOpen(domain)) {
    if (const absl::Time at = ConnectionAt(domain); at > now_) return WakeAt(domain, at);
    if (!LeasesReady(domain)) return;  // asked for: the answer pumps it
    if (!Open(domain)) break;
    ++connecting;
  }
}

bool DeliveryScheduler::Open(Domain& domain) {
  const size_t n = domain.hop.addresses.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t index = (domain.next_address + k) % n;
    const core::SocketAddress& address = domain.hop.addresses[index];
    const std::string& host = domain.hosts[index];
    uint32_t& count = host_connections_[host];
    if (count >= config_.host_max_connections) continue;
    ++count;
    ++stats_.connections_opened;
    domain.throttle.TakeConnection(now_);
    if (domain.site != nullptr) {
      domain.site->throttle.TakeConnection(now_);
      ++domain.site->connections;
    }
    auto owned = std::make_unique<Connection>();
    Connection& connection = *owned;
    connection.scheduler = this;
    connection.id = next_connection_++;
    connection.domain = &domain;
    connection.host = host;
    connection.name = index < domain.hop.names.size() ? domain.hop.names[index] : std::string();
    connection.idle.Bind(&DeliveryScheduler::OnIdleTimer, &connection);
    domain.connections.push_back(&connection);
    // Opportunistic TLS may fall back to plaintext; a destination requiring TLS never.
    const TlsMode tls = domain.shape.tls.value_or(TlsMode::kInherit);
    actions_.push_back(OpenConnection{connection.id, address, connection.name,
                                      tls != TlsMode::kRequired && PlaintextOnly(connection.host), tls,
                                      domain.source});
    TakeLeases(domain, connection);
    connections_.emplace(connection.id, std::move(owned));
    return true;
  }
  // Every host is at its limit: an idle connection to one of them (another domain's,
  // waiting out its idle timeout) is taken over at once.
  if (TakeOverIdle(domain)) return true;
  WaitForHost(domain);
  return false;
}

bool DeliveryScheduler::TakeOverIdle(Domain& domain) {
  if (!MayOpen(domain) || HoldsLeases(domain)) return false;
  for (Connection* idle : idle_) {
    if (idle->domain == &domain || idle->in_flight != nullptr || !idle->ready || idle->quitting ||
        idle->domain->source != domain.source || !idle->leases.empty()) {
      continue;  // a connection leaves from its source: only that source's queues take it
    }
    if (std::find(domain.hosts.begin(), domain.hosts.end(), idle->host) != domain.hosts.end()) {
      HandOver(*idle, domain);
      return true;
    }
  }
  return false;
}

void DeliveryScheduler::WaitForHost(Domain& domain) {
  // A connection to the host closing or idling pumps it again.
  if (domain.waiting_for_host) return;
  domain.waiting_for_host = true;
  waiting_for_host_.push_back(domain.key);
}

// Every address failed in a row: no new connection for a while (once per rest, however
// many connections were failing at once).
void DeliveryScheduler::Rest(Domain& domain, const Connection& failed, const std::string& reason) {
  const bool any_ready = std::any_of(domain.connections.begin(), domain.connections.end(),
                                     [](const Connection* c) { return c->ever_ready; });
  absl::Duration rest = RetryDelay(domain.retry, ++domain.rests, UnitRandom());
  if (any_ready) {
    // Working connections carry the due jobs; only the opening of more pauses.
    rest = std::min(rest, absl::Minutes(1));
  } else {
    FailAll(domain, "4.4.1", 0, absl::StrCat("connection to ", failed.host, " failed: ", reason));
  }
  domain.resting_until = now_ + rest;
  wheel_.Schedule(&domain.wake, WheelTime(domain.resting_until));
}

// ---- Connections ---------------------------------------------------------------------

void DeliveryScheduler::OnConnectionReady(ConnectionId id, absl::Time now) {
  now_ = std::max(now_, now);
  auto it = connections_.find(id);
  if (it != connections_.end() && it->second->in_flight == nullptr && !it->second->quitting) {
    Connection& connection = *it->second;
    connection.ready = true;
    if (!connection.ever_ready) {  // the destination works: the breaker closes
      connection.ever_ready = true;
      Domain& domain = *connection.domain;
      domain.failures_in_row = 0;
      domain.rests = 0;
      domain.resting_until = absl::InfinitePast();
      wheel_.Cancel(&domain.wake);
    }
    Ready(connection);
  }
  EndEvent();
}

void DeliveryScheduler::Ready(Connection& connection) {
  RP_CHECK(connection.ready && connection.in_flight == nullptr);
  wheel_.Cancel(&connection.idle);
  Domain& domain = *connection.domain;
  if (stopping_ || connection.messages >= DeliveriesPerConnection(domain)) return Quit(connection);
  // A lowered limit is kept by ending connections as they finish a message.
  if (OverConnectionLimit(domain)) return Quit(connection);
  if (!domain.due.empty() && !Suspended(domain)) {
    if (const absl::Time at = MessageAt(domain); at <= now_) {
      Job& job = *domain.due.front();
      domain.due.pop_front();
      return StartOn(connection, job);
    } else {
      // The destination's rate: this connection waits (idle) for the domain's timer,
      // unless a domain waiting for its host can use it now.
      ++stats_.shaping_waits;
      WakeAt(domain, at);
      if (Domain* taker = DomainWaitingFor(connection); taker != nullptr) return HandOver(connection, *taker);
      return Idle(connection);
    }
  }
  // Other domains may wait for a connection slot. One that goes to this connection's
  // host takes it over as it is; otherwise the slot is given back now rather than
  // after the idle timeout.
  if (Domain* taker = DomainWaitingFor(connection); taker != nullptr) return HandOver(connection, *taker);
  if (!waiting_for_host_.empty()) return Quit(connection);
  Idle(connection);
}

void DeliveryScheduler::StartOn(Connection& connection, Job& job) {
  connection.in_flight = &job;
  connection.ready = false;
  ++connection.messages;
  ++stats_.attempts;
  TookMessage(*job.domain);
  BeginAttempt(job, job.domain->shape.max_recipients_per_transaction.value_or(SIZE_MAX));
  SendMessage send{connection.id, job.work->message, {}, {}};
  send.recipients.reserve(job.attempt.size());
  send.recipient_dsn.reserve(job.attempt.size());
  for (size_t position : job.attempt) {
    send.recipients.push_back(job.work->recipients[position].address);
    send.recipient_dsn.push_back(job.work->recipients[position].dsn.ForRcpt());
  }
  actions_.push_back(std::move(send));
}

void DeliveryScheduler::Idle(Connection& connection) {
  wheel_.Schedule(&connection.idle, WheelTime(now_ + config_.idle_timeout));
  if (!connection.idle_listed) {
    connection.idle_listed = true;
    idle_.push_back(&connection);
  }
}

void DeliveryScheduler::OnIdleTimer(void* context) {
  Connection& connection = *static_cast<Connection*>(context);
  // An idle outbound connection ends with QUIT, not just a close (DESIGN.md).
  if (connection.ready && connection.in_flight == nullptr && !connection.quitting) {
    connection.scheduler->Quit(connection);
  }
}

void DeliveryScheduler::Quit(Connection& connection) {
  connection.quitting = true;
  connection.ready = false;
  wheel_.Cancel(&connection.idle);
  actions_.push_back(CloseConnection{connection.id});
}

DeliveryScheduler::Domain* DeliveryScheduler::DomainWaitingFor(const Connection& connection) {
  // The first waiting domain (in the order they began to wait) that may use this
  // connection takes it. The scan ends there: with hundreds of domains waiting for one
  // smarthost, every finished message would otherwise look each of them up. Domains
  // served meanwhile are dropped as they are passed over; a deque drops them from the
  // front cheaply.
  const std::string& host = connection.host;
  Domain* found = nullptr;
  size_t kept = 0, i = 0;
  for (; i < waiting_for_host_.size() && found == nullptr; ++i) {
    auto it = domains_.find(waiting_for_host_[i]);
    if (it == domains_.end()) continue;
    Domain& domain = *it->second;
    if (domain.due.empty()) {  // served meanwhile: it waits no more
      domain.waiting_for_host = false;
      continue;
    }
    if (kept != i) waiting_for_host_[kept] = std::move(waiting_for_host_[i]);
    ++kept;
    // A connection counted by the cluster (a lease) stays with its destination.
    if (domain.source != connection.domain->source || !connection.leases.empty() || HoldsLeases(domain) ||
        domain.route != Domain::Route::kKnown || domain.hop.kind != NextHop::Kind::kSmtp ||
        !MayOpen(domain) || Suspended(domain) || MessageAt(domain) > now_) {
      continue;
    }
    if (std::find(domain.hosts.begin(), domain.hosts.end(), host) != domain.hosts.end()) found = &domain;
  }
  waiting_for_host_.erase(waiting_for_host_.begin() + static_cast<std::ptrdiff_t>(kept),
                          waiting_for_host_.begin() + static_cast<std::ptrdiff_t>(i));
  return found;
}

void DeliveryScheduler::HandOver(Connection& connection, Domain& taker) {
  Domain& from = *connection.domain;
  auto it = std::find(from.connections.begin(), from.connections.end(), &connection);
  RP_CHECK(it != from.connections.end());
  from.connections.erase(it);
  taker.connections.push_back(&connection);
  if (from.site != nullptr) --from.site->connections;
  if (taker.site != nullptr) ++taker.site->connections;
  connection.domain = &taker;
  maybe_empty_.push_back(from.key);
  ++stats_.connections_handed_over;
  Ready(connection);
}

bool DeliveryScheduler::PlaintextOnly(const std::string& host) const {
  auto it = plaintext_until_.find(host);
  return it != plaintext_until_.end() && it->second > now_;
}

void DeliveryScheduler::OnTlsFailed(ConnectionId id, absl::Time now) {
  now_ = std::max(now_, now);
  auto it = connections_.find(id);
  if (it != connections_.end()) {
    Connection& connection = *it->second;
    connection.tls_failed = true;
    ++stats_.tls_handshake_failures;
    if (config_.tls_fallback > absl::ZeroDuration()) {
      // RFC 7435: opportunistic security never makes delivery worse than plaintext.
      // Bounded: forgetting a host only means one more failed handshake.
      constexpr size_t kHostsMax = 10000;
      if (plaintext_until_.size() >= kHostsMax) plaintext_until_.clear();
      plaintext_until_[connection.host] = now_ + config_.tls_fallback;
    }
  }
  EndEvent();
}

std::string DeliveryScheduler::NameOf(const Domain& domain, const std::string& host) {
  for (size_t i = 0; i < domain.hosts.size() && i < domain.hop.names.size(); ++i) {
    if (domain.hosts[i] == host) return domain.hop.names[i];
  }
  return "";
}

void DeliveryScheduler::OnMessageSent(ConnectionId id, std::vector<AttemptReply> replies, const TlsReport& tls,
                                      absl::Time now) {
  now_ = std::max(now_, now);
  auto it = connections_.find(id);
  RP_CHECK_MSG(it != connections_.end() && it->second->in_flight != nullptr, "results for no transaction");
  Connection& connection = *it->second;
  Job& job = *connection.in_flight;
  connection.in_flight = nullptr;
  for (const AttemptReply& reply : replies) stats_.possible_duplicates += reply.possible_duplicate ? 1 : 0;
  if (tls.verified && tls.sni != NameOf(*connection.domain, connection.host)) {
    // A connection handed over from another domain was verified for that domain's name.
    TlsReport unverified = tls;
    unverified.verified = false;
    Complete(job, replies, connection.host, unverified);
  } else {
    Complete(job, replies, connection.host, tls);
  }
  EndEvent();
}

void DeliveryScheduler::OnMessageNotSent(ConnectionId id, const std::string& error, absl::Time now) {
  now_ = std::max(now_, now);
  auto it = connections_.find(id);
  RP_CHECK_MSG(it != connections_.end() && it->second->in_flight != nullptr, "no transaction to fail");
  Connection& connection = *it->second;
  Job& job = *connection.in_flight;
  connection.in_flight = nullptr;
  --connection.messages;  // nothing went out on it
  Complete(job, std::vector<AttemptReply>(job.attempt.size(), AttemptReply{0, "4.3.0", error, false}),
           connection.host, TlsReport{});
  connection.ready = true;
  Ready(connection);
  EndEvent();
}

void DeliveryScheduler::OnConnectionClosed(ConnectionId id, const std::string& reason, bool local,
                                           absl::Time now, const AttemptReply* refusal) {
  now_ = std::max(now_, now);
  auto it = connections_.find(id);
  RP_CHECK_MSG(it != connections_.end(), "a connection closed twice");
  std::unique_ptr<Connection> owned = std::move(it->second);
  connections_.erase(it);
  Connection& connection = *owned;
  Domain& domain = *connection.domain;
  wheel_.Cancel(&connection.idle);
  if (connection.idle_listed) idle_.erase(std::find(idle_.begin(), idle_.end(), &connection));
  if (connection.in_flight != nullptr) {  // the driver reports messages first; defensive
    Job& job = *connection.in_flight;
    connection.in_flight = nullptr;
    Complete(job, std::vector<AttemptReply>(job.attempt.size(), AttemptReply{0, "4.4.1", reason, false}),
             connection.host, TlsReport{});
  }
  if (auto h = host_connections_.find(connection.host); h != host_connections_.end() && --h->second == 0) {
    host_connections_.erase(h);
  }
  FreeLeases(connection);
  domain.connections.erase(std::find(domain.connections.begin(), domain.connections.end(), &connection));
  if (domain.site != nullptr) --domain.site->connections;
  maybe_empty_.push_back(domain.key);

  if (local) {
    // Our own shortage (no slot, no descriptor), not the domain's fault.
    RP_LOG(kWarning) << "no outbound connection slot for " << domain.name << ": " << reason;
    if (!domain.wake.armed()) wheel_.Schedule(&domain.wake, WheelTime(now_ + config_.local_failure_retry));
  } else if (!connection.ever_ready && connection.tls_failed && config_.tls_fallback > absl::ZeroDuration()) {
    // Not the destination's fault as far as delivery goes: the next connection to it
    // is plaintext, opened by the Pump below.
    RP_LOG(kInfo) << "retrying in plaintext: domain=" << domain.name << " host=" << connection.host;
  } else if (!connection.ever_ready) {
    if (refusal != nullptr) {  // a throttling reply may come in the greeting (Yahoo's TSS04)
      std::vector<AttemptReply> replies{*refusal};
      Automate(domain, replies);
    }
    ++stats_.connection_failures;
    ++domain.failures_in_row;
    ++domain.next_address;  // the next attempt starts at the next address
    RP_LOG(kInfo) << "connection failed: domain=" << domain.name << " host=" << connection.host << " "
                  << reason;
    const size_t addresses = std::max<size_t>(1, domain.hop.addresses.size());
    if (domain.failures_in_row >= addresses && domain.resting_until <= now_) Rest(domain, connection, reason);
  }
  if (!local) {
    std::deque<std::string> waiting;
    waiting.swap(waiting_for_host_);
    Pump(domain);
    for (const std::string& name : waiting) {
      if (auto w = domains_.find(name); w != domains_.end()) {
        w->second->waiting_for_host = false;
        Pump(*w->second);
      }
    }
  }
  EndEvent();
}

}  // namespace ringpost::queue
