// Watches a message's header section (RFC 5322 §2.1: header fields, then an empty
// line) as the body streams past, to learn whether it has a Date: and a Message-ID:
// (§3.6: both SHOULD be there; Postfix adds them for local submission) and where the
// section ends, so the missing ones can be added at its end.
//
// Pure and streaming like ReceivedHeaderCounter: any pieces, a few bytes of state. The
// section ends at the first empty line; a message without one is all header section.
// Only a field name at the start of a line counts (a folded continuation never does).
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace ringpost::net {

class HeaderSectionScanner {
 public:
  // Reads the next piece. Returns where in `piece` the empty line that ends the header
  // section starts, or npos when the section does not end in this piece (or has ended).
  size_t Feed(absl::string_view piece);
  bool in_headers() const { return state_ != State::kBody; }
  bool has_date() const { return has_date_; }
  bool has_message_id() const { return has_message_id_; }
  void Reset() { *this = HeaderSectionScanner(); }

 private:
  enum class State : uint8_t { kLineStart, kName, kAfterName, kRestOfLine, kBody };
  static constexpr size_t kNameBytesMax = 10;  // "message-id", the longer of the two
  void NameEnded();

  State state_ = State::kLineStart;
  char name_[kNameBytesMax] = {};
  uint8_t name_bytes_ = 0;
  bool name_too_long_ = false;
  bool has_date_ = false;
  bool has_message_id_ = false;
};

}  // namespace ringpost::net
