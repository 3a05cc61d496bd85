#include "net/outbound/delivery_driver.h"

#include <optional>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/check.h"
#include "core/domain_name.h"
#include "core/dsn_params.h"
#include "core/log.h"
#include "net/redis/shared_lease_store.h"
#include "net/redis/shared_rate_store.h"
#include "queue/log_compaction.h"
#include "queue/schedule/bounce.h"

namespace ringpost::net {

// One outbound connection: forwards the session's events with the connection's id.
class DeliveryDriver::Link final : public OutboundOwner {
 public:
  Link(DeliveryDriver& driver, queue::ConnectionId id) : driver(driver), id(id) {}

  void OnReady(OutboundSession& s) override {
    (void)s;
    driver.OnReady(*this);
  }
  void OnMessageDone(OutboundSession& s, std::vector<RecipientResult> results) override {
    (void)s;
    driver.OnMessageDone(*this, std::move(results));
  }
  void OnSessionClosed(OutboundSession& s, const std::string& reason) override {
    driver.OnClosed(*this, reason, s.refusal());
  }
  void OnTlsFailed(OutboundSession& s, const std::string& error) override {
    (void)s;
    driver.OnTlsFailed(*this, error);
  }
  void OnTlsSession(OutboundSession& s, bssl::UniquePtr<SSL_SESSION> tls_session) override {
    (void)s;
    driver.tls_sessions_.Keep(tls_key, std::move(tls_session));
  }
  void OnBodyReturned(OutboundSession& s, std::string body) override {
    (void)s;
    driver.bodies_.Recycle(&body);  // a few of ordinary sizes are kept for the next reads
  }

