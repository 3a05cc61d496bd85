// CRC32C (Castagnoli), the checksum of every queue log record.
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at start-up),
// else a table. Debian 12's Abseil has no absl/crc. Standard parameters: reflected,
// initial value and final XOR 0xFFFFFFFF; Crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace ringpost::queue {

// Extends a running CRC: Crc32c(Crc32c(0, a), b) == Crc32c(0, a + b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);
inline uint32_t Crc32c(absl::string_view data) { return Crc32cExtend(0, data.data(), data.size()); }

// Whether the hardware path is in use (reported at start-up and in benchmarks).
bool Crc32cIsHardware();

}  // namespace ringpost::queue
