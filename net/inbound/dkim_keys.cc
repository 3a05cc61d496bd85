#include "net/inbound/dkim_keys.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/check.h"
#include "core/config_file.h"
#include "core/domain_name.h"

namespace ringpost::net {
namespace {

bool IsSelector(absl::string_view s) {
  if (s.empty() || s.size() > 63 * 4) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::string FolderOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

absl::StatusOr<DkimKey> ReadKey(const DkimKeyEntry& entry) {
  std::ifstream in(entry.key_file, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("DKIM key ", entry.key_file, ": cannot read it"));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<DkimKey> key = ParseDkimPrivateKey(text.str());
  if (!key.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("DKIM key ", entry.key_file, ": ", key.status().message()));
  if (entry.algorithm.has_value() && *entry.algorithm != key->algorithm) {
    return absl::InvalidArgumentError(
        absl::StrCat("DKIM key ", entry.key_file, ": not the algorithm the table names"));
  }
  return key;
}

}  // namespace

const std::vector<DkimKeyEntry>* DkimKeyTable::Snapshot::Find(absl::string_view domain) const {
  while (!domain.empty()) {
    if (auto it = by_domain.find(domain); it != by_domain.end()) return &it->second;
    const size_t dot = domain.find('.');
    if (dot == absl::string_view::npos) break;
    domain.remove_prefix(dot + 1);
  }
  return nullptr;
}

absl::Status DkimKeyTable::Load() {
  auto table = std::make_shared<Snapshot>();
  size_t keys = 0;
  const std::string folder = FolderOf(path_);
  RP_RETURN_IF_ERROR(
      core::ForEachConfigLine(path_, "--dkim_key_table", [&](absl::string_view item, size_t line) {
        auto bad = [&](absl::string_view why) {
          return absl::InvalidArgumentError(absl::StrCat("--dkim_key_table: ", path_, ":", line, ": ", why));
        };
        const std::vector<absl::string_view> words =
            absl::StrSplit(item, absl::ByAnyChar(" \t"), absl::SkipEmpty());
        if (words.size() < 3 || words.size() > 4) {
          return bad("expected 'signing-domain selector key-file [rsa-sha256|ed25519-sha256]'");
        }
        DkimKeyEntry entry;
        entry.domain = absl::AsciiStrToLower(words[0]);
        if (!core::IsHostName(entry.domain)) return bad(absl::StrCat("'", words[0], "' is not a domain"));
        entry.selector = std::string(words[1]);
        if (!IsSelector(entry.selector)) return bad(absl::StrCat("'", words[1], "' is not a selector"));
        entry.key_file = words[2][0] == '/' ? std::string(words[2]) : absl::StrCat(folder, words[2]);
        if (words.size() == 4) {
          if (words[3] == "rsa-sha256")
            entry.algorithm = DkimAlgorithm::kRsaSha256;
          else if (words[3] == "ed25519-sha256")
            entry.algorithm = DkimAlgorithm::kEd25519Sha256;
          else
            return bad(absl::StrCat("unknown algorithm '", words[3], "' (rsa-sha256 or ed25519-sha256)"));
        }
        if (++keys > kEntriesMax) return bad(absl::StrCat("over ", kEntriesMax, " keys"));
        table->by_domain[entry.domain].push_back(std::move(entry));
        return absl::OkStatus();
      }));
  table->generation = generation_.fetch_add(1) + 1;
  table_.store(std::move(table), std::memory_order_release);
  return absl::OkStatus();
}

size_t DkimKeyTable::size() const {
  size_t keys = 0;
  for (const auto& [domain, entries] : Get()->by_domain) keys += entries.size();
  return keys;
}

const DkimKey* DkimKeyCache::Find(const DkimKeyEntry& entry, uint64_t generation, std::string* error) {
  error->clear();
  if (generation != generation_) {  // a new table: keys may have changed in place
    lru_.clear();
    by_file_.clear();
    generation_ = generation;
  }
  if (auto it = by_file_.find(entry.key_file); it != by_file_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->key.ok() ? &*it->second->key : nullptr;
  }
  ++file_reads_;
  lru_.push_front(Cached{entry.key_file, ReadKey(entry)});
  by_file_[entry.key_file] = lru_.begin();
  if (lru_.size() > capacity_) {
    by_file_.erase(lru_.back().key_file);
    lru_.pop_back();
  }
  if (!lru_.front().key.ok()) {
    *error = std::string(lru_.front().key.status().message());
    return nullptr;
  }
  return &*lru_.front().key;
}

}  // namespace ringpost::net
