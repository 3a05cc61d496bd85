// A whole SMTP server session from arbitrary bytes, split at arbitrary points.
//
// The first bytes choose the engine's options and the log's behaviour (commits now or
// later, storage failures); the rest is the client's byte stream, cut into chunks whose
// sizes come from the input too. Checked on every run:
//  - no crash, no sanitizer report;
//  - every reply line is well formed: three digits, ' ' or '-', text, CRLF, and every
//    2xx/4xx/5xx line after the greeting carries an enhanced code unless it answers EHLO;
//  - memory stays bounded: the engine never holds more than a command line of input,
//    and never writes more than a bounded reply per input byte;
//  - "queued as" is said exactly once per committed message and only for committed ones;
//  - STARTTLS (offered when data[2] has 0x80): nothing is answered after "220 Ready to
//    start TLS", and bytes fed before the handshake ends are dropped without a reply
//    (CVE-2011-0411); the handshake then "finishes" and the session goes on.
//  - AUTH (offered when data[1] has 0x20): a login the engine asks about is accepted,
//    refused or refused with the end of the session, as the next input byte says; the
//    engine reads nothing while it waits, and never asks without TLS.
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "core/check.h"
#include "net/inbound/relay_policy.h"
#include "net/smtp/smtp_server.h"
#include "tests/support/smtp_memory_handler.h"

