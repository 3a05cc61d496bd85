// The admin API's requests (DESIGN.md: --admin_socket; ringpost-queue uses it): an HTTP
// method and path with parameters (the query string, and for POST a flat JSON body)
// become one typed request, or the HTTP error that refuses it. Pure.
//
//   GET  /v1/summary?top=N                      destinations, deepest first
//   GET  /v1/messages?domain=&sender=&older_than=&limit=
//                                               queued messages, streamed (one per line)
//   GET  /v1/messages/ID                        one message: envelope, recipients' states
//   GET  /v1/messages/ID/body                   its stored body, byte for byte
//   GET  /v1/suspensions                        suspended destinations
//   POST /v1/suspend   {domain, duration?, reason?}   (no duration: until resumed)
//   POST /v1/resume    {domain}
//   POST /v1/flush     {domain | all}
//   POST /v1/hold | /v1/release | /v1/delete | /v1/bounce
//                      {queue_id | domain | sender | older_than | all, reason?}
//
// Every answer is JSON unless format=text (what ringpost-queue prints). A command over
// many messages needs a selector; the whole queue needs all=true. Refused with 400 (the
// message names the parameter): a malformed domain, queue id, address or duration, an
// unknown parameter, a number out of range; 404 for an unknown path, 405 for a wrong
// method.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "queue/schedule/delivery_scheduler.h"

namespace ringpost::net {

enum class AdminVerb {
  kSummary,
  kList,
  kShow,
  kBody,
  kSuspensions,
  kSuspend,
  kResume,
  kFlush,
  kHold,
  kRelease,
  kDelete,
  kBounce,
};

const char* AdminVerbName(AdminVerb verb);  // "summary", "list", ..., "bounce"

struct AdminRequest {
  AdminVerb verb = AdminVerb::kSummary;
  queue::JobFilter filter;  // list, show, body, flush, hold, release, delete, bounce
  bool all = false;         // the whole queue, said explicitly
  size_t top = 50;          // summary
  size_t limit = SIZE_MAX;  // list
  absl::Duration duration = absl::InfiniteDuration();  // suspend
  std::string reason;                                 // suspend, bounce
  bool text = false;                                  // format=text
};

struct AdminError {
  int status = 400;  // the HTTP status
  std::string message;
};

inline constexpr size_t kAdminTopMax = 100'000;
inline constexpr size_t kAdminReasonBytesMax = 256;

// `method` and `path` as the request line has them; `params` from the query string and
// the body, in that order (a name given twice is refused).
std::variant<AdminRequest, AdminError> ParseAdminRequest(const std::string& method, const std::string& path,
                                                         const std::vector<std::pair<std::string, std::string>>& params);

// Whether a command applies to one message, or to many (needs a selector or all).
bool AdminVerbIsCommand(AdminVerb verb);

}  // namespace ringpost::net
