#include "net/admin/admin_session.h"

#include <openssl/mem.h>
#include <sys/socket.h>

#include <algorithm>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/shard.h"
#include "net/admin/admin_request.h"
#include "net/admin/admin_views.h"
#include "net/admin/http_request.h"
#include "net/admin/json_body.h"
#include "queue/schedule/accounting_line.h"

namespace ringpost::net {
namespace {

constexpr core::MonoNanos kRequestTimeout = 10 * core::kNanosPerSecond;
constexpr core::MonoNanos kStalledReaderTimeout = 60 * core::kNanosPerSecond;
constexpr size_t kListPerShard = 256;
constexpr size_t kQueuedBytesMax = 256 * 1024;  // a listing waits for the reader past this
// A listing yields to the mail: after each page it pauses this many times as long as
// the page took to gather (from the request to the shards' answer), so a listing of a
// million queued messages costs a relaying daemon about 5% of its time, and runs
// quickly when the shards are idle.
constexpr int64_t kListPauseFactor = 19;
constexpr core::MonoNanos kListPauseMax = core::kNanosPerSecond;

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
  }
  return "Error";
}

std::string Head(int status, absl::string_view content_type, absl::string_view extra = "") {
  return absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\nContent-Type: ", content_type, "\r\n",
                      extra, "Cache-Control: no-store\r\nConnection: close\r\n");
}

class AdminSession final : public Session {
 public:
  AdminSession(AdminService& service, bool over_limit) : service_(service), over_limit_(over_limit) {
    if (!over_limit_) ++service_.sessions();
  }
  ~AdminSession() override {
    *alive_ = nullptr;
    if (!over_limit_) --service_.sessions();
  }

  void OnOpen(Connection& connection) override {
    connection_ = &connection;
    if (over_limit_) return Respond(503, ErrorBody("too many admin connections; try again", true));
    client_ = connection.peer().family() == AF_UNIX ? "unix" : connection.peer().ToString();
    connection.ArmTimer(connection.shard().now() + kRequestTimeout);
  }

  void OnRecv(Connection& connection, core::BufferLoan bytes) override {
    if (answered_) return;
    const HttpRequestReader::Result result = reader_.Feed(bytes.view());
    if (result == HttpRequestReader::Result::kIncomplete) return;
    answered_ = true;
    connection.CancelTimer();
    switch (result) {
      case HttpRequestReader::Result::kIncomplete:
      case HttpRequestReader::Result::kOk:
        break;
      case HttpRequestReader::Result::kBad:
        return Respond(400, ErrorBody("not an HTTP/1.1 request"));
      case HttpRequestReader::Result::kTooLarge:
        return Respond(431, ErrorBody("request line over 2 KiB or head over 8 KiB"));
      case HttpRequestReader::Result::kBodyTooLarge:
        return Respond(413, ErrorBody("request body over 64 KiB"));
    }
    Handle();
  }

  void OnSendDrained(Connection& connection) override {
    (void)connection;
    if (listing_ && waiting_for_reader_) {
      waiting_for_reader_ = false;
      PauseThenNextPage();
    }
  }

  // The client gave up (a half-close after the request is fine: the answer still goes).
  void OnPeerClosed(Connection& connection) override {
    if (!answered_ || connection.broken()) connection.Close();
  }

  void OnTimer(Connection& connection) override {
    if (!pausing_) return connection.Close();  // a request or a reader that stalled
    pausing_ = false;
    NextPage();
  }

 private:
  void Handle() {
    auto params = ParseQueryString(reader_.query());
    if (params.ok()) {
      for (const auto& [name, value] : *params) {
        if (name == "format" && value == "text") text_ = true;  // errors too are text then
      }
    }
    if (!service_.token().empty() && !Authorized()) {
      return Respond(401, ErrorBody("needs Authorization: Bearer <token> (--admin_token_file)", text_),
                     "WWW-Authenticate: Bearer realm=\"ringpost\"\r\n");
    }
    if (!params.ok()) return Respond(400, ErrorBody(std::string(params.status().message()), text_));
    if (!reader_.body().empty()) {
      auto fields = ParseFlatJsonObject(reader_.body());
      if (!fields.ok()) return Respond(400, ErrorBody(std::string(fields.status().message()), text_));
      params->insert(params->end(), fields->begin(), fields->end());
    }
    auto parsed = ParseAdminRequest(reader_.method(), reader_.path(), *params);
    if (auto* error = std::get_if<AdminError>(&parsed))
      return Respond(error->status, ErrorBody(error->message, text_));
    request_ = std::get<AdminRequest>(std::move(parsed));
    text_ = request_.text;
    Dispatch();
  }