namespace {

bool WellFormedLine(absl::string_view line) {
  if (line.size() < 4) return false;
  for (int i = 0; i < 3; ++i) {
    if (line[i] < '0' || line[i] > '9') return false;
  }
  return line[3] == ' ' || line[3] == '-';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ringpost::net::SmtpServer;
  if (size < 4) return 0;
  ringpost::net::SmtpServerOptions options;
  options.hostname = "mx.test";
  options.message_bytes_max = 64 + data[0] * 16u;
  options.recipients_max = 1 + data[0] % 5;
  options.command_line_bytes_max = 512;
  options.errors_max = 1 + data[1] % 30;
  options.bare_line_endings =
      data[1] & 0x80 ? ringpost::net::BareLineEndings::kReject : ringpost::net::BareLineEndings::kNormalize;
  options.long_lines = data[1] & 0x40 ? ringpost::net::LongLines::kReject : ringpost::net::LongLines::kWrap;
  options.strict_envelope = data[0] & 1;
  options.add_missing_headers = data[0] & 2;
  options.auth_offered = data[1] & 0x20;
  static const auto* relay = [] {
    auto* policy = new ringpost::net::RelayPolicy(
        *ringpost::net::RelayPolicy::Parse("127.0.0.0/8", "relay.example", "local.example"));
    policy->SetPostmaster("postmaster@local.example");
    return policy;
  }();
  ringpost::testing::SmtpMemoryHandler handler;
  handler.commit_at_once = data[2] & 1;
  if (data[2] & 2) handler.commit_status = absl::DataLossError("injected");
  if ((data[2] & 0x0c) == 0x0c) handler.append_status = absl::DataLossError("injected");
  if ((data[2] & 0x30) == 0x30) handler.begin_status = absl::ResourceExhaustedError("injected");
  const size_t chunk_max = 1 + data[3] % 64;
  const absl::string_view input(reinterpret_cast<const char*>(data + 4), size - 4);

  SmtpServer engine(options, *relay,
                    ringpost::net::SmtpClientInfo{"192.0.2.1", (data[2] & 0x40) != 0, (data[2] & 0x80) != 0},
                    handler);
  bool tls_plaintext_fed = false;  // a chunk went in between the 220 and the handshake
  handler.engine = &engine;
  engine.Greet();
  std::string output = engine.TakeOutput();
  size_t at = 0;
  size_t next_chunk = 1;
  const absl::Time now = absl::FromUnixSeconds(1796000000);
  // data[3]'s top bits end the session early, halfway through the input: the idle or
  // DATA deadline (OnTimeout), or the daemon's stop (OnShutdown), in whatever phase.
  const uint8_t ending = data[3] >> 6;  // 0: none, 1: timeout, 2: shutdown, 3: shutdown at the start
  bool ended = false;
  if (ending == 3) engine.OnShutdown();
  while (at < input.size() && !engine.closed()) {
    if (engine.awaiting_commit()) {
      handler.CompletePending();  // the log answers; the rest of the input is fed after
    }
    if (engine.awaiting_login()) {
      RP_CHECK(options.auth_offered && !engine.tls().empty());
      RP_CHECK(!handler.logins.empty());
      const uint8_t choice = static_cast<uint8_t>(input[at]) % 3;
      engine.OnLoginChecked(choice == 0   ? SmtpServer::LoginVerdict::kAccepted
                            : choice == 1 ? SmtpServer::LoginVerdict::kRefused
                                          : SmtpServer::LoginVerdict::kRefusedAndClosing);
      output += engine.TakeOutput();
      if (engine.closed()) break;
    }
    if (ending != 0 && ending != 3 && !ended && at > input.size() / 2 && !engine.starting_tls()) {
      ended = true;
      if (ending == 1) {
        engine.OnTimeout();
        RP_CHECK(engine.closed());  // 421 and the end, in any phase
      } else {
        engine.OnShutdown();  // idle: 421 now; in a transaction: after it
      }
      output += engine.TakeOutput();
      if (engine.closed()) break;
    }
    const size_t n = std::min(next_chunk, input.size() - at);
    const size_t used = engine.Feed(input.substr(at, n), now);
    RP_CHECK_LE(used, n);
    if (used == 0) RP_CHECK(engine.awaiting_commit() || engine.awaiting_login() || engine.closed());
    at += used;
    next_chunk = 1 + (next_chunk * 31 + static_cast<unsigned char>(input[at - (used ? 1 : 0)])) % chunk_max;
    const std::string out = engine.TakeOutput();
    RP_CHECK_LE(out.size(), 512 + used * 600);  // a reply per byte at most, each bounded
    output += out;
    if (engine.starting_tls()) {
      if (!tls_plaintext_fed) {
        RP_CHECK(absl::EndsWith(out, "220 2.0.0 Ready to start TLS\r\n"));
        tls_plaintext_fed = true;  // the next chunk is fed as if it arrived before the handshake
      } else {
        RP_CHECK(out.empty());
        RP_CHECK_EQ(used, n);
        engine.OnTlsStarted("TLSv1.3 TLS_AES_128_GCM_SHA256");
        tls_plaintext_fed = false;
      }
    }
  }
  if (engine.awaiting_commit()) handler.CompletePending();
  output += engine.TakeOutput();

  RP_CHECK(output.empty() || absl::EndsWith(output, "\r\n"));
  // RFC 5322 §2.1.1: whatever was stored, no line of it is longer than 998 octets.
  for (const auto& message : handler.committed) {
    for (absl::string_view line : absl::StrSplit(message.body, '\n')) {
      RP_CHECK_LE(line.size(), ringpost::net::kLineOctetsMax + 1);  // + its CR
    }
  }
  size_t queued = 0;
  bool after_ehlo = false;
  for (absl::string_view line : absl::StrSplit(output, "\r\n", absl::SkipEmpty())) {
    RP_CHECK(WellFormedLine(line));
    if (absl::StartsWith(line, "250-")) after_ehlo = true;
    const bool ehlo_line = after_ehlo || line == "250 mx.test";
    if (line[3] == ' ') after_ehlo = false;
    if (absl::StrContains(line, "queued as")) ++queued;
    // 334 carries a SASL challenge (RFC 4954 §4), not an enhanced code.
    if (!absl::StartsWith(line, "220 ") && !absl::StartsWith(line, "354 ") &&
        !absl::StartsWith(line, "334 ") && !ehlo_line) {
      RP_CHECK(line.size() >= 9 && line[4] == line[0] && line[5] == '.');  // RFC 3463 class matches
    }
  }
  RP_CHECK_EQ(queued, handler.committed.size());
  RP_CHECK(!handler.open() || !engine.closed());  // a closed session leaves nothing open
  return 0;
}
