// The SMTP client engine's per-message work that grows with the body:
//   BM_SmtpClient_CrLfCheck/<body bytes>  IsCrLfClean over a typical body (76-character
//                                         lines), which decides BDAT or DATA for every
//                                         message sent. Bytes/s counts body bytes.
// Budget: a memchr for LF per line plus one for CR within it, like the server's DATA
// path: several GB/s, a small part of relaying a message.
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "net/smtp/line_scan.h"
#include "net/smtp/smtp_client.h"

namespace {

std::string MakeBody(size_t bytes) {
  std::string body = "Subject: benchmark\r\nFrom: a@example.org\r\n\r\n";
  for (size_t line = 0; body.size() < bytes; ++line) {
    absl::StrAppend(&body, std::string(76, static_cast<char>('A' + line % 26)), "\r\n");
  }
  return body;
}

void BM_SmtpClient_CrLfCheck(benchmark::State& state) {
  const std::string body = MakeBody(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    bool clean = ringpost::net::IsCrLfClean(body);
    benchmark::DoNotOptimize(clean);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_SmtpClient_CrLfCheck)->Arg(1024)->Arg(100 * 1024);

}  // namespace

BENCHMARK_MAIN();
