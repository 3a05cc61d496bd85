#include "net/inbound/smtp_server_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <deque>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "core/check.h"
#include "core/domain_name.h"
#include "core/log.h"
#include "core/shard.h"
#include "net/inbound/message_dkim.h"
#include "net/inbound/proxied_session.h"

namespace ringpost::net {
namespace {

// The engine's envelope in the queue log's form.
queue::Envelope ToQueueEnvelope(SmtpEnvelope received) {
  queue::Envelope envelope;
  envelope.queue_id = std::move(received.queue_id);
  envelope.arrival_unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(received.arrival));
  envelope.client_address = std::move(received.client_address);
  envelope.helo = std::move(received.helo);
  envelope.protocol = std::move(received.protocol);
  envelope.tls = std::move(received.tls);
  envelope.mail_from = std::move(received.mail_from);
  envelope.mail_params = std::move(received.mail_params);
  envelope.recipients.reserve(received.recipients.size());
  for (SmtpRecipient& r : received.recipients) {
    envelope.recipients.push_back(queue::Recipient{std::move(r.address), std::move(r.params), false, 0, 0});
  }
  return envelope;
}

absl::string_view WithoutCrLf(absl::string_view reply) {
  while (!reply.empty() && (reply.back() == '\n' || reply.back() == '\r')) reply.remove_suffix(1);
  return reply;
}

class SmtpSession final : public Session, public SmtpServerHandler {
 public:
  SmtpSession(SmtpService& service, Connection& connection, SmtpClientInfo client, bool admitted,
              std::string refusal, bool implicit_tls)
      : service_(service),
        connection_(connection),
        client_address_(client.address),
        client_may_relay_(client.may_relay),
        admitted_(admitted),
        refusal_(std::move(refusal)),
        implicit_tls_(implicit_tls),
        engine_(service.config().server, service.relay(), std::move(client), *this),
        alive_(std::make_shared<SmtpSession*>(this)) {
    if (service.dkim() != nullptr) {
      dkim_.emplace(*service.dkim(), service.config().dkim, service.config().server.hostname);
    }
    if (service.config().egress_pools != nullptr) pool_header_.emplace();
  }

  ~SmtpSession() override {
    *alive_ = nullptr;  // a durability callback still on its way finds nobody
    engine_.Detach();   // aborts an open message through AbortMessage, while we are whole
    if (message_ != 0) service_.spool().Abort(message_);
    message_ = 0;
    if (admitted_) service_.limiter().Release(client_address_);
  }

  void OnOpen(Connection& connection) override {
    if (implicit_tls_) {
      // RFC 8314 §3.3: TLS from the first byte; the greeting is the first thing in it. A
      // refusal could not be read by a client that is handshaking: it is just closed.
      if (!admitted_) return connection.Close();
      std::shared_ptr<TlsContext> context = service_.TlsContextNow();
      RP_CHECK(context != nullptr);  // --submissions_listen needs --tls_cert
      connection.StartTls(TlsChannel::NewServer(std::move(context)));
      connection.ArmTimer(connection.shard().now() + service_.config().idle_timeout_nanos);
      return;
    }
    if (!admitted_) {
      ++service_.stats().connections_refused;
      connection.Send(refusal_);
      connection.CloseAfterSend();
      return;
    }
    const core::MonoNanos delay = service_.config().greeting_delay_nanos;
    if (delay > 0) {
      greeting_pending_ = true;  // the engine refuses anything sent before the greeting
      connection.ArmTimer(connection.shard().now() + delay);
      return;
    }
    engine_.Greet();
    Flush();
  }

  void OnRecv(Connection& connection, core::BufferLoan bytes) override {
    (void)connection;
    if (!admitted_) return;  // refused: the 421 is on its way, nothing is read
    input_.push_back(std::move(bytes));
    Process();
  }