  DeliveryDriver& driver;
  const queue::ConnectionId id;
  OutboundSession* session = nullptr;  // null once closed
  std::string tls_key;                 // TlsSessionCache::KeyOf(host, sni)
  bool opening = false;                // inside ConnectionTable::Connect: a close now is our own refusal
  std::string bind_error;              // ...unless the source's address could not be bound
};

DeliveryDriver::DeliveryDriver(core::Shard& shard, const DeliveryConfig& config, queue::Spool& spool,
                               NextHopResolver& next_hops, queue::MaildirWriter& maildir,
                               queue::AccountingWriter& accounting)
    : shard_(shard),
      config_(config),
      spool_(spool),
      next_hops_(next_hops),
      maildir_(maildir),
      accounting_(accounting),
      outbox_(shard),
      scheduler_(config.scheduler, absl::Now()) {
  timer_.Bind(&DeliveryDriver::OnTimer, this);
  for (const EgressSource& source : config_.egress_sources) {
    Egress& egress = egress_[source.name];
    egress.address = source.address;
    egress.session = config_.session;
    egress.session.client.helo_name = source.helo;
  }
  if (config_.policy_files != nullptr) {
    const auto snapshot = config_.policy_files->Get();
    policy_generation_ = snapshot->generation;
    scheduler_.SetShaping(snapshot->shaping, Now());
    scheduler_.SetBounceRules(snapshot->bounce_rules);
    policy_timer_.Bind(&DeliveryDriver::OnPolicyTimer, this);
    shard_.timers().Schedule(&policy_timer_, shard_.now() + core::kNanosPerSecond);
  }
  spool_.set_delivery(this);
  shard_.AddStopHandler([this](core::MonoNanos) {
    scheduler_.Stop(Now());
    Run();
  });
}

DeliveryDriver::~DeliveryDriver() {
  if (peers_ != nullptr) peers_->Unregister(shard_);
  spool_.log().set_standing_orders(nullptr);
  spool_.set_delivery(nullptr);
  shard_.timers().Cancel(&timer_);
  shard_.timers().Cancel(&policy_timer_);
}

absl::Time DeliveryDriver::Now() const { return absl::Now(); }

void DeliveryDriver::OnPolicyTimer(void* context) {
  auto& driver = *static_cast<DeliveryDriver*>(context);
  const auto snapshot = driver.config_.policy_files->Get();
  if (snapshot->generation != driver.policy_generation_) {
    driver.policy_generation_ = snapshot->generation;
    driver.scheduler_.SetBounceRules(snapshot->bounce_rules);
    driver.scheduler_.SetShaping(snapshot->shaping, driver.Now());
    driver.Run();
  }
  driver.shard_.timers().Schedule(&driver.policy_timer_, driver.shard_.now() + core::kNanosPerSecond);
}

void DeliveryDriver::set_peers(core::Sharded<DeliveryDriver>* peers) {
  peers_ = peers;
  peers_->Register(shard_, this);
}

void DeliveryDriver::Do(queue::SiteActed& action) {
  if (peers_ == nullptr) return;
  for (int k = 0; k < peers_->shard_count(); ++k) {
    if (k == shard_.id()) continue;
    outbox_.Send(k, peers_->Call<&DeliveryDriver::SiteActedHere>(
                        new queue::SiteActed(action), 0,
                        [](void* pointer, uint64_t) { delete static_cast<queue::SiteActed*>(pointer); }));
  }
}

void DeliveryDriver::set_redis(RedisClient* redis) {
  redis_ = redis;
  redis_->set_on_state([this](bool up) {
    scheduler_.OnClusterState(up, Now());
    Run();
  });
}

void DeliveryDriver::Do(queue::TakeTokens& action) {
  if (redis_ == nullptr) {
    scheduler_.OnTokens(action.key, 0, absl::ZeroDuration(), /*failed=*/true, Now());
    return;
  }
  TakeSharedTokens(*redis_, action.key, action.rate.interval(), action.tolerance, action.count,
                   [this, key = action.key](const absl::StatusOr<TokenGrant>& grant) {
                     if (!grant.ok()) {
                       RP_LOG(kWarning) << "shared limit " << key << ": " << grant.status().message();
                     }
                     scheduler_.OnTokens(key, grant.ok() ? grant->granted : 0,
                                         grant.ok() ? grant->wait : absl::ZeroDuration(), !grant.ok(), Now());
                     Run();
                   });
}

void DeliveryDriver::Do(queue::ReturnTokens& action) {
  if (redis_ != nullptr) ReturnSharedTokens(*redis_, action.key, action.rate.interval(), action.count);
}

void DeliveryDriver::Do(queue::TakeLease& action) {
  if (redis_ == nullptr) {
    scheduler_.OnLease(action.key, action.id, false, absl::ZeroDuration(), /*failed=*/true, Now());
    return;
  }
  TakeSharedLease(*redis_, action.key, action.limit, action.ttl, action.id,
                  [this, key = action.key, id = action.id](const absl::StatusOr<LeaseAnswer>& answer) {
                    if (!answer.ok()) {
                      RP_LOG(kWarning) << "shared limit " << key << ": " << answer.status().message();
                    }
                    scheduler_.OnLease(key, id, answer.ok() && answer->granted,
                                       answer.ok() ? answer->wait : absl::ZeroDuration(), !answer.ok(),
                                       Now());
                    Run();
                  });
}

void DeliveryDriver::Do(queue::RenewLeases& action) {
  if (redis_ != nullptr) RenewSharedLeases(*redis_, action.key, action.ids, action.ttl);
}

void DeliveryDriver::Do(queue::ReleaseLeases& action) {
  if (redis_ != nullptr) ReleaseSharedLeases(*redis_, action.key, action.ids);
}

void DeliveryDriver::SiteActedHere(void* pointer, uint64_t argument) {
  (void)argument;
  const std::unique_ptr<queue::SiteActed> acted(static_cast<queue::SiteActed*>(pointer));
  scheduler_.OnSiteActed(*acted, Now());
  Run();
}

void DeliveryDriver::Restore(const std::vector<queue::ControlRecord>& orders) {
  for (const queue::ControlRecord& order : orders) scheduler_.Restore(order, Now());
  spool_.log().set_standing_orders([this] { return scheduler_.StandingOrders(Now()); });
  ArmTimer();
}

void DeliveryDriver::AcceptJob(std::unique_ptr<queue::DeliveryJob> job) {
  bodies_.files().Acquire(job->message->segment_path);
  scheduler_.Accept(std::move(job), Now());
  Run();
}

void DeliveryDriver::Run() {
  if (running_) return;
  running_ = true;
  while (scheduler_.has_actions()) {
    scheduler_.TakeActions(&running_actions_);
    for (queue::DeliveryAction& action : running_actions_) {
      std::visit([this](auto& a) { Do(a); }, action);
    }
  }
  running_actions_.clear();
  running_ = false;
  ArmTimer();
}

void DeliveryDriver::ArmTimer() {
  const absl::Time next = scheduler_.NextTimer();
  if (next == timer_at_ && (timer_.armed() || next == absl::InfiniteFuture())) return;
  timer_at_ = next;
  if (next == absl::InfiniteFuture()) return shard_.timers().Cancel(&timer_);
  const absl::Duration wait = std::max(next - Now(), absl::ZeroDuration());
  shard_.timers().Schedule(&timer_, shard_.now() + absl::ToInt64Nanoseconds(wait));
}

void DeliveryDriver::OnTimer(void* context) {
  auto* self = static_cast<DeliveryDriver*>(context);
  self->timer_at_ = absl::InfiniteFuture();
  self->scheduler_.OnTimer(self->Now());
  self->Run();
}

// ---- Actions -------------------------------------------------------------------------

void DeliveryDriver::Do(queue::ResolveRoute& action) {
  next_hops_.Resolve(action.domain, [this, queue = action.queue](queue::NextHop hop) {
    scheduler_.OnRouteResolved(queue, std::move(hop), Now());
    Run();
  });
}

void DeliveryDriver::Do(queue::OpenConnection& action) {
  auto owned = std::make_unique<Link>(*this, action.connection);
  Link& link = *owned;
  links_.emplace(action.connection, std::move(owned));
  OutboundTls tls;
  switch (action.tls) {
    case queue::TlsMode::kInherit:
      tls.policy = config_.tls_policy;
      break;
    case queue::TlsMode::kNone:
      tls.policy = TlsPolicy::kNone;
      break;
    case queue::TlsMode::kOpportunistic:
      tls.policy = TlsPolicy::kOpportunistic;
      break;
    case queue::TlsMode::kRequired:
      tls.policy = TlsPolicy::kRequired;
      break;
  }
  // An egress source: its EHLO name, and its address bound before connecting (the
  // scheduler gives a source's queue only addresses of the source's family).
  const Egress* egress = nullptr;
  if (!action.source.empty()) {
    auto it = egress_.find(action.source);
    RP_CHECK_MSG(it != egress_.end(), "a pool names a source that is not configured");
    egress = &it->second;
    RP_CHECK_MSG(egress->address.family() == action.address.family(), "an address of another family");
  }
  // No client context: --outbound_tls=none without --shaping (which always makes one).
  if (config_.session.tls_client == nullptr || action.plaintext) tls.policy = TlsPolicy::kNone;
  if (tls.policy != TlsPolicy::kNone) {
    // RFC 6066 §3: the server name is a host name, never an address.
    if (core::IsHostName(action.name)) tls.sni = action.name;
    // A session is resumed only from the source it was made from: a ticket shown from
    // another address would tie the two together for the receiver.
    link.tls_key = TlsSessionCache::KeyOf(action.source.empty()
                                              ? action.address.ToString()
                                              : absl::StrCat(action.address.ToString(), "/", action.source),
                                          tls.sni);
    tls.resume = tls_sessions_.Take(link.tls_key);
  }
  if (config_.route_auth != nullptr) {
    // The next hop as --routes names it: its host name, or its address.
    tls.login = config_.route_auth->For(action.name.empty() ? action.address.HostString() : action.name);
  }
  auto session = std::make_unique<OutboundSession>(
      link, egress != nullptr ? egress->session : config_.session, std::move(tls));
  link.session = session.get();
  // Refused by the table (no slot, no descriptor), or without one, the session is
  // destroyed in here and its close reported as ours, not the destination's.
  link.opening = true;
  if (connections_ != nullptr) {
    connections_->Connect(action.address, std::move(session), egress != nullptr ? &egress->address : nullptr,
                          &link.bind_error);
  } else {
    session.reset();
  }
  link.opening = false;  // the link outlives this turn even when closed (DeferDelete)
}

absl::Status DeliveryDriver::ReadForAttempt(const queue::StoredMessage& message, std::string* out) {
  if (message.committed_this_run && message.home_shard == shard_.id()) {
    bodies_.TakeSpare(message.body.bytes, out);
    if (spool_.log().recent_writes().CopyBody(message.segment, message.body, out)) {
      ++body_reads_.from_memory;
      return absl::OkStatus();
    }
  }
  ++body_reads_.from_log;
  return bodies_.Read(message.segment_path, message.body, out);
}

void DeliveryDriver::Do(queue::SendMessage& action) {
  auto it = links_.find(action.connection);
  // Closed since the scheduler decided this: it heard of the close and deferred the job.
  if (it == links_.end() || it->second->session == nullptr) return;
  Link& link = *it->second;
  RP_CHECK(link.session->ready());
  const queue::StoredMessage& message = *action.message;
  OutboundMessage out;  // its body comes from the kept buffers (OnBodyReturned)
  if (absl::Status read = ReadForAttempt(message, &out.body); !read.ok()) {
    scheduler_.OnMessageNotSent(link.id, absl::StrCat("cannot read the queued message: ", read.message()),
                                Now());
    return;
  }
  out.mail_from = message.mail_from;
  out.recipients = std::move(action.recipients);
  out.mail_dsn = message.dsn.ForMail();
  out.recipient_dsn = std::move(action.recipient_dsn);
  out.eight_bit = message.eight_bit;
  out.smtputf8 = message.smtputf8;
  link.session->Deliver(std::move(out));  // may finish at once (refused before sending)
}

void DeliveryDriver::Do(queue::DeliverLocally& action) {
  const queue::StoredMessage& message = *action.message;
  std::string body;
  if (absl::Status read = ReadForAttempt(message, &body); !read.ok()) {
    const std::string error = absl::StrCat("cannot read the queued message: ", read.message());
    scheduler_.OnLocalDelivered(action.job,
                                std::vector<queue::AttemptReply>(
                                    action.recipients.size(), queue::AttemptReply{0, "4.3.0", error, false}),
                                Now());
    return;
  }
  auto unix_body = std::make_shared<const std::string>(queue::UnixLines(body));
  bodies_.Recycle(&body);
  // One file per recipient, all at once; the job hears them together.
  struct Pending {
    std::vector<queue::AttemptReply> replies;
    size_t left = 0;
  };
  auto pending = std::make_shared<Pending>();
  pending->replies.resize(action.recipients.size());
  pending->left = action.recipients.size();
  for (size_t i = 0; i < action.recipients.size(); ++i) {
    const std::string& rcpt = action.recipients[i];
    queue::MaildirMessage local;
    local.domain = action.domain;
    local.local_part = rcpt.substr(0, rcpt.rfind('@'));
    local.return_path = message.mail_from;
    local.delivered_to = rcpt;
    maildir_.Deliver(
        local, unix_body,
        [this, pending, i, job = action.job](const absl::Status& status, const std::string& path) {
          queue::AttemptReply& reply = pending->replies[i];
          if (status.ok()) {
            reply = {250, "2.0.0", absl::StrCat("delivered to maildir ", path), false,
                     queue::Handoff::kDelivered};
          } else if (absl::IsInvalidArgument(status)) {
            reply = {550, "5.1.1", std::string(status.message()), false};
          } else if (absl::IsResourceExhausted(status)) {
            reply = {452, "4.2.2", std::string(status.message()), false};
          } else {
            reply = {451, "4.3.0", std::string(status.message()), false};
          }
          if (--pending->left > 0) return;
          scheduler_.OnLocalDelivered(job, std::move(pending->replies), Now());
          Run();
        });
  }
}

void DeliveryDriver::Do(queue::CloseConnection& action) {
  auto it = links_.find(action.connection);
  if (it == links_.end()) return;
  OutboundSession* session = it->second->session;
  // A session that began its own QUIT (the shard is stopping) is on its way out.
  if (session != nullptr && session->ready()) session->Quit();
}

void DeliveryDriver::Do(queue::WriteResults& action) {
  std::string queue_id = action.results.front().queue_id;
  spool_.WriteResults(action.home_shard, std::move(action.results),
                      [this, batch = action.batch, finished = std::move(action.finished),
                       queue_id = std::move(queue_id)](const absl::Status& status) {
                        if (!status.ok()) {
                          // The outcome stands in memory; after a restart the recipient is tried again.
                          RP_LOG(kWarning)
                              << "delivery results for id=" << queue_id << " not durable: " << status;
                        }
                        if (finished != nullptr) {
                          // Records that finish a job copied forward, under its old id: the old
                          // message lets go of it now (a restart before this delivers from both copies).
                          bodies_.files().Release(finished->segment_path);
                          spool_.JobFinished(finished);
                          return;
                        }
                        if (batch == 0) return;  // an operator's hold or release: nothing waits for it
                        scheduler_.OnResultsWritten(batch, Now());
                        Run();
                      });
}

void DeliveryDriver::Do(queue::WriteBounce& action) {
  const queue::StoredMessage& message = *action.message;
  std::string original;
  if (absl::Status read = ReadForAttempt(message, &original); !read.ok()) {
    RP_LOG(kWarning) << "bounce without the original's headers: " << read;
  }
  queue::BounceInput input;
  input.reporting_mta = config_.hostname;
  input.original_sender = message.mail_from;
  input.queue_id = message.queue_id;
  input.envid = core::DecodeXtext(message.dsn.envid);
  input.return_full = message.dsn.ret == core::DsnReturn::kFull;
  input.arrival = absl::FromUnixMicros(static_cast<int64_t>(message.arrival_unix_micros));
  input.now = action.now;
  input.recipients = std::move(action.recipients);
  input.original = original;
  input.sequence = ++dsn_sequence_;
  absl::StatusOr<std::string> dsn = queue::BuildBounce(input);
  bodies_.Recycle(&original);
  absl::StatusOr<uint64_t> stored = dsn.ok() ? spool_.BeginMessage() : dsn.status();
  absl::Status appended = stored.ok() ? spool_.AppendBody(*stored, *dsn) : stored.status();
  if (!appended.ok()) {
    if (stored.ok()) spool_.Abort(*stored);
    RP_LOG(kWarning) << "bounce for id=" << message.queue_id << " not queued (" << appended
                     << "); its recipients are tried again later";
    scheduler_.OnBounceWritten(action.batch, false, Now());
    return;
  }
  queue::Envelope envelope;
  envelope.queue_id = spool_.NextQueueId(action.now);
  envelope.arrival_unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(action.now));
  envelope.helo = config_.hostname;
  envelope.protocol = "LOCAL";
  envelope.recipients.push_back(queue::Recipient{message.mail_from, "", false, 0, 0});
  std::string summary = queue::ReportSummary(input.recipients);  // "failed=1", "delayed=2"
  std::string dsn_id = envelope.queue_id;
  spool_.Commit(*stored, std::move(envelope),
                [this, batch = action.batch, dsn_id = std::move(dsn_id), original = action.message,
                 summary = std::move(summary)](const absl::Status& status) {
                  if (status.ok()) {
                    RP_LOG(kInfo) << "report queued: id=" << dsn_id << " for id=" << original->queue_id
                                  << " to=<" << original->mail_from << "> " << summary;
                  } else {
                    RP_LOG(kWarning) << "bounce for id=" << original->queue_id << " not durable (" << status
                                     << "); its recipients are tried again later";
                  }
                  scheduler_.OnBounceWritten(batch, status.ok(), Now());
                  Run();
                });
}

