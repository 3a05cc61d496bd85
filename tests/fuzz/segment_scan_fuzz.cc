// Fuzz target: recovery's segment scan. The fuzzer's bytes choose a few messages, then
// truncate and corrupt the well-formed segment built from them; the scan must never
// crash and never return a message that was not committed, or one whose envelope or
// body differs from what was written. Raw fuzzer bytes are scanned as well.
#include <cstdint>
#include <map>
#include <string>

#include "core/check.h"
#include "queue/segment_scan.h"
#include "tests/support/segment_builder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)ringpost::queue::ScanSegment(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (size < 4) return 0;
  ringpost::testing::SegmentBuilder builder(data[0] | 1);
  std::map<std::string, std::string> committed;  // queue id -> body
  const int messages = 1 + data[1] % 4;
  for (int m = 0; m < messages; ++m) {
    const std::string id = "MSG" + std::to_string(m);
    const std::string body(static_cast<size_t>(data[2]) * 37 + static_cast<size_t>(m),
                           static_cast<char>('a' + m));
    builder.AddMessage(id, body, 1 + data[3] % 200 * 13);
    committed[id] = body;
  }
  std::string bytes = builder.bytes();
  // The rest of the input: (position, xor) pairs, then a cut.
  for (size_t i = 4; i + 2 < size; i += 3) {
    const size_t at = (static_cast<size_t>(data[i]) << 8 | data[i + 1]) % bytes.size();
    bytes[at] = static_cast<char>(bytes[at] ^ data[i + 2]);
  }
  bytes.resize(bytes.size() - data[size - 1] % (bytes.size() / 2 + 1));
  auto scan = ringpost::queue::ScanSegment(bytes);
  if (!scan.ok()) return 0;
  RP_CHECK(scan->valid_bytes <= bytes.size());
  for (const auto& message : scan->messages) {
    auto it = committed.find(message.envelope.queue_id);
    RP_CHECK(it != committed.end());
    std::string body;
    for (const auto& extent : message.envelope.body) {
      RP_CHECK(extent.offset + extent.bytes <= scan->valid_bytes);
      body += bytes.substr(extent.offset, extent.bytes);
    }
    RP_CHECK(body == it->second);
  }
  return 0;
}
