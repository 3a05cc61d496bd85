#include "queue/crc32c.h"

#include <nmmintrin.h>

#include <array>
#include <cstring>
#include <vector>

namespace ringpost::queue {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78;  // reflected Castagnoli

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kTable = MakeTable();

uint32_t ExtendSoftware(uint32_t state, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) state = kTable[(state ^ p[i]) & 0xFF] ^ (state >> 8);
  return state;
}

__attribute__((target("sse4.2"))) uint64_t ExtendOneStream(uint64_t state, const uint8_t* p, size_t n) {
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    state = _mm_crc32_u64(state, word);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    state = _mm_crc32_u8(static_cast<uint32_t>(state), *p++);
    --n;
  }
  return state;
}

// The crc32 instruction takes 3 cycles but can start one per cycle, so three streams
// over three adjacent blocks run about 3x faster than one (log writes and body reads
// checksum every byte). The CRC register is linear in its start value and the data, so
//   crc(s, A+B) = crc(crc(s, A), zeros(|B|)) ^ crc(0, B)
// and "run over |B| zero bytes" (a shift) is a linear map of 32 bits, kept as four
// byte-indexed tables per block size.
class ZeroShift {
 public:
  explicit ZeroShift(size_t bytes) {
    const std::vector<uint8_t> zeros(bytes, 0);
    uint32_t basis[32];
    for (int bit = 0; bit < 32; ++bit) {
      basis[bit] = static_cast<uint32_t>(ExtendOneStream(uint64_t{1} << bit, zeros.data(), bytes));
    }
    for (int lane = 0; lane < 4; ++lane) {
      for (uint32_t value = 0; value < 256; ++value) {
        uint32_t shifted = 0;
        for (int bit = 0; bit < 8; ++bit) {
          if (value & (1u << bit)) shifted ^= basis[lane * 8 + bit];
        }
        table_[lane][value] = shifted;
      }
    }
  }
  uint32_t operator()(uint32_t state) const {
    return table_[0][state & 0xFF] ^ table_[1][(state >> 8) & 0xFF] ^ table_[2][(state >> 16) & 0xFF] ^
           table_[3][state >> 24];
  }

 private:
  uint32_t table_[4][256];
};

// Rounds of three `block`-byte streams while at least three blocks remain.
__attribute__((target("sse4.2"))) uint64_t ExtendThreeStreams(uint64_t state, const uint8_t*& p, size_t& n,
                                                              size_t block, const ZeroShift& shift) {
  while (n >= 3 * block) {
    uint64_t a = state, b = 0, c = 0;
    for (const uint8_t* end = p + block; p < end; p += 8) {
      uint64_t wa, wb, wc;
      std::memcpy(&wa, p, 8);
      std::memcpy(&wb, p + block, 8);
      std::memcpy(&wc, p + 2 * block, 8);
      a = _mm_crc32_u64(a, wa);
      b = _mm_crc32_u64(b, wb);
      c = _mm_crc32_u64(c, wc);
    }
    state = shift(shift(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b)) ^ static_cast<uint32_t>(c);
    p += 2 * block;
    n -= 3 * block;
  }
  return state;
}

constexpr size_t kLongBlock = 4096, kShortBlock = 256;  // rounds of 12 KiB, then of 768 bytes

__attribute__((target("sse4.2"))) uint32_t ExtendHardware(uint32_t state, const uint8_t* p, size_t n) {
  static const ZeroShift long_shift(kLongBlock), short_shift(kShortBlock);
  uint64_t state64 = state;
  state64 = ExtendThreeStreams(state64, p, n, kLongBlock, long_shift);
  state64 = ExtendThreeStreams(state64, p, n, kShortBlock, short_shift);
  return static_cast<uint32_t>(ExtendOneStream(state64, p, n));
}

const bool kHardware = __builtin_cpu_supports("sse4.2");

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  const uint32_t state = ~crc;
  return ~(kHardware ? ExtendHardware(state, p, size) : ExtendSoftware(state, p, size));
}

bool Crc32cIsHardware() { return kHardware; }

}  // namespace ringpost::queue
