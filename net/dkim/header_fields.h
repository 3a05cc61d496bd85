// The header section of a message as it streams into the queue (RFC 5322 §2.2): kept
// until its empty line so DKIM can sign or verify the fields, then split into whole
// fields. Pure and bounded: past kHeaderSectionBytesMax the section is cut off
// (overflowed()) and whatever follows is the caller's to pass on unexamined.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ringpost::net {

inline constexpr size_t kHeaderSectionBytesMax = 256 * 1024;

class HeaderSectionReader {
 public:
  void Reset();
  // The message's next bytes; returns how many of them belong to the header section
  // (its empty line included). Once ended(), nothing more is taken.
  size_t Feed(absl::string_view bytes);
  // An empty line was read, or the section reached kHeaderSectionBytesMax.
  bool ended() const { return ended_; }
  bool overflowed() const { return overflowed_; }
  // The section's bytes so far.
  const std::string& bytes() const { return section_; }

 private:
  std::string section_;
  size_t line_start_ = 0;  // where the current line starts in section_
  bool ended_ = false;
  bool overflowed_ = false;
};

// The whole fields of a header section ("Name: value\r\n" with its continuation lines),
// in order, views into `section`; the empty line is not one. A field not known to be
// complete (a cut-off section ends in it) is left out; `complete_bytes` (if given) says
// where the complete fields end.
std::vector<absl::string_view> SplitHeaderFields(absl::string_view section, size_t* complete_bytes = nullptr);

// The address's domain in a From: field ("From: Joe <joe@Example.COM>" → "example.com");
// empty when there is none. The first mailbox of a list counts.
std::string FromDomain(absl::string_view field);

}  // namespace ringpost::net
