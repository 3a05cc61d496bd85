// Finds a message's Message-ID (RFC 5322 §3.6.4) as its body streams past, for the
// accounting log's reception record. Pure and streaming like ReceivedHeaderCounter:
// any pieces, bounded state (the value is kept up to 998 octets, the longest line RFC
// 5322 allows), and it stops looking at the end of the header section. The first
// Message-ID field wins; folded continuation lines are unfolded. The value is kept as
// written (usually "<left@right>"), surrounding whitespace removed.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::net {

class MessageIdFinder {
 public:
  static constexpr size_t kValueBytesMax = 998;

  void Feed(absl::string_view body_piece);
  // The value found so far ("" when there is none).
  std::string value() const;
  void Reset() { *this = MessageIdFinder(); }

 private:
  static constexpr absl::string_view kName = "message-id:";
  enum class State : uint8_t { kLineStart, kName, kSkipLine, kValue, kValueLineStart, kDone };
  State state_ = State::kLineStart;
  uint32_t matched_ = 0;  // characters of kName matched on this line
  bool found_ = false;    // a Message-ID field was read (later ones are skipped)
  std::string value_;
};

}  // namespace ringpost::net
