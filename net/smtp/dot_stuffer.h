// The sending side of DATA (RFC 5321 §4.5.2): turns a body into its transfer form.
//
// Streaming and sans-I/O: every bare CR or LF becomes CRLF (ringpost never sends a
// bare line ending, DESIGN.md), a line that starts with "." gets a second one, and
// Finish() appends the terminator "." CRLF (after a CRLF if the body lacked one).
// DataReader(kNormalize) after DotStuffer gives back the body, CRLF-normalised: the
// fuzz target checks exactly that round trip.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::net {

class DotStuffer {
 public:
  void Stuff(absl::string_view body_piece, std::string* out);
  void Finish(std::string* out);
  void Reset() { *this = DotStuffer(); }

 private:
  bool at_line_start_ = true;
  bool pending_cr_ = false;
};

}  // namespace ringpost::net
