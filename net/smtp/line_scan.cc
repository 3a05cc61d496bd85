#include "net/smtp/line_scan.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ringpost::net {
namespace {

constexpr size_t kBlock = 64;

// One bit per byte of a 64-byte block: bit i stands for byte i.
struct BlockMasks {
  uint64_t cr = 0;
  uint64_t lf = 0;
  uint64_t dot = 0;  // only when asked for
};

// How a block is classified, one way per instruction set. The scans below are
// written once over these; each entry point is compiled for its instruction set
// with every call inside it inlined (flatten).
struct PortableMasks {
  template <bool kWithDots>
  static BlockMasks Of(const char* block) {
    BlockMasks m;
    for (size_t i = 0; i < kBlock; ++i) {
      const uint64_t bit = uint64_t{1} << i;
      if (block[i] == '\r') m.cr |= bit;
      if (block[i] == '\n') m.lf |= bit;
      if (kWithDots && block[i] == '.') m.dot |= bit;
    }
    return m;
  }
};

#if defined(__x86_64__)
struct Sse2Masks {  // every x86-64 has SSE2: four 16-byte lanes
  static uint64_t BitsEqualTo(const __m128i (&lanes)[4], char c) {
    const __m128i needle = _mm_set1_epi8(c);
    uint64_t bits = 0;
    for (int k = 0; k < 4; ++k) {
      const auto lane_bits = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(lanes[k], needle)));
      bits |= static_cast<uint64_t>(lane_bits) << (16 * k);
    }
    return bits;
  }
  template <bool kWithDots>
  static BlockMasks Of(const char* block) {
    __m128i lanes[4];
    for (int k = 0; k < 4; ++k) lanes[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * k));
    BlockMasks m;
    m.cr = BitsEqualTo(lanes, '\r');
    m.lf = BitsEqualTo(lanes, '\n');
    if (kWithDots) m.dot = BitsEqualTo(lanes, '.');
    return m;
  }
};

struct Avx2Masks {  // two 32-byte lanes
  __attribute__((target("avx2"))) static uint64_t BitsEqualTo(__m256i low, __m256i high, char c) {
    const __m256i needle = _mm256_set1_epi8(c);
    const auto low_bits = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(low, needle)));
    const auto high_bits = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(high, needle)));
    return low_bits | static_cast<uint64_t>(high_bits) << 32;
  }
  template <bool kWithDots>
  __attribute__((target("avx2"))) static BlockMasks Of(const char* block) {
    const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block));
    const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32));
    BlockMasks m;
    m.cr = BitsEqualTo(low, high, '\r');
    m.lf = BitsEqualTo(low, high, '\n');
    if (kWithDots) m.dot = BitsEqualTo(low, high, '.');
    return m;
  }
};

struct Avx512Masks {  // one 64-byte register; the compares yield the masks as they are
  template <bool kWithDots>
  __attribute__((target("avx512bw"))) static BlockMasks Of(const char* block) {
    const __m512i bytes = _mm512_loadu_si512(block);
    BlockMasks m;
    m.cr = _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8('\r'));
    m.lf = _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8('\n'));
    if (kWithDots) m.dot = _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8('.'));
    return m;
  }
};
#endif

// The block at `at`, or for the last partial block (or none) a copy of it in `tail`
// followed by `pad` and zeros.
const char* BlockAt(absl::string_view bytes, size_t at, char pad, char (&tail)[kBlock]) {
  if (bytes.size() - at >= kBlock) return bytes.data() + at;
  const size_t rest = bytes.size() - at;
  if (rest > 0) std::memcpy(tail, bytes.data() + at, rest);  // an empty view may have no data
  tail[rest] = pad;
  std::memset(tail + rest + 1, 0, kBlock - rest - 1);
  return tail;
}

template <typename Masks>
bool IsCrLfCleanWith(absl::string_view bytes) {
  // Byte i is an LF exactly when byte i - 1 is a CR. The byte before the first is no
  // CR, and the (zero) padding after the last is no LF, so a CR at the end fails too.
  char tail[kBlock];
  uint64_t cr_carry = 0;  // bit 0: the last byte of the previous block is a CR
  for (size_t at = 0; at < bytes.size(); at += kBlock) {
    const BlockMasks m = Masks::template Of<false>(BlockAt(bytes, at, '\0', tail));
    if (m.lf != ((m.cr << 1) | cr_carry)) return false;
    cr_carry = m.cr >> 63;
  }
  return cr_carry == 0;
}

