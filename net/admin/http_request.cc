#include "net/admin/http_request.h"

#include <algorithm>

#include "absl/strings/ascii.h"

namespace ringpost::net {

HttpRequestReader::Result HttpRequestReader::Feed(absl::string_view bytes) {
  if (result_ != Result::kIncomplete) return result_;
  const size_t room = kHttpHeadBytesMax - head_.size();
  head_.append(bytes.data(), std::min(bytes.size(), room));
  // The head ends at a blank line (CRLF CRLF; a bare LF is tolerated, RFC 9112 §2.2).
  if (head_.find("\r\n\r\n") == std::string::npos && head_.find("\n\n") == std::string::npos) {
    if (head_.size() >= kHttpHeadBytesMax) result_ = Result::kTooLarge;
    return result_;
  }
  result_ = Parse();
  return result_;
}

HttpRequestReader::Result HttpRequestReader::Parse() {
  // RFC 9112 §3: method SP request-target SP HTTP-version.
  absl::string_view line(head_);
  line = line.substr(0, line.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t first = line.find(' ');
  const size_t second = first == absl::string_view::npos ? first : line.find(' ', first + 1);
  if (second == absl::string_view::npos) return Result::kBad;
  const absl::string_view method = line.substr(0, first);
  const absl::string_view target = line.substr(first + 1, second - first - 1);
  const absl::string_view version = line.substr(second + 1);
  if (method.empty() || method.size() > 16 ||
      !std::all_of(method.begin(), method.end(), [](char c) { return absl::ascii_isupper(c); })) {
    return Result::kBad;
  }
  if (target.empty() || target.size() > 2048 || target.front() != '/' ||
      !std::all_of(target.begin(), target.end(), [](char c) { return c > ' ' && c < 0x7f; })) {
    return Result::kBad;
  }
  if (version != "HTTP/1.0" && version != "HTTP/1.1") return Result::kBad;
  method_ = std::string(method);
  path_ = std::string(target.substr(0, target.find('?')));
  return Result::kOk;
}

}  // namespace ringpost::net
