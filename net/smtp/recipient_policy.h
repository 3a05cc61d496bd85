// The relay decision the SMTP server engine asks for at every RCPT, as an interface:
// the engine knows no configuration; the inbound room's RelayPolicy implements it.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::net {

// Who may send to whom: the engine asks at every RCPT (the inbound room's RelayPolicy
// answers from --relay_networks, --relay_domains and --local_domains).
enum class RcptVerdict {
  kAccept,
  kRelayDenied,       // 554 5.7.1
  kUnsafeLocalPart,   // 550 5.1.1: a Maildir path component that could escape
  kUnknownLocalUser,  // 550 5.1.1: not a known local recipient
  kNoPostmaster,      // 550 5.1.1: <postmaster> without anyone to deliver it to
};
class RecipientPolicy {
 public:
  virtual ~RecipientPolicy() = default;
  // `domain` is empty for <postmaster> (RFC 5321 §4.5.1).
  virtual RcptVerdict Check(absl::string_view local_part, absl::string_view domain,
                            bool client_may_relay) const = 0;
  // The address mail to <postmaster> (this host's, RFC 5321 §4.5.1) is delivered to:
  // the recipient the engine stores in its place, so a bare local part never reaches
  // routing. Empty: none (Check says kNoPostmaster).
  virtual const std::string& postmaster() const = 0;
};

}  // namespace ringpost::net