  bool Authorized() const {
    constexpr absl::string_view kBearer = "Bearer ";
    const std::string& given = reader_.authorization();
    if (given.size() != kBearer.size() + service_.token().size() || !absl::StartsWith(given, kBearer)) {
      return false;
    }
    // Constant time: the comparison says nothing about how much of a guess was right.
    return CRYPTO_memcmp(given.data() + kBearer.size(), service_.token().data(), service_.token().size()) ==
           0;
  }

  // A callback that runs only if this session still exists.
  template <typename F>
  auto Guarded(F f) {
    return [alive = alive_, f = std::move(f)](auto&&... args) mutable {
      if (*alive != nullptr) f(std::forward<decltype(args)>(args)...);
    };
  }

  void Dispatch() {
    QueueControl& control = service_.control();
    const queue::JobFilter& filter = request_.filter;
    switch (request_.verb) {
      case AdminVerb::kSummary:
        return control.Summary(request_.top, Guarded([this](std::vector<queue::DomainSummary> domains) {
                                 const absl::Time now = absl::Now();
                                 Respond(200, text_ ? SummaryText(domains, now) : SummaryJson(domains, now));
                               }));
      case AdminVerb::kSuspensions:
        return control.Suspensions(Guarded([this](std::vector<queue::Suspension> suspensions) {
          Respond(200, text_ ? SuspensionsText(suspensions) : SuspensionsJson(suspensions));
        }));
      case AdminVerb::kList:
        listing_ = true;
        connection_->Send(
            absl::StrCat(Head(200, text_ ? "text/plain; charset=utf-8" : "application/x-ndjson"), "\r\n",
                         text_ ? JobTextHeader() : ""));
        return NextPage();
      case AdminVerb::kShow:
        return control.Show(filter.queue_id, Guarded([this](std::vector<queue::JobView> jobs,
                                                            absl::StatusOr<queue::Envelope> envelope) {
                              if (jobs.empty()) return NotQueued();
                              const absl::Time now = absl::Now();
                              const queue::Envelope* e = envelope.ok() ? &*envelope : nullptr;
                              Respond(200, text_ ? ShowText(jobs, e, now) : ShowJson(jobs, e, now));
                            }));
      case AdminVerb::kBody:
        return control.Body(filter.queue_id, Guarded([this](absl::StatusOr<std::string> body) {
                              if (absl::IsNotFound(body.status())) return NotQueued();
                              if (!body.ok())
                                return Respond(500, ErrorBody(std::string(body.status().message()), text_));
                              connection_->Send(absl::StrCat(Head(200, "message/rfc822"),
                                                             "Content-Length: ", body->size(), "\r\n\r\n"));
                              connection_->Send(*body);
                              connection_->CloseAfterSend();
                            }));
      case AdminVerb::kSuspend: {
        const absl::Time until = absl::Now() + request_.duration;
        return control.Suspend(
            filter.domain, until, request_.reason, Guarded([this, until](absl::Status status) {
              if (!status.ok()) return Respond(500, ErrorBody(std::string(status.message()), text_));
              CommandOutcome outcome{"suspend", 0, 0, request_.filter.domain, until, request_.reason};
              Account(outcome);
              Respond(200, text_ ? CommandText(outcome) : CommandJson(outcome));
            }));
      }
      case AdminVerb::kResume:
        return control.Resume(
            filter.domain, Guarded([this](bool found, absl::Status status) {
              if (!status.ok()) return Respond(500, ErrorBody(std::string(status.message()), text_));
              if (!found) {
                return Respond(404,
                               ErrorBody(absl::StrCat(request_.filter.domain, " is not suspended"), text_));
              }
              CommandOutcome outcome{"resume", 0, 0, request_.filter.domain, absl::InfinitePast(), ""};
              Account(outcome);
              Respond(200, text_ ? CommandText(outcome) : CommandJson(outcome));
            }));
      case AdminVerb::kFlush:
        return control.Flush(filter, Guarded([this](QueueControl::Counts counts) {
                               Done("flush", counts, absl::OkStatus());
                             }));
      case AdminVerb::kHold:
      case AdminVerb::kRelease:
      case AdminVerb::kDelete:
      case AdminVerb::kBounce: {
        const queue::AdminCommand command =
            request_.verb == AdminVerb::kHold      ? queue::AdminCommand::kHold
            : request_.verb == AdminVerb::kRelease ? queue::AdminCommand::kRelease
            : request_.verb == AdminVerb::kDelete  ? queue::AdminCommand::kDelete
                                                   : queue::AdminCommand::kBounce;
        return control.Apply(command, filter, request_.reason,
                             Guarded([this](QueueControl::Counts counts, absl::Status status) {
                               Done(AdminVerbName(request_.verb), counts, status);
                             }));
      }
    }
  }