template <typename Masks>
size_t PlainLinesEndWith(absl::string_view bytes) {
  // Each byte is checked against the one or two before it (shifted masks with the
  // previous block's last bits carried in). Where a line end is not plain:
  //   an LF not after a CR               found at the LF, the answer is the LF;
  //   a CR not followed by LF            found at the byte after, the answer is one before;
  //   a CRLF followed by '.', CR or LF   found at that byte, the answer is two before.
  // A '.' padded after the last byte makes a CRLF at the very end count as not plain
  // (its next line is unseen). An answer found in one block can only be beaten by one
  // in the next block's first two bytes, so the scan goes one block past a late find.
  char tail[kBlock];
  uint64_t cr_carry = 0;            // the previous block's last two CR bits, at bits 0 and 1
  uint64_t lf_carry = 0;            // its last LF bit, at bit 0
  size_t found = bytes.size() + 1;  // none yet
  for (size_t at = 0;; at += kBlock) {
    const bool last = bytes.size() - at < kBlock;
    const BlockMasks m = Masks::template Of<true>(BlockAt(bytes, at, '.', tail));
    const uint64_t after_cr = (m.cr << 1) | (cr_carry >> 1);
    const uint64_t after_crlf = ((m.cr << 2) | cr_carry) & ((m.lf << 1) | lf_carry);
    const uint64_t bare_lf = m.lf & ~after_cr;
    const uint64_t bare_cr_next = after_cr & ~m.lf;
    const uint64_t unplain_next = after_crlf & (m.dot | m.cr | m.lf);
    if ((bare_lf | bare_cr_next | unplain_next) != 0) {
      if (bare_lf != 0) found = std::min(found, at + static_cast<size_t>(__builtin_ctzll(bare_lf)));
      if (bare_cr_next != 0)
        found = std::min(found, at + static_cast<size_t>(__builtin_ctzll(bare_cr_next)) - 1);
      if (unplain_next != 0)
        found = std::min(found, at + static_cast<size_t>(__builtin_ctzll(unplain_next)) - 2);
    }
    if (last || found <= at + kBlock - 2) return std::min(found, bytes.size());
    cr_carry = m.cr >> 62;
    lf_carry = m.lf >> 63;
  }
}

__attribute__((flatten)) bool IsCrLfCleanPortable(absl::string_view b) {
  return IsCrLfCleanWith<PortableMasks>(b);
}
__attribute__((flatten)) size_t PlainLinesEndPortable(absl::string_view b) {
  return PlainLinesEndWith<PortableMasks>(b);
}
#if defined(__x86_64__)
__attribute__((flatten)) bool IsCrLfCleanSse2(absl::string_view b) { return IsCrLfCleanWith<Sse2Masks>(b); }
__attribute__((flatten)) size_t PlainLinesEndSse2(absl::string_view b) {
  return PlainLinesEndWith<Sse2Masks>(b);
}
__attribute__((target("avx2"), flatten)) bool IsCrLfCleanAvx2(absl::string_view b) {
  return IsCrLfCleanWith<Avx2Masks>(b);
}
__attribute__((target("avx2"), flatten)) size_t PlainLinesEndAvx2(absl::string_view b) {
  return PlainLinesEndWith<Avx2Masks>(b);
}
__attribute__((target("avx512bw"), flatten)) bool IsCrLfCleanAvx512(absl::string_view b) {
  return IsCrLfCleanWith<Avx512Masks>(b);
}
__attribute__((target("avx512bw"), flatten)) size_t PlainLinesEndAvx512(absl::string_view b) {
  return PlainLinesEndWith<Avx512Masks>(b);
}
#endif

// Each instruction set's pair of scans, indexed by ScanIsa.
struct Scans {
  bool (*crlf_clean)(absl::string_view);
  size_t (*plain_lines_end)(absl::string_view);
};
#if defined(__x86_64__)
constexpr Scans kScans[] = {{IsCrLfCleanPortable, PlainLinesEndPortable},
                            {IsCrLfCleanSse2, PlainLinesEndSse2},
                            {IsCrLfCleanAvx2, PlainLinesEndAvx2},
                            {IsCrLfCleanAvx512, PlainLinesEndAvx512}};
#else
constexpr Scans kScans[] = {{IsCrLfCleanPortable, PlainLinesEndPortable}};
#endif

bool CpuHas(ScanIsa isa) {
#if defined(__x86_64__)
  __builtin_cpu_init();  // may run before the constructors that would call it
  switch (isa) {
    case ScanIsa::kPortable:
    case ScanIsa::kSse2:  // every x86-64 has it
      return true;
    case ScanIsa::kAvx2:
      return __builtin_cpu_supports("avx2");
    case ScanIsa::kAvx512:
      return __builtin_cpu_supports("avx512bw");
  }
  return false;
#else
  return isa == ScanIsa::kPortable;
#endif
}

ScanIsa WidestIsa() {
  for (ScanIsa isa : {ScanIsa::kAvx512, ScanIsa::kAvx2, ScanIsa::kSse2}) {
    if (CpuHas(isa)) return isa;
  }
  return ScanIsa::kPortable;
}

// Zero-initialised (kPortable) until its initialiser runs: a call before that is still
// correct, only slower.
const ScanIsa kWidestIsa = WidestIsa();

}  // namespace

bool ScanIsaSupported(ScanIsa isa) { return CpuHas(isa); }

bool IsCrLfClean(absl::string_view bytes, ScanIsa isa) {
  return kScans[static_cast<size_t>(isa)].crlf_clean(bytes);
}

size_t PlainLinesEnd(absl::string_view bytes, ScanIsa isa) {
  return kScans[static_cast<size_t>(isa)].plain_lines_end(bytes);
}

bool IsCrLfClean(absl::string_view bytes) {
  return kScans[static_cast<size_t>(kWidestIsa)].crlf_clean(bytes);
}
size_t PlainLinesEnd(absl::string_view bytes) {
  return kScans[static_cast<size_t>(kWidestIsa)].plain_lines_end(bytes);
}

}  // namespace ringpost::net