  void OnTimer(Connection& connection) override {
    (void)connection;
    if (login_refusal_due_ != 0) {
      if (connection_.shard().now() < login_refusal_due_) return connection_.ArmTimer(login_refusal_due_);
      login_refusal_due_ = 0;
      engine_.OnLoginChecked(SmtpServer::LoginVerdict::kRefused);
      return Process();
    }
    if (log_paused_) return Process();
    if (greeting_pending_) {
      greeting_pending_ = false;
      if (engine_.closed()) return;  // it talked first: 554 is on its way out
      engine_.Greet();
      return Process();
    }
    // A handshake that did not finish in time has nobody to say 421 to.
    if (engine_.starting_tls() || (implicit_tls_ && !engine_.greeted())) return connection_.Close();
    // A client that stopped reading cannot be sent the 421: drop what is queued.
    const bool stalled = connection_.queued_bytes() > 0;
    engine_.OnTimeout();
    Flush();
    if (stalled) connection_.Close();
  }

  // The client finished sending (EOF, or TLS close_notify; often right behind its
  // QUIT). What it sent before is still answered: commands held back, a commit under
  // way (its 250), then QUIT's 221 (RFC 5321 §4.1.1.10); then the connection closes.
  // A reset is not a close: the client gave up, nothing can reach it, and nothing more
  // of its input is read (a message it pipelined is not committed behind its back).
  void OnPeerClosed(Connection& connection) override {
    if (connection.broken()) return connection.Close();
    peer_closed_ = true;
    Process();
  }

  void OnSendDrained(Connection& connection) override {
    (void)connection;
    Process();  // replies were held back past kQueuedReplyBytesMax: read on
  }

  void OnShutdown(Connection& connection, core::MonoNanos deadline) override {
    (void)connection;
    (void)deadline;  // the table closes whatever is left at the deadline
    if (greeting_pending_ || !admitted_ || !engine_.greeted()) return connection_.Close();
    engine_.OnShutdown();
    Flush();
  }

  // SmtpServerHandler: the spool.
  absl::StatusOr<std::string> BeginMessage() override {
    RP_CHECK_EQ(message_, 0u);
    absl::StatusOr<uint64_t> message = service_.spool().BeginMessage();
    if (!message.ok()) return message.status();
    message_ = *message;
    message_bytes_ = 0;
    if (dkim_.has_value()) dkim_->Begin(DkimMode(), absl::ToUnixSeconds(absl::Now()));
    if (pool_header_.has_value()) pool_header_->Begin();
    return service_.spool().NextQueueId(absl::Now());
  }

  // The message's bytes go through the pool header's filter, then DKIM, to the log.
  absl::Status AppendBody(absl::Span<const absl::string_view> pieces) override {
    RP_CHECK_NE(message_, 0u);
    for (absl::string_view piece : pieces) message_bytes_ += piece.size();
    if (pool_header_.has_value()) return pool_header_->Append(pieces, AfterPoolHeader(message_));
    return AfterPoolHeader(message_)(pieces);
  }

  MessageDkim::Store AfterPoolHeader(uint64_t message) {
    if (dkim_.has_value()) {
      return [this, message](absl::Span<const absl::string_view> pieces) {
        return dkim_->Append(pieces, StoreInto(message));
      };
    }
    return StoreInto(message);
  }

  void CommitMessage(SmtpEnvelope received) override {
    RP_CHECK_NE(message_, 0u);
    const uint64_t message = message_;
    message_ = 0;
    if (pool_header_.has_value()) {
      if (absl::Status s = pool_header_->Finish(AfterPoolHeader(message)); !s.ok()) return Refuse(message, s);
      message_bytes_ -= pool_header_->removed_bytes();  // the size stored, as the log and accounting say
    }
    // Decided now: nothing of the next message begins before this one's reply.
    pool_ = ChoosePool(received);
    if (!dkim_.has_value() || dkim_->mode() == MessageDkim::Mode::kOff)
      return Commit(message, std::move(received));
    if (absl::Status s = dkim_->Finish(StoreInto(message)); !s.ok()) return Refuse(message, s);
    if (dkim_->mode() == MessageDkim::Mode::kSign) return SignAndCommit(message, std::move(received));
    // Verification: the keys come from DNS; the message waits for them, uncommitted.
    dkim_->Verify(connection_.shard().now(),
                  [alive = alive_, spool = &service_.spool(), message,
                   received = std::make_shared<SmtpEnvelope>(std::move(received))](std::string field) {
                    // A client gone before its 250 was never told the message is queued.
                    if (*alive == nullptr) return spool->Abort(message);
                    SmtpSession& session = **alive;
                    session.CommitWithField(message, std::move(*received), field);
                    if (!session.engine_.awaiting_commit()) session.Process();  // refused: read on
                  });
  }

