#include "queue/queue_id.h"

#include "core/check.h"

namespace ringpost::queue {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int kNodeBits = 13;
constexpr int kShardBits = 8;
constexpr int kCounterBits = 20;
constexpr uint32_t kCounterMax = (1u << kCounterBits) - 1;
// The 13-character form: seconds (34) | shard (10) | counter (20).
constexpr size_t kLegacyChars = 13;
constexpr int kLegacyShardBits = 10;

using Bits = unsigned __int128;

int DigitOf(char c) {
  for (int i = 0; i < 32; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}

// `chars` base32 digits; false when one is not a digit or the value has more bits than
// `bits`.
bool ParseDigits(absl::string_view text, int bits, Bits* value) {
  Bits v = 0;
  for (const char c : text) {
    const int digit = DigitOf(c);
    if (digit < 0) return false;
    v = v << 5 | static_cast<Bits>(digit);
  }
  if ((v >> bits) != 0) return false;
  *value = v;
  return true;
}

}  // namespace

std::string FormatQueueId(const QueueIdParts& parts) {
  RP_DCHECK(parts.shard < kQueueIdShards && parts.counter <= kCounterMax && parts.node < kQueueIdNodes);
  Bits value = static_cast<Bits>(parts.seconds);
  value = value << kShardBits | parts.shard;
  value = value << kCounterBits | parts.counter;
  value = value << kNodeBits | parts.node;
  std::string id(kQueueIdChars, '0');
  for (size_t i = kQueueIdChars; i-- > 0;) {
    id[i] = kAlphabet[static_cast<int>(value & 31)];
    value >>= 5;
  }
  return id;
}

bool ParseQueueId(absl::string_view id, QueueIdParts* parts) {
  Bits v = 0;
  if (id.size() == kQueueIdChars) {
    if (!ParseDigits(id, 34 + kShardBits + kCounterBits + kNodeBits, &v)) return false;
    parts->node = static_cast<uint32_t>(v & (kQueueIdNodes - 1));
    v >>= kNodeBits;
    parts->counter = static_cast<uint32_t>(v & kCounterMax);
    v >>= kCounterBits;
    parts->shard = static_cast<uint32_t>(v & (kQueueIdShards - 1));
    parts->seconds = static_cast<uint64_t>(v >> kShardBits);
    return true;
  }
  if (id.size() == kLegacyChars) {
    if (!ParseDigits(id, 64, &v)) return false;
    parts->node = 0;
    parts->counter = static_cast<uint32_t>(v & kCounterMax);
    v >>= kCounterBits;
    parts->shard = static_cast<uint32_t>(v & ((1u << kLegacyShardBits) - 1));
    parts->seconds = static_cast<uint64_t>(v >> kLegacyShardBits);
    return true;
  }
  return false;
}

QueueIdGenerator::QueueIdGenerator(uint32_t shard, uint32_t node) : shard_(shard), node_(node) {
  RP_CHECK_LT(shard, kQueueIdShards);
  RP_CHECK_LT(node, kQueueIdNodes);
}

std::string QueueIdGenerator::Next(uint64_t now_unix_seconds) {
  if (now_unix_seconds > seconds_) {
    seconds_ = now_unix_seconds;
    counter_ = 0;
  } else if (counter_ > kCounterMax) {
    ++seconds_;  // more than a million ids this second (or a clock step back): borrow
    counter_ = 0;
  }
  return FormatQueueId(QueueIdParts{seconds_, shard_, counter_++, node_});
}

void QueueIdGenerator::Observe(absl::string_view id) {
  QueueIdParts parts;
  if (!ParseQueueId(id, &parts)) return;
  // Never issue within a second that already has ids: the next one starts fresh.
  if (parts.seconds >= seconds_) {
    seconds_ = parts.seconds;
    counter_ = kCounterMax + 1;
  }
}

}  // namespace ringpost::queue
