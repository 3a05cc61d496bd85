// Fuzz target: command lines and MAIL/RCPT paths. Never a crash; a path that parses
// respects the RFC 5321 size limits and parses again from its own text; allowing bare
// addresses never changes what a bracketed path means.
#include <cstdint>
#include <string>

#include "core/check.h"
#include "net/smtp/smtp_command.h"

namespace {

using ringpost::net::PathArgument;
using ringpost::net::PathSyntax;

void CheckPath(const PathArgument& path) {
  RP_CHECK(path.params.size() <= ringpost::net::kEsmtpParamsMax);
  if (path.path.is_null || path.path.is_postmaster) return;
  RP_CHECK(path.path.mailbox.size() <= ringpost::net::kPathBytesMax);
  RP_CHECK(path.path.local_part().size() <= ringpost::net::kLocalPartBytesMax);
  bool non_ascii = false;
  RP_CHECK(ringpost::net::IsValidMailbox(path.path.mailbox, &non_ascii));
  RP_CHECK(non_ascii == path.path.non_ascii);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view line(reinterpret_cast<const char*>(data), size);
  const ringpost::net::SmtpCommand command = ringpost::net::ParseCommand(line);
  RP_CHECK(command.verb_text.size() + (command.argument.empty() ? 0 : 1) <= line.size());
  for (auto parse : {&ringpost::net::ParseMailFrom, &ringpost::net::ParseRcptTo}) {
    auto strict = parse(line, PathSyntax::kAngleBrackets);
    auto lenient = parse(line, PathSyntax::kBareAllowed);
    if (strict.ok()) {
      RP_CHECK(lenient.ok());
      RP_CHECK(lenient->path.mailbox == strict->path.mailbox);
      RP_CHECK(lenient->params.size() == strict->params.size());
      CheckPath(*strict);
    }
    if (lenient.ok()) CheckPath(*lenient);
  }
  return 0;
}
