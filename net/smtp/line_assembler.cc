#include "net/smtp/line_assembler.h"

#include <cstring>

#include "core/check.h"

namespace ringpost::net {

LineAssembler::LineAssembler(size_t line_bytes_max) : line_bytes_max_(line_bytes_max) {
  RP_CHECK_GT(line_bytes_max_, 0u);
}

void LineAssembler::Reset() {
  partial_.clear();
  skipping_ = false;
  pending_clear_ = false;
}

LineAssembler::Result LineAssembler::Next(absl::string_view* input, absl::string_view* line) {
  if (pending_clear_) {
    partial_.clear();
    pending_clear_ = false;
  }
  while (!input->empty()) {
    const void* found = std::memchr(input->data(), '\n', input->size());
    const size_t take = found == nullptr
                            ? input->size()
                            : static_cast<size_t>(static_cast<const char*>(found) - input->data()) + 1;
    absl::string_view piece = input->substr(0, take);
    input->remove_prefix(take);
    const bool complete = found != nullptr;
    if (skipping_) {
      if (complete) skipping_ = false;  // the over-long line ends here; its tail is gone
      continue;
    }
    // The limit counts the line without its LF (a CR is counted: it may be data).
    const size_t content_bytes = partial_.size() + piece.size() - (complete ? 1 : 0);
    if (content_bytes > line_bytes_max_) {
      partial_.clear();
      skipping_ = !complete;
      return Result::kTooLong;
    }
    if (!complete) {
      partial_.append(piece.data(), piece.size());
      return Result::kNeedMore;
    }
    absl::string_view whole;
    if (partial_.empty()) {
      whole = piece;  // zero copy: the line lies inside this chunk
    } else {
      partial_.append(piece.data(), piece.size());
      whole = partial_;
    }
    whole.remove_suffix(1);  // LF
    if (!whole.empty() && whole.back() == '\r') whole.remove_suffix(1);
    *line = whole;
    if (!partial_.empty()) {
      // The view points into partial_; clear it on the next call instead of now.
      pending_clear_ = true;
    }
    return Result::kLine;
  }
  return Result::kNeedMore;
}

}  // namespace ringpost::net