void DeliveryDriver::Do(queue::CopyForward& action) {
  std::vector<queue::RecipientPick> picks;
  for (const queue::JobRecipient& r : action.recipients) {
    picks.push_back({r.index, r.attempts, r.next_attempt_unix_micros});
  }
  const queue::StoredMessage& old = *action.message;
  queue::CopyMessage(
      spool_.log(), old.segment_path, old.commit_offset, spool_.NextQueueId(Now()), picks,
      [this, job = action.job, old_id = old.queue_id](const absl::Status& status, const queue::Envelope& copy,
                                                      const queue::MessageLocation& location) {
        if (!status.ok()) {
          RP_LOG(kWarning) << "compaction of id=" << old_id << " failed: " << status;
          scheduler_.OnCopiedForward(job, nullptr, Now());
          return Run();
        }
        std::shared_ptr<queue::StoredMessage> stored = queue::StoredMessageOf(copy);
        stored->home_shard = shard_.id();
        stored->segment = location.segment;
        stored->segment_path = spool_.log().SegmentPath(location.segment);
        stored->commit_offset = location.commit_offset;
        bodies_.files().Acquire(stored->segment_path);
        scheduler_.OnCopiedForward(job, std::move(stored), Now());
        Run();
      });
}

void DeliveryDriver::Do(queue::JobFinished& action) {
  bodies_.files().Release(action.message->segment_path);
  spool_.JobFinished(action.message);
}

