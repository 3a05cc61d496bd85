// Fuzz target: the --listen / --dns_servers address syntax. Never a crash; whatever
// parses prints back to text that parses to the same address.
#include <cstdint>
#include "absl/strings/string_view.h"

#include "core/check.h"
#include "core/socket_address.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto list = ringpost::core::ParseSocketAddressList(text);
  if (!list.ok()) return 0;
  RP_CHECK(!list->empty() && list->size() <= ringpost::core::kSocketAddressListMax);
  for (const auto& address : *list) {
    auto again = ringpost::core::ParseSocketAddress(address.ToString());
    RP_CHECK(again.ok());
    RP_CHECK(again->ToString() == address.ToString());
  }
  return 0;
}
