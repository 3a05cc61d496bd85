// The SMTP server engine over an in-memory queue (tests/support/smtp_memory_handler.h),
// for the engine's unit tests: relay networks 127.0.0.0/8, relay domain relay.example,
// local domain local.example; the client is 192.0.2.9.
#pragma once

#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "net/inbound/relay_policy.h"
#include "net/smtp/smtp_server.h"
#include "tests/support/smtp_memory_handler.h"

namespace ringpost::testing {

using net::RelayPolicy;
using net::SmtpClientInfo;
using net::SmtpServer;
using net::SmtpServerOptions;

inline const absl::Time kNow = absl::FromUnixSeconds(1796000000);

struct Harness {
  explicit Harness(bool may_relay = true, SmtpServerOptions opts = Options(), bool tls_offered = false,
                   bool auth_required = false)
      : options(std::move(opts)),
        relay(*RelayPolicy::Parse("127.0.0.0/8", "relay.example", "local.example")),
        engine(options, relay, SmtpClientInfo{"192.0.2.9", may_relay, tls_offered, auth_required}, handler) {
    handler.engine = &engine;
    relay.SetPostmaster("postmaster@local.example");
  }
  static SmtpServerOptions Options() {
    SmtpServerOptions o;
    o.hostname = "mx.test";
    return o;
  }
  // Feeds everything that the engine will take now; returns the replies written.
  std::string Say(absl::string_view bytes) {
    rest.append(bytes.data(), bytes.size());
    Pump();
    return engine.TakeOutput();
  }
  void Pump() {
    while (!rest.empty() && !engine.awaiting_commit() && !engine.awaiting_login()) {
      const size_t used = engine.Feed(rest, kNow);
      rest.erase(0, used);
      if (engine.closed()) rest.clear();
    }
  }
  std::string Greeted() {
    engine.Greet();
    return engine.TakeOutput();
  }

  SmtpServerOptions options;
  RelayPolicy relay;
  SmtpMemoryHandler handler;
  SmtpServer engine;
  std::string rest;  // fed but not yet consumed (waiting for a commit)
};

}  // namespace ringpost::testing
