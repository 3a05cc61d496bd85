// Fuzz target: command lines and MAIL/RCPT paths. Never a crash; a path that parses
// respects the RFC 5321 size limits and parses again from its own text.
#include <cstdint>
#include <string>

#include "core/check.h"
#include "net/smtp/smtp_command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view line(reinterpret_cast<const char*>(data), size);
  const ringpost::net::SmtpCommand command = ringpost::net::ParseCommand(line);
  RP_CHECK(command.verb_text.size() + (command.argument.empty() ? 0 : 1) <= line.size());
  for (auto parse : {&ringpost::net::ParseMailFrom, &ringpost::net::ParseRcptTo}) {
    auto path = parse(line);
    if (!path.ok()) continue;
    RP_CHECK(path->params.size() <= ringpost::net::kEsmtpParamsMax);
    if (path->path.is_null || path->path.is_postmaster) continue;
    RP_CHECK(path->path.mailbox.size() <= ringpost::net::kPathBytesMax);
    RP_CHECK(path->path.local_part().size() <= ringpost::net::kLocalPartBytesMax);
    bool non_ascii = false;
    RP_CHECK(ringpost::net::IsValidMailbox(path->path.mailbox, &non_ascii));
    RP_CHECK(non_ascii == path->path.non_ascii);
  }
  return 0;
}
