// Fuzz target: what DKIM reads from strangers (RFC 6376 §3.2 tag lists, §3.5 the
// DKIM-Signature field, §3.6.1 key records; RFC 8601 authserv-ids; the From: domain).
// Never a crash; every limit holds; a parsed signature signs From and names at most
// kDkimSignedNamesMax fields.
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/check.h"
#include "net/dkim/dkim_key_record.h"
#include "net/dkim/dkim_signature.h"
#include "net/dkim/dkim_tag_list.h"
#include "net/dkim/dkim_verifier.h"
#include "net/dkim/header_fields.h"

namespace net = ringpost::net;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  auto tags = net::ParseDkimTagList(input);
  if (tags.ok()) {
    RP_CHECK_LE(tags->size(), net::kDkimTagsMax);
    for (const net::DkimTag& tag : *tags) RP_CHECK(!tag.name.empty());
  }
  net::DkimSignature signature;
  if (net::ParseDkimSignature(absl::StrCat("DKIM-Signature:", input, "\r\n"), &signature).ok()) {
    RP_CHECK_LE(signature.signed_names.size(), net::kDkimSignedNamesMax);
    RP_CHECK(std::find(signature.signed_names.begin(), signature.signed_names.end(), "from") !=
             signature.signed_names.end());
    RP_CHECK_EQ(signature.body_hash.size(), 32u);
  }
  auto key = net::ParseDkimKeyRecord(input);
  if (key.ok()) RP_CHECK(key->key != nullptr);
  const std::string id = net::AuthservIdOf(absl::StrCat("Authentication-Results:", input));
  RP_CHECK_LE(id.size(), size);
  const std::string domain = net::FromDomain(absl::StrCat("From:", input));
  RP_CHECK_LE(domain.size(), 253u);
  return 0;
}
