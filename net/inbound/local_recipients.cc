#include "net/inbound/local_recipients.h"

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ringpost::net {

absl::Status LocalRecipients::Load() {
  std::ifstream in(path_);
  if (!in) return absl::NotFoundError(absl::StrCat("--local_recipients: cannot read ", path_));
  auto table = std::make_shared<Table>();
  std::string line;
  while (std::getline(in, line)) {
    const absl::string_view item = absl::StripAsciiWhitespace(line);
    if (item.empty() || item.front() == '#') continue;
    if (table->size() >= kEntriesMax) {
      return absl::ResourceExhaustedError(
          absl::StrCat("--local_recipients: ", path_, " has over ", kEntriesMax, " entries"));
    }
    table->insert(absl::AsciiStrToLower(item));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("--local_recipients: reading ", path_, " failed"));
  table_.store(std::move(table), std::memory_order_release);
  return absl::OkStatus();
}

bool LocalRecipients::Contains(absl::string_view address) const {
  return table_.load(std::memory_order_acquire)->contains(absl::AsciiStrToLower(address));
}

size_t LocalRecipients::size() const { return table_.load(std::memory_order_acquire)->size(); }

}  // namespace ringpost::net