  // DKIM for this message: mail of the relay networks and logged-in users is signed
  // (when there are keys), mail from anywhere else verified (when asked).
  MessageDkim::Mode DkimMode() const {
    const bool own_mail = client_may_relay_ || !engine_.auth_user().empty();
    if (own_mail)
      return service_.dkim()->key_table() != nullptr ? MessageDkim::Mode::kSign : MessageDkim::Mode::kOff;
    return service_.dkim()->verifies() ? MessageDkim::Mode::kVerify : MessageDkim::Mode::kOff;
  }

  // The egress pool: the X-Ringpost-Pool field of mail of the relay networks and
  // logged-in users when it names a pool, else the sender's (--egress_sender_pools).
  std::string ChoosePool(const SmtpEnvelope& received) const {
    const SmtpServiceConfig& config = service_.config();
    if (config.egress_pools == nullptr) return "";
    if (const std::string& asked = pool_header_->requested(); !asked.empty()) {
      const bool own_mail = client_may_relay_ || !engine_.auth_user().empty();
      if (own_mail && config.egress_pools->Has(asked)) return asked;
      RP_LOG(kInfo) << "pool header ignored id=" << received.queue_id << " client=" << client_address_ << ": "
                    << (own_mail ? "no such pool" : "not from --relay_networks or a login") << " ("
                    << absl::CHexEscape(asked.substr(0, 64)) << ")";
    }
    return config.sender_pools != nullptr ? config.sender_pools->PoolFor(received.mail_from) : "";
  }

  MessageDkim::Store StoreInto(uint64_t message) {
    return [this, message](absl::Span<const absl::string_view> pieces) {
      return service_.spool().AppendBodyParts(message, pieces);
    };
  }

  // The open message will not be queued: the client hears why.
  void Refuse(uint64_t message, const absl::Status& status) {
    service_.spool().Abort(message);
    engine_.OnCommitted(status, "");
  }

  void SignAndCommit(uint64_t message, SmtpEnvelope received) {
    // Mail only for this host's own domains is not signed: it goes no further.
    const bool leaves =
        std::any_of(received.recipients.begin(), received.recipients.end(), [this](const SmtpRecipient& r) {
          const size_t at = r.address.rfind('@');
          return at == std::string::npos || !service_.relay().IsLocalDomain(r.address.substr(at + 1));
        });
    if (!leaves) return Commit(message, std::move(received));
    MessageDkim::Signed signed_message = dkim_->Sign();
    if (!signed_message.refusal.empty()) {
      RP_LOG(kWarning) << "refused unsigned id=" << received.queue_id << " client=" << client_address_ << ": "
                       << signed_message.refusal << " (--dkim_required)";
      return Refuse(message, absl::FailedPreconditionError(signed_message.refusal));
    }
    if (!signed_message.unsigned_reason.empty()) {
      RP_LOG(kInfo) << "unsigned id=" << received.queue_id << ": " << signed_message.unsigned_reason;
    }
    CommitWithField(message, std::move(received), signed_message.fields);
  }

  // `fields` (DKIM-Signature or Authentication-Results) go on top of the message.
  void CommitWithField(uint64_t message, SmtpEnvelope received, const std::string& fields) {
    if (!fields.empty()) {
      if (absl::Status s = service_.spool().PrependBody(message, fields); !s.ok()) return Refuse(message, s);
      message_bytes_ += fields.size();
    }
    Commit(message, std::move(received));
  }

