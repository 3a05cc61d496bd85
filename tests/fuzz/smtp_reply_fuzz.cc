// Fuzz target: a server's reply stream through LineAssembler and ReplyParser, as the
// load generator and the delivery client read it. Never a crash; memory stays bounded.
#include <cstdint>

#include "core/check.h"
#include "net/smtp/line_assembler.h"
#include "net/smtp/smtp_reply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  ringpost::net::LineAssembler lines(512);
  ringpost::net::ReplyParser parser;
  absl::string_view line;
  for (;;) {
    const auto result = lines.Next(&input, &line);
    if (result == ringpost::net::LineAssembler::Result::kNeedMore) break;
    RP_CHECK(lines.buffered_bytes() <= 512);
    if (result != ringpost::net::LineAssembler::Result::kLine) continue;
    RP_CHECK(line.size() <= 512);
    if (parser.OnLine(line) == ringpost::net::ReplyParser::Result::kReply) {
      const auto& reply = parser.reply();
      RP_CHECK(reply.code >= 200 && reply.code <= 599);
      RP_CHECK(reply.text.size() <= ringpost::net::ReplyParser::kTextBytesMax);
    }
  }
  return 0;
}
