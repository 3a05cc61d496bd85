#include "net/smtp/message_id.h"

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"

namespace ringpost::net {

void MessageIdFinder::Feed(absl::string_view piece) {
  for (size_t i = 0; i < piece.size() && state_ != State::kDone;) {
    const char c = piece[i];
    switch (state_) {
      case State::kLineStart:
        if (c == '\r' || c == '\n') {
          state_ = State::kDone;  // the empty line ends the header section (RFC 5322 §2.1)
          break;
        }
        matched_ = 0;
        state_ = found_ ? State::kSkipLine : State::kName;
        continue;  // the same byte, in its new state
      case State::kName:
        if (absl::ascii_tolower(static_cast<unsigned char>(c)) == kName[matched_]) {
          ++i;
          if (++matched_ == kName.size()) state_ = State::kValue;
          continue;
        }
        state_ = State::kSkipLine;
        continue;
      case State::kSkipLine: {
        const size_t lf = piece.find('\n', i);
        if (lf == absl::string_view::npos) return;
        i = lf + 1;
        state_ = State::kLineStart;
        continue;
      }
      case State::kValue:
        if (c == '\n') {
          state_ = State::kValueLineStart;
        } else if (c != '\r' && value_.size() < kValueBytesMax && !(value_.empty() && (c == ' ' || c == '\t'))) {
          value_.push_back(c);
        }
        break;
      case State::kValueLineStart:
        if (c == ' ' || c == '\t') {  // folded: the field goes on (RFC 5322 §2.2.3)
          if (value_.size() < kValueBytesMax) value_.push_back(' ');
          state_ = State::kValue;
          break;
        }
        found_ = true;
        state_ = State::kLineStart;
        continue;
      case State::kDone:
        return;
    }
    ++i;
  }
}

std::string MessageIdFinder::value() const {
  return std::string(absl::StripAsciiWhitespace(value_));
}

}  // namespace ringpost::net
