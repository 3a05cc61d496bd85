#include "tools/blast/blast_shard.h"

#include <cmath>
#include <deque>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/check.h"
#include "core/log.h"
#include "core/runtime.h"
#include "net/smtp/line_assembler.h"
#include "net/smtp/smtp_reply.h"

namespace ringpost::blast {
namespace {

constexpr size_t kReplyLineBytesMax = 4096;
constexpr core::MonoNanos kReconnectDelayNanos = 100 * core::kNanosPerMilli;

// The SMTP client side of one load connection (RFC 5321 §3.3). With PIPELINING
// (RFC 2920) MAIL, the RCPTs and DATA leave in one send, and the next message's group
// follows the previous message's content in the same send (§3.1: message content may
// be the first "command" of a group), so a long-lived connection needs one send per
// message. Replies arrive in order; each belongs to the oldest open transaction.
class BlastSession final : public net::Session {
 public:
  explicit BlastSession(BlastShard& shard) : shard_(shard), lines_(kReplyLineBytesMax) {}
  ~BlastSession() override { shard_.OnSessionEnded(failed_); }

  void OnOpen(net::Connection& connection) override {
    failed_ = false;
    BlastCounters::Add(shard_.counters().connections_opened, 1);
    state_ = State::kGreeting;
    WaitForReply(connection);
  }

  void OnConnectFailed(net::Connection& connection, const absl::Status& status) override {
    (void)connection;
    BlastCounters::Add(shard_.counters().connect_failures, 1);
    RP_LOG(kDebug) << "connect failed: " << status;
  }

  void OnRecv(net::Connection& connection, core::BufferLoan bytes) override {
    if (connection.tls() != nullptr) KeepTlsSession(connection);  // TLS 1.3 tickets come later
    absl::string_view input = bytes.view();
    absl::string_view line;
    while (!connection.closing() && state_ != State::kTlsHandshake) {  // CVE-2021-38371
      const auto result = lines_.Next(&input, &line);
      if (result == net::LineAssembler::Result::kNeedMore) return;
      if (result == net::LineAssembler::Result::kTooLong) return Fail(connection, "reply line too long");
      const auto parsed = replies_.OnLine(line);
      if (parsed == net::ReplyParser::Result::kError) return Fail(connection, replies_.error().c_str());
      if (parsed == net::ReplyParser::Result::kReply) OnReply(connection, replies_.reply());
    }
  }

  void OnTlsReady(net::Connection& connection) override {
    BlastCounters::Add(shard_.counters().tls_handshakes, 1);
    if (connection.tls()->summary().resumed) BlastCounters::Add(shard_.counters().tls_resumed, 1);
    KeepTlsSession(connection);
    Send(connection, absl::StrCat("EHLO ", shard_.config().helo, "\r\n"));  // RFC 3207 §4.2
    state_ = State::kEhlo;
    WaitForReply(connection);
  }

  void OnTlsFailed(net::Connection& connection, const std::string& error) override {
    (void)error;
    Fail(connection, "TLS handshake failed");
  }

  void OnPeerClosed(net::Connection& connection) override {
    if (state_ != State::kQuit) Fail(connection, "connection closed by the server");
    connection.Close();
  }

  void OnTimer(net::Connection& connection) override {
    if (state_ == State::kWaitRate) return StartMessage(connection);
    BlastCounters::Add(shard_.counters().timeouts, 1);
    Fail(connection, "timed out waiting for a reply");
  }

  void OnShutdown(net::Connection& connection, core::MonoNanos deadline) override {
    (void)deadline;
    FailOpenMessages();
    connection.Close();
  }

 private:
  enum class State { kGreeting, kEhlo, kHelo, kStartTls, kTlsHandshake, kTransaction, kWaitRate, kQuit };
  enum class Expect { kRset, kMail, kRcpt, kData, kDot };
  struct Transaction {
    std::string message_id;
    std::string first_rcpt;
    int rcpts_accepted = 0;
    int first_refusal = 0;
    core::MonoNanos dot_sent_nanos = 0;
  };

  void WaitForReply(net::Connection& connection) {
    connection.ArmTimer(connection.shard().now() + shard_.config().reply_timeout_nanos);
  }

  void Fail(net::Connection& connection, const char* why) {
    RP_LOG(kDebug) << "session failed: " << why;
    FailOpenMessages();
    failed_ = true;
    connection.Close();
  }

  void FailOpenMessages() {
    BlastCounters::Add(shard_.counters().failed, transactions_.size());
    transactions_.clear();
  }

