#include "tools/sink/sink_session.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/check.h"
#include "net/smtp/data_reader.h"
#include "net/smtp/line_assembler.h"
#include "net/smtp/smtp_command.h"
#include "tools/sink/message_recorder.h"

namespace ringpost::sink {
namespace {

constexpr size_t kCommandLineBytesMax = 4096;

std::string JsonEscape(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += absl::StrCat("\\u00", c < 16 ? "0" : "", absl::Hex(c));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

class SinkSession final : public net::Session {
 public:
  explicit SinkSession(SinkService& service)
      : service_(service), lines_(kCommandLineBytesMax), data_(net::BareLineEndings::kNormalize) {
    service_.shared().Open();
  }
  ~SinkSession() override { service_.shared().Close(); }

  void OnOpen(net::Connection& connection) override {
    SinkCounters::Add(service_.counters().connections_total, 1);
    connection.Send(absl::StrCat("220 ", service_.config().hostname, " ESMTP ringpost-sink\r\n"));
  }

  void OnRecv(net::Connection& connection, core::BufferLoan bytes) override {
    input_.push_back(std::move(bytes));
    Process(connection);
  }

  void OnTimer(net::Connection& connection) override {
    // The delayed answer to the final dot is due.
    connection.Send(delayed_reply_);
    delayed_reply_.clear();
    blocked_ = false;
    Process(connection);
  }

 private:
  enum class Mode { kCommand, kData, kBdat, kSilent };
  const FaultConfig& faults() const { return service_.config().faults; }

  void OnTlsReady(net::Connection& connection) override {
    (void)connection;
    SinkCounters::Add(service_.counters().tls_handshakes, 1);
    helo_.clear();  // RFC 3207 §4.2: the client starts over with EHLO
    ResetTransaction();
  }

  void Process(net::Connection& connection) {
    while (!input_.empty() && !blocked_ && !connection.closing()) {
      absl::string_view available = input_.front().view().substr(offset_);
      offset_ += Consume(connection, available);
      if (offset_ == input_.front().size()) {
        input_.pop_front();  // the receive buffer goes back to the ring
        offset_ = 0;
      }
      if (starting_tls_) {
        // CVE-2011-0411: plaintext behind STARTTLS is dropped, buffered or not.
        starting_tls_ = false;
        input_.clear();
        offset_ = 0;
        lines_.Reset();
        connection.StartTls(net::TlsChannel::NewServer(service_.config().tls));
      }
    }
  }

  size_t Consume(net::Connection& connection, absl::string_view available) {
    switch (mode_) {
      case Mode::kSilent:
        return available.size();  // heard, never answered
      case Mode::kData: {
        const size_t used = data_.Consume(available, [&](absl::string_view piece) { Record(piece); });
        if (data_.done()) FinishMessage(connection, data_.body_bytes());
        return used;
      }
      case Mode::kBdat: {
        const size_t used = static_cast<size_t>(std::min<uint64_t>(bdat_remaining_, available.size()));
        Record(available.substr(0, used));
        body_bytes_ += used;
        bdat_remaining_ -= used;
        if (bdat_remaining_ == 0) FinishChunk(connection);
        return used;
      }
      case Mode::kCommand:
        break;
    }
    absl::string_view rest = available;
    absl::string_view line;
    while (mode_ == Mode::kCommand && !blocked_ && !connection.closing() && !starting_tls_) {
      const auto result = lines_.Next(&rest, &line);
      if (result == net::LineAssembler::Result::kNeedMore) break;
      if (result == net::LineAssembler::Result::kTooLong) {
        Reply(connection, "500 5.5.2 Line too long\r\n");
        continue;
      }
      if (login_.in_exchange()) {
        Reply(connection, login_.OnResponse(line));
        continue;
      }
      OnCommand(connection, line);
    }
    return available.size() - rest.size();
  }

  void Reply(net::Connection& connection, absl::string_view reply) {
    if (reply[0] == '4') SinkCounters::Add(service_.counters().replies_4xx, 1);
    if (reply[0] == '5') SinkCounters::Add(service_.counters().replies_5xx, 1);
    connection.Send(reply);
  }

  bool InjectDisconnect(net::Connection& connection, absl::string_view at) {
    if (faults().disconnect_at != at || !service_.Chance(faults().disconnect_rate)) return false;
    SinkCounters::Add(service_.counters().disconnects_injected, 1);
    connection.Close();
    return true;
  }

  std::string HugeReplyPrefix(absl::string_view at, int code) {
    if (faults().huge_reply_lines == 0 || faults().huge_reply_at != at) return "";
    std::string prefix;
    for (uint32_t i = 0; i < faults().huge_reply_lines; ++i) {
      absl::StrAppend(&prefix, code, "-X-FILLER line ", i, " of a deliberately huge reply\r\n");
    }
    return prefix;
  }

  void ResetTransaction() {
    has_mail_ = false;
    mail_from_.clear();
    rcpts_.clear();
    mail_params_.clear();
    rcpt_params_.clear();
  }

  // The ESMTP parameters as "KEY=VALUE KEY2", for the record.
  static std::string ParamsText(const net::PathArgument& path) {
    std::string text;
    for (const net::EsmtpParam& p : path.params) {
      absl::StrAppend(&text, text.empty() ? "" : " ", p.keyword, p.has_value ? "=" : "", p.value);
    }
    return text;
  }

  void OnCommand(net::Connection& connection, absl::string_view line) {
    const net::SmtpCommand command = net::ParseCommand(line);
    switch (command.verb) {
      case net::SmtpVerb::kEhlo:
        helo_ = std::string(command.argument);
        ResetTransaction();
        Reply(connection,
              absl::StrCat(
                  HugeReplyPrefix("ehlo", 250), "250-", service_.config().hostname,
                  "\r\n250-PIPELINING\r\n250-SIZE\r\n250-8BITMIME\r\n"
                  "250-ENHANCEDSTATUSCODES\r\n",
                  !service_.config().users.empty() && connection.tls() != nullptr ? "250-AUTH PLAIN LOGIN\r\n"
                                                                                  : "",
                  service_.config().smtputf8 ? "250-SMTPUTF8\r\n" : "",
                  service_.config().dsn ? "250-DSN\r\n" : "",
                  service_.config().tls != nullptr && connection.tls() == nullptr ? "250-STARTTLS\r\n" : "",
                  "250 CHUNKING\r\n"));
        return;
      case net::SmtpVerb::kHelo:
        helo_ = std::string(command.argument);
        ResetTransaction();
        Reply(connection, absl::StrCat("250 ", service_.config().hostname, "\r\n"));
        return;
      case net::SmtpVerb::kMail: {
        if (!service_.config().users.empty() && login_.user().empty()) {
          return Reply(connection, "530 5.7.0 Authentication required\r\n");
        }
        auto path = net::ParseMailFrom(command.argument);
        if (!path.ok()) return Reply(connection, "501 5.1.7 Bad sender address syntax\r\n");
        ResetTransaction();
        has_mail_ = true;
        mail_from_ = path->path.mailbox;
        mail_params_ = ParamsText(*path);
        return Reply(connection, "250 2.1.0 Ok\r\n");
      }
      case net::SmtpVerb::kRcpt:
        return OnRcpt(connection, command.argument);
      case net::SmtpVerb::kData:
        if (!has_mail_) return Reply(connection, "503 5.5.1 MAIL first\r\n");
        if (rcpts_.empty()) return Reply(connection, "554 5.5.1 No valid recipients\r\n");
        if (InjectDisconnect(connection, "data")) return;
        StartMessage();
        mode_ = Mode::kData;
        data_.Reset();
        return Reply(connection, "354 End data with <CR><LF>.<CR><LF>\r\n");
      case net::SmtpVerb::kBdat:
        return OnBdat(connection, command.argument);
      case net::SmtpVerb::kRset:
        ResetTransaction();
        return Reply(connection, "250 2.0.0 Ok\r\n");
      case net::SmtpVerb::kNoop:
        return Reply(connection, "250 2.0.0 Ok\r\n");
      case net::SmtpVerb::kVrfy:
        return Reply(connection, "252 2.1.5 Cannot VRFY, send some mail\r\n");
      case net::SmtpVerb::kQuit:
        Reply(connection, "221 2.0.0 Bye\r\n");
        connection.CloseAfterSend();
        mode_ = Mode::kSilent;
        return;
      case net::SmtpVerb::kHelp:
        return Reply(connection, "214 2.0.0 ringpost-sink: EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT\r\n");
      case net::SmtpVerb::kStartTls:
        if (service_.config().tls == nullptr || connection.tls() != nullptr) {
          return Reply(connection, "454 4.7.0 TLS not available\r\n");
        }
        Reply(connection, "220 2.0.0 Ready to start TLS\r\n");
        starting_tls_ = true;  // Process starts the handshake once this line is consumed
        return;
      case net::SmtpVerb::kAuth:
        return Reply(connection, login_.OnAuth(command.argument, connection.tls() != nullptr));
      case net::SmtpVerb::kExpn:
        return Reply(connection, "502 5.5.1 Not implemented\r\n");
      case net::SmtpVerb::kUnknown:
        return Reply(connection, "500 5.5.1 Unknown command\r\n");
    }
  }

  void OnRcpt(net::Connection& connection, absl::string_view argument) {
    if (!has_mail_) return Reply(connection, "503 5.5.1 MAIL first\r\n");
    auto path = net::ParseRcptTo(argument);
    if (!path.ok()) return Reply(connection, "501 5.1.3 Bad recipient address syntax\r\n");
    if (InjectDisconnect(connection, "rcpt")) return;
    const std::string& rcpt = path->path.mailbox;
    if (!faults().tempfail_pattern.empty() && rcpt.find(faults().tempfail_pattern) != std::string::npos) {
      uint32_t& count = service_.TempfailCount(rcpt);
      if (count < faults().tempfail_times) {
        ++count;
        return Reply(connection, absl::StrCat(faults().tempfail_reply, "\r\n"));
      }
    }
    if (service_.Chance(faults().rcpt_tempfail_rate)) {
      return Reply(connection, "451 4.3.0 sink: injected temporary failure\r\n");
    }
    if (service_.Chance(faults().rcpt_permfail_rate)) {
      return Reply(connection, "550 5.1.1 sink: injected permanent failure\r\n");
    }
    rcpts_.push_back(rcpt);
    rcpt_params_.push_back(ParamsText(*path));
    Reply(connection, absl::StrCat(HugeReplyPrefix("rcpt", 250), "250 2.1.5 Ok\r\n"));
  }

  void OnBdat(net::Connection& connection, absl::string_view argument) {
    // RFC 3030: BDAT <size> [LAST]; the chunk follows the command line immediately.
    const size_t space = argument.find(' ');
    uint64_t size = 0;
    if (!absl::SimpleAtoi(argument.substr(0, space), &size)) {
      return Reply(connection, "501 5.5.4 BDAT needs a size\r\n");
    }
    bdat_last_ =
        space != absl::string_view::npos && absl::EqualsIgnoreCase(argument.substr(space + 1), "LAST");
    if (!bdat_started_) {
      if (!has_mail_ || rcpts_.empty()) {
        // The chunk must still be read and dropped to stay in sync.
        bdat_discard_ = true;
      } else {
        StartMessage();
        bdat_discard_ = false;
      }
      bdat_started_ = true;
    }
    bdat_remaining_ = size;
    mode_ = Mode::kBdat;
    if (size == 0) FinishChunk(connection);
  }

  void FinishChunk(net::Connection& connection) {
    mode_ = Mode::kCommand;
    if (!bdat_last_) {
      if (bdat_discard_) return Reply(connection, "503 5.5.1 No valid transaction\r\n");
      return Reply(connection, absl::StrCat("250 2.0.0 Ok: ", body_bytes_, " octets\r\n"));
    }
    bdat_started_ = false;
    if (bdat_discard_) return Reply(connection, "503 5.5.1 No valid transaction\r\n");
    FinishMessage(connection, body_bytes_);
  }

  void StartMessage() {
    body_bytes_ = 0;
    if (!service_.config().record_dir.empty()) {
      recorder_ = std::make_unique<MessageRecorder>(service_.config().record_dir, service_.NextMessageName());
    }
  }

  void Record(absl::string_view piece) {
    if (recorder_) recorder_->Append(piece);
  }

  void FinishMessage(net::Connection& connection, uint64_t body) {
    mode_ = Mode::kCommand;
    std::unique_ptr<MessageRecorder> recorder = std::move(recorder_);
    std::vector<std::string> rcpts = std::move(rcpts_);
    const std::string mail_from = std::move(mail_from_);
    const std::string mail_params = std::move(mail_params_);
    const std::vector<std::string> rcpt_params = std::move(rcpt_params_);
    ResetTransaction();
    data_.Reset();
    if (InjectDisconnect(connection, "dot")) return;
    if (service_.Chance(faults().silent_after_data_rate)) {
      SinkCounters::Add(service_.counters().silences_injected, 1);
      mode_ = Mode::kSilent;
      return;
    }
    std::string reply;
    if (service_.Chance(faults().data_tempfail_rate)) {
      reply = "451 4.3.0 sink: injected temporary failure after DATA\r\n";
    } else if (service_.Chance(faults().data_permfail_rate)) {
      reply = "554 5.6.0 sink: injected permanent failure after DATA\r\n";
    } else {
      const std::string name = recorder ? recorder->name() : service_.NextMessageName();
      reply = absl::StrCat(HugeReplyPrefix("dot", 250), "250 2.0.0 Ok: queued as ", name, "\r\n");
      SinkCounters::Add(service_.counters().messages, 1);
      SinkCounters::Add(service_.counters().recipients, rcpts.size());
      SinkCounters::Add(service_.counters().bytes, body);
      if (recorder) {
        std::vector<std::string> quoted;
        for (const auto& r : rcpts) quoted.push_back(absl::StrCat("\"", JsonEscape(r), "\""));
        std::vector<std::string> quoted_params;
        for (const auto& p : rcpt_params) quoted_params.push_back(absl::StrCat("\"", JsonEscape(p), "\""));
        // The peer's address: which source address a sending MTA bound.
        recorder->Commit(absl::StrCat("{\"peer\":\"", JsonEscape(connection.peer().HostString()),
                                      "\",\"helo\":\"", JsonEscape(helo_), "\",\"mail_from\":\"",
                                      JsonEscape(mail_from), "\",\"rcpt_to\":[", absl::StrJoin(quoted, ","),
                                      "],\"mail_params\":\"", JsonEscape(mail_params), "\",\"rcpt_params\":[",
                                      absl::StrJoin(quoted_params, ","), "],\"auth_user\":\"",
                                      JsonEscape(login_.user()), "\",\"size\":", body, "}\n"));
      }
    }
    if (reply[0] == '4') SinkCounters::Add(service_.counters().replies_4xx, 1);
    if (reply[0] == '5') SinkCounters::Add(service_.counters().replies_5xx, 1);
    if (faults().data_delay_ms > 0) {
      delayed_reply_ = std::move(reply);
      blocked_ = true;
      connection.ArmTimer(connection.shard().now() + int64_t{faults().data_delay_ms} * core::kNanosPerMilli);
      return;
    }
    connection.Send(reply);
  }

  SinkService& service_;
  net::LineAssembler lines_;
  net::DataReader data_;
  Mode mode_ = Mode::kCommand;
  std::deque<core::BufferLoan> input_;
  size_t offset_ = 0;
  bool blocked_ = false;
  bool starting_tls_ = false;
  std::string delayed_reply_;
  std::string helo_;
  bool has_mail_ = false;
  std::string mail_from_;
  std::vector<std::string> rcpts_;
  std::string mail_params_;               // as received, for the record
  SinkLogin login_{service_.config().users};
  std::vector<std::string> rcpt_params_;  // each recipient's
  uint64_t body_bytes_ = 0;
  uint64_t bdat_remaining_ = 0;
  bool bdat_last_ = false;
  bool bdat_started_ = false;
  bool bdat_discard_ = false;
  std::unique_ptr<MessageRecorder> recorder_;
};

}  // namespace

SinkService::SinkService(const SinkConfig& config, SinkCounters& counters, SinkShared& shared, int shard_id)
    : config_(config),
      counters_(counters),
      shared_(shared),
      shard_id_(shard_id),
      rng_(config.seed * 1000003 + static_cast<uint64_t>(shard_id)) {}

std::unique_ptr<net::Session> SinkService::NewSession(net::Connection& connection) {
  (void)connection;
  return std::make_unique<SinkSession>(*this);
}

void SinkService::RejectOverLimit(int fd) {
  static constexpr char kBusy[] = "421 4.7.0 sink: too many connections\r\n";
  ssize_t ignored = send(fd, kBusy, sizeof(kBusy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)ignored;
}

bool SinkService::Chance(double rate) {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < rate;
}

std::string SinkService::NextMessageName() { return absl::StrCat("S", shard_id_, "-", ++next_message_); }

}  // namespace ringpost::sink
