// The trace header ringpost prepends to every message it accepts (RFC 5321 §4.4), and
// the loop check that counts the ones already there (§6.3: a message with "a large
// number" of Received: headers is looping; ringpost, like Postfix, draws the line at 50).
//
// Pure code. The counter is streaming: it reads the body in any pieces, keeps at most
// a few bytes of state, and stops looking at the end of the header section.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ringpost::net {

struct ReceivedFields {
  absl::string_view helo;            // what the client said in EHLO/HELO
  absl::string_view client_address;  // "192.0.2.1" or "2001:db8::1"
  absl::string_view hostname;        // ours
  absl::string_view protocol;        // ESMTP, ESMTPS, SMTP, UTF8SMTP... (RFC 3848)
  absl::string_view tls;             // "TLSv1.3 TLS_AES_128_GCM_SHA256", empty without TLS
  absl::string_view queue_id;
  absl::string_view recipient;  // named only when the message has exactly one
  absl::Time time;
};

// "Received: from helo ([addr])\r\n\tby host (ringpost) with ESMTP id ID\r\n\tfor <rcpt>; date\r\n".
// The HELO name is the client's own word: characters that could break the header
// (controls, parentheses) are replaced.
std::string FormatReceivedHeader(const ReceivedFields& fields);

// RFC 3848 protocol names.
// RFC 3848 (and RFC 6531 §3.7.3): "A" for a client that logged in (RFC 4954 §7).
std::string ReceivedProtocol(bool esmtp, bool tls, bool smtputf8, bool authenticated = false);

class ReceivedHeaderCounter {
 public:
  void Feed(absl::string_view body_piece);
  uint32_t count() const { return count_; }
  void Reset() { *this = ReceivedHeaderCounter(); }

 private:
  static constexpr absl::string_view kName = "received:";
  bool in_headers_ = true;
  bool at_line_start_ = true;
  uint32_t matched_ = 0;  // characters of kName matched at the current line start
  bool matching_ = false;
  uint32_t count_ = 0;
};

}  // namespace ringpost::net
