#include "net/inbound/local_recipients.h"


#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/config_file.h"

namespace ringpost::net {

absl::Status LocalRecipients::Load() {
  auto table = std::make_shared<Table>();
  RP_RETURN_IF_ERROR(core::ForEachConfigLine(path_, "--local_recipients", [&](absl::string_view item, size_t) {
    if (table->size() >= kEntriesMax) {
      return absl::ResourceExhaustedError(
          absl::StrCat("--local_recipients: ", path_, " has over ", kEntriesMax, " entries"));
    }
    table->insert(absl::AsciiStrToLower(item));
    return absl::OkStatus();
  }));
  table_.store(std::move(table), std::memory_order_release);
  return absl::OkStatus();
}

bool LocalRecipients::Contains(absl::string_view address) const {
  return table_.load(std::memory_order_acquire)->contains(absl::AsciiStrToLower(address));
}

size_t LocalRecipients::size() const { return table_.load(std::memory_order_acquire)->size(); }

}  // namespace ringpost::net
