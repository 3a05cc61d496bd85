// Fuzz target: --routes syntax. Never a crash; every route found is an address with a
// port, or a valid host name with a port, and prints back to text that parses to the
// same route.
#include <cstdint>
#include <string>

#include "core/check.h"
#include "core/domain_name.h"
#include "net/outbound/route_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto table = ringpost::net::RouteTable::Parse(text);
  if (!table.ok()) return 0;
  RP_CHECK(table->size() <= ringpost::net::kRoutesMax);
  // Ask for the domain each entry names (and one nobody names): the smarthost or theirs.
  size_t at = 0;
  for (int asked = 0; asked < 8 && at <= text.size(); ++asked) {
    const size_t equals = text.find('=', at);
    const std::string domain(text.substr(at, equals == absl::string_view::npos ? 0 : equals - at));
    if (auto route = table->Find(asked == 0 ? "nobody.invalid" : domain); route.has_value()) {
      if (route->address) {
        RP_CHECK(route->address->port() != 0);
      } else {
        RP_CHECK(route->port != 0 && ringpost::core::IsHostName(route->host));
      }
      auto again = ringpost::net::RouteTable::Parse("*=" + route->ToString());
      RP_CHECK(again.ok() && again->Find("x")->ToString() == route->ToString());
    }
    if (equals == absl::string_view::npos) break;
    const size_t comma = text.find(',', equals);
    if (comma == absl::string_view::npos) break;
    at = comma + 1;
  }
  return 0;
}
