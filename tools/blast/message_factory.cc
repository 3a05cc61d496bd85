#include "tools/blast/message_factory.h"

#include "absl/strings/str_cat.h"
#include "net/smtp/dot_stuffer.h"

namespace ringpost::blast {

std::string MessageFactory::MessageId(int shard, uint64_t sequence) const {
  return absl::StrCat("<blast.", run_id_, ".", shard, ".", sequence, "@ringpost-blast.invalid>");
}

std::string MessageFactory::Headers(absl::string_view from, absl::string_view to,
                                    absl::string_view message_id) const {
  return absl::StrCat("From: <", from, ">\r\nTo: <", to, ">\r\nSubject: ringpost-blast load test\r\n",
                      "Date: Sun, 29 Nov 2026 00:00:00 +0000\r\nMessage-ID: ", message_id,
                      "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
}

const std::string& MessageFactory::WireBody(uint64_t bytes) {
  const uint64_t rounded = (bytes + 63) / 64 * 64;
  auto it = bodies_.find(rounded);
  if (it != bodies_.end()) return *it->second;
  std::string body;
  body.reserve(rounded + 80);
  static constexpr absl::string_view kAlphabet =
      "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 the quick brown fox ";
  uint64_t line = 0;
  while (body.size() + 2 < rounded) {
    const size_t length = std::min<uint64_t>(74, rounded - body.size() - 2);
    std::string text;
    for (size_t i = 0; i < length; ++i) text += kAlphabet[(line * 7 + i) % kAlphabet.size()];
    if (line % 10 == 3 && !text.empty()) text[0] = '.';  // exercises dot-stuffing
    body += text;
    body += "\r\n";
    ++line;
  }
  auto wire = std::make_unique<std::string>();
  net::DotStuffer stuffer;
  stuffer.Stuff(body, wire.get());
  stuffer.Finish(wire.get());
  const std::string& result = *wire;
  bodies_.emplace(rounded, std::move(wire));
  return result;
}

}  // namespace ringpost::blast
