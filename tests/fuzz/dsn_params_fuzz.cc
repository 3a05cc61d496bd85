// Fuzz target: DSN parameter text (RFC 3461) as the server checks it and as delivery
// reads it back. Never a crash; what is read back passes the server's checks again, and
// what is passed on to a next hop reads back the same; a decoded value has no control
// character (it goes into a report's header field).
#include <cstdint>
#include <string>

#include "core/check.h"
#include "core/dsn_params.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringpost::core;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const DsnMessageParams mail = DsnMessageParamsOf(text);
  if (!mail.envid.empty()) RP_CHECK(CheckEnvid(mail.envid).ok());
  const DsnMessageParams mail_again = DsnMessageParamsOf(mail.ForMail());
  RP_CHECK(mail_again.ret == mail.ret && mail_again.envid == mail.envid);
  const DsnRecipientParams rcpt = DsnRecipientParamsOf(text);
  if (!rcpt.orcpt.empty()) RP_CHECK(CheckOrcpt(rcpt.orcpt).ok());
  const DsnRecipientParams rcpt_again = DsnRecipientParamsOf(rcpt.ForRcpt());
  RP_CHECK(rcpt_again.notify == rcpt.notify && rcpt_again.orcpt == rcpt.orcpt);
  RP_CHECK(IsXtext(EncodeXtext(text)));
  if (IsXtext(text)) {
    for (char c : DecodeXtext(text)) RP_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  }
  for (char c : rcpt.OriginalRecipient()) RP_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  return 0;
}
