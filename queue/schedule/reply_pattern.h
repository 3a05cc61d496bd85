// A pattern over an SMTP reply: its code, its RFC 3463 enhanced status code and an RE2
// expression searched for in its text. The failure classes (bounce_class.h) and the
// shaping file's reply-driven rules (shaping.h) match replies with it. Pure; RE2 runs
// in linear time whatever a reply holds, and matches without regard to case.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace re2 {
class RE2;
}

namespace ringpost::queue {

class ReplyPattern {
 public:
  static constexpr size_t kTextBytesMax = 4096;

  // A reply taken apart once, to be matched against many patterns. Views `status` and
  // `text`, which must outlive it.
  class Reply {
   public:
    // `code`: 0 when there was no reply; `status`: "5.1.1" or empty.
    Reply(int code, absl::string_view status, absl::string_view text);

   private:
    friend class ReplyPattern;
    std::string digits_;  // the code as text, empty when there was none
    std::vector<absl::string_view> status_;
    absl::string_view text_;
  };

  // Matches every reply.
  ReplyPattern() = default;
  // `code`: three digits, a prefix ending in '*' ("5*", "55*"), or "*"; `status`: X.Y.Z
  // with any part '*' ("*.7.28"), or "*"; `text`: an RE2 expression, empty for any
  // text. An error says which part is wrong, quoting it.
  static absl::StatusOr<ReplyPattern> Parse(absl::string_view code, absl::string_view status,
                                            absl::string_view text);

  bool Matches(const Reply& reply) const;

 private:
  std::string code_;  // "421", or a prefix "5" ("5*"); empty: any code
  bool code_is_prefix_ = false;
  std::vector<std::string> status_;       // "4", "7", "28" ("*" a part that matches any); empty: any
  std::shared_ptr<const re2::RE2> text_;  // null: any text
};

}  // namespace ringpost::queue
