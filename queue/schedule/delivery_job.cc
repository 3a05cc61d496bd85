#include "queue/schedule/delivery_job.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "core/domain_name.h"

namespace ringpost::queue {
namespace {

// The MAIL parameters as the server stored them ("BODY=8BITMIME SMTPUTF8").
bool HasParam(absl::string_view params, absl::string_view wanted) {
  while (!params.empty()) {
    const size_t space = params.find(' ');
    const absl::string_view param = params.substr(0, space);
    if (absl::EqualsIgnoreCase(param, wanted)) return true;
    if (space == absl::string_view::npos) break;
    params.remove_prefix(space + 1);
  }
  return false;
}

}  // namespace

std::string RecipientDomain(const std::string& address) {
  const size_t at = address.rfind('@');
  if (at == std::string::npos) return "";
  return core::CanonicalDomain(absl::string_view(address).substr(at + 1));
}

int DomainShard(const std::string& domain, int shard_count) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : domain) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return static_cast<int>(hash % static_cast<uint64_t>(shard_count));
}

std::shared_ptr<StoredMessage> StoredMessageOf(const Envelope& envelope) {
  auto message = std::make_shared<StoredMessage>();
  message->queue_id = envelope.queue_id;
  message->arrival_unix_micros = envelope.arrival_unix_micros;
  message->mail_from = envelope.mail_from;
  message->eight_bit = HasParam(envelope.mail_params, "BODY=8BITMIME");
  message->smtputf8 = HasParam(envelope.mail_params, "SMTPUTF8");
  message->dsn = core::DsnMessageParamsOf(envelope.mail_params);
  message->body = BodyOf(envelope);
  message->pool = envelope.pool;
  return message;
}

std::vector<std::unique_ptr<DeliveryJob>> SplitByDomain(const std::shared_ptr<StoredMessage>& message,
                                                        const std::vector<Recipient>& recipients) {
  std::vector<std::unique_ptr<DeliveryJob>> jobs;
  absl::flat_hash_map<std::string, size_t> by_domain;
  for (uint32_t i = 0; i < recipients.size(); ++i) {
    const Recipient& r = recipients[i];
    if (r.final) continue;
    std::string domain = RecipientDomain(r.address);
    auto [it, inserted] = by_domain.try_emplace(domain, jobs.size());
    if (inserted) {
      auto job = std::make_unique<DeliveryJob>();
      job->message = message;
      job->domain = std::move(domain);
      jobs.push_back(std::move(job));
    }
    jobs[it->second]->recipients.push_back(
        JobRecipient{i, r.address, r.attempts, r.next_attempt_unix_micros, core::DsnRecipientParamsOf(r.params)});
    jobs[it->second]->held |= r.held;
  }
  message->unfinished.store(static_cast<uint32_t>(jobs.size()), std::memory_order_relaxed);
  return jobs;
}

}  // namespace ringpost::queue