  void FinishMessage(int code) {
    Transaction& t = transactions_.front();
    if (code >= 0 && code < 600) BlastCounters::Add(shard_.counters().final_codes[code], 1);
    if (code / 100 == 2) {
      BlastCounters::Add(shard_.counters().accepted, 1);
      shard_.OnAccepted(std::move(t.message_id));
    } else {
      BlastCounters::Add(shard_.counters().refused, 1);
    }
    transactions_.pop_front();
    ++messages_on_connection_;
  }

  void OnReply(net::Connection& connection, const net::SmtpReply& reply) {
    switch (state_) {
      case State::kGreeting:
        if (reply.code_class() != 2) return Fail(connection, "greeting refused");
        Send(connection, absl::StrCat("EHLO ", shard_.config().helo, "\r\n"));
        state_ = State::kEhlo;
        return WaitForReply(connection);
      case State::kEhlo:
        if (reply.code_class() != 2) {
          Send(connection, absl::StrCat("HELO ", shard_.config().helo, "\r\n"));
          state_ = State::kHelo;
          return WaitForReply(connection);
        }
        server_pipelining_ = false;
        for (absl::string_view line : absl::StrSplit(reply.text, '\n')) {
          if (absl::EqualsIgnoreCase(line, "PIPELINING")) server_pipelining_ = true;
          if (absl::EqualsIgnoreCase(line, "STARTTLS") && shard_.config().tls != nullptr &&
              connection.tls() == nullptr) {
            Send(connection, "STARTTLS\r\n");
            state_ = State::kStartTls;
            return WaitForReply(connection);
          }
        }
        return StartMessage(connection);
      case State::kStartTls:
        if (reply.code != 220) return Fail(connection, "STARTTLS refused");
        state_ = State::kTlsHandshake;  // OnRecv reads no more plaintext
        lines_.Reset();
        replies_ = net::ReplyParser();
        connection.StartTls(net::TlsChannel::NewClient(
            shard_.config().tls, "", shard_.config().tls_resume ? shard_.tls_session() : nullptr));
        return WaitForReply(connection);
      case State::kTlsHandshake:
        return;
      case State::kHelo:
        if (reply.code_class() != 2) return Fail(connection, "HELO refused");
        return StartMessage(connection);
      case State::kTransaction:
        return OnTransactionReply(connection, reply);
      case State::kWaitRate:
        return Fail(connection, "unexpected reply");
      case State::kQuit:
        connection.Close();
        return;
    }
  }

  bool Pipelining() const { return shard_.config().pipelining && server_pipelining_; }

  void KeepTlsSession(net::Connection& connection) {
    if (bssl::UniquePtr<SSL_SESSION> session = connection.mutable_tls()->TakeNewSession()) {
      shard_.KeepTlsSession(std::move(session));
    }
  }

  // Claims the next message if there is one and the rate allows it now.
  enum class Claim { kStarted, kNoMore, kWait };
  Claim ClaimNext(net::Connection& connection) {
    const int per_connection = shard_.config().messages_per_connection;
    const int open = static_cast<int>(transactions_.size());
    if ((per_connection > 0 && messages_on_connection_ + open >= per_connection) || !shard_.ClaimMessage()) {
      return Claim::kNoMore;
    }
    const core::MonoNanos wait = shard_.RateDelay(connection.shard().now());
    if (wait > 0) {
      rate_wait_nanos_ = wait;
      return Claim::kWait;
    }
    QueueTransaction();
    return Claim::kStarted;
  }

  void StartMessage(net::Connection& connection) {
    connection.CancelTimer();
    if (state_ != State::kWaitRate) {
      const Claim claim = ClaimNext(connection);
      if (claim == Claim::kNoMore) {
        Send(connection, "QUIT\r\n");
        state_ = State::kQuit;
        return WaitForReply(connection);
      }
      if (claim == Claim::kWait) {
        // The message is claimed; it starts when the rate allows.
        state_ = State::kWaitRate;
        connection.ArmTimer(connection.shard().now() + rate_wait_nanos_);
        return;
      }
    } else {
      QueueTransaction();  // claimed before the wait
    }
    state_ = State::kTransaction;
    SendNextCommands(connection);
  }

  void QueueTransaction() {
    BlastCounters::Add(shard_.counters().started, 1);
    Transaction t;
    t.message_id = shard_.NextMessageId();
    if (need_rset_) pending_.push_back({Expect::kRset, "RSET\r\n"});
    need_rset_ = false;
    pending_.push_back({Expect::kMail, absl::StrCat("MAIL FROM:<", shard_.config().from, ">\r\n")});
    for (int i = 0; i < shard_.config().rcpts; ++i) {
      std::string rcpt = shard_.PickRecipient();
      if (i == 0) t.first_rcpt = rcpt;
      pending_.push_back({Expect::kRcpt, absl::StrCat("RCPT TO:<", rcpt, ">\r\n")});
    }
    pending_.push_back({Expect::kData, "DATA\r\n"});
    transactions_.push_back(std::move(t));
  }

