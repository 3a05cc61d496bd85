#include "net/inbound/relay_policy.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/domain_name.h"
#include "queue/maildir.h"

namespace ringpost::net {

absl::StatusOr<RelayPolicy> RelayPolicy::Parse(absl::string_view relay_networks,
                                               absl::string_view relay_domains,
                                               absl::string_view local_domains) {
  RelayPolicy policy;
  auto networks = core::CidrSet::Parse(relay_networks);
  if (!networks.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--relay_networks: ", networks.status().message()));
  }
  policy.relay_networks_ = *std::move(networks);
  auto relay = core::DomainSet::Parse("--relay_domains", relay_domains);
  if (!relay.ok()) return relay.status();
  policy.relay_domains_ = *std::move(relay);
  auto local = core::DomainSet::Parse("--local_domains", local_domains);
  if (!local.ok()) return local.status();
  policy.local_domains_ = *std::move(local);
  return policy;
}

bool RelayPolicy::IsLocalDomain(absl::string_view domain) const { return local_domains_.Contains(domain); }

bool RelayPolicy::IsRelayDomain(absl::string_view domain) const { return relay_domains_.Contains(domain); }

RcptVerdict RelayPolicy::Check(absl::string_view local_part, absl::string_view domain,
                               bool client_may_relay) const {
  if (domain.empty()) return postmaster_.empty() ? RcptVerdict::kNoPostmaster : RcptVerdict::kAccept;
  if (IsLocalDomain(domain)) {
    const std::string folder = queue::MaildirFolderName(local_part);
    if (folder.empty()) return RcptVerdict::kUnsafeLocalPart;
    const std::string canonical = core::CanonicalDomain(domain);
    if (local_recipients_ != nullptr) {
      return local_recipients_->Contains(absl::StrCat(local_part, "@", canonical))
                 ? RcptVerdict::kAccept
                 : RcptVerdict::kUnknownLocalUser;
    }
    if (create_maildirs_) return RcptVerdict::kAccept;
    // Only users that have a Maildir: anyone can send mail, and a folder per invented
    // name would exhaust the file system's inodes. A metadata lookup (the kernel's
    // dentry cache answers repeated ones); local domains are the small side of a gateway.
    struct stat st {};
    const std::string path = absl::StrCat(maildir_root_, "/", canonical, "/", folder);
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) ? RcptVerdict::kAccept
                                                                : RcptVerdict::kUnknownLocalUser;
  }
  if (client_may_relay || IsRelayDomain(domain)) return RcptVerdict::kAccept;
  return RcptVerdict::kRelayDenied;
}

}  // namespace ringpost::net
