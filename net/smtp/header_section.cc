#include "net/smtp/header_section.h"

#include "absl/strings/ascii.h"

namespace ringpost::net {

size_t HeaderSectionScanner::Feed(absl::string_view piece) {
  for (size_t i = 0; i < piece.size() && state_ != State::kBody; ++i) {
    const char c = piece[i];
    switch (state_) {
      case State::kLineStart:
        if (c == '\r' || c == '\n') {  // the empty line
          state_ = State::kBody;
          return i;
        }
        if (c == ' ' || c == '\t') {  // a folded continuation line
          state_ = State::kRestOfLine;
          break;
        }
        name_bytes_ = 0;
        name_too_long_ = false;
        state_ = State::kName;
        [[fallthrough]];
      case State::kName:
        if (c == ':') {
          NameEnded();
          state_ = State::kRestOfLine;
        } else if (c == ' ' || c == '\t') {  // obsolete "Name :" (RFC 5322 §4.5)
          state_ = State::kAfterName;
        } else if (c == '\n') {
          state_ = State::kLineStart;
        } else if (name_bytes_ < kNameBytesMax) {
          name_[name_bytes_++] = absl::ascii_tolower(static_cast<unsigned char>(c));
        } else {
          name_too_long_ = true;
        }
        break;
      case State::kAfterName:
        if (c == ':') {
          NameEnded();
          state_ = State::kRestOfLine;
        } else if (c == '\n') {
          state_ = State::kLineStart;
        } else if (c != ' ' && c != '\t') {
          state_ = State::kRestOfLine;  // not a field: "word word"
        }
        break;
      case State::kRestOfLine:
        if (c == '\n') state_ = State::kLineStart;
        break;
      case State::kBody:
        break;
    }
  }
  return absl::string_view::npos;
}

void HeaderSectionScanner::NameEnded() {
  if (name_too_long_) return;
  const absl::string_view name(name_, name_bytes_);
  if (name == "date") has_date_ = true;
  if (name == "message-id") has_message_id_ = true;
}

}  // namespace ringpost::net