  void Commit(uint64_t message, SmtpEnvelope received) {
    std::string summary;  // for the "accepted" log line, built only when it will be written
    if (core::LogEnabled(core::LogLevel::kInfo)) {
      summary = absl::StrCat(
          "client=", client_address_, " helo=", received.helo, " from=<", received.mail_from,
          "> rcpts=", received.recipients.size(), " size=", message_bytes_, " proto=", received.protocol,
          " tls=", received.tls.empty() ? "none" : absl::StrReplaceAll(received.tls, {{" ", "/"}}),
          received.auth_user.empty() ? "" : " user=", received.auth_user,
          pool_.empty() ? "" : " pool=", pool_);
    }
    std::string queue_id = received.queue_id;
    std::string reception = ReceptionLine(received);
    // Once durable the spool schedules the message for delivery, whether or not the
    // client is still there to hear the 250.
    queue::Envelope envelope = ToQueueEnvelope(std::move(received));
    envelope.pool = std::move(pool_);
    service_.spool().Commit(
        message, std::move(envelope),
        [alive = alive_, accounting = &service_.accounting(), queue_id = std::move(queue_id),
         summary = std::move(summary), reception = std::move(reception)](const absl::Status& status) {
          if (status.ok()) accounting->Append(reception);
          if (*alive != nullptr) (*alive)->OnDurable(status, queue_id, summary);
        });
  }

  // The accounting log's reception record, written once the message is durable.
  std::string ReceptionLine(const SmtpEnvelope& received) const {
    std::string line;
    if (!service_.accounting().enabled()) return line;
    line.reserve(512);  // one allocation for an ordinary line rather than a doubling chain
    std::vector<absl::string_view> recipients;
    recipients.reserve(received.recipients.size());
    for (const SmtpRecipient& r : received.recipients) recipients.push_back(r.address);
    queue::ReceptionEntry entry;
    entry.time = absl::Now();
    entry.queue_id = received.queue_id;
    entry.client = client_address_;
    entry.helo = received.helo;
    entry.from = received.mail_from;
    entry.protocol = received.protocol;
    entry.tls = received.tls;
    entry.message_id = received.message_id;
    entry.auth_user = received.auth_user;
    entry.recipients = recipients;
    entry.size = message_bytes_;
    queue::AppendReceptionLine(entry, &line);
    return line;
  }

  // AUTH: the password is checked on this shard's checker thread; the verdict comes
  // back here. A failure is answered after a delay that grows with the address's
  // failures, and one past --auth_failure_limit ends the session (AuthFailures).
  void CheckLogin(const std::string& user, const std::string& password) override {
    PasswordChecker* checker = service_.password_checker();
    RP_CHECK(checker != nullptr);  // AUTH is offered only with --auth_users
    login_user_ = user;
    checker->Check(user, password, [alive = alive_](bool matches) {
      if (*alive != nullptr) (*alive)->OnPasswordChecked(matches);
    });
  }

  void OnPasswordChecked(bool matches) {
    if (connection_.closing()) return;
    if (matches) {
      ++service_.stats().logins;
      RP_LOG(kInfo) << "login client=" << client_address_ << " user=" << login_user_;
      engine_.OnLoginChecked(SmtpServer::LoginVerdict::kAccepted);
      return Process();
    }
    ++service_.stats().login_failures;
    const AuthFailures::Verdict verdict =
        service_.config().auth_failures->RecordFailure(client_address_, absl::Now());
    RP_LOG(kInfo) << "login failed client=" << client_address_ << " user=" << login_user_
                  << (verdict.blocked ? " (too many failures: blocked)" : "");
    if (verdict.blocked) {
      engine_.OnLoginChecked(SmtpServer::LoginVerdict::kRefusedAndClosing);
      return Process();
    }
    login_refusal_due_ = connection_.shard().now() + absl::ToInt64Nanoseconds(verdict.delay);
    connection_.ArmTimer(login_refusal_due_);
  }