  void Done(const std::string& action, QueueControl::Counts counts, const absl::Status& status) {
    if (status.ok() && counts.jobs == 0 && !request_.filter.queue_id.empty()) return NotQueued();
    CommandOutcome outcome{action, counts.jobs, counts.recipients, "", absl::InfinitePast(), request_.reason};
    Account(outcome);
    if (!status.ok()) return Respond(500, ErrorBody(std::string(status.message()), text_));
    Respond(200, text_ ? CommandText(outcome) : CommandJson(outcome));
  }

  void NotQueued() { Respond(404, ErrorBody(NotQueuedText(request_.filter.queue_id), text_)); }

  // The accounting log's admin record: what was done, to how many.
  void Account(const CommandOutcome& outcome) {
    queue::AdminEntry entry;
    entry.time = absl::Now();
    entry.action = outcome.action;
    entry.queue_id = request_.filter.queue_id;
    entry.domain = request_.filter.domain;
    entry.sender = request_.filter.sender;
    entry.older_than = request_.filter.older_than;
    entry.all = request_.all;
    entry.reason = request_.reason;
    if (outcome.action == "suspend") entry.until = outcome.until;
    entry.jobs = outcome.jobs;
    entry.recipients = outcome.recipients;
    entry.client = client_;
    std::string line;
    queue::AppendAdminLine(entry, &line);
    service_.control().Account(line);
    RP_LOG(kInfo) << "admin " << outcome.action << " by " << client_ << ": "
                  << line.substr(0, line.size() - 1);
  }

  void NextPage() {
    page_asked_ = connection_->shard().now();
    service_.control().List(
        request_.filter, cursor_, kListPerShard, Guarded([this](QueueControl::Page page) {
          const absl::Time now = absl::Now();
          std::string out;
          for (const queue::JobView& job : page.jobs) {
            if (listed_ == request_.limit) break;
            ++listed_;
            text_ ? AppendJobText(job, now, &out) : AppendJobJson(job, now, &out);
          }
          connection_->Send(out);
          cursor_ = std::move(page.next);
          if (page.end || listed_ == request_.limit) {
            if (text_) connection_->Send(absl::StrCat(listed_, listed_ == 1 ? " job\n" : " jobs\n"));
            return connection_->CloseAfterSend();
          }
          page_took_ = connection_->shard().now() - page_asked_;
          if (connection_->queued_bytes() > kQueuedBytesMax) {
            connection_->ArmTimer(connection_->shard().now() + kStalledReaderTimeout);
            waiting_for_reader_ = true;  // OnSendDrained asks for the next page
          } else {
            PauseThenNextPage();
          }
        }));
  }

  void PauseThenNextPage() {
    pausing_ = true;
    const core::MonoNanos pause = std::min(page_took_ * kListPauseFactor, kListPauseMax);
    connection_->ArmTimer(connection_->shard().now() + std::max<core::MonoNanos>(pause, 1));
  }

  void Respond(int status, const std::string& body, absl::string_view extra = "") {
    const char* type = text_ || status == 503 ? "text/plain; charset=utf-8" : "application/json";
    connection_->Send(
        absl::StrCat(Head(status, type, extra), "Content-Length: ", body.size(), "\r\n\r\n", body));
    connection_->CloseAfterSend();
  }

  AdminService& service_;
  const bool over_limit_;
  std::shared_ptr<AdminSession*> alive_ = std::make_shared<AdminSession*>(this);
  Connection* connection_ = nullptr;
  HttpRequestReader reader_;
  AdminRequest request_;
  std::string client_;
  bool answered_ = false;
  bool text_ = false;
  // A listing in progress.
  bool listing_ = false;
  bool waiting_for_reader_ = false;
  bool pausing_ = false;  // the timer asks for the next page
  core::MonoNanos page_asked_ = 0;
  core::MonoNanos page_took_ = 0;
  std::vector<queue::JobId> cursor_;
  size_t listed_ = 0;
};

}  // namespace

std::unique_ptr<Session> AdminService::NewSession(Connection& connection) {
  (void)connection;
  return std::make_unique<AdminSession>(*this, sessions_ >= kAdminSessionsMax);
}

}  // namespace ringpost::net
