// The per-message scans that grow with the body, over a typical body (76-character
// lines, one in 50 starting with a dot), per instruction set (0 portable, 1 SSE2,
// 2 AVX2, 3 AVX-512BW; one this CPU lacks is skipped). Bytes/s counts body bytes.
//   BM_LineScan_CrLfCheck/<isa>/<body bytes>   IsCrLfClean, which decides BDAT or DATA
//                                              for every message sent
//   BM_LineScan_PlainLines/<isa>/<body bytes>  PlainLinesEnd from each stop to the next,
//                                              the DATA reader's fast path
// Budget: a few instructions per 64 bytes, so well over 5 GB/s: a small part of
// relaying a message.
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "net/smtp/line_scan.h"

namespace {

using ringpost::net::ScanIsa;

std::string MakeBody(size_t bytes) {
  std::string body = "Subject: benchmark\r\nFrom: a@example.org\r\n\r\n";
  for (size_t line = 0; body.size() < bytes; ++line) {
    absl::StrAppend(&body, line % 50 == 0 ? "." : "", std::string(76, static_cast<char>('A' + line % 26)),
                    "\r\n");
  }
  return body;
}

bool Skipped(benchmark::State& state, ScanIsa isa) {
  if (ringpost::net::ScanIsaSupported(isa)) return false;
  state.SkipWithError("this CPU lacks the instruction set");
  return true;
}

void BM_LineScan_CrLfCheck(benchmark::State& state) {
  const auto isa = static_cast<ScanIsa>(state.range(0));
  if (Skipped(state, isa)) return;
  const std::string body = MakeBody(static_cast<size_t>(state.range(1)));
  for (auto _ : state) {
    bool clean = ringpost::net::IsCrLfClean(body, isa);
    benchmark::DoNotOptimize(clean);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_LineScan_PlainLines(benchmark::State& state) {
  const auto isa = static_cast<ScanIsa>(state.range(0));
  if (Skipped(state, isa)) return;
  const std::string body = MakeBody(static_cast<size_t>(state.range(1)));
  for (auto _ : state) {
    size_t at = 0;
    // Each stop is the CRLF before a dotted line (or the end): go on past it.
    while (at < body.size()) at += ringpost::net::PlainLinesEnd(absl::string_view(body).substr(at), isa) + 2;
    benchmark::DoNotOptimize(at);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

BENCHMARK(BM_LineScan_CrLfCheck)->ArgsProduct({{0, 1, 2, 3}, {1024, 100 * 1024}});
BENCHMARK(BM_LineScan_PlainLines)->ArgsProduct({{0, 1, 2, 3}, {1024, 100 * 1024}});

}  // namespace

BENCHMARK_MAIN();
