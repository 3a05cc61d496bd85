// Differential fuzz target: DataReader against the plain reference model
// (tests/support/data_reference.h), with the input cut into chunks at points the
// fuzzer chooses (first byte). Any difference in body, end or bare-ending report
// aborts. Then the body's round trip through DotStuffer must give it back.
#include <cstdint>
#include <string>

#include "core/check.h"
#include "net/smtp/data_reader.h"
#include "net/smtp/dot_stuffer.h"
#include "tests/support/data_reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 17;
  const absl::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  ringpost::net::DataReader reader(ringpost::net::BareLineEndings::kNormalize);
  std::string body;
  size_t consumed = 0;
  while (consumed < input.size() && !reader.done()) {
    const size_t n = std::min(chunk, input.size() - consumed);
    consumed += reader.Consume(input.substr(consumed, n),
                               [&](absl::string_view piece) { body.append(piece.data(), piece.size()); });
  }
  const auto model = ringpost::testing::ReferenceData(input);
  RP_CHECK(reader.done() == model.has_value());
  if (!model) return 0;
  RP_CHECK(body == model->body);
  RP_CHECK(consumed == model->consumed);
  RP_CHECK(reader.saw_bare_line_ending() == model->saw_bare);
  // Re-stuffing the stored body and reading it again gives the same body.
  std::string wire;
  ringpost::net::DotStuffer stuffer;
  stuffer.Stuff(body, &wire);
  stuffer.Finish(&wire);
  const auto again = ringpost::testing::ReferenceData(wire);
  RP_CHECK(again.has_value() && again->body == body && again->consumed == wire.size() && !again->saw_bare);
  return 0;
}
