// Fuzz target: the metrics endpoint's HTTP request head reader. Never a crash; the
// verdict does not depend on how the bytes are split; an accepted head has an upper-
// case method of at most 16 letters and a visible path starting with "/".
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "net/admin/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ringpost::net::HttpRequestReader;
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
    RP_CHECK(split.method() == method && split.path() == whole.path());
  }
  return 0;
}