  void AbortMessage() override {
    if (message_ == 0) return;
    service_.spool().Abort(message_);
    message_ = 0;
  }

  void OnTlsReady(Connection& connection) override {
    const TlsSummary& tls = connection.tls()->summary();
    ++service_.stats().tls_handshakes;
    RP_LOG(kInfo) << "tls client=" << client_address_ << " version=" << tls.version
                  << " cipher=" << tls.cipher << " sni=" << (core::IsHostName(tls.sni) ? tls.sni : "-")
                  << " resumed=" << (tls.resumed ? "yes" : "no");
    if (implicit_tls_ && !engine_.greeted()) {
      engine_.OnImplicitTls(tls.Description());
      engine_.Greet();
      return Flush();
    }
    engine_.OnTlsStarted(tls.Description());
    Process();
  }

  void OnTlsFailed(Connection& connection, const std::string& error) override {
    ++service_.stats().tls_failures;
    // Only this session ends; the alert BoringSSL queued goes out first.
    RP_LOG(kInfo) << "tls handshake failed client=" << client_address_ << ": " << error;
    connection.CloseAfterSend();
  }

  void OnRefused(absl::string_view command, absl::string_view reply) override {
    ++service_.stats().transactions_refused;
    RP_LOG(kInfo) << "refused " << command << " client=" << client_address_ << " reply=\""
                  << WithoutCrLf(reply) << "\"";
  }

 private:
  void OnDurable(const absl::Status& status, const std::string& queue_id, const std::string& summary) {
    if (status.ok()) {
      ++service_.stats().messages_accepted;
      // One line per accepted message (size: the bytes stored, Received: included).
      RP_LOG(kInfo) << "accepted id=" << queue_id << " " << summary;
    } else {
      RP_LOG(kWarning) << "not queued: " << status << " client=" << client_address_;
    }
    engine_.OnCommitted(status, queue_id);
    Process();
  }

  // Feeds what has arrived, in order, until it is all consumed, the engine waits for a
  // commit, or the replies not yet sent pass kQueuedReplyBytesMax (a client that
  // pipelines commands but never reads its replies: its input then waits in its loans,
  // and the loan cap pauses its socket). Nothing it calls comes back here: the spool
  // reports a commit's outcome later, never inside CommitMessage.
  void Process() {
    if (connection_.closing()) {  // a commit answered after the close: read nothing more
      input_.clear();
      offset_ = 0;
      return;
    }
    const absl::Time now = absl::Now();
    log_paused_ = false;
    uint64_t data_bytes = 0;
    while (!input_.empty() && !engine_.awaiting_commit() && !engine_.awaiting_login() && !engine_.closed() &&
           !engine_.starting_tls() &&
           connection_.queued_bytes() + engine_.output_bytes() < kQueuedReplyBytesMax) {
      if (engine_.in_data() && service_.log_staged_bytes() > kLogStagedBytesMax) {
        // The disk is behind: message data waits in this connection's buffers (the
        // loan cap then pauses its socket) instead of piling up in the log's memory.
        log_paused_ = true;
        break;
      }
      const absl::string_view available = input_.front().view().substr(offset_);
      const bool in_data = engine_.in_data();
      const size_t used = engine_.Feed(available, now);
      offset_ += used;
      if (in_data) data_bytes += used;
      if (offset_ == input_.front().size()) {
        input_.pop_front();  // the receive buffer goes back to the ring
        offset_ = 0;
      }
    }
    if (engine_.closed()) input_.clear();
    ExtendDataDeadline(data_bytes);
    if (engine_.starting_tls() && connection_.tls() == nullptr) {
      if (!peer_closed_) return StartTls();
      // No handshake can follow the client's close: the 220 goes out and the session
      // ends (what came after STARTTLS is never read, CVE-2011-0411).
      input_.clear();
      offset_ = 0;
    }
    Flush();
  }