void DeliveryDriver::Do(queue::AccountingLines& action) { accounting_.Append(action.lines); }

void DeliveryDriver::Do(queue::WriteControl& action) {
  spool_.log().AppendControl(action.record, [domain = action.record.domain](const absl::Status& status) {
    // In force in memory either way; the next segment's carried copy may still make it.
    if (!status.ok()) {
      RP_LOG(kWarning) << "standing order for domain=" << domain << " not durable: " << status;
    }
  });
}

// ---- Session events ------------------------------------------------------------------

void DeliveryDriver::OnReady(Link& link) {
  scheduler_.OnConnectionReady(link.id, Now());
  Run();
}

void DeliveryDriver::OnMessageDone(Link& link, std::vector<RecipientResult> results) {
  std::vector<queue::AttemptReply> replies;
  replies.reserve(results.size());
  for (RecipientResult& r : results) {
    std::string text = r.code == 0 ? r.Summary() : std::move(r.text);
    replies.push_back(
        queue::AttemptReply{r.code, std::move(r.enhanced), std::move(text), r.possible_duplicate});
  }
  // A next hop that offers DSN took NOTIFY on and reports success itself (RFC 3461 §5.2).
  const bool dsn = link.session != nullptr && link.session->extensions().dsn;
  for (queue::AttemptReply& reply : replies)
    reply.handoff = dsn ? queue::Handoff::kRelayedWithDsn : queue::Handoff::kRelayed;
  queue::TlsReport report;
  if (const TlsSummary* tls = link.session != nullptr ? link.session->tls() : nullptr; tls != nullptr) {
    report.description = tls->Description();
    report.sni = tls->sni;
    report.verified = tls->peer_verified;
  }
  scheduler_.OnMessageSent(link.id, std::move(replies), report, Now());
  Run();
}

