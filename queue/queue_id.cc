#include "queue/queue_id.h"

#include "core/check.h"

namespace ringpost::queue {
namespace {
constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int kShardBits = 10;
constexpr int kCounterBits = 20;
constexpr uint32_t kCounterMax = (1u << kCounterBits) - 1;

int DigitOf(char c) {
  for (int i = 0; i < 32; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}
}  // namespace

std::string FormatQueueId(uint64_t value) {
  std::string id(kQueueIdChars, '0');
  for (size_t i = kQueueIdChars; i-- > 0;) {
    id[i] = kAlphabet[value & 31];
    value >>= 5;
  }
  return id;
}

bool ParseQueueId(absl::string_view id, uint64_t* value) {
  if (id.size() != kQueueIdChars) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < kQueueIdChars; ++i) {
    const int digit = DigitOf(id[i]);
    if (digit < 0) return false;
    // 13 digits hold 65 bits: the first may only carry one.
    if (i == 0 && digit > 1) return false;
    v = v << 5 | static_cast<uint64_t>(digit);
  }
  *value = v;
  return true;
}

QueueIdGenerator::QueueIdGenerator(uint32_t shard) : shard_(shard) { RP_CHECK_LT(shard, 1u << kShardBits); }

std::string QueueIdGenerator::Next(uint64_t now_unix_seconds) {
  if (now_unix_seconds > seconds_) {
    seconds_ = now_unix_seconds;
    counter_ = 0;
  } else if (counter_ > kCounterMax) {
    ++seconds_;  // more than a million ids this second (or a clock step back): borrow
    counter_ = 0;
  }
  const uint64_t value =
      seconds_ << (kShardBits + kCounterBits) | uint64_t{shard_} << kCounterBits | counter_++;
  return FormatQueueId(value);
}

void QueueIdGenerator::Observe(absl::string_view id) {
  uint64_t value = 0;
  if (!ParseQueueId(id, &value)) return;
  const uint64_t seconds = value >> (kShardBits + kCounterBits);
  // Never issue within a second that already has ids: the next one starts fresh.
  if (seconds >= seconds_) {
    seconds_ = seconds;
    counter_ = kCounterMax + 1;
  }
}

}  // namespace ringpost::queue
