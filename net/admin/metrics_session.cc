#include "net/admin/metrics_session.h"

#include "absl/strings/str_cat.h"
#include "core/shard.h"

namespace ringpost::net {
namespace {

constexpr core::MonoNanos kRequestTimeout = 10 * core::kNanosPerSecond;

std::string Answer(const char* status, absl::string_view content_type, absl::string_view body, bool head_only,
                   absl::string_view extra_headers = "") {
  return absl::StrCat("HTTP/1.0 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\n", extra_headers, "Connection: close\r\n\r\n",
                      head_only ? "" : body);
}

class MetricsSession final : public Session {
 public:
  explicit MetricsSession(const core::MetricsBoard& board) : board_(board) {}
  void OnOpen(Connection& connection) override {
    connection.ArmTimer(connection.shard().now() + kRequestTimeout);
  }
  void OnRecv(Connection& connection, core::BufferLoan bytes) override {
    if (answered_) return;
    const HttpRequestReader::Result result = reader_.Feed(bytes.view());
    if (result == HttpRequestReader::Result::kIncomplete) return;
    answered_ = true;
    connection.CancelTimer();
    connection.Send(MetricsResponse(result, reader_.method(), reader_.path(), board_));
    connection.CloseAfterSend();
  }
  void OnTimer(Connection& connection) override { connection.Close(); }
  // A client that half-closes after its request still gets the answer.
  void OnPeerClosed(Connection& connection) override {
    if (!answered_) connection.Close();
  }

 private:
  const core::MetricsBoard& board_;
  HttpRequestReader reader_;
  bool answered_ = false;
};

}  // namespace

std::string MetricsResponse(HttpRequestReader::Result result, const std::string& method,
                            const std::string& path, const core::MetricsBoard& board) {
  constexpr absl::string_view kText = "text/plain; charset=utf-8";
  switch (result) {
    case HttpRequestReader::Result::kIncomplete:
    case HttpRequestReader::Result::kBad:
      return Answer("400 Bad Request", kText, "bad request\n", false);
    case HttpRequestReader::Result::kTooLarge:
      return Answer("431 Request Header Fields Too Large", kText,
                    "request line over 2 KiB or head over 8 KiB\n", false);
    case HttpRequestReader::Result::kBodyTooLarge:
      return Answer("413 Content Too Large", kText, "request body over 64 KiB\n", false);
    case HttpRequestReader::Result::kOk:
      break;
  }
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    return Answer("405 Method Not Allowed", kText, "GET /metrics\n", false,
                  "Allow: GET, HEAD\r\n");  // RFC 9110 §15.5.6
  }
  if (path != "/metrics") return Answer("404 Not Found", kText, "not found: try /metrics\n", head);
  return Answer("200 OK", "text/plain; version=0.0.4; charset=utf-8", board.RenderPrometheus(), head);
}

std::unique_ptr<Session> MetricsService::NewSession(Connection& connection) {
  (void)connection;
  return std::make_unique<MetricsSession>(board_);
}

}  // namespace ringpost::net