  // After "220 Ready to start TLS" (RFC 3207 §4.2).
  void StartTls() {
    // CVE-2011-0411: whatever the client sent after STARTTLS in plaintext (the rest of
    // that segment, later segments already received) is dropped, never read as TLS or
    // as commands.
    input_.clear();
    offset_ = 0;
    connection_.Send(engine_.output());  // the 220 leaves in plaintext
    engine_.ClearOutput();
    std::shared_ptr<TlsContext> context = service_.TlsContextNow();
    RP_CHECK(context != nullptr);  // STARTTLS is offered only with a certificate
    connection_.StartTls(TlsChannel::NewServer(std::move(context)));
    // The handshake has the command timeout to finish.
    connection_.ArmTimer(connection_.shard().now() + service_.config().idle_timeout_nanos);
  }

  // Whatever the engine wrote leaves as one send (pipelined replies together).
  void Flush() {
    if (engine_.has_output()) {
      connection_.Send(engine_.output());  // copied into the connection's queue
      engine_.ClearOutput();
    }
    if (engine_.closed()) return connection_.CloseAfterSend();
    // Nothing more will arrive: once all that did is answered, the session is over (a
    // message it was sending without its final dot is dropped, never committed).
    if (peer_closed_ && input_.empty() && !engine_.awaiting_commit() && !engine_.awaiting_login() &&
        !log_paused_) {
      return connection_.CloseAfterSend();
    }
    if (login_refusal_due_ != 0) return connection_.ArmTimer(login_refusal_due_);  // a failed login's delay
    if (log_paused_) {
      // Look again soon; nothing announces that the log caught up.
      return connection_.ArmTimer(connection_.shard().now() + kLogPausePollNanos);
    }
    connection_.ArmTimer(Deadline());
  }

  // Message data: the deadline starts data_timeout away and each read moves it later by
  // its bytes at the minimum rate, never past data_timeout from now.
  void ExtendDataDeadline(uint64_t data_bytes) {
    const core::MonoNanos now = connection_.shard().now();
    const SmtpServiceConfig& config = service_.config();
    if (!engine_.in_data()) {
      data_deadline_ = 0;
      return;
    }
    if (data_deadline_ == 0) data_deadline_ = now + config.data_timeout_nanos;
    const auto earned = static_cast<core::MonoNanos>(static_cast<double>(data_bytes) * core::kNanosPerSecond /
                                                     static_cast<double>(config.min_data_rate_bytes));
    data_deadline_ = std::min(now + config.data_timeout_nanos, data_deadline_ + earned);
  }

  // The silence allowed: between commands idle_timeout; within a command line, what is
  // left of idle_timeout since its first byte; within message data, data_deadline_.
  core::MonoNanos Deadline() {
    const core::MonoNanos now = connection_.shard().now();
    if (engine_.in_data())
      return data_deadline_ != 0 ? data_deadline_ : now + service_.config().data_timeout_nanos;
    if (engine_.command_lines() != command_lines_seen_) {
      command_lines_seen_ = engine_.command_lines();
      line_started_ = 0;
    }
    if (!engine_.in_command_line()) {
      line_started_ = 0;
      return now + service_.config().idle_timeout_nanos;
    }
    if (line_started_ == 0) line_started_ = now;
    return line_started_ + service_.config().idle_timeout_nanos;
  }

