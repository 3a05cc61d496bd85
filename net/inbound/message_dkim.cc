#include "net/inbound/message_dkim.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/log.h"

namespace ringpost::net {

MessageDkim::MessageDkim(DkimShard& shard, const DkimSigningOptions& options, std::string hostname)
    : shard_(shard),
      options_(options),
      hostname_(std::move(hostname)),
      hostname_lower_(absl::AsciiStrToLower(hostname_)) {}

void MessageDkim::Begin(Mode mode, int64_t now) {
  mode_ = mode;
  now_ = now;
  header_.Reset();
  header_stored_ = false;
  verifier_.reset();
  body_hash_.clear();
  body_hasher_ = mode == Mode::kSign ? std::make_unique<DkimBodyHasher>(options_.body_mode) : nullptr;
}

absl::string_view MessageDkim::WholeSection(std::string* storage) const {
  if (header_.ended()) return header_.bytes();
  *storage = header_.bytes();
  if (!storage->empty() && storage->back() != '\n') *storage += "\r\n";
  *storage += "\r\n";
  return *storage;
}

void MessageDkim::AddBody(absl::string_view bytes) {
  if (body_hasher_ != nullptr) body_hasher_->Add(bytes);
  if (verifier_ != nullptr) verifier_->AddBody(bytes);
}

absl::Status MessageDkim::Append(absl::Span<const absl::string_view> pieces, const Store& store) {
  if (mode_ == Mode::kOff) return store(pieces);
  if (mode_ == Mode::kSign) {
    for (absl::string_view piece : pieces) {
      const size_t header_bytes = header_.ended() ? 0 : header_.Feed(piece);
      if (header_.ended() && !header_.overflowed()) AddBody(piece.substr(header_bytes));
    }
    return store(pieces);
  }
  std::vector<absl::string_view> out;
  for (absl::string_view piece : pieces) {
    if (!header_stored_) {
      const size_t header_bytes = header_.Feed(piece);
      if (!header_.ended()) continue;  // held back, in header_
      StoreHeader(&out);
      piece.remove_prefix(header_bytes);
    }
    if (piece.empty()) continue;
    AddBody(piece);
    out.push_back(piece);
  }
  return out.empty() ? absl::OkStatus() : store(out);
}

void MessageDkim::StoreHeader(std::vector<absl::string_view>* out) {
  header_stored_ = true;
  const absl::string_view section = header_.bytes();
  std::vector<absl::string_view> fields = SplitHeaderFields(section);
  // RFC 8601 §5: results that claim to come from this host, but arrived with the
  // message, are forged; they are not stored.
  size_t written = 0;
  for (absl::string_view field : fields) {
    if (HeaderFieldName(field) != "authentication-results" || AuthservIdOf(field) != hostname_lower_) {
      continue;
    }
    const size_t start = static_cast<size_t>(field.data() - section.data());
    if (start > written) out->push_back(section.substr(written, start - written));
    written = start + field.size();
    ++shard_.stats().forged_results_removed;
  }
  if (written < section.size()) out->push_back(section.substr(written));
  if (header_.overflowed()) return;  // too large to verify: Verify says so
  // The verifier sees the message as it arrived: without the Received: field this
  // server put on top (the first).
  std::string storage;
  absl::string_view whole = WholeSection(&storage);
  const size_t ours = fields.empty() ? 0 : fields.front().size();
  verifier_ = std::make_unique<DkimVerifier>(whole.substr(std::min(ours, whole.size())), now_);
}

absl::Status MessageDkim::Finish(const Store& store) {
  if (mode_ == Mode::kVerify && !header_stored_) {  // the message was all header
    std::vector<absl::string_view> out;
    StoreHeader(&out);
    if (!out.empty()) RP_RETURN_IF_ERROR(store(out));
  }
  if (body_hasher_ != nullptr) body_hash_ = body_hasher_->Finish();
  if (verifier_ != nullptr) verifier_->FinishBody();
  return absl::OkStatus();
}

MessageDkim::Signed MessageDkim::Sign() {
  Signed result;
  DkimStats& stats = shard_.stats();
  const std::shared_ptr<const DkimKeyTable::Snapshot> table = shard_.key_table()->Get();
  std::string storage;
  const std::vector<absl::string_view> fields =
      header_.overflowed() ? std::vector<absl::string_view>() : SplitHeaderFields(WholeSection(&storage));
  std::string from_domain;
  for (absl::string_view field : fields) {
    if (HeaderFieldName(field) == "from") {
      from_domain = FromDomain(field);  // the first From: (there should be one)
      break;
    }
  }
  // The author's keys (the From: domain, or its nearest parent the table names), then
  // those of each --dkim_extra_domains domain (a sending service's own).
  const std::vector<DkimKeyEntry>* author = from_domain.empty() ? nullptr : table->Find(from_domain);
  std::vector<const DkimKeyEntry*> keys;
  if (author != nullptr) {
    for (const DkimKeyEntry& entry : *author) keys.push_back(&entry);
  }
  if (!header_.overflowed()) {
    for (const std::string& extra : options_.extra_domains) {
      auto it = table->by_domain.find(extra);
      if (it == table->by_domain.end() || (author != nullptr && author->front().domain == extra)) continue;
      for (const DkimKeyEntry& entry : it->second) keys.push_back(&entry);
    }
  }

  DkimSignRequest request;
  request.header_mode = options_.header_mode;
  request.body_mode = options_.body_mode;
  request.header_fields = fields;
  request.signed_names = DkimSignedNames(fields, options_.header_names);
  request.body_hash = body_hash_;
  request.time = now_;
  request.expiry = options_.lifetime_seconds > 0 ? now_ + options_.lifetime_seconds : 0;
  std::string key_error;
  bool author_signed = false;
  for (const DkimKeyEntry* entry : keys) {
    std::string error;
    const DkimKey* key = shard_.key_cache().Find(*entry, table->generation, &error);
    absl::StatusOr<std::string> signature = absl::FailedPreconditionError("no key");
    if (key != nullptr) {
      request.domain = entry->domain;
      request.selector = entry->selector;
      signature = SignDkim(*key, request);
    } else if (!error.empty()) {
      RP_LOG(kError) << error;  // once per key and table
    }
    const bool authors = author != nullptr && entry->domain == author->front().domain;
    if (!signature.ok()) {
      if (authors)
        key_error =
            absl::StrCat("the DKIM key for d=", entry->domain, " s=", entry->selector, " does not read");
      continue;
    }
    result.fields += *signature;
    author_signed |= authors;
  }
  if (author_signed) {
    ++stats.signed_messages;
    return result;
  }
  // Without a signature of the author's domain the message counts as unsigned (DMARC
  // would not align with another domain's), whatever else signed it.
  ++(author == nullptr ? stats.unsigned_no_key : stats.unsigned_key_error);
  result.unsigned_reason = header_.overflowed()  ? "header section over 256 KiB"
                           : from_domain.empty() ? "no From: domain to sign for"
                           : author == nullptr   ? absl::StrCat("no DKIM key for ", from_domain)
                                                 : key_error;
  if (options_.required) {
    ++stats.refused_unsigned;
    result.refusal = result.unsigned_reason;
  } else if (!result.fields.empty()) {
    absl::StrAppend(&result.unsigned_reason, " (signed for ", absl::StrJoin(options_.extra_domains, ", "),
                    " only)");
  }
  return result;
}

void MessageDkim::Verify(core::MonoNanos now, std::function<void(std::string field)> done) {
  DkimStats& stats = shard_.stats();
  if (verifier_ == nullptr) {  // the header section was too large to keep
    ++stats.verdicts[static_cast<int>(DkimVerdict::kNeutral)];
    const DkimCheck check{DkimVerdict::kNeutral, "", "", "", "header section too large to verify"};
    return shard_.RunLater(
        [field = AuthenticationResultsField(hostname_, {check}), done = std::move(done)] { done(field); });
  }
  if (verifier_->signatures() == 0) {
    ++stats.no_signature;
    return shard_.RunLater(
        [field = AuthenticationResultsField(hostname_, {}), done = std::move(done)] { done(field); });
  }
  // The verifier goes with the lookup: the session may be gone when the keys come.
  std::shared_ptr<DkimVerifier> verifier = std::move(verifier_);
  shard_.LookUpKeys(
      verifier->KeyNames(), now,
      [verifier, &stats, hostname = hostname_, done = std::move(done)](DkimShard::Lookups keys) {
        const std::vector<DkimCheck> checks = verifier->Check(keys);
        for (const DkimCheck& check : checks) ++stats.verdicts[static_cast<int>(check.verdict)];
        done(AuthenticationResultsField(hostname, checks));
      });
}

}  // namespace ringpost::net
