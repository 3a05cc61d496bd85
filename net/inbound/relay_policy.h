// Who may send mail where (DESIGN.md, The operator interface): relay permission comes
// only from --relay_networks (the client), --relay_domains and --local_domains (the
// recipient's domain). Routes never grant it.
//
// Pure and immutable after Parse; one instance is shared read-only by every shard.
// Domains compare case-insensitively (RFC 5321 §2.4) and without a trailing dot.
#pragma once

#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/cidr.h"
#include "core/domain_name.h"
#include "net/inbound/local_recipients.h"
#include "net/smtp/recipient_policy.h"

namespace ringpost::net {

class RelayPolicy final : public RecipientPolicy {
 public:
  // Comma-separated lists; empty text is an empty list.
  static absl::StatusOr<RelayPolicy> Parse(absl::string_view relay_networks, absl::string_view relay_domains,
                                           absl::string_view local_domains);

  // Known local addresses (--local_recipients, reloadable); without a list, local
  // recipients are decided by their Maildirs (SetMaildirs).
  void SetLocalRecipients(std::shared_ptr<const LocalRecipients> known) {
    local_recipients_ = std::move(known);
  }

  bool ClientMayRelay(const core::SocketAddress& client) const { return relay_networks_.Contains(client); }
  bool IsLocalDomain(absl::string_view domain) const;
  bool IsRelayDomain(absl::string_view domain) const;
  const core::DomainSet& local_domains() const { return local_domains_; }
  // The verdict for a recipient "local@domain" from a client (relay rights already
  // decided). `<postmaster>` without a domain is accepted when there is a postmaster
  // (RFC 5321 §4.5.1), from anyone.
  RcptVerdict Check(absl::string_view local_part, absl::string_view domain,
                    bool client_may_relay) const override;
  // Local recipients without --local_recipients: only those whose Maildir exists under
  // `root` (a lookup at RCPT), unless `create` (any safe local part; its Maildir is made
  // on delivery). Default: create (tests and embedded uses that set no root).
  void SetMaildirs(std::string root, bool create) {
    maildir_root_ = std::move(root);
    create_maildirs_ = create;
  }
  // --postmaster: where mail to <postmaster> goes (empty: refused).
  void SetPostmaster(std::string address) { postmaster_ = std::move(address); }
  const std::string& postmaster() const override { return postmaster_; }

 private:
  core::CidrSet relay_networks_;
  core::DomainSet relay_domains_;
  core::DomainSet local_domains_;
  std::string postmaster_;
  std::string maildir_root_;
  bool create_maildirs_ = true;
  std::shared_ptr<const LocalRecipients> local_recipients_;  // null: no list
};

}  // namespace ringpost::net
