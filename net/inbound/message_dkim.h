// DKIM for one message as a session receives it: signing (mail of the relay networks
// and of logged-in users) or verifying (mail from anywhere else), in the same pass that
// stores it. The message's bytes as stored (Received: first) go through Append on
// their way to the queue log; what DKIM adds goes on top of the message with
// Spool::PrependBody, before the commit, so the 250 covers it and a retry never signs
// again.
//
// Signing keeps the header section (bounded) and hashes the body as it passes; the
// signature is computed at the end of the data. Verifying holds the header section
// back until it ends, so that an Authentication-Results field claiming this host
// (--hostname) can be removed before it is stored (RFC 8601 §5), then hashes the body
// for each signature; the keys are fetched at the end of the data.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/clock.h"
#include "net/dkim/dkim_canonical.h"
#include "net/dkim/dkim_verifier.h"
#include "net/dkim/header_fields.h"
#include "net/inbound/dkim_shard.h"

namespace ringpost::net {

struct DkimSigningOptions {
  // --dkim_headers: the fields signed when present; "from" is always signed once more
  // than it occurs (over-signed), so no From: can be added.
  std::vector<std::string> header_names = {"from",
                                           "sender",
                                           "reply-to",
                                           "subject",
                                           "date",
                                           "message-id",
                                           "to",
                                           "cc",
                                           "mime-version",
                                           "content-type",
                                           "content-transfer-encoding",
                                           "content-id",
                                           "content-description",
                                           "in-reply-to",
                                           "references",
                                           "list-id",
                                           "list-help",
                                           "list-unsubscribe",
                                           "list-unsubscribe-post",
                                           "list-subscribe",
                                           "list-post",
                                           "list-owner",
                                           "list-archive"};
  Canonicalization header_mode = Canonicalization::kRelaxed;  // --dkim_canonicalization
  Canonicalization body_mode = Canonicalization::kRelaxed;
  int64_t lifetime_seconds = 0;  // --dkim_signature_lifetime: x= (0: none)
  // --dkim_extra_domains: every message signed is also signed with these domains' keys
  // (a sending service's own domain), lower case.
  std::vector<std::string> extra_domains;
  bool required = false;  // --dkim_required
};

class MessageDkim {
 public:
  enum class Mode { kOff, kSign, kVerify };
  using Store = std::function<absl::Status(absl::Span<const absl::string_view>)>;

  MessageDkim(DkimShard& shard, const DkimSigningOptions& options, std::string hostname);

  // A new message; `now` (seconds since the epoch) judges the signatures' x=.
  void Begin(Mode mode, int64_t now);
  Mode mode() const { return mode_; }
  // The message's next bytes; `store` gets what to store now, in order.
  absl::Status Append(absl::Span<const absl::string_view> pieces, const Store& store);
  // The end of the data: what was held back is stored.
  absl::Status Finish(const Store& store);

  // kSign, after Finish: the DKIM-Signature fields to put on top. Without a signature
  // of the author's domain `unsigned_reason` says why, for the log (there may still be
  // extra domains' signatures); with --dkim_required such a message is refused:
  // `refusal` is the reply text after "451 4.7.5 ".
  struct Signed {
    std::string fields;
    std::string unsigned_reason;
    std::string refusal;
  };
  Signed Sign();

  // kVerify, after Finish: the Authentication-Results field to put on top, through
  // `done` once the keys are in (never inside the call).
  void Verify(core::MonoNanos now, std::function<void(std::string field)> done);

 private:
  // The held header section as stored: without Authentication-Results fields that
  // claim this host.
  void StoreHeader(std::vector<absl::string_view>* out);
  void AddBody(absl::string_view bytes);
  // The header section with its empty line (one is added when the message had none).
  absl::string_view WholeSection(std::string* storage) const;

  DkimShard& shard_;
  const DkimSigningOptions& options_;
  const std::string hostname_;        // the authserv-id
  const std::string hostname_lower_;  // to recognize forged results by it
  Mode mode_ = Mode::kOff;
  int64_t now_ = 0;
  HeaderSectionReader header_;
  bool header_stored_ = false;
  std::unique_ptr<DkimBodyHasher> body_hasher_;  // kSign
  std::unique_ptr<DkimVerifier> verifier_;       // kVerify, once the header section ended
  std::string body_hash_;
};

}  // namespace ringpost::net
