// The egress pool a message asks for in its header (X-Ringpost-Pool: bulk), found and
// removed as the message is stored: with --egress_pools set, the header section is
// held back until it ends, every X-Ringpost-Pool field is taken out (it never leaves
// this host), and the rest passes on unchanged. Whether the request is honoured is the
// session's decision (only mail of the relay networks and logged-in users chooses its
// pool). A header section over kHeaderSectionBytesMax passes on whole: no pool is
// read from it.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "net/dkim/header_fields.h"

namespace ringpost::net {

inline constexpr absl::string_view kPoolHeaderName = "x-ringpost-pool";

class PoolHeader {
 public:
  using Store = std::function<absl::Status(absl::Span<const absl::string_view>)>;

  void Begin();
  // The message's next bytes; `next` gets what to store now, in order.
  absl::Status Append(absl::Span<const absl::string_view> pieces, const Store& next);
  // The end of the data: what was held back goes on.
  absl::Status Finish(const Store& next);
  // The first X-Ringpost-Pool field's value (trimmed), or empty.
  const std::string& requested() const { return requested_; }
  // How many fields were taken out, and their bytes (the stored message is that much
  // shorter than the one received).
  int removed() const { return removed_; }
  size_t removed_bytes() const { return removed_bytes_; }

 private:
  void PassHeader(std::vector<absl::string_view>* out);

  HeaderSectionReader header_;
  bool header_passed_ = false;
  std::string requested_;
  int removed_ = 0;
  size_t removed_bytes_ = 0;
};

}  // namespace ringpost::net
