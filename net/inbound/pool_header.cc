#include "net/inbound/pool_header.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/dkim/dkim_canonical.h"

namespace ringpost::net {

void PoolHeader::Begin() {
  header_.Reset();
  header_passed_ = false;
  requested_.clear();
  removed_ = 0;
  removed_bytes_ = 0;
}

absl::Status PoolHeader::Append(absl::Span<const absl::string_view> pieces, const Store& next) {
  if (header_passed_) return next(pieces);
  std::vector<absl::string_view> out;
  for (absl::string_view piece : pieces) {
    if (!header_passed_) {
      const size_t header_bytes = header_.Feed(piece);
      if (!header_.ended()) continue;  // held back, in header_
      PassHeader(&out);
      piece.remove_prefix(header_bytes);
    }
    if (!piece.empty()) out.push_back(piece);
  }
  return out.empty() ? absl::OkStatus() : next(out);
}

absl::Status PoolHeader::Finish(const Store& next) {
  if (header_passed_) return absl::OkStatus();
  std::vector<absl::string_view> out;  // the message was all header
  PassHeader(&out);
  return out.empty() ? absl::OkStatus() : next(out);
}

void PoolHeader::PassHeader(std::vector<absl::string_view>* out) {
  header_passed_ = true;
  const absl::string_view section = header_.bytes();
  if (header_.overflowed()) {
    out->push_back(section);
    return;
  }
  // A message that is all header ends without its blank line: the last field is read
  // as if the section ended there.
  std::string padded;
  absl::string_view scanned = section;
  if (!header_.ended()) {
    padded = absl::StrCat(section, absl::EndsWith(section, "\n") ? "" : "\r\n", "\r\n");
    scanned = padded;
  }
  size_t complete = 0;
  size_t written = 0;
  for (absl::string_view field : SplitHeaderFields(scanned, &complete)) {
    if (HeaderFieldName(field) != kPoolHeaderName) continue;
    if (requested_.empty()) {
      absl::string_view value = field.substr(field.find(':') + 1);
      requested_ = std::string(absl::StripAsciiWhitespace(value));
    }
    ++removed_;
    const size_t start = static_cast<size_t>(field.data() - scanned.data());
    const size_t end = std::min(start + field.size(), section.size());
    if (start > written) out->push_back(section.substr(written, start - written));
    removed_bytes_ += end - start;
    written = end;
  }
  if (written < section.size()) out->push_back(section.substr(written));
}

}  // namespace ringpost::net
