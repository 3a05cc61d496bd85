#include "core/config_file.h"

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ringpost::core {

absl::Status ForEachConfigLine(const std::string& path, absl::string_view flag,
                               absl::FunctionRef<absl::Status(absl::string_view item, size_t line)> item) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(flag, ": cannot read ", path));
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text.front() == '#') continue;
    if (absl::Status s = item(text, number); !s.ok()) return s;
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(flag, ": reading ", path, " failed"));
  return absl::OkStatus();
}

}  // namespace ringpost::core
