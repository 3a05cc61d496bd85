// Fuzz target: the HTTP request reader of /metrics and the admin API, and what the
// admin API does with an accepted request (query string, flat JSON body, the typed
// request). Never a crash; the reader's verdict does not depend on how the bytes are
// split; an accepted request has an upper-case method of at most 16 letters, a visible
// path starting with "/" and a body of at most 64 KiB; a JSON body that parses reads
// back the same after being written out again; a request the API accepts as a command
// over many messages has a selector or all=true.
#include <algorithm>
#include <cstdint>
#include <string>
#include <variant>

#include "core/check.h"
#include "core/json.h"
#include "net/admin/admin_request.h"
#include "net/admin/http_request.h"
#include "net/admin/json_body.h"

namespace {

using ringpost::net::HttpRequestReader;

void CheckJsonRoundTrip(const std::string& text) {
  auto fields = ringpost::net::ParseFlatJsonObject(text);
  if (!fields.ok()) return;
  RP_CHECK(fields->size() <= ringpost::net::kJsonFieldsMax);
  std::string again;
  {
    ringpost::core::JsonObject object(&again);
    for (const auto& [name, value] : *fields) object.String(name, value);
  }
  auto reread = ringpost::net::ParseFlatJsonObject(again);
  RP_CHECK(reread.ok());
  RP_CHECK(*reread == *fields);  // only UTF-8 is taken, so every string comes back as it was
}

void CheckAdmin(const HttpRequestReader& reader) {
  auto params = ringpost::net::ParseQueryString(reader.query());
  if (!params.ok()) return;
  if (!reader.body().empty()) {
    auto fields = ringpost::net::ParseFlatJsonObject(reader.body());
    if (!fields.ok()) return;
    params->insert(params->end(), fields->begin(), fields->end());
  }
  auto parsed = ringpost::net::ParseAdminRequest(reader.method(), reader.path(), *params);
  if (auto* error = std::get_if<ringpost::net::AdminError>(&parsed)) {
    RP_CHECK(error->status == 400 || error->status == 404 || error->status == 405);
    RP_CHECK(!error->message.empty());
    return;
  }
  const auto& request = std::get<ringpost::net::AdminRequest>(parsed);
  const auto& f = request.filter;
  const bool selector =
      !f.queue_id.empty() || !f.domain.empty() || !f.sender.empty() || f.older_than > absl::ZeroDuration();
  if (ringpost::net::AdminVerbIsCommand(request.verb)) RP_CHECK(selector != request.all);
  RP_CHECK(request.reason.size() <= ringpost::net::kAdminReasonBytesMax);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  HttpRequestReader whole;
  const HttpRequestReader::Result verdict = whole.Feed(input);
  HttpRequestReader split;
  HttpRequestReader::Result pieces = HttpRequestReader::Result::kIncomplete;
  const size_t step = size > 0 ? 1 + data[0] % 7 : 1;
  for (size_t at = 0; at < size; at += step) pieces = split.Feed(input.substr(at, step));
  RP_CHECK(pieces == verdict);
  if (verdict == HttpRequestReader::Result::kOk) {
    const std::string& method = whole.method();
    RP_CHECK(!method.empty() && method.size() <= 16);
    RP_CHECK(std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
    RP_CHECK(!whole.path().empty() && whole.path()[0] == '/');
    RP_CHECK(whole.path().find(' ') == std::string::npos);
    RP_CHECK(whole.body().size() <= ringpost::net::kHttpBodyBytesMax);
    RP_CHECK(split.method() == method && split.path() == whole.path() && split.query() == whole.query() &&
             split.body() == whole.body() && split.authorization() == whole.authorization());
    CheckAdmin(whole);
  }
  CheckJsonRoundTrip(input);
  return 0;
}
