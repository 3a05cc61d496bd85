#include "net/inbound/dkim_shard.h"

#include <algorithm>
#include <memory>

#include "absl/strings/match.h"

namespace ringpost::net {
namespace {

core::MonoNanos Seconds(uint32_t s) { return static_cast<core::MonoNanos>(s) * core::kNanosPerSecond; }

// RFC 6376 §3.6.2.2: the TXT record that is the key (a name may hold others).
DkimKeyLookup FromAnswer(const absl::Status& status, const dns::DnsAnswer& answer, core::MonoNanos* ttl) {
  *ttl = 0;
  if (!status.ok()) return {DkimKeyLookup::Outcome::kTempError, ""};
  if (answer.rcode == dns::Rcode::kNxDomain || (answer.rcode == dns::Rcode::kNoError && answer.txt.empty())) {
    *ttl = answer.negative_ttl ? std::min(Seconds(*answer.negative_ttl), DkimShard::kMissingKeyTtl)
                               : DkimShard::kMissingKeyTtl;
    return {DkimKeyLookup::Outcome::kNotFound, ""};
  }
  if (answer.rcode != dns::Rcode::kNoError) return {DkimKeyLookup::Outcome::kTempError, ""};
  const dns::TxtRecord* chosen = &answer.txt.front();
  for (const dns::TxtRecord& txt : answer.txt) {
    if (absl::StartsWith(txt.text, "v=DKIM1")) {
      chosen = &txt;
      break;
    }
  }
  *ttl = std::min(Seconds(chosen->ttl), DkimShard::kKeyRecordTtlMax);
  return {DkimKeyLookup::Outcome::kFound, chosen->text};
}

}  // namespace

void DkimShard::LookUpKeys(const std::vector<std::string>& names, core::MonoNanos now,
                           std::function<void(Lookups)> done) {
  struct Pending {
    Lookups found;
    size_t outstanding = 0;
    std::function<void(Lookups)> done;
  };
  auto pending = std::make_shared<Pending>();
  pending->done = std::move(done);
  std::vector<std::string> ask;
  for (const std::string& name : names) {
    if (const DkimKeyLookup* cached = records_.Find(name, now); cached != nullptr) {
      pending->found[name] = *cached;
    } else {
      ask.push_back(name);
    }
  }
  // One more than the queries, released at the end of this turn: `done` runs once all
  // have answered, and never inside this call.
  pending->outstanding = ask.size() + 1;
  auto finish_one = [pending] {
    if (--pending->outstanding == 0) pending->done(std::move(pending->found));
  };
  for (const std::string& name : ask) {
    resolver_->Query(
        name, dns::RecordType::kTxt,
        [this, pending, name, finish_one, now](const absl::Status& status, const dns::DnsAnswer& answer) {
          core::MonoNanos ttl = 0;
          DkimKeyLookup lookup = FromAnswer(status, answer, &ttl);
          if (ttl > 0) records_.Put(name, lookup, now + ttl, now);
          pending->found[name] = std::move(lookup);
          finish_one();
        });
  }
  RunLater(finish_one);
}

void DkimShard::RunLater(std::function<void()> call) {
  shard_.RunAfterTurn({[](void* context, uint64_t) {
                         std::unique_ptr<std::function<void()>> owned(
                             static_cast<std::function<void()>*>(context));
                         (*owned)();
                       },
                       new std::function<void()>(std::move(call)), 0});
}

}  // namespace ringpost::net
