// Fuzz target: egress at reception and in the flags. The first line is the three
// --egress_* flags (split at '|'): never a crash, and a sender's pool is one that
// exists. The rest is a message through the X-Ringpost-Pool: filter: the same output
// however it is split, never longer than the input, unchanged when no field was
// removed, and without the field in its header section when one was.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "core/check.h"
#include "net/dkim/dkim_canonical.h"
#include "net/dkim/header_fields.h"
#include "net/inbound/pool_header.h"
#include "net/outbound/egress_sources.h"
#include "queue/schedule/egress_pools.h"

namespace {

std::string Filter(ringpost::net::PoolHeader& filter, absl::string_view message, size_t step) {
  std::string out;
  const ringpost::net::PoolHeader::Store store = [&out](absl::Span<const absl::string_view> pieces) {
    for (absl::string_view piece : pieces) out.append(piece.data(), piece.size());
    return absl::OkStatus();
  };
  filter.Begin();
  for (size_t at = 0; at < message.size(); at += step)
    RP_CHECK(filter.Append({message.substr(at, step)}, store).ok());
  RP_CHECK(filter.Finish(store).ok());
  return out;
}

void Flags(absl::string_view line) {
  const size_t bar = line.find('|');
  const size_t bar2 = bar == absl::string_view::npos ? bar : line.find('|', bar + 1);
  auto sources = ringpost::net::ParseEgressSources(line.substr(0, bar));
  std::vector<std::string> names;
  if (sources.ok()) {
    for (const auto& s : *sources) {
      RP_CHECK(!s.name.empty() && s.address.port() == 0 && s.helo.find('.') != std::string::npos);
      names.push_back(s.name);
    }
  }
  if (bar == absl::string_view::npos) return;
  auto pools = ringpost::queue::EgressPools::Parse(line.substr(bar + 1, bar2 - bar - 1), names);
  if (!pools.ok() || bar2 == absl::string_view::npos) return;
  auto senders = ringpost::queue::SenderPools::Parse(line.substr(bar2 + 1), *pools);
  if (!senders.ok()) return;
  for (absl::string_view sender : {"a@example.com", "", "x@b.example.com", "@"}) {
    const std::string pool = senders->PoolFor(sender);
    RP_CHECK(pool.empty() || pools->Has(pool));
    ringpost::queue::SourcePicker picker;
    const std::string& source = picker.Pick(*pools, pool);
    RP_CHECK(pool.empty() || std::find(names.begin(), names.end(), source) != names.end());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  Flags(input.substr(0, newline));
  const absl::string_view message = newline == absl::string_view::npos ? "" : input.substr(newline + 1);
  ringpost::net::PoolHeader whole, split;
  const std::string once = Filter(whole, message, message.size() + 1);
  const std::string pieces = Filter(split, message, 1 + (size % 13));
  RP_CHECK(once == pieces);
  RP_CHECK(whole.requested() == split.requested() && whole.removed() == split.removed());
  RP_CHECK(once.size() <= message.size());
  if (whole.removed() == 0) {
    RP_CHECK(once == message);
  } else {
    ringpost::net::HeaderSectionReader header;
    header.Feed(once);
    for (absl::string_view field : ringpost::net::SplitHeaderFields(header.bytes())) {
      RP_CHECK(ringpost::net::HeaderFieldName(field) != ringpost::net::kPoolHeaderName);
    }
  }
  return 0;
}