void DeliveryDriver::OnTlsFailed(Link& link, const std::string& error) {
  tls_sessions_.Forget(link.tls_key);
  RP_LOG(kInfo) << "outbound tls handshake failed: connection=" << link.id << ": " << error;
  scheduler_.OnTlsFailed(link.id, Now());
  Run();
}

void DeliveryDriver::OnClosed(Link& link, const std::string& reason, const SmtpReply* refusal) {
  link.session = nullptr;
  std::optional<queue::AttemptReply> refused;
  if (refusal != nullptr) {
    refused = queue::AttemptReply{refusal->code, refusal->enhanced,
                                  refusal->text.substr(0, refusal->text.find('\n')), false};
  }
  // A source address that cannot be bound (gone since the start) fails the connection:
  // the destination rests and its mail is deferred, never retried each second.
  const bool ours = link.opening && link.bind_error.empty();
  scheduler_.OnConnectionClosed(link.id, link.bind_error.empty() ? reason : link.bind_error, ours, Now(),
                                refused.has_value() ? &*refused : nullptr);
  // The link's own method is on the stack (the session is being destroyed): it is
  // freed at the end of the loop turn.
  auto it = links_.find(link.id);
  RP_CHECK(it != links_.end());
  shard_.DeferDelete(std::move(it->second));
  links_.erase(it);
  Run();
}

}  // namespace ringpost::net
