#include "tests/sim/delivery_world.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/socket_address.h"

namespace ringpost::sim {

// A destination domain and how its next hops treat its recipients.
struct DeliveryWorld::Domain {
  std::string name;
  enum class Kind { kSmtp, kLocal, kNoSuchDomain } kind = Kind::kSmtp;
  std::vector<std::string> addresses;  // "ip:port", shared with other domains (a smarthost)
  double dns_tempfail = 0, permanent = 0, temporary = 0, too_many = 0, drop_before_dot = 0, drop_after_dot = 0;
};

// A next-hop server: how it treats connections.
struct DeliveryWorld::Host {
  std::string address;
  double refuse = 0, tls_fail = 0, hang_up = 0;
  absl::Duration reply_latency_max;
  uint32_t open = 0;  // connections the scheduler has to it now
};

struct DeliveryWorld::Connection {
  uint64_t id = 0;
  Host* host = nullptr;
  bool greeted = false, busy = false, quitting = false;
  uint32_t messages = 0;
};

// A person the mail is for; every copy of a message (compaction) shares them.
struct DeliveryWorld::Recipient {
  std::string address;
  bool null_sender_message = false;
  uint32_t reached = 0;          // times a next hop (or a Maildir) took it
  uint32_t unconfirmed = 0;      // taken, but no durable "delivered" yet
  bool duplicate_allowed = false;
  uint32_t finals = 0;  // durable delivered, bounced or expired results, over every copy
  uint32_t finals_not_durable = 0;  // final results whose write failed (the disk's fault; a restart retries)
  bool delivered = false;
};

// A message in the simulated log, with its recipients' durable state.
struct DeliveryWorld::Message {
  std::string queue_id;
  std::string from;
  absl::Time arrival;
  bool dsn = false;
  std::vector<Recipient*> recipients;  // envelope order: what result records index
  struct State {
    bool final = false;
    queue::Outcome outcome = queue::Outcome::kDeferred;
    uint32_t attempts = 0;
    uint64_t next_attempt_unix_micros = 0;
    bool held = false;  // durable
    // This run's view, as the scheduler decided (a restart goes back to the durable one).
    bool held_now = false;
    bool deleted_now = false;
  };
  std::vector<State> state;
  std::shared_ptr<queue::StoredMessage> stored;  // this run's (a restart makes a new one)
};

DeliveryWorld::DeliveryWorld(uint64_t seed) : seed_(seed), random_(seed), now_(absl::FromUnixSeconds(1'800'000'000)) {}

DeliveryWorld::~DeliveryWorld() = default;

absl::Duration DeliveryWorld::Latency(absl::Duration low, absl::Duration high) {
  return low + (high - low) * Uniform();
}

void DeliveryWorld::Fail(const std::string& what) {
  if (failure_.empty()) failure_ = absl::StrCat("seed ", seed_, " at ", absl::FormatTime(now_), ": ", what);
}

void DeliveryWorld::At(absl::Duration after, std::function<void()> event) {
  events_.push(Event{now_ + after, ++event_order_, epoch_, std::move(event)});
}

void DeliveryWorld::Outside(absl::Duration after, std::function<void()> event) {
  events_.push(Event{now_ + after, ++event_order_, kEveryEpoch, std::move(event)});
}

// ---- The scenario --------------------------------------------------------------------

void DeliveryWorld::BuildDomains() {
  const int host_count = 2 + static_cast<int>(Below(5));
  for (int i = 0; i < host_count; ++i) {
    auto host = std::make_unique<Host>();
    host->address = absl::StrCat("127.0.0.", 10 + i, ":25");
    host->refuse = Uniform() < 0.2 ? 1.0 : 0.3 * Uniform();  // some hosts are down for good
    host->tls_fail = 0.2 * Uniform();
    host->hang_up = 0.2 * Uniform();
    host->reply_latency_max = Uniform() < 0.2 ? absl::Seconds(30) : absl::Milliseconds(200);  // slow servers
    host_by_address_[host->address] = host.get();
    hosts_.push_back(std::move(host));
  }
  const int domain_count = 4 + static_cast<int>(Below(10));
  for (int i = 0; i < domain_count; ++i) {
    auto domain = std::make_unique<Domain>();
    domain->name = absl::StrCat("d", i, ".example");
    if (i == 0) {
      domain->kind = Domain::Kind::kLocal;
    } else if (i == 1) {
      domain->kind = Domain::Kind::kNoSuchDomain;
    } else {
      const uint64_t addresses = 1 + Below(3);
      for (uint64_t k = 0; k < addresses; ++k) domain->addresses.push_back(hosts_[Below(hosts_.size())]->address);
      domain->dns_tempfail = 0.2 * Uniform();
      domain->permanent = 0.15 * Uniform();
      domain->temporary = 0.4 * Uniform();
      domain->too_many = 0.2 * Uniform();
      domain->drop_before_dot = 0.05 * Uniform();
      domain->drop_after_dot = 0.05 * Uniform();
    }
    domain_by_name_[domain->name] = domain.get();
    domains_.push_back(std::move(domain));
  }
}

void DeliveryWorld::StartScheduler() {
  config_.seed = random_();
  scheduler_ = std::make_unique<queue::DeliveryScheduler>(config_, now_);
}

void DeliveryWorld::ScheduleArrivals() {
  const uint64_t count = 200 + Below(400);
  for (uint64_t m = 0; m < count; ++m) {
    const absl::Duration after = absl::Minutes(20) * Uniform();
    Outside(after, [this] {
      const Domain& from_domain = *domains_[2 + Below(domains_.size() - 2)];
      const std::string from = Uniform() < 0.05 ? "" : absl::StrCat("s", Below(5), "@", from_domain.name);
      std::vector<std::string> rcpts;
      const uint64_t n = 1 + Below(4);
      for (uint64_t r = 0; r < n; ++r) {
        std::string rcpt = absl::StrCat("u", Below(1000), "@", domains_[Below(domains_.size())]->name);
        if (std::find(rcpts.begin(), rcpts.end(), rcpt) == rcpts.end()) rcpts.push_back(std::move(rcpt));
      }
      Submit(NewMessage(from, rcpts, now_, /*dsn=*/false));
    });
  }
  arrivals_end_ = now_ + absl::Minutes(20);
}

DeliveryWorld::Message& DeliveryWorld::NewMessage(const std::string& from, const std::vector<std::string>& rcpts,
                                                  absl::Time arrival, bool dsn) {
  auto message = std::make_unique<Message>();
  message->queue_id = absl::StrCat(dsn ? "B" : "M", ++ids_);
  message->from = from;
  message->arrival = arrival;
  message->dsn = dsn;
  for (const std::string& address : rcpts) {
    auto person = std::make_unique<Recipient>();
    person->address = address;
    person->null_sender_message = from.empty();
    message->recipients.push_back(person.get());
    recipients_.push_back(std::move(person));
  }
  message->state.resize(rcpts.size());
  stats_.messages += dsn ? 0 : 1;
  stats_.dsns += dsn ? 1 : 0;
  stats_.recipients += rcpts.size();
  Message& ref = *message;
  message_by_id_[ref.queue_id] = &ref;
  messages_.push_back(std::move(message));
  return ref;
}

std::shared_ptr<queue::StoredMessage> DeliveryWorld::Stored(Message& message) {
  auto stored = std::make_shared<queue::StoredMessage>();
  stored->queue_id = message.queue_id;
  stored->mail_from = message.from;
  stored->arrival_unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(message.arrival));
  stored->segment_path = "/sim/spool";
  message.stored = stored;
  return stored;
}

// What the spool does with a durable message: one job per domain, for the recipients
// not final in the log.
void DeliveryWorld::Submit(Message& message) {
  std::shared_ptr<queue::StoredMessage> stored = Stored(message);
  std::map<std::string, std::unique_ptr<queue::DeliveryJob>> jobs;
  for (uint32_t i = 0; i < message.recipients.size(); ++i) {
    if (message.state[i].final) continue;
    const std::string& address = message.recipients[i]->address;
    const std::string domain = address.substr(address.rfind('@') + 1);
    auto& job = jobs[domain];
    if (job == nullptr) {
      job = std::make_unique<queue::DeliveryJob>();
      job->message = stored;
      job->domain = domain;
    }
    job->recipients.push_back(
        {i, address, message.state[i].attempts, message.state[i].next_attempt_unix_micros, {}, false});
    job->held |= message.state[i].held;
  }
  stored->unfinished.store(static_cast<uint32_t>(jobs.size()));
  for (auto& [domain, job] : jobs) scheduler_->Accept(std::move(job), now_);
}

void DeliveryWorld::Restart() {
  ++stats_.restarts;
  ++epoch_;  // everything in flight is lost: replies, writes not yet durable, timers
  // What reached a next hop without a durable record of it is sent again.
  for (auto& person : recipients_) {
    if (person->unconfirmed > 0) person->duplicate_allowed = true;
  }
  // A copy made by compaction whose original has no durable "relocated" record yet
  // (its write was in flight, or failed): both are live, and either may have been
  // delivered already.
  absl::flat_hash_set<Recipient*> live;
  for (auto& message : messages_) {
    for (size_t i = 0; i < message->recipients.size(); ++i) {
      if (message->state[i].final) continue;
      Recipient* person = message->recipients[i];
      if (!live.insert(person).second || person->finals > 0) person->duplicate_allowed = true;
    }
  }
  connections_.clear();
  for (auto& host : hosts_) host->open = 0;
  in_flight_by_domain_.clear();
  for (auto& message : messages_) {
    for (Message::State& state : message->state) {
      state.held_now = state.held && !state.final;
      state.deleted_now = state.final && state.outcome == queue::Outcome::kDeleted;
    }
  }
  StartScheduler();
  // The daemon restores the durable standing orders before it schedules anything.
  suspended_.clear();
  for (const auto& [domain, order] : durable_orders_) {
    scheduler_->Restore(order, now_);
    const absl::Time until = absl::FromUnixMicros(static_cast<int64_t>(order.until_unix_micros));
    if (order.kind == queue::ControlRecord::Kind::kSuspend && until > now_) suspended_[domain] = until;
  }
  for (auto& message : messages_) Submit(*message);
}

// ---- The loop ------------------------------------------------------------------------

bool DeliveryWorld::Step() {
  const absl::Time timer = scheduler_->NextTimer();
  if (events_.empty() && timer == absl::InfiniteFuture()) return false;
  if (!events_.empty() && events_.top().at <= timer) {
    Event event = events_.top();
    events_.pop();
    now_ = std::max(now_, event.at);
    if (event.epoch == epoch_ || event.epoch == kEveryEpoch) event.run();
  } else {
    now_ = std::max(now_, timer);
    scheduler_->OnTimer(now_);
  }
  RunActions();
  CheckLimits();
  if (++stats_.steps % 512 == 0) CheckSummary();
  return true;
}

void DeliveryWorld::RunActions() {
  while (scheduler_->has_actions() && failure_.empty()) {
    scheduler_->TakeActions(&running_);
    std::vector<queue::DeliveryAction> batch = std::move(running_);
    for (queue::DeliveryAction& action : batch) std::visit([this](auto& a) { Do(a); }, action);
  }
}

std::string DeliveryWorld::Run() {
  config_.retry.initial = absl::Minutes(5);
  config_.retry.max = absl::Hours(1);
  config_.retry.lifetime = absl::Hours(6);
  config_.domain_max_connections = 1 + static_cast<uint32_t>(Below(4));
  config_.host_max_connections = 1 + static_cast<uint32_t>(Below(3));
  config_.max_messages_per_connection = 1 + static_cast<uint32_t>(Below(5));
  config_.idle_timeout = absl::Seconds(5);
  config_.tls_fallback = Uniform() < 0.5 ? absl::Hours(1) : absl::ZeroDuration();
  config_.compaction_age = Uniform() < 0.5 ? absl::Minutes(30) : absl::ZeroDuration();
  BuildDomains();
  StartScheduler();
  ScheduleArrivals();
  const uint64_t restarts = Below(3);
  for (uint64_t i = 0; i < restarts; ++i) At(absl::Minutes(150) * Uniform(), [this] { Restart(); });
  ScheduleOperators();
  const absl::Time limit = now_ + absl::Hours(48);
  while (failure_.empty() && now_ < limit && Step()) {
  }
  if (failure_.empty()) CheckEnd();
  return failure_;
}

// ---- Actions -------------------------------------------------------------------------

void DeliveryWorld::Do(queue::ResolveRoute& a) {
  auto it = domain_by_name_.find(a.domain);
  if (it == domain_by_name_.end()) return Fail(absl::StrCat("a lookup for an unknown domain ", a.domain));
  const Domain& domain = *it->second;
  queue::NextHop hop;
  switch (domain.kind) {
    case Domain::Kind::kLocal:
      hop.kind = queue::NextHop::Kind::kLocal;
      break;
    case Domain::Kind::kNoSuchDomain:
      hop.kind = queue::NextHop::Kind::kPermFail;
      hop.status = "5.1.2";
      hop.text = "NXDOMAIN";
      break;
    case Domain::Kind::kSmtp:
      if (Uniform() < domain.dns_tempfail) {
        hop.kind = queue::NextHop::Kind::kTempFail;
        hop.status = "4.4.3";
        hop.text = "DNS timeout";
        break;
      }
      hop.kind = queue::NextHop::Kind::kSmtp;
      for (const std::string& address : domain.addresses) {
        hop.addresses.push_back(*core::ParseSocketAddress(address));
        hop.names.push_back(absl::StrCat("mx.", domain.name));
      }
      hop.valid_for = absl::Minutes(1);
      break;
  }
  At(Latency(absl::ZeroDuration(), absl::Milliseconds(50)), [this, name = a.domain, hop] {
    scheduler_->OnRouteResolved(name, hop, now_);
  });
}

void DeliveryWorld::Do(queue::OpenConnection& a) {
  ++stats_.connections;
  auto it = host_by_address_.find(a.address.ToString());
  if (it == host_by_address_.end()) return Fail(absl::StrCat("a connection to an unknown host ", a.address.ToString()));
  Host& host = *it->second;
  if (Uniform() < 0.01) {
    // Our own table is full: refused inside the action, as ConnectionTable::Connect does.
    scheduler_->OnConnectionClosed(a.connection, "no free connection slot", /*local=*/true, now_);
    return;
  }
  if (++host.open > config_.host_max_connections) {
    return Fail(absl::StrCat(host.open, " connections to ", host.address));
  }
  auto connection = std::make_unique<Connection>();
  connection->id = a.connection;
  connection->host = &host;
  connections_[a.connection] = std::move(connection);
  const bool refused = Uniform() < host.refuse;
  const bool tls_fails = !refused && !a.plaintext && config_.tls_fallback > absl::ZeroDuration() &&
                         Uniform() < host.tls_fail;
  At(Latency(absl::Milliseconds(1), absl::Milliseconds(100)), [this, id = a.connection, refused, tls_fails] {
    if (refused) return CloseSoon(id, "connection refused", absl::ZeroDuration());
    if (tls_fails) {
      scheduler_->OnTlsFailed(id, now_);
      return CloseSoon(id, "TLS handshake failed", absl::ZeroDuration());
    }
    connections_[id]->greeted = true;
    scheduler_->OnConnectionReady(id, now_);
  });
}

void DeliveryWorld::CloseSoon(uint64_t id, const std::string& reason, absl::Duration after) {
  auto close = [this, id, reason] {
    auto it = connections_.find(id);
    if (it == connections_.end()) return Fail(absl::StrCat("connection ", id, " closed twice"));
    if (it->second->busy) return Fail(absl::StrCat("connection ", id, " closed with a transaction unreported"));
    --it->second->host->open;
    connections_.erase(it);
    scheduler_->OnConnectionClosed(id, reason, /*local=*/false, now_);
  };
  if (after == absl::ZeroDuration()) return close();
  At(after, close);
}

void DeliveryWorld::Do(queue::SendMessage& a) {
  const std::string& first = a.recipients.at(0);
  CheckAttemptAllowed(first.substr(first.rfind('@') + 1), a.message->queue_id, a.recipients);
  auto it = connections_.find(a.connection);
  if (it == connections_.end()) return Fail(absl::StrCat("a message on connection ", a.connection, " that is gone"));
  Connection& c = *it->second;
  if (!c.greeted || c.busy || c.quitting) {
    return Fail(absl::StrCat("a message on connection ", a.connection, " that cannot take one"));
  }
  if (++c.messages > config_.max_messages_per_connection) {
    return Fail(absl::StrCat(c.messages, " messages on connection ", a.connection));
  }
  Transaction(c, a);
}

// One transaction: the server decides every recipient's fate when the data ends (so a
// reply lost after that leaves a message delivered that the scheduler does not know of).
void DeliveryWorld::Transaction(Connection& c, const queue::SendMessage& send) {
  ++stats_.transactions;
  const std::string& first = send.recipients.at(0);
  const std::string domain_name = first.substr(first.rfind('@') + 1);
  const Domain& domain = *domain_by_name_.at(domain_name);
  if (++in_flight_by_domain_[domain_name] > static_cast<int>(config_.domain_max_connections)) {
    return Fail(absl::StrCat(in_flight_by_domain_[domain_name], " transactions for ", domain_name));
  }
  c.busy = true;
  Message& message = *message_by_id_.at(send.message->queue_id);
  std::vector<Recipient*> people;
  for (const std::string& address : send.recipients) {
    Recipient* found = nullptr;
    for (Recipient* r : message.recipients) {
      if (r->address == address) found = r;
    }
    if (found == nullptr) return Fail(absl::StrCat("recipient ", address, " is not in ", message.queue_id));
    people.push_back(found);
  }
  std::vector<queue::AttemptReply> replies;
  bool hang_up = Uniform() < c.host->hang_up;
  const double fate = Uniform();
  if (fate < domain.drop_before_dot) {
    replies.assign(people.size(), queue::AttemptReply{0, "", "connection lost", false});
    hang_up = true;
  } else if (fate < domain.drop_before_dot + domain.drop_after_dot) {
    for (Recipient* person : people) {
      ++person->reached;
      ++person->unconfirmed;
      person->duplicate_allowed = true;  // reported as a possible duplicate
    }
    replies.assign(people.size(), queue::AttemptReply{0, "", "connection lost after the final dot", true});
    hang_up = true;
  } else {
    const bool tail_refused = people.size() > 1 && Uniform() < domain.too_many;
    for (size_t i = 0; i < people.size(); ++i) {
      const double r = Uniform();
      if (tail_refused && i > 0) {
        replies.push_back({452, "4.5.3", "too many recipients", false});
      } else if (r < domain.permanent) {
        replies.push_back({550, "5.1.1", "no such user", false});
      } else if (r < domain.permanent + domain.temporary) {
        replies.push_back({451, "4.3.0", "try again later", false});
      } else {
        ++people[i]->reached;
        ++people[i]->unconfirmed;
        replies.push_back({250, "2.0.0", "ok", false});
      }
    }
  }
  At(Latency(absl::Milliseconds(1), c.host->reply_latency_max), [this, id = c.id, replies, hang_up, domain_name] {
    Connection& conn = *connections_.at(id);
    conn.busy = false;
    --in_flight_by_domain_[domain_name];
    scheduler_->OnMessageSent(id, replies, queue::TlsReport{}, now_);
    if (hang_up) return CloseSoon(id, "the server closed the connection", absl::ZeroDuration());
    scheduler_->OnConnectionReady(id, now_);
  });
}

void DeliveryWorld::Do(queue::DeliverLocally& a) {
  CheckAttemptAllowed(a.domain, a.message->queue_id, a.recipients);
  Message& message = *message_by_id_.at(a.message->queue_id);
  std::vector<queue::AttemptReply> replies;
  for (const std::string& address : a.recipients) {
    if (Uniform() < 0.1) {
      replies.push_back({451, "4.3.0", "fsync: EIO", false});
      continue;
    }
    for (Recipient* r : message.recipients) {
      if (r->address == address) {
        ++r->reached;
        ++r->unconfirmed;
      }
    }
    replies.push_back({250, "2.0.0", "delivered to maildir", false});
  }
  At(Latency(absl::Milliseconds(1), absl::Milliseconds(20)),
     [this, job = a.job, replies] { scheduler_->OnLocalDelivered(job, replies, now_); });
}

void DeliveryWorld::Do(queue::CloseConnection& a) {
  auto it = connections_.find(a.connection);
  if (it == connections_.end()) return Fail(absl::StrCat("QUIT on connection ", a.connection, " that is gone"));
  if (it->second->busy) return Fail(absl::StrCat("QUIT on connection ", a.connection, " in a transaction"));
  if (it->second->quitting) return Fail(absl::StrCat("QUIT twice on connection ", a.connection));
  it->second->quitting = true;
  CloseSoon(a.connection, "QUIT", Latency(absl::Milliseconds(1), absl::Milliseconds(50)));
}

void DeliveryWorld::ApplyDurable(const queue::DeliveryResult& result) {
  auto it = message_by_id_.find(result.queue_id);
  if (it == message_by_id_.end()) return Fail(absl::StrCat("a result for an unknown message ", result.queue_id));
  Message& message = *it->second;
  if (result.recipient_index >= message.state.size()) return Fail("a result for an unknown recipient");
  Message::State& state = message.state[result.recipient_index];
  Recipient& person = *message.recipients[result.recipient_index];
  if (state.final) {
    return Fail(absl::StrCat("a second final result for ", result.queue_id, "/", result.recipient_index));
  }
  state.attempts = result.attempt;
  switch (result.outcome) {
    case queue::Outcome::kDeferred:
      state.next_attempt_unix_micros = result.next_attempt_unix_micros;
      return;
    case queue::Outcome::kDelivered:
      person.delivered = true;
      person.unconfirmed = 0;
      ++stats_.delivered;
      break;
    case queue::Outcome::kBounced:
      ++stats_.bounced;
      break;
    case queue::Outcome::kExpired:
      ++stats_.expired;
      break;
    case queue::Outcome::kRelocated:
    case queue::Outcome::kDeleted:
      break;
    case queue::Outcome::kHeld:
      state.held = true;
      return;  // not final
    case queue::Outcome::kReleased:
      state.held = false;
      return;
  }
  state.final = true;
  state.outcome = result.outcome;
  if (result.outcome != queue::Outcome::kRelocated) ++person.finals;  // deleted counts: an end
}

void DeliveryWorld::Do(queue::WriteResults& a) {
  // A DSN is durable before any record says its recipient bounced (RFC 3464 §2 and the
  // scheduler's order: a crash in between sends a second DSN, never none).
  for (const queue::DeliveryResult& result : a.results) {
    if (result.outcome != queue::Outcome::kBounced && result.outcome != queue::Outcome::kExpired) continue;
    Message& message = *message_by_id_.at(result.queue_id);
    if (message.from.empty()) continue;
    const std::string key = absl::StrCat(result.queue_id, " ", message.recipients[result.recipient_index]->address);
    if (!dsn_written_.contains(key)) return Fail(absl::StrCat("a bounce record before its DSN: ", key));
  }
  for (const queue::DeliveryResult& result : a.results) {
    Message::State& state = message_by_id_.at(result.queue_id)->state.at(result.recipient_index);
    if (result.outcome == queue::Outcome::kHeld) state.held_now = true;
    if (result.outcome == queue::Outcome::kReleased) state.held_now = false;
    if (result.outcome == queue::Outcome::kDeleted) state.deleted_now = true;
  }
  const bool fails = Uniform() < 0.01;
  At(Latency(absl::Microseconds(100), absl::Milliseconds(5)), [this, a, fails] {
    for (const queue::DeliveryResult& result : a.results) {
      if (!fails) {
        ApplyDurable(result);
      } else if (result.outcome != queue::Outcome::kDeferred && result.outcome != queue::Outcome::kRelocated) {
        ++message_by_id_.at(result.queue_id)->recipients.at(result.recipient_index)->finals_not_durable;
      }
    }
    if (a.finished != nullptr) {
      if (a.finished->unfinished.fetch_sub(1) == 0) Fail("a message finished more often than it has jobs");
      return;
    }
    if (a.batch == 0) return;  // an operator's hold or release: nothing waits for it
    scheduler_->OnResultsWritten(a.batch, now_);
  });
}

void DeliveryWorld::Do(queue::WriteBounce& a) {
  Message& original = *message_by_id_.at(a.message->queue_id);
  if (original.from.empty()) return Fail(absl::StrCat("a DSN for ", original.queue_id, " from the null sender"));
  const bool queued = Uniform() < 0.97;
  At(Latency(absl::Microseconds(100), absl::Milliseconds(5)), [this, a, queued, &original] {
    if (queued) {
      for (const queue::ReportedRecipient& failed : a.recipients) {
        dsn_written_.insert(absl::StrCat(original.queue_id, " ", failed.address));
      }
      Submit(NewMessage("", {original.from}, now_, /*dsn=*/true));
    }
    scheduler_->OnBounceWritten(a.batch, queued, now_);
  });
}

void DeliveryWorld::Do(queue::CopyForward& a) {
  Message& old = *message_by_id_.at(a.message->queue_id);
  const bool copied = Uniform() < 0.95;
  At(Latency(absl::Microseconds(100), absl::Milliseconds(5)), [this, a, copied, &old] {
    if (!copied) return scheduler_->OnCopiedForward(a.job, nullptr, now_);
    auto copy = std::make_unique<Message>();
    copy->queue_id = absl::StrCat("C", ++ids_);
    copy->from = old.from;
    copy->arrival = old.arrival;
    for (const queue::JobRecipient& r : a.recipients) {
      copy->recipients.push_back(old.recipients.at(r.index));
      Message::State state;
      state.attempts = r.attempts;
      state.next_attempt_unix_micros = r.next_attempt_unix_micros;
      copy->state.push_back(state);
    }
    Message& ref = *copy;
    message_by_id_[ref.queue_id] = &ref;
    messages_.push_back(std::move(copy));
    scheduler_->OnCopiedForward(a.job, Stored(ref), now_);
  });
}

void DeliveryWorld::Do(queue::JobFinished& a) {
  if (a.message->unfinished.fetch_sub(1) == 0) Fail("a message finished more often than it has jobs");
}

void DeliveryWorld::Do(queue::AccountingLines& a) {
  if (a.lines.empty() || a.lines.back() != '\n') Fail("accounting lines that do not end a line");
}

void DeliveryWorld::Do(queue::WriteControl& a) {
  At(Latency(absl::Microseconds(100), absl::Milliseconds(5)), [this, record = a.record] {
    auto [it, inserted] = durable_orders_.try_emplace(record.domain, record);
    if (!inserted && record.at_unix_micros >= it->second.at_unix_micros) it->second = record;
  });
}

// One shard in this world: a site's other shares are nobody's.
void DeliveryWorld::Do(queue::SiteActed& a) { (void)a; }

// One node in this world, with no Redis: shared rates are local, never asked for.
void DeliveryWorld::Do(queue::TakeTokens& a) { RP_CHECK_MSG(a.key.empty(), "no cluster in this world"); }
void DeliveryWorld::Do(queue::ReturnTokens& a) { RP_CHECK_MSG(a.key.empty(), "no cluster in this world"); }
void DeliveryWorld::Do(queue::TakeLease& a) { RP_CHECK_MSG(a.key.empty(), "no cluster in this world"); }
void DeliveryWorld::Do(queue::RenewLeases& a) { RP_CHECK_MSG(a.key.empty(), "no cluster in this world"); }
void DeliveryWorld::Do(queue::ReleaseLeases& a) { RP_CHECK_MSG(a.key.empty(), "no cluster in this world"); }

// ---- Operators -----------------------------------------------------------------------

void DeliveryWorld::ScheduleOperators() {
  const uint64_t count = Below(12);
  for (uint64_t i = 0; i < count; ++i) Outside(absl::Minutes(180) * Uniform(), [this] { Operate(); });
  // Whatever is still held or suspended is let go at the end, so every recipient ends
  // (repeated: a release lost to a restart leaves a durable hold behind).
  for (int hour = 4; hour <= 8; ++hour) {
    Outside(absl::Hours(hour), [this] {
      for (const auto& domain : domains_) {
        if (scheduler_->Resume(domain->name, now_)) suspended_.erase(domain->name);
      }
      ApplyPaged(queue::AdminCommand::kRelease, {});
    });
  }
}

void DeliveryWorld::Operate() {
  const std::string domain = domains_[Below(domains_.size())]->name;
  queue::JobFilter filter;
  switch (Below(7)) {
    case 0: {
      const absl::Time until = now_ + Latency(absl::Minutes(1), absl::Hours(2));
      scheduler_->Suspend(domain, until, "sim", now_);
      suspended_[domain] = until;
      ++stats_.suspensions;
      break;
    }
    case 1:
      scheduler_->Resume(domain, now_);
      suspended_.erase(domain);
      break;
    case 2:
      if (Uniform() < 0.5) filter.domain = domain;
      stats_.flushes += scheduler_->Flush(filter, now_);
      break;
    case 3:
      filter.domain = domain;
      stats_.holds += ApplyPaged(queue::AdminCommand::kHold, filter);
      Outside(Latency(absl::Minutes(1), absl::Hours(2)),
              [this, filter] { ApplyPaged(queue::AdminCommand::kRelease, filter); });
      break;
    case 4:
    case 5:
    case 6: {
      if (messages_.empty()) return;
      filter.queue_id = messages_[Below(messages_.size())]->queue_id;
      const auto command = Below(3) == 0 ? queue::AdminCommand::kDelete : queue::AdminCommand::kBounce;
      (command == queue::AdminCommand::kDelete ? stats_.deletes : stats_.operator_bounces) +=
          ApplyPaged(command, filter);
      break;
    }
  }
}

size_t DeliveryWorld::ApplyPaged(queue::AdminCommand command, const queue::JobFilter& filter) {
  queue::JobId cursor = 0;
  size_t jobs = 0;
  do {
    jobs += scheduler_->Apply(command, filter, "sim", &cursor, 7, now_);
  } while (cursor != 0);
  return jobs;
}

void DeliveryWorld::CheckAttemptAllowed(const std::string& domain, const std::string& queue_id,
                                        const std::vector<std::string>& recipients) {
  if (auto it = suspended_.find(domain); it != suspended_.end() && it->second > now_) {
    return Fail(absl::StrCat("an attempt for ", domain, " while it is suspended"));
  }
  const Message& message = *message_by_id_.at(queue_id);
  for (size_t i = 0; i < message.recipients.size(); ++i) {
    if (std::find(recipients.begin(), recipients.end(), message.recipients[i]->address) == recipients.end()) continue;
    if (message.state[i].held_now) return Fail(absl::StrCat("an attempt for held ", queue_id, "/", i));
    if (message.state[i].deleted_now) return Fail(absl::StrCat("an attempt for deleted ", queue_id, "/", i));
  }
}

// The summary's counters are kept as jobs change; the listing walks the jobs.
void DeliveryWorld::CheckSummary() {
  struct Count {
    uint64_t recipients = 0, jobs = 0, held = 0, deferred = 0;
    absl::Time oldest = absl::InfiniteFuture();
  };
  absl::flat_hash_map<std::string, Count> listed;
  queue::JobId after = 0;
  for (;;) {
    std::vector<queue::JobView> page = scheduler_->List({}, after, 13, now_);
    if (page.empty()) break;
    for (const queue::JobView& view : page) {
      Count& c = listed[view.domain];
      c.recipients += view.recipients.size();
      ++c.jobs;
      if (view.held) c.held += view.recipients.size();
      for (const queue::JobRecipient& r : view.recipients) c.deferred += r.attempts > 0 ? 1 : 0;
      c.oldest = std::min(c.oldest, absl::FromUnixMicros(static_cast<int64_t>(view.message->arrival_unix_micros)));
      after = view.id;
      // Found by its queue id too (the index commands by id use).
      queue::JobFilter by_id;
      by_id.queue_id = view.message->queue_id;
      const std::vector<queue::JobView> same = scheduler_->List(by_id, 0, SIZE_MAX, now_);
      if (std::none_of(same.begin(), same.end(), [&](const queue::JobView& v) { return v.id == view.id; })) {
        return Fail(absl::StrCat("job ", view.id, " of ", view.message->queue_id, " is not found by its id"));
      }
    }
  }
  size_t with_jobs = 0;
  for (const queue::DomainSummary& d : scheduler_->Summary(SIZE_MAX, now_)) {
    if (d.jobs == 0) continue;
    ++with_jobs;
    const Count& c = listed[d.domain];
    if (d.recipients != c.recipients || d.jobs != c.jobs || d.held != c.held || d.deferred != c.deferred ||
        d.oldest != c.oldest || d.in_flight > d.recipients) {
      return Fail(absl::StrCat("summary of ", d.domain, " (", d.recipients, " rcpts, ", d.jobs, " jobs, ", d.held,
                               " held, ", d.deferred, " deferred) disagrees with the listing (", c.recipients,
                               ", ", c.jobs, ", ", c.held, ", ", c.deferred, ")"));
    }
  }
  if (with_jobs != listed.size()) Fail(absl::StrCat("summary has ", with_jobs, " domains, the listing ", listed.size()));
}

// ---- Invariants ----------------------------------------------------------------------

void DeliveryWorld::CheckLimits() {
  for (const auto& host : hosts_) {
    if (host->open > config_.host_max_connections) Fail(absl::StrCat(host->open, " connections to ", host->address));
  }
  if (scheduler_->connections() != connections_.size()) {
    Fail(absl::StrCat("the world has ", connections_.size(), " connections, the scheduler knows ",
                      scheduler_->connections()));
  }
}

void DeliveryWorld::CheckEnd() {
  CheckSummary();
  if (scheduler_->jobs() != 0) {
    std::string which;
    for (const queue::JobView& view : scheduler_->List({}, 0, 3, now_)) {
      absl::StrAppend(&which, " ", view.message->queue_id, "@", view.domain, view.held ? " held" : "",
                      view.in_flight ? " busy" : "", " next=", absl::FormatTime(view.next_attempt), ";");
    }
    return Fail(absl::StrCat(scheduler_->jobs(), " jobs never finished:", which));
  }
  if (!connections_.empty()) return Fail(absl::StrCat(connections_.size(), " connections never closed"));
  for (const auto& person : recipients_) {
    if (person->finals + person->finals_not_durable == 0) {
      return Fail(absl::StrCat(person->address, " has no final outcome (lost)"));
    }
    if (person->reached > 1 && !person->duplicate_allowed) {
      return Fail(absl::StrCat(person->address, " reached a next hop ", person->reached, " times"));
    }
    if (person->finals > 1 && !person->duplicate_allowed) {
      return Fail(absl::StrCat(person->address, " has ", person->finals, " final outcomes"));
    }
    if (person->delivered && person->reached == 0) {
      return Fail(absl::StrCat(person->address, " is recorded delivered but never reached a next hop"));
    }
    stats_.duplicates += person->reached > 1 ? 1 : 0;
  }
}

}  // namespace ringpost::sim
