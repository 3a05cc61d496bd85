// Where a destination domain's mail goes next: the answer routing gives the delivery
// scheduler (net/outbound/next_hop.h asks local domains, --routes and DNS). Pure data.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/socket_address.h"

namespace ringpost::queue {

struct NextHop {
  enum class Kind {
    kSmtp,      // relay to `addresses`, in order of preference
    kLocal,     // a --local_domains domain: Maildir
    kTempFail,  // not now: defer every recipient with `status` and `text`
    kPermFail,  // never: bounce every recipient with `status` and `text`
  };
  Kind kind = Kind::kTempFail;
  std::vector<core::SocketAddress> addresses;
  // The host name of each address when it came from DNS (an MX host, or a --routes
  // host name): the TLS server name (SNI) and the name its certificate is checked
  // against. Empty for address routes and address literals.
  std::vector<std::string> names;
  std::string status;  // RFC 3463, for kTempFail and kPermFail
  std::string text;
  int code = 550;  // kPermFail: the reply code recorded and quoted in the DSN
  // How long the scheduler may keep this answer before asking again: zero for answers
  // that never change (configuration), a minute for DNS answers (the resolver's
  // cache keeps the records' own TTLs).
  absl::Duration valid_for = absl::ZeroDuration();
};

}  // namespace ringpost::queue