  // With pipelining the whole group leaves at once; without, one command per reply.
  void SendNextCommands(net::Connection& connection) {
    std::string batch;
    while (!pending_.empty()) {
      batch += pending_.front().second;
      expect_.push_back(pending_.front().first);
      pending_.pop_front();
      if (!Pipelining()) break;
    }
    if (!batch.empty()) Send(connection, batch);
    WaitForReply(connection);
  }

  void SendContent(net::Connection& connection, Transaction& t) {
    const auto& config = shard_.config();
    const uint64_t size = config.size.Sample(shard_.rng());
    const std::string headers = shard_.factory().Headers(config.from, t.first_rcpt, t.message_id);
    const std::string& body = shard_.factory().WireBody(size > headers.size() ? size - headers.size() : 0);
    Send(connection, headers);
    Send(connection, body);
    expect_.push_back(Expect::kDot);
    t.dot_sent_nanos = core::MonotonicNowNanos();
    // The next message's commands ride in the same send (RFC 2920 §3.1). Not under a
    // rate cap: a chained message could not wait for its slot.
    if (Pipelining() && shard_.config().rate <= 0 && ClaimNext(connection) == Claim::kStarted) {
      SendNextCommands(connection);
    }
    WaitForReply(connection);
  }

  void OnTransactionReply(net::Connection& connection, const net::SmtpReply& reply) {
    if (expect_.empty() || transactions_.empty()) return Fail(connection, "reply nobody asked for");
    const Expect expected = expect_.front();
    expect_.pop_front();
    Transaction& t = transactions_.front();
    const bool ok = reply.code_class() == 2;
    switch (expected) {
      case Expect::kRset:
        break;
      case Expect::kMail:
        if (!ok && t.first_refusal == 0) t.first_refusal = reply.code;
        break;
      case Expect::kRcpt:
        if (ok)
          ++t.rcpts_accepted;
        else if (t.first_refusal == 0)
          t.first_refusal = reply.code;
        break;
      case Expect::kData:
        if (reply.code == 354) {
          if (t.rcpts_accepted > 0 && t.first_refusal == 0) return SendContent(connection, t);
          // The server took DATA although the transaction failed: end it empty.
          Send(connection, ".\r\n");
          expect_.push_back(Expect::kDot);
          return WaitForReply(connection);
        }
        need_rset_ = true;
        FinishMessage(t.first_refusal != 0 ? t.first_refusal : reply.code);
        return StartMessage(connection);
      case Expect::kDot: {
        if (t.dot_sent_nanos != 0) {
          shard_.counters().latency.Record(
              static_cast<uint64_t>((core::MonotonicNowNanos() - t.dot_sent_nanos) / 1000));
        }
        FinishMessage(t.first_refusal != 0 && ok ? t.first_refusal : reply.code);
        if (transactions_.empty()) return StartMessage(connection);
        return WaitForReply(connection);  // the next message is already under way
      }
    }
    if (!pending_.empty()) SendNextCommands(connection);
  }

  void Send(net::Connection& connection, absl::string_view bytes) {
    BlastCounters::Add(shard_.counters().bytes_sent, bytes.size());
    connection.Send(bytes);
  }

