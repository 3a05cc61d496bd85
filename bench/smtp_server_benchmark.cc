// The SMTP server engine's hot paths, without sockets or disk:
//   BM_SmtpServer_Data/<body bytes>  whole transactions (MAIL, RCPT, DATA, body, dot),
//                                    fed in 16 KiB receive-buffer-sized chunks; the
//                                    handler copies every body byte once, as the log's
//                                    staging copy does. Bytes/s counts body bytes.
//   BM_SmtpServer_Commands           pipelined MAIL/RCPT/RSET lines: commands/s.
// Target: at least 2 GB/s of DATA per core.
// Budget: the DATA path is one 64-bytes-at-a-time scan for line ends (line_scan.h), a
// memrchr per ~1,000 bytes for the line-length limit, a view per run of ordinary
// bytes (adjacent views joined), and one gathered copy per chunk: about 1.5 passes
// over the bytes, so 2 GB/s leaves room on a ~10 GB/s memcpy core.
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "net/inbound/relay_policy.h"
#include "net/smtp/smtp_server.h"
#include "tests/support/smtp_memory_handler.h"

namespace {

using ringpost::net::SmtpServer;

constexpr size_t kRecvBufferBytes = 16384;

// Typical mail: 76-character lines (RFC 2045 base64 line length), some starting with a dot.
std::string MakeBody(size_t bytes) {
  std::string body = "Subject: benchmark\r\nFrom: a@example.org\r\n\r\n";
  size_t line = 0;
  while (body.size() < bytes) {
    std::string text(76, static_cast<char>('A' + line % 26));
    if (line % 50 == 0) text[0] = '.';  // stuffed on the wire: "..AAA"
    absl::StrAppend(&body, text[0] == '.' ? "." : "", text, "\r\n");
    ++line;
  }
  return body;
}

struct Engine {
  Engine() : relay(*ringpost::net::RelayPolicy::Parse("0.0.0.0/0", "", "")) {
    options.hostname = "mx.test";
    options.message_bytes_max = 1ull << 30;
    engine = std::make_unique<SmtpServer>(options, relay, ringpost::net::SmtpClientInfo{"192.0.2.1", true},
                                          handler);
    handler.engine = engine.get();
    handler.keep_bodies = false;  // one copy into a reused buffer, like the log's staging
    engine->Greet();
    Feed("EHLO bench.example\r\n");
    engine->TakeOutput();
  }
  void Feed(absl::string_view bytes) {
    while (!bytes.empty()) {
      const size_t n = std::min(bytes.size(), kRecvBufferBytes);
      size_t used = 0;
      while (used < n) used += engine->Feed(bytes.substr(used, n - used), absl::UnixEpoch());
      bytes.remove_prefix(n);
    }
  }
  ringpost::net::SmtpServerOptions options;
  ringpost::net::RelayPolicy relay;
  ringpost::testing::SmtpMemoryHandler handler;
  std::unique_ptr<SmtpServer> engine;
};

void BM_SmtpServer_Data(benchmark::State& state) {
  Engine e;
  const std::string body = MakeBody(static_cast<size_t>(state.range(0)));
  const std::string transaction =
      absl::StrCat("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n", body, ".\r\n");
  for (auto _ : state) {
    e.Feed(transaction);
    benchmark::DoNotOptimize(e.engine->TakeOutput());
    e.handler.committed.clear();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SmtpServer_Data)->Arg(1024)->Arg(100 * 1024)->Arg(1024 * 1024);

void BM_SmtpServer_Commands(benchmark::State& state) {
  Engine e;
  std::string batch;
  for (int i = 0; i < 100; ++i) {
    absl::StrAppend(&batch, "MAIL FROM:<sender", i, "@example.org> SIZE=1000\r\nRCPT TO:<rcpt", i,
                    "@example.net>\r\nRSET\r\n");
  }
  for (auto _ : state) {
    e.Feed(batch);
    benchmark::DoNotOptimize(e.engine->TakeOutput());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 300));
}
BENCHMARK(BM_SmtpServer_Commands);

}  // namespace

BENCHMARK_MAIN();
