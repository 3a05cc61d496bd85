// The admin API's pure parts: the HTTP request with its headers, query string and body
// (RFC 9112 §6, §5; RFC 3986 §2.1 percent-encoding), the flat JSON body (RFC 8259), and
// the typed request with every refusal the API promises (net/admin/admin_request.h).
#include <string>
#include <variant>

#include "gtest/gtest.h"
#include "net/admin/admin_request.h"
#include "net/admin/admin_views.h"
#include "net/admin/http_request.h"
#include "net/admin/json_body.h"

namespace ringpost::net {
namespace {

using Result = HttpRequestReader::Result;
using Params = std::vector<std::pair<std::string, std::string>>;

TEST(HttpRequestBodyTest, Rfc9112_6_3_TheBodyIsContentLengthBytesWhateverTheSplit) {
  const std::string request =
      "POST /v1/suspend?format=text HTTP/1.1\r\nHost: x\r\nAuthorization:  Bearer abc \r\n"
      "Content-Length: 20\r\n\r\n{\"domain\":\"a.test\"}\nIGNORED";
  for (size_t step = 1; step <= request.size(); ++step) {
    HttpRequestReader reader;
    Result result = Result::kIncomplete;
    for (size_t at = 0; at < request.size() && result == Result::kIncomplete; at += step) {
      result = reader.Feed(request.substr(at, step));
    }
    ASSERT_EQ(result, Result::kOk) << step;
    EXPECT_EQ(reader.method(), "POST");
    EXPECT_EQ(reader.path(), "/v1/suspend");
    EXPECT_EQ(reader.query(), "format=text");
    EXPECT_EQ(reader.authorization(), "Bearer abc");
    EXPECT_EQ(reader.body(), "{\"domain\":\"a.test\"}\n");
  }
}

TEST(HttpRequestBodyTest, HostileFieldsAndSizesAreRefused) {
  for (const char* bad : {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
                          "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                          "GET / HTTP/1.1\r\n folded: no\r\n\r\n", "GET / HTTP/1.1\r\nNo Colon\r\n\r\n",
                          "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "GET / HTTP/1.1\r\n: empty\r\n\r\n"}) {
    HttpRequestReader reader;
    EXPECT_EQ(reader.Feed(bad), Result::kBad) << bad;
  }
  HttpRequestReader big;
  EXPECT_EQ(big.Feed("POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n"), Result::kBodyTooLarge);
  HttpRequestReader just_fits;
  EXPECT_EQ(just_fits.Feed("POST / HTTP/1.1\r\nContent-Length: 65536\r\n\r\n"), Result::kIncomplete);
  EXPECT_EQ(just_fits.Feed(std::string(65536, 'x')), Result::kOk);
  EXPECT_EQ(just_fits.body().size(), 65536u);
  HttpRequestReader same_twice;  // a repeated, equal Content-Length is allowed (RFC 9112 §6.3)
  EXPECT_EQ(same_twice.Feed("POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx"), Result::kOk);
}

TEST(QueryStringTest, Rfc3986_PercentEscapesAndPlusAreDecoded) {
  auto params = ParseQueryString("domain=a.example&sender=x%40y.z&reason=too+many&&flag");
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(*params, (Params{{"domain", "a.example"}, {"sender", "x@y.z"}, {"reason", "too many"}, {"flag", ""}}));
  EXPECT_FALSE(ParseQueryString("a=%4").ok());
  EXPECT_FALSE(ParseQueryString("a=%zz").ok());
  EXPECT_FALSE(ParseQueryString("a=%00").ok());
}

TEST(FlatJsonTest, Rfc8259_StringsNumbersBooleansAndEscapes) {
  auto fields = ParseFlatJsonObject(
      " {\"domain\":\"a.example\", \"top\": 12, \"all\":true, \"x\":null, \"r\":\"\\u00e9\\ud83d\\ude00\\n\\\"\"} ");
  ASSERT_TRUE(fields.ok()) << fields.status();
  EXPECT_EQ(*fields, (Params{{"domain", "a.example"}, {"top", "12"}, {"all", "true"},
                             {"r", "\xc3\xa9\xf0\x9f\x98\x80\n\""}}));
  EXPECT_TRUE(ParseFlatJsonObject("{}").ok());
  EXPECT_EQ(ParseFlatJsonObject("{\"n\":-1.5e3}")->at(0).second, "-1.5e3");
}

TEST(FlatJsonTest, AnythingElseIsRefused) {
  for (const char* bad : {"",
                          "[]",
                          "{",
                          "{\"a\":}",
                          "{\"a\":{\"b\":1}}",
                          "{\"a\":[1]}",
                          "{\"a\":1,}",
                          "{\"a\":1}x",
                          "{\"a\":1,\"a\":2}",
                          "{\"a\":\"\\ud800\"}",
                          "{\"a\":\"\\udc00\"}",
                          "{\"a\":\"\\u0000\"}",
                          "{\"a\":\"tab\there\"}",
                          "{\"a\":\"\\x\"}",
                          "{\"a\":01}",
                          "{\"a\":tru}",
                          "{'a':1}",
                          "{\"a\":1.}",
                          "{\"a\":\"open}",
                          "{\"a\xff\":1}",
                          "{\"a\":\"\xc3\"}"}) {  // RFC 8259 §8.1: UTF-8 only
    EXPECT_FALSE(ParseFlatJsonObject(bad).ok()) << bad;
  }
  std::string many = "{";
  for (int i = 0; i <= static_cast<int>(kJsonFieldsMax); ++i) many += "\"k" + std::to_string(i) + "\":1,";
  many.back() = '}';
  EXPECT_FALSE(ParseFlatJsonObject(many).ok());
}

AdminRequest Parsed(const std::string& method, const std::string& path, const Params& params) {
  auto parsed = ParseAdminRequest(method, path, params);
  if (auto* error = std::get_if<AdminError>(&parsed)) {
    ADD_FAILURE() << path << ": " << error->status << " " << error->message;
    return {};
  }
  return std::get<AdminRequest>(parsed);
}

AdminError Refused(const std::string& method, const std::string& path, const Params& params) {
  auto parsed = ParseAdminRequest(method, path, params);
  if (auto* error = std::get_if<AdminError>(&parsed)) return *error;
  ADD_FAILURE() << path << " was accepted";
  return {};
}

TEST(AdminRequestTest, EveryEndpointWithItsParameters) {
  AdminRequest summary = Parsed("GET", "/v1/summary", {{"top", "5"}, {"format", "text"}});
  EXPECT_EQ(summary.verb, AdminVerb::kSummary);
  EXPECT_EQ(summary.top, 5u);
  EXPECT_TRUE(summary.text);
  AdminRequest list = Parsed("GET", "/v1/messages",
                             {{"domain", "Big.Example."}, {"sender", "a@b.c"}, {"older_than", "1h"}, {"limit", "9"}});
  EXPECT_EQ(list.filter.domain, "big.example");  // canonical
  EXPECT_EQ(list.filter.sender, "a@b.c");
  EXPECT_EQ(list.filter.older_than, absl::Hours(1));
  EXPECT_EQ(list.limit, 9u);
  AdminRequest show = Parsed("GET", "/v1/messages/3B2M1ZC080004TF", {});
  EXPECT_EQ(show.verb, AdminVerb::kShow);
  EXPECT_EQ(show.filter.queue_id, "3B2M1ZC080004TF");
  EXPECT_EQ(Parsed("GET", "/v1/messages/3B2M1ZC080004TF/body", {}).verb, AdminVerb::kBody);
  AdminRequest suspend = Parsed("POST", "/v1/suspend", {{"domain", "a.example"}, {"reason", "421s"}});
  EXPECT_EQ(suspend.duration, absl::InfiniteDuration());  // until resumed
  EXPECT_EQ(suspend.reason, "421s");
  EXPECT_EQ(Parsed("POST", "/v1/suspend", {{"domain", "a.example"}, {"duration", "2d"}}).duration, absl::Hours(48));
  EXPECT_TRUE(Parsed("POST", "/v1/flush", {{"all", "true"}}).all);
  AdminRequest bounce = Parsed("POST", "/v1/bounce", {{"queue_id", "3B2M1ZC080004TF"}, {"reason", "spam"}});
  EXPECT_EQ(bounce.verb, AdminVerb::kBounce);
  EXPECT_EQ(Parsed("POST", "/v1/hold", {{"domain", "[192.0.2.1]"}}).filter.domain, "[192.0.2.1]");
}

TEST(AdminRequestTest, RefusalsNameWhatIsWrong) {
  EXPECT_EQ(Refused("GET", "/v2/summary", {}).status, 404);
  EXPECT_EQ(Refused("GET", "/v1/nothing", {}).status, 404);
  EXPECT_EQ(Refused("GET", "/v1/hold", {}).status, 405);
  EXPECT_EQ(Refused("POST", "/v1/summary", {}).status, 405);
  const AdminError no_selector = Refused("POST", "/v1/delete", {});
  EXPECT_EQ(no_selector.status, 400);
  EXPECT_NE(no_selector.message.find("all=true"), std::string::npos) << no_selector.message;
  EXPECT_EQ(Refused("POST", "/v1/flush", {}).status, 400);
  EXPECT_EQ(Refused("POST", "/v1/delete", {{"all", "true"}, {"domain", "a.example"}}).status, 400);
  const AdminError domain = Refused("POST", "/v1/suspend", {{"domain", "bad domain"}});
  EXPECT_EQ(domain.status, 400);
  EXPECT_NE(domain.message.find("'bad domain'"), std::string::npos) << domain.message;
  const AdminError duration = Refused("POST", "/v1/suspend", {{"domain", "a.example"}, {"duration", "1 hour"}});
  EXPECT_NE(duration.message.find("duration='1 hour'"), std::string::npos) << duration.message;
  EXPECT_EQ(Refused("POST", "/v1/suspend", {}).status, 400);  // needs a domain
  EXPECT_EQ(Refused("GET", "/v1/messages/not-an-id", {}).status, 400);
  EXPECT_EQ(Refused("POST", "/v1/hold", {{"queue_id", "short"}}).status, 400);
  EXPECT_EQ(Refused("GET", "/v1/summary", {{"top", "0"}}).status, 400);
  EXPECT_EQ(Refused("GET", "/v1/summary", {{"top", "100001"}}).status, 400);
  EXPECT_EQ(Refused("GET", "/v1/summary", {{"bogus", "1"}}).status, 400);
  EXPECT_EQ(Refused("GET", "/v1/summary", {{"top", "1"}, {"top", "2"}}).status, 400);
  EXPECT_EQ(Refused("POST", "/v1/bounce", {{"all", "true"}, {"reason", std::string(300, 'x')}}).status, 400);
  EXPECT_EQ(Refused("POST", "/v1/bounce", {{"all", "true"}, {"reason", "two\nlines"}}).status, 400);
  EXPECT_EQ(Refused("GET", "/v1/messages", {{"sender", "a b@c"}}).status, 400);
  EXPECT_EQ(Refused("GET", "/v1/messages", {{"format", "xml"}}).status, 400);
}

TEST(AdminViewsTest, CommandsSayWhatTheyDidAndSuspensionsWithoutEndSayResumed) {
  CommandOutcome held{"hold", 2, 3, "", absl::InfinitePast(), ""};
  EXPECT_EQ(CommandJson(held), "{\"action\":\"hold\",\"jobs\":2,\"recipients\":3}\n");
  EXPECT_EQ(CommandText(held), "held 3 recipients in 2 jobs (a job: a message's recipients in one domain)\n");
  CommandOutcome suspended{"suspend", 0, 0, "a.example", absl::InfiniteFuture(), "421s"};
  EXPECT_EQ(CommandJson(suspended), "{\"action\":\"suspend\",\"domain\":\"a.example\",\"until\":null,\"reason\":\"421s\"}\n");
  EXPECT_EQ(CommandText(suspended), "suspended a.example until resumed\n");
  EXPECT_EQ(ErrorBody("no \"x\""), "{\"error\":\"no \\\"x\\\"\"}\n");
}

}  // namespace
}  // namespace ringpost::net
