// An HTTP/1.x request (RFC 9112), for the metrics endpoint and the admin API. Pure:
// bytes in, a verdict out, whatever the split.
//
// Kept: the request line (method, path, query string), the header fields the endpoints
// use (Content-Length, Authorization), and a body of up to kHttpBodyBytesMax. Limits:
// the head (up to its blank line) is at most 8 KiB, the method 16 letters, the target
// 2 KiB of visible characters starting with "/". Refused (kBad): a malformed line, a
// folded header field, a field name that is not a token, a Content-Length that is not
// one decimal number, any Transfer-Encoding (requests here are small and sized).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ringpost::net {

inline constexpr size_t kHttpHeadBytesMax = 8 * 1024;
inline constexpr size_t kHttpBodyBytesMax = 64 * 1024;
inline constexpr size_t kHttpTargetBytesMax = 2048;

class HttpRequestReader {
 public:
  enum class Result {
    kIncomplete,    // feed more
    kOk,            // the whole request is here
    kBad,           // not an HTTP/1.x request: 400
    kTooLarge,      // no blank line within kHttpHeadBytesMax, or a target over 2 KiB: 431
    kBodyTooLarge,  // Content-Length over kHttpBodyBytesMax: 413
  };
  // Bytes after a verdict are ignored (one request per connection).
  Result Feed(absl::string_view bytes);
  const std::string& method() const { return method_; }
  const std::string& path() const { return path_; }    // without the query string
  const std::string& query() const { return query_; }  // after "?", undecoded
  const std::string& authorization() const { return authorization_; }
  const std::string& body() const { return body_; }

 private:
  Result ParseHead(absl::string_view head);
  Result ParseFields(absl::string_view fields);
  std::string buffer_;
  size_t body_start_ = std::string::npos;  // set once the head is parsed
  size_t content_length_ = 0;
  Result result_ = Result::kIncomplete;
  std::string method_, path_, query_, authorization_, body_;
};

// "a=1&b=x%20y" → {{"a","1"},{"b","x y"}} ("+" is a space, as forms send it). An
// escape that is not two hex digits, or a decoded NUL, is an error.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQueryString(absl::string_view query);

}  // namespace ringpost::net
