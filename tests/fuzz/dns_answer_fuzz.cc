// Fuzz target: the DNS answer parser and the MX plan over arbitrary bytes. Never a
// crash, never more than the bounds.
#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/check.h"
#include "dns/dns_message.h"
#include "dns/mx_plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto answer = ringpost::dns::ParseDnsAnswer(bytes);
  if (!answer.ok()) return 0;
  RP_CHECK(answer->mx.size() <= ringpost::dns::kRecordsPerTypeMax);
  RP_CHECK(answer->addresses.size() <= ringpost::dns::kRecordsPerTypeMax);
  RP_CHECK(answer->question.size() <= ringpost::dns::kNameBytesMax);
  for (const auto& mx : answer->mx) RP_CHECK(mx.exchange.size() <= ringpost::dns::kNameBytesMax);
  const auto plan = ringpost::dns::PlanMx(
      answer->mx, [](const std::string& name) { return name.size() % 3 == 0; },
      [](uint64_t n) { return n - 1; });
  RP_CHECK(plan.hosts.size() <= answer->mx.size());
  return 0;
}
