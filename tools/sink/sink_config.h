// ringpost-sink's behaviour: what it advertises and which faults it injects.
// Rates are probabilities per event, drawn from a per-shard PRNG seeded by --seed, so
// a run's fault pattern can be reproduced.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "net/transport/tls_context.h"
#include "tools/sink/sink_login.h"

namespace ringpost::sink {

struct FaultConfig {
  double rcpt_tempfail_rate = 0;  // 451 4.3.0 at RCPT
  double rcpt_permfail_rate = 0;  // 550 5.1.1 at RCPT
  double data_tempfail_rate = 0;  // 451 4.3.0 after the final dot
  double data_permfail_rate = 0;  // 554 5.6.0 after the final dot
  // Recipients containing this text get a 4xx for their first N RCPTs, then 250
  // ("4xx N times then accept"; counted per recipient address across connections of
  // the same shard).
  std::string tempfail_pattern;
  // What those recipients are answered (a provider's throttling reply, say).
  std::string tempfail_reply = "451 4.3.0 sink: temporary failure (pattern)";
  uint32_t tempfail_times = 0;
  uint32_t data_delay_ms = 0;          // wait before answering the final dot
  double disconnect_rate = 0;          // drop the connection without a reply ...
  std::string disconnect_at = "dot";   // ... at "rcpt", "data" or "dot"
  double silent_after_data_rate = 0;   // never answer the final dot (connection stays open)
  uint32_t huge_reply_lines = 0;       // a multi-line reply of this many lines ...
  std::string huge_reply_at = "ehlo";  // ... to "ehlo", "rcpt" or "dot"
};

struct SinkConfig {
  std::string hostname = "sink.invalid";
  std::string record_dir;                // when set: every accepted message and its envelope
  bool smtputf8 = true;                  // advertise SMTPUTF8 (off: a next hop that cannot take it)
  bool dsn = false;                      // advertise DSN (RFC 3461): the parameters are recorded either way
  std::shared_ptr<net::TlsContext> tls;  // --tls_cert/--tls_key: offer STARTTLS
  SinkUsers users;                       // --auth_users: AUTH under TLS, and no MAIL before it
  uint64_t seed = 1;
  FaultConfig faults;
};

}  // namespace ringpost::sink
