// The metrics endpoint (DESIGN.md --metrics_listen): the HTTP/1.x request head reader
// (RFC 9112 §2-3) with its limits, the answers, and the Prometheus text (exposition
// format 0.0.4) the shards' board renders.
#include "net/admin/http_request.h"

#include <string>

#include "core/metrics.h"
#include "gtest/gtest.h"
#include "net/admin/metrics_session.h"

namespace ringpost::net {
namespace {

using Result = HttpRequestReader::Result;

TEST(HttpRequestReaderTest, Rfc9112_RequestLineInPiecesThenHeaders) {
  HttpRequestReader reader;
  const std::string request = "GET /metrics?debug=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
  for (size_t i = 0; i + 1 < request.size(); ++i) {
    ASSERT_EQ(reader.Feed(request.substr(i, 1)), Result::kIncomplete) << i;
  }
  EXPECT_EQ(reader.Feed(request.substr(request.size() - 1)), Result::kOk);
  EXPECT_EQ(reader.method(), "GET");
  EXPECT_EQ(reader.path(), "/metrics");
  EXPECT_EQ(reader.Feed("more bytes"), Result::kOk);  // one request per connection
  HttpRequestReader bare_lf;
  EXPECT_EQ(bare_lf.Feed("HEAD / HTTP/1.0\n\n"), Result::kOk);
  EXPECT_EQ(bare_lf.method(), "HEAD");
}

TEST(HttpRequestReaderTest, HostileHeadsAreRefused) {
  for (const char* bad :
       {"GET /metrics\r\n\r\n", "get /metrics HTTP/1.1\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/2\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n", "GET /met\x01rics HTTP/1.1\r\n\r\n",
        "EHLO client.example\r\n\r\n", "VERYVERYLONGMETHODNAME / HTTP/1.1\r\n\r\n", "\r\n\r\n"}) {
    HttpRequestReader reader;
    EXPECT_EQ(reader.Feed(bad), Result::kBad) << bad;
  }
  // No blank line within 8 KiB: 431, however the bytes come.
  HttpRequestReader reader;
  EXPECT_EQ(reader.Feed("GET /metrics HTTP/1.1\r\n"), Result::kIncomplete);
  Result result = Result::kIncomplete;
  for (int i = 0; i < 100 && result == Result::kIncomplete; ++i) result = reader.Feed(std::string(1000, 'a'));
  EXPECT_EQ(result, Result::kTooLarge);
  HttpRequestReader long_target;
  EXPECT_EQ(long_target.Feed("GET /" + std::string(3000, 'a') + " HTTP/1.1\r\n\r\n"), Result::kTooLarge);
}

TEST(MetricsResponseTest, StatusCodesAndThePrometheusText) {
  core::MetricsBoard board(2);
  board.Set(0, core::Metric::kLogSyncs, 5);
  board.Set(1, core::Metric::kLogSyncs, 7);
  board.Set(1, core::Metric::kConnectionsOpen, 3);
  EXPECT_EQ(board.Sum(core::Metric::kLogSyncs), 12u);
  const std::string ok = MetricsResponse(Result::kOk, "GET", "/metrics", board);
  EXPECT_EQ(ok.rfind("HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4", 0), 0u) << ok;
  EXPECT_NE(ok.find("\r\n\r\n# HELP ringpost_"), std::string::npos);
  EXPECT_NE(ok.find("# TYPE ringpost_log_syncs_total counter\nringpost_log_syncs_total 12\n"),
            std::string::npos);
  EXPECT_NE(ok.find("# TYPE ringpost_connections_open gauge\nringpost_connections_open 3\n"),
            std::string::npos);
  const std::string body = ok.substr(ok.find("\r\n\r\n") + 4);
  EXPECT_NE(ok.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
  // Every counter ends in _total, no gauge does (DESIGN.md).
  for (size_t i = 0; i < core::kMetricCount; ++i) {
    const core::MetricInfo& info = core::InfoOf(static_cast<core::Metric>(i));
    const std::string name = info.name;
    EXPECT_EQ(name.size() > 6 && name.substr(name.size() - 6) == "_total", info.counter) << name;
  }
  const std::string head = MetricsResponse(Result::kOk, "HEAD", "/metrics", board);
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "");
  EXPECT_EQ(MetricsResponse(Result::kOk, "GET", "/", board).rfind("HTTP/1.0 404 ", 0), 0u);
  const std::string post = MetricsResponse(Result::kOk, "POST", "/metrics", board);
  EXPECT_EQ(post.rfind("HTTP/1.0 405 ", 0), 0u);
  EXPECT_NE(post.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);  // RFC 9110 §15.5.6
  EXPECT_EQ(MetricsResponse(Result::kBad, "", "", board).rfind("HTTP/1.0 400 ", 0), 0u);
  EXPECT_EQ(MetricsResponse(Result::kTooLarge, "", "", board).rfind("HTTP/1.0 431 ", 0), 0u);
}

}  // namespace
}  // namespace ringpost::net
