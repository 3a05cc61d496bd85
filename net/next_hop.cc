#include "net/next_hop.h"

#include "absl/strings/str_cat.h"

namespace ringpost::net {

void StaticNextHops::Resolve(const std::string& domain, Done done) {
  NextHop hop;
  if (relay_.IsLocalDomain(domain)) {
    hop.kind = NextHop::Kind::kLocal;
  } else if (auto route = routes_.Find(domain); route.has_value()) {
    hop.kind = NextHop::Kind::kSmtp;
    hop.addresses.push_back(*route);
  } else {
    hop.kind = NextHop::Kind::kTempFail;
    hop.status = "4.4.3";
    hop.text = absl::StrCat("no route to ", domain.empty() ? "(no domain)" : domain,
                            ": no --routes entry and no smarthost (*=)");
  }
  done(std::move(hop));
}

}  // namespace ringpost::net