  BlastShard& shard_;
  net::LineAssembler lines_;
  net::ReplyParser replies_;
  State state_ = State::kGreeting;
  bool server_pipelining_ = false;
  bool need_rset_ = false;
  bool failed_ = true;  // until OnOpen: a session that never connected ended in failure
  int messages_on_connection_ = 0;
  core::MonoNanos rate_wait_nanos_ = 0;
  std::deque<Transaction> transactions_;  // open transactions, oldest first (at most two)
  std::deque<std::pair<Expect, std::string>> pending_;
  std::deque<Expect> expect_;
};

}  // namespace

BlastShard::BlastShard(core::Shard& shard, const BlastConfig& config, BlastShared& shared,
                       BlastCounters& counters, int connections, const std::string& run_id)
    : shard_(shard),
      config_(config),
      shared_(shared),
      counters_(counters),
      connections_(connections),
      factory_(run_id),
      rng_(config.seed * 7919 + static_cast<uint64_t>(shard.id())) {
  reconnect_timer_.Bind(&BlastShard::OnReconnectTimer, this);
  if (config_.domains > 1 && config_.zipf > 0) {
    // Zipf: P(domain k) ∝ 1 / (k+1)^s — a few domains take most of the mail, as in
    // real bulk traffic.
    double total = 0;
    for (int k = 0; k < config_.domains; ++k) total += 1.0 / std::pow(k + 1, config_.zipf);
    double cumulative = 0;
    for (int k = 0; k < config_.domains; ++k) {
      cumulative += 1.0 / std::pow(k + 1, config_.zipf) / total;
      zipf_cdf_.push_back(cumulative);
    }
  }
}

BlastShard::~BlastShard() { shard_.timers().Cancel(&reconnect_timer_); }

std::unique_ptr<net::Session> BlastShard::NewSession(net::Connection& connection) {
  (void)connection;
  RP_CHECK_MSG(false, "ringpost-blast has no listeners");
  return nullptr;
}

void BlastShard::Start(net::ConnectionTable* table) {
  table_ = table;
  if (connections_ == 0 || !WorkLeft()) return MarkDone();
  Open(connections_);
}

void BlastShard::Open(int count) {
  for (int i = 0; i < count; ++i) {
    ++live_sessions_;
    // On failure (no slot, no socket) the session is dropped at once and its end,
    // a failure, schedules a delayed retry: no recursion, no hot loop.
    if (table_->Connect(config_.target, std::make_unique<BlastSession>(*this)) == nullptr) {
      BlastCounters::Add(counters_.connect_failures, 1);
    }
  }
}

bool BlastShard::WorkLeft() const {
  if (shared_.deadline != 0 && core::MonotonicNowNanos() >= shared_.deadline) return false;
  return config_.messages == 0 || shared_.messages_left.load(std::memory_order_relaxed) > 0;
}

bool BlastShard::ClaimMessage() {
  if (shard_.stopping()) return false;
  if (shared_.deadline != 0 && shard_.now() >= shared_.deadline) return false;
  if (config_.messages == 0) return true;
  return shared_.messages_left.fetch_sub(1, std::memory_order_relaxed) > 0;
}

core::MonoNanos BlastShard::RateDelay(core::MonoNanos now) {
  if (config_.rate <= 0) return 0;
  // Each call reserves the next start slot, slots 1/rate apart (this shard's share):
  // the caller starts its message after the returned delay and never asks again.
  const auto interval = static_cast<core::MonoNanos>(1e9 * shard_.shard_count() / config_.rate);
  if (next_start_nanos_ < now) next_start_nanos_ = now;
  const core::MonoNanos delay = next_start_nanos_ - now;
  next_start_nanos_ += interval;
  return delay;
}

std::string BlastShard::PickRecipient() {
  int domain = 0;
  if (config_.domains > 1) {
    if (zipf_cdf_.empty()) {
      domain = static_cast<int>(rng_() % static_cast<uint64_t>(config_.domains));
    } else {
      const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
      domain = static_cast<int>(std::lower_bound(zipf_cdf_.begin(), zipf_cdf_.end(), u) - zipf_cdf_.begin());
      domain = std::min(domain, config_.domains - 1);
    }
  }
  return absl::StrCat("user", rng_() % 100000, "@", config_.domain_prefix, domain, ".blast.test");
}

std::string BlastShard::NextMessageId() { return factory_.MessageId(shard_.id(), ++message_sequence_); }

void BlastShard::OnAccepted(std::string message_id) {
  if (config_.keep_message_ids) accepted_ids_.push_back(std::move(message_id));
}

void BlastShard::OnSessionEnded(bool failed) {
  --live_sessions_;
  if (failed) BlastCounters::Add(counters_.sessions_failed, 1);
  if (!done_ && WorkLeft() && !shard_.stopping()) {
    // Replace the connection: at once after a clean end, after a pause after a failure
    // (so a dead target is not hammered).
    if (!failed) return Open(1);
    ++reconnects_pending_;
    if (!reconnect_timer_.armed()) {
      shard_.timers().Schedule(&reconnect_timer_, shard_.now() + kReconnectDelayNanos);
    }
    return;
  }
  if (live_sessions_ == 0 && reconnects_pending_ == 0) MarkDone();
}

void BlastShard::MarkDone() {
  if (done_) return;
  done_ = true;
  // The last shard to finish stops the run.
  if (shared_.shards_done.fetch_add(1) + 1 == shard_.shard_count()) shard_.runtime().RequestStop();
}

void BlastShard::OnReconnectTimer(void* self) {
  auto* blast = static_cast<BlastShard*>(self);
  const int count = blast->reconnects_pending_;
  blast->reconnects_pending_ = 0;
  if (blast->WorkLeft() && !blast->shard_.stopping()) {
    blast->Open(count);
  } else if (blast->live_sessions_ == 0) {
    blast->MarkDone();
  }
}

}  // namespace ringpost::blast
