// The head of an HTTP/1.x request, for the metrics endpoint (--metrics_listen). Pure:
// bytes in, a verdict out. Only the request line is kept; header fields are read past.
// Limits: the head (up to its blank line) is at most 8 KiB, the method 16 letters,
// the target 2 KiB of visible characters starting with "/".
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::net {

inline constexpr size_t kHttpHeadBytesMax = 8 * 1024;

class HttpRequestReader {
 public:
  enum class Result {
    kIncomplete,  // feed more
    kOk,          // method() and path() are set
    kBad,         // not an HTTP/1.x request head: 400
    kTooLarge,    // no blank line within kHttpHeadBytesMax: 431
  };
  // Bytes after a verdict are ignored (one request per connection).
  Result Feed(absl::string_view bytes);
  const std::string& method() const { return method_; }
  const std::string& path() const { return path_; }  // without a query string

 private:
  Result Parse();
  std::string head_;
  Result result_ = Result::kIncomplete;
  std::string method_, path_;
};

}  // namespace ringpost::net
