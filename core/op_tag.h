// One tag scheme for every SQE a shard submits (STYLE.md, Sketch 2).
//
// 64-bit user_data: [63..32] slot | [31..8] generation (24 bits) | [7..0] kind.
// The kind picks the completion sink; slot and generation name the object the
// operation belongs to, so a completion for a recycled slot is caught by the
// generation check instead of touching a stranger's state.
#pragma once

#include <cstdint>

namespace ringpost::core {

enum class OpKind : uint8_t {
  kNone = 0,       // user_data 0: completions we never asked to see (e.g. cancels, wake sends)
  kAccept,         // multishot accept on a listener; slot = listener index
  kRecv,           // multishot recv into the provided buffer ring; slot = connection
  kSend,           // sendmsg of a connection's queued output; slot = connection
  kConnect,        // outbound connect; slot = connection
  kWake,           // IORING_OP_MSG_RING wake-up from another shard
  kSignal,         // read on the signalfd (shard 0 only)
  kFileWrite,      // queue log writes (queue/)
  kFileSync,       // queue log fdatasync (queue/)
  kFileOp,         // file operations of local delivery (queue/maildir); slot = delivery
  kDnsPoll,        // readiness of a resolver socket (dns/); slot = socket, generation = arming
  kPasswordCheck,  // the password checkers' eventfd is readable (net/inbound/password_checker.h)
  kRedisPoll,      // readiness of the shard's Redis socket (net/redis/); generation = arming
};
inline constexpr int kOpKindCount = static_cast<int>(OpKind::kRedisPoll) + 1;

inline constexpr uint32_t kGenerationMask = 0xFFFFFFu;

struct OpTag {
  uint32_t slot = 0;
  uint32_t generation = 0;
  OpKind kind = OpKind::kNone;

  constexpr uint64_t Encode() const {
    return uint64_t{slot} << 32 | uint64_t{generation & kGenerationMask} << 8 | static_cast<uint8_t>(kind);
  }
  static constexpr OpTag Decode(uint64_t v) {
    return {static_cast<uint32_t>(v >> 32), static_cast<uint32_t>(v >> 8) & kGenerationMask,
            static_cast<OpKind>(v & 0xFF)};
  }
};

static_assert(OpTag::Decode(OpTag{7, 0x123456, OpKind::kSend}.Encode()).generation == 0x123456);
static_assert(OpTag::Decode(OpTag{0xFFFFFFFFu, 1, OpKind::kRecv}.Encode()).slot == 0xFFFFFFFFu);

// A completion copied out of the CQ before any handler runs (the CQ slot is already
// released when handlers see this).
struct Completion {
  uint64_t user_data = 0;
  int32_t res = 0;
  uint32_t flags = 0;
};

}  // namespace ringpost::core
