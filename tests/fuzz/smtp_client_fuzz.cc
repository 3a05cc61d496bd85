// The SMTP client engine against an arbitrary server: the input is everything the
// server says, cut into chunks whose sizes come from the input; the client starts a
// message (1-3 recipients, a body with dots, with or without bare line endings) whenever
// it is ready.
// Checked on every run: no crash; the client never writes a bare CR or LF; every
// message is reported once with exactly one result per recipient; a result with code 0
// is the only kind that may be a possible duplicate; output stays bounded. data[1]
// picks the TLS policy: after the 220 to STARTTLS nothing more of that chunk may be
// read (the client writes nothing until the handshake "finishes"), then EHLO goes again.
// With a login (data[0]'s top bit) no credential is ever written before that handshake.
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "core/check.h"
#include "net/smtp/line_scan.h"
#include "net/smtp/smtp_client.h"

namespace {

class Events : public ringpost::net::SmtpClientEvents {
 public:
  void OnSessionReady() override {}
  void OnMessageDone(std::vector<ringpost::net::RecipientResult> results) override {
    RP_CHECK_EQ(results.size(), expected_recipients);
    for (const auto& r : results) {
      RP_CHECK(r.code == 0 || (r.code >= 200 && r.code <= 599));
      RP_CHECK(!r.possible_duplicate || r.code == 0);
    }
    ++done;
  }
  void OnSessionFailed(const std::string& reason) override {
    RP_CHECK(!reason.empty());
    ++failed;
  }
  void OnStartTls() override { ++start_tls; }
  int start_tls = 0;
  size_t expected_recipients = 0;
  int done = 0;
  int failed = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringpost::net;
  if (size < 2) return 0;
  SmtpClientOptions options;
  options.helo_name = "client.test";
  Events events;
  SmtpClient client(options, events);
  // data[0]'s 0x40: a CRLF-clean body, which goes as BDAT to a server offering CHUNKING.
  const std::string body = data[0] & 0x40 ? "Subject: fuzz\r\n\r\n.dot\r\n..\r\n.\r\nend\r\n"
                                          : "Subject: fuzz\r\n\r\n.dot\r\nbare\nlf\rcr\r\n..\r\n.\r\nend";
  const size_t chunk_max = 1 + data[0] % 48;
  const size_t recipients = 1 + data[1] % 3;
  client.set_tls_policy(static_cast<TlsPolicy>((data[1] >> 2) % 3));
  // data[0]'s top bit: a smarthost login (AUTH before the first message, only under TLS).
  if (data[0] & 0x80) client.set_login("relay-user", "s3cret");
  const absl::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  int started = 0;
  size_t at = 0;
  std::string sent;
  const int quit_after = data[1] >> 6;  // messages sent before the pool's QUIT
  while (at < input.size() && !client.wants_close() && !client.closed()) {
    if (client.ready() && started == quit_after) {
      client.Quit();  // an idle connection ends with QUIT; what follows is its reply
      RP_CHECK(absl::EndsWith(client.output(), "QUIT\r\n"));
    }
    if (client.ready() && started < 4 && started != quit_after) {
      OutboundMessage m;
      m.mail_from = started % 2 ? "" : "s@example.org";
      for (size_t i = 0; i < recipients; ++i)
        m.recipients.push_back("r" + std::to_string(i) + "@example.net");
      // DSN parameters, sent when the server's EHLO offers DSN (RFC 3461).
      m.mail_dsn = " RET=HDRS ENVID=e" + std::to_string(started);
      m.recipient_dsn.assign(recipients, " NOTIFY=SUCCESS,FAILURE");
      m.body = body;
      m.eight_bit = started % 2;
      m.smtputf8 = started == 3;
      events.expected_recipients = recipients;
      ++started;
      client.StartMessage(std::move(m));
    }
    const size_t n = std::min(chunk_max, input.size() - at);
    const int start_tls_before = events.start_tls;
    client.Feed(input.substr(at, n));
    at += n;
    if (client.awaiting_tls()) {
      RP_CHECK_EQ(events.start_tls, start_tls_before + 1);
      // CVE-2021-38371: nothing answered after the 220 (this chunk's output, if any,
      // ends with the STARTTLS it answered).
      RP_CHECK(!client.has_output() || absl::EndsWith(client.output(), "STARTTLS\r\n"));
      client.OnTlsStarted();
      RP_CHECK(client.tls_active());
    }
    // As the outbound session takes it: a BDAT body apart, sent after the rest.
    const std::string chunk = client.TakeBodyOutput();
    const std::string out = client.TakeOutput() + chunk;
    if (!client.tls_active()) {  // RFC 8314 §3: no credential over plaintext
      RP_CHECK(out.find("AUTH ") == std::string::npos && out.find("czNjcmV0") == std::string::npos);
    }
    sent += out;
    RP_CHECK_LE(sent.size(), 4096 + started * 2048);
  }
  if (!client.closed()) client.OnConnectionLost();
  sent += client.TakeOutput();
  RP_CHECK(IsCrLfClean(sent));
  RP_CHECK_EQ(events.done, started);  // every started message was reported exactly once
  return 0;
}
