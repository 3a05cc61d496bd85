// Splits a byte stream into lines, with a hard cap on line length.
//
// Sans-I/O and allocation-bounded: a line that lies inside one input chunk is returned
// as a view into that chunk (no copy); only a line split across chunks is copied into
// the assembler, and never more than `line_bytes_max` bytes of it, so a client that
// sends a partial or endless line pins neither the shard's receive buffers nor
// unbounded memory (DESIGN.md, Few copies on receive).
//
// A line ends at LF; a CR right before the LF is removed too (RFC 5321 §2.3.8 says
// CRLF; commands ending in a bare LF are accepted, as most MTAs do — DATA has its own
// strict reader). A line longer than the cap is reported once as kTooLong and its
// bytes are skipped up to and including its LF, so nothing of its tail is ever seen
// as a line of its own (DESIGN.md: nothing of an over-long line runs as a command).
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::net {

class LineAssembler {
 public:
  enum class Result {
    kLine,      // *line holds one line without its line ending
    kNeedMore,  // all input consumed; a partial line (if any) is kept
    kTooLong,   // a line passed the cap; it is being skipped (reported once per line)
  };

  explicit LineAssembler(size_t line_bytes_max);

  // Consumes from the front of `*input`. With kLine, `*line` stays valid until the
  // next call or until the memory behind `*input` is released, whichever comes first.
  Result Next(absl::string_view* input, absl::string_view* line);

  // Drops any partial line (e.g. when switching to DATA or after STARTTLS).
  void Reset();
  // Bytes of a partial line held (bounded by line_bytes_max).
  size_t buffered_bytes() const { return partial_.size(); }
  // Part of a line has arrived (or an over-long one is being skipped), and not its end.
  bool in_line() const { return skipping_ || (!pending_clear_ && !partial_.empty()); }
  bool skipping() const { return skipping_; }

 private:
  const size_t line_bytes_max_;
  std::string partial_;
  bool skipping_ = false;
  bool pending_clear_ = false;  // partial_ backs the last returned line
};

}  // namespace ringpost::net