  SmtpService& service_;
  Connection& connection_;
  const std::string client_address_;
  const bool client_may_relay_;  // from --relay_networks (a login is the engine's)
  const bool admitted_;
  const std::string refusal_;
  const bool implicit_tls_;  // a --submissions_listen connection: TLS before the greeting
  SmtpServer engine_;
  std::shared_ptr<SmtpSession*> alive_;
  std::deque<core::BufferLoan> input_;
  size_t offset_ = 0;  // into input_.front()
  static constexpr size_t kQueuedReplyBytesMax = 64 * 1024;
  static constexpr uint64_t kLogStagedBytesMax = 64ull << 20;  // per shard
  static constexpr core::MonoNanos kLogPausePollNanos = 5 * core::kNanosPerMilli;
  bool log_paused_ = false;
  core::MonoNanos data_deadline_ = 0;  // while the engine reads message data
  core::MonoNanos line_started_ = 0;   // the first byte of the command line under way
  uint64_t command_lines_seen_ = 0;
  uint64_t message_ = 0;        // the log's handle of the open message (0: none)
  uint64_t message_bytes_ = 0;  // stored so far, the Received: header included
  std::optional<MessageDkim> dkim_;  // with DKIM signing or verification
  std::optional<PoolHeader> pool_header_;  // with --egress_pools
  std::string pool_;                       // the committing message's egress pool
  bool greeting_pending_ = false;
  bool peer_closed_ = false;  // the client sends nothing more (OnPeerClosed)
  std::string login_user_;    // the user of the login being checked
  core::MonoNanos login_refusal_due_ = 0;  // a failed login's 535 waits until then
};

}  // namespace

SmtpService::SmtpService(const SmtpServiceConfig& config, const RelayPolicy& relay, ClientLimiter& limiter,
                         queue::Spool& spool, queue::AccountingWriter& accounting)
    : config_(config),
      relay_(relay),
      limiter_(limiter),
      spool_(spool),
      accounting_(accounting),
      tls_(config.tls) {}

std::unique_ptr<Session> SmtpService::NewSession(Connection& connection, ListenerRole role) {
  if (!config_.proxy_networks.Contains(connection.peer()))
    return NewSessionFor(connection, connection.peer(), role);
  // A load balancer: the client is the one its PROXY header names.
  return std::make_unique<ProxiedSession>(
      config_.proxy_timeout_nanos,
      [this, role](Connection& c, const core::SocketAddress& client) {
        return NewSessionFor(c, client, role);
      },
      [this](const Connection& c, const std::string& why) {
        ++stats_.proxy_headers_refused;
        RP_LOG(kInfo) << "refused connection from " << c.peer().ToString() << ": " << why;
      });
}

std::unique_ptr<Session> SmtpService::NewSessionFor(Connection& connection, const core::SocketAddress& peer,
                                                    ListenerRole role) {
  SmtpClientInfo client;
  client.address = peer.HostString();
  client.may_relay = relay_.ClientMayRelay(peer);
  client.tls_offered = tls_.enabled() && role != ListenerRole::kSubmissions;  // 465 is TLS already
  client.auth_required = role != ListenerRole::kRelay;
  std::string refusal;
  switch (limiter_.Admit(client.address, config_.limit_exempt_networks.Contains(peer))) {
    case ClientLimiter::Verdict::kAdmitted:
      break;
    case ClientLimiter::Verdict::kTooManyTotal:
      refusal = absl::StrCat("421 4.7.0 ", config_.server.hostname, " Error: too many connections\r\n");
      break;
    case ClientLimiter::Verdict::kTooManyFromAddress:
      refusal = absl::StrCat("421 4.7.0 ", config_.server.hostname, " Error: too many connections from ",
                             client.address, "\r\n");
      break;
  }
  if (refusal.empty() && config_.auth_failures != nullptr &&
      config_.auth_failures->Blocked(client.address, absl::Now())) {
    // A password guesser, still within its block: nothing more to try.
    limiter_.Release(client.address);
    refusal = absl::StrCat("421 4.7.0 ", config_.server.hostname, " Error: too many failed logins from ",
                           client.address, "\r\n");
  }
  const bool admitted = refusal.empty();
  return std::make_unique<SmtpSession>(*this, connection, std::move(client), admitted, std::move(refusal),
                                       /*implicit_tls=*/role == ListenerRole::kSubmissions);
}

void SmtpService::RejectOverLimit(int fd) {
  const std::string reply =
      absl::StrCat("421 4.7.0 ", config_.server.hostname, " Error: too many connections\r\n");
  ssize_t ignored = send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)ignored;
  ++stats_.connections_refused;
}

}  // namespace ringpost::net
