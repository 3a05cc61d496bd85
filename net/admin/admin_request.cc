#include "net/admin/admin_request.h"

#include <algorithm>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/domain_name.h"
#include "core/duration_flag.h"
#include "queue/queue_id.h"

namespace ringpost::net {
namespace {

constexpr absl::string_view kPrefix = "/v1/";

struct Route {
  absl::string_view path;
  AdminVerb verb;
  bool post;
  std::vector<absl::string_view> params;  // what the verb takes
};

const std::vector<Route>& Routes() {
  static const auto* routes = new std::vector<Route>{
      {"summary", AdminVerb::kSummary, false, {"top"}},
      {"messages", AdminVerb::kList, false, {"domain", "sender", "older_than", "limit", "all"}},
      {"suspensions", AdminVerb::kSuspensions, false, {}},
      {"suspend", AdminVerb::kSuspend, true, {"domain", "duration", "reason"}},
      {"resume", AdminVerb::kResume, true, {"domain"}},
      {"flush", AdminVerb::kFlush, true, {"domain", "all"}},
      {"hold", AdminVerb::kHold, true, {"queue_id", "domain", "sender", "older_than", "all"}},
      {"release", AdminVerb::kRelease, true, {"queue_id", "domain", "sender", "older_than", "all"}},
      {"delete", AdminVerb::kDelete, true, {"queue_id", "domain", "sender", "older_than", "all"}},
      {"bounce", AdminVerb::kBounce, true, {"queue_id", "domain", "sender", "older_than", "all", "reason"}},
  };
  return *routes;
}

AdminError Bad(std::string message) { return AdminError{400, std::move(message)}; }

bool IsQueueId(absl::string_view id) {
  queue::QueueIdParts parts;
  return queue::ParseQueueId(id, &parts);
}

// A destination as the scheduler names it: a host name, or an address literal.
bool IsDestination(absl::string_view domain) {
  if (domain.size() > 2 && domain.front() == '[' && domain.back() == ']') {
    return std::all_of(domain.begin() + 1, domain.end() - 1,
                       [](char c) { return absl::ascii_isxdigit(c) || c == '.' || c == ':' || c == '-' ||
                                           absl::ascii_isalpha(c); });
  }
  return core::IsHostName(domain);
}

bool IsAddress(absl::string_view address) {
  if (address.size() > 320) return false;
  return std::all_of(address.begin(), address.end(),
                     [](char c) { return static_cast<unsigned char>(c) > ' ' && c != 0x7f && c != '<' && c != '>'; });
}

}  // namespace

const char* AdminVerbName(AdminVerb verb) {
  switch (verb) {
    case AdminVerb::kSummary:
      return "summary";
    case AdminVerb::kList:
      return "list";
    case AdminVerb::kShow:
      return "show";
    case AdminVerb::kBody:
      return "cat";
    case AdminVerb::kSuspensions:
      return "suspensions";
    case AdminVerb::kSuspend:
      return "suspend";
    case AdminVerb::kResume:
      return "resume";
    case AdminVerb::kFlush:
      return "flush";
    case AdminVerb::kHold:
      return "hold";
    case AdminVerb::kRelease:
      return "release";
    case AdminVerb::kDelete:
      return "delete";
    case AdminVerb::kBounce:
      return "bounce";
  }
  return "unknown";
}

bool AdminVerbIsCommand(AdminVerb verb) {
  return verb == AdminVerb::kHold || verb == AdminVerb::kRelease || verb == AdminVerb::kDelete ||
         verb == AdminVerb::kBounce;
}

std::variant<AdminRequest, AdminError> ParseAdminRequest(
    const std::string& method, const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& params) {
  if (!absl::StartsWith(path, kPrefix)) return AdminError{404, absl::StrCat("no such endpoint: ", path)};
  const absl::string_view rest = absl::string_view(path).substr(kPrefix.size());
  AdminRequest request;
  const Route* route = nullptr;
  static const Route kShow{"", AdminVerb::kShow, false, {}};
  static const Route kBody{"", AdminVerb::kBody, false, {}};
  if (absl::StartsWith(rest, "messages/")) {
    absl::string_view id = rest.substr(9);
    route = &kShow;
    if (absl::EndsWith(id, "/body")) {
      id.remove_suffix(5);
      route = &kBody;
    }
    if (!IsQueueId(id)) return Bad(absl::StrCat("not a queue id: '", id, "'"));
    request.filter.queue_id = std::string(id);
  } else {
    for (const Route& r : Routes()) {
      if (r.path == rest) route = &r;
    }
    if (route == nullptr) return AdminError{404, absl::StrCat("no such endpoint: ", path)};
  }
  if ((method == "POST") != route->post) {
    return AdminError{405, absl::StrCat(path, " takes ", route->post ? "POST" : "GET")};
  }
  request.verb = route->verb;
  std::vector<absl::string_view> seen;
  for (const auto& [name, value] : params) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) return Bad(absl::StrCat("'", name, "' given twice"));
    seen.push_back(name);
    if (name == "format") {
      if (value != "text" && value != "json") return Bad("format is text or json");
      request.text = value == "text";
      continue;
    }
    if (std::find(route->params.begin(), route->params.end(), name) == route->params.end()) {
      return Bad(absl::StrCat(AdminVerbName(route->verb), " takes no '", name, "'"));
    }
    if (name == "domain") {
      std::string domain = core::CanonicalDomain(value);
      if (!IsDestination(domain)) return Bad(absl::StrCat("not a domain: '", value, "'"));
      request.filter.domain = std::move(domain);
    } else if (name == "queue_id") {
      if (!IsQueueId(value)) return Bad(absl::StrCat("not a queue id: '", value, "'"));
      request.filter.queue_id = value;
    } else if (name == "sender") {
      if (value.empty() || !IsAddress(value)) return Bad(absl::StrCat("not a sender address: '", value, "'"));
      request.filter.sender = value;
    } else if (name == "older_than" || name == "duration") {
      absl::Duration d;
      if (!core::ParseFlagDuration(value, &d) || d <= absl::ZeroDuration()) {
        return Bad(absl::StrCat("not a duration: ", name, "='", value, "' (like 30m, 4h, 2d)"));
      }
      (name == "older_than" ? request.filter.older_than : request.duration) = d;
    } else if (name == "top" || name == "limit") {
      size_t n = 0;
      if (!absl::SimpleAtoi(value, &n) || n == 0 || n > (name == "top" ? kAdminTopMax : SIZE_MAX / 2)) {
        return Bad(absl::StrCat("not a count: ", name, "='", value, "'"));
      }
      (name == "top" ? request.top : request.limit) = n;
    } else if (name == "all") {
      if (value != "true" && value != "1") return Bad("all is true or absent");
      request.all = true;
    } else if (name == "reason") {
      if (value.size() > kAdminReasonBytesMax ||
          std::any_of(value.begin(), value.end(), [](char c) { return static_cast<unsigned char>(c) < ' '; })) {
        return Bad(absl::StrCat("a reason is one line of at most ", kAdminReasonBytesMax, " bytes"));
      }
      request.reason = value;
    }
  }
  const queue::JobFilter& f = request.filter;
  const bool selector = !f.queue_id.empty() || !f.domain.empty() || !f.sender.empty() ||
                        f.older_than > absl::ZeroDuration();
  switch (request.verb) {
    case AdminVerb::kSuspend:
    case AdminVerb::kResume:
      if (f.domain.empty()) return Bad(absl::StrCat(AdminVerbName(request.verb), " needs a domain"));
      break;
    case AdminVerb::kFlush:
    case AdminVerb::kHold:
    case AdminVerb::kRelease:
    case AdminVerb::kDelete:
    case AdminVerb::kBounce:
      if (!selector && !request.all) {
        return Bad(absl::StrCat(AdminVerbName(request.verb),
                                " needs a selector (queue_id, domain, sender, older_than), or all=true for the "
                                "whole queue"));
      }
      if (selector && request.all) return Bad("all=true goes without a selector");
      break;
    default:
      break;
  }
  return request;
}

}  // namespace ringpost::net
