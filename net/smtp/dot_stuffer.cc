#include "net/smtp/dot_stuffer.h"

#include <cstring>

namespace ringpost::net {

void DotStuffer::Stuff(absl::string_view piece, std::string* out) {
  const char* p = piece.data();
  const size_t n = piece.size();
  size_t i = 0;
  while (i < n) {
    if (pending_cr_) {
      pending_cr_ = false;
      out->append("\r\n");
      at_line_start_ = true;
      if (p[i] == '\n') {
        ++i;
        continue;
      }
    }
    const char c = p[i];
    if (c == '\r') {
      pending_cr_ = true;
      ++i;
      continue;
    }
    if (c == '\n') {  // bare LF
      out->append("\r\n");
      at_line_start_ = true;
      ++i;
      continue;
    }
    if (at_line_start_ && c == '.') out->push_back('.');
    at_line_start_ = false;
    // Copy the run up to the next line ending in one go.
    size_t end = i;
    const void* cr = std::memchr(p + i, '\r', n - i);
    const void* lf = std::memchr(p + i, '\n', (cr ? static_cast<const char*>(cr) - p : n) - i);
    end = lf ? static_cast<size_t>(static_cast<const char*>(lf) - p)
             : (cr ? static_cast<size_t>(static_cast<const char*>(cr) - p) : n);
    out->append(p + i, end - i);
    i = end;
  }
}

void DotStuffer::Finish(std::string* out) {
  if (pending_cr_) {
    pending_cr_ = false;
    out->append("\r\n");
    at_line_start_ = true;
  }
  if (!at_line_start_) out->append("\r\n");
  out->append(".\r\n");
  at_line_start_ = true;
}

}  // namespace ringpost::net
