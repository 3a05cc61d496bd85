// Fuzz target: ringpost-sendmail's command line and message preparation from arbitrary
// bytes. Never a crash; the prepared message has only CRLF line endings, never a Bcc:
// header line, and no more recipients than the limit.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "core/check.h"
#include "tools/sendmail/sendmail_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringpost::sendmail;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  // Up to the first NUL: arguments separated by '\n'; the rest is the message.
  const size_t nul = input.find('\0');
  const absl::string_view args_text = input.substr(0, nul);
  const absl::string_view message_text = nul == absl::string_view::npos ? "" : input.substr(nul + 1);
  std::vector<std::string> args = absl::StrSplit(args_text, '\n', absl::SkipEmpty());
  auto request = ParseSendmailArgs(args);
  if (!request.ok()) return 0;
  RP_CHECK(request->recipients.size() <= kRecipientsMax);
  auto message = PrepareMessage(message_text, *request, "me@host.example");
  if (!message.ok()) return 0;
  RP_CHECK(message->header_recipients.size() <= kRecipientsMax);
  for (size_t i = 0; i < message->data.size(); ++i) {
    const char c = message->data[i];
    if (c == '\n') RP_CHECK(i > 0 && message->data[i - 1] == '\r');
    if (c == '\r') RP_CHECK(i + 1 < message->data.size() && message->data[i + 1] == '\n');
  }
  const size_t body = message->data.find("\r\n\r\n");
  for (absl::string_view line : absl::StrSplit(absl::string_view(message->data).substr(0, body), "\r\n")) {
    RP_CHECK(!absl::StartsWithIgnoreCase(line, "bcc:"));
  }
  return 0;
}
