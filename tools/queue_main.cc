// ringpost-queue: see and steer the queue (DESIGN.md, tools/). On a running daemon it
// speaks the admin API (net/admin/admin_request.h) over --admin_socket (or
// --admin_listen with --admin_token_file); on a stopped one it reads the spool
// (tools/queue_offline.h) for the verbs that only look.
//
//   summary [--top N]                         destinations, deepest first
//   list [--domain D] [--sender S] [--older_than 1h] [--limit N]
//   show ID | cat ID                          one message; its stored body
//   suspend --domain D [--duration 1h] [--reason TEXT]    (no duration: until resumed)
//   resume --domain D | suspensions
//   flush --domain D | --all                  retry deferred mail now (spread over <= 1 min)
//   hold | release | delete | bounce  ID | --domain D | --sender S | --older_than T | --all
//                                             [--reason TEXT] (bounce: quoted in the DSN)
//
// Every verb takes --json (the API's JSON; a listing is one object per line). Exit
// status: 0 done, 1 not found (an unknown queue id, a domain not suspended) or the
// daemon failed, 2 a bad request (a malformed domain or duration, a missing selector).
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/json.h"
#include "net/admin/admin_request.h"
#include "tools/admin_client.h"
#include "tools/command_line.h"
#include "tools/queue_offline.h"

ABSL_FLAG(std::string, spool_dir, "./var/spool", "the daemon's --spool_dir (read when the daemon is stopped)");
ABSL_FLAG(std::string, admin_socket, "./var/run/admin.sock", "the daemon's --admin_socket");
ABSL_FLAG(std::string, admin_listen, "", "ADDR:PORT: use the daemon's --admin_listen instead of the socket");
ABSL_FLAG(std::string, admin_token_file, "", "the bearer token for --admin_listen");
ABSL_FLAG(bool, json, false, "print the admin API's JSON");
ABSL_FLAG(std::string, domain, "", "a destination domain");
ABSL_FLAG(std::string, sender, "", "an envelope sender address");
ABSL_FLAG(std::string, older_than, "", "only messages queued longer than this (30m, 4h, 2d)");
ABSL_FLAG(std::string, duration, "", "how long a suspension lasts (default: until resumed)");
ABSL_FLAG(std::string, reason, "", "why (suspend, bounce)");
ABSL_FLAG(std::string, limit, "", "list: at most this many jobs");
ABSL_FLAG(std::string, top, "", "summary: this many destinations (default 50)");
ABSL_FLAG(bool, all, false, "the whole queue (commands over many messages need this or a selector)");

namespace ringpost {
namespace {

constexpr const char* kUsage =
    "usage: ringpost-queue [--json] VERB ...\n"
    "  summary [--top N] | list [--domain D] [--sender S] [--older_than T] [--limit N]\n"
    "  show ID | cat ID | suspensions\n"
    "  suspend --domain D [--duration T] [--reason TEXT] | resume --domain D\n"
    "  flush --domain D | --all\n"
    "  hold | release | delete | bounce  ID | --domain D | --sender S | --older_than T | --all  [--reason TEXT]\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "ringpost-queue: %s\n%s", problem.c_str(), kUsage);
  return 2;
}

std::string PercentEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '@') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

struct Call {
  std::string method = "GET";
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;
};

// The verb and its arguments as an admin API call.
std::variant<Call, std::string> BuildCall(const std::vector<std::string>& args) {
  if (args.empty()) return std::string("no verb");
  const std::string& verb = args[0];
  Call call;
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) call.params.emplace_back(name, value);
  };
  const bool by_id = verb == "show" || verb == "cat";
  const bool command = verb == "hold" || verb == "release" || verb == "delete" || verb == "bounce";
  if (args.size() > (by_id || command ? 2u : 1u)) return absl::StrCat("too many arguments for ", verb);
  if (by_id && args.size() != 2) return absl::StrCat(verb, " needs a queue id");
  if (verb == "summary") {
    call.path = "/v1/summary";
    add("top", absl::GetFlag(FLAGS_top));
  } else if (verb == "list") {
    call.path = "/v1/messages";
    add("limit", absl::GetFlag(FLAGS_limit));
  } else if (verb == "show") {
    call.path = absl::StrCat("/v1/messages/", args[1]);
  } else if (verb == "cat") {
    call.path = absl::StrCat("/v1/messages/", args[1], "/body");
  } else if (verb == "suspensions") {
    call.path = "/v1/suspensions";
  } else if (verb == "suspend" || verb == "resume" || verb == "flush" || command) {
    call.method = "POST";
    call.path = absl::StrCat("/v1/", verb);
    if (verb == "suspend") add("duration", absl::GetFlag(FLAGS_duration));
    if (command && args.size() == 2) add("queue_id", args[1]);
  } else {
    return absl::StrCat("unknown verb '", verb, "'");
  }
  if (verb == "list" || verb == "suspend" || verb == "resume" || verb == "flush" || command) {
    add("domain", absl::GetFlag(FLAGS_domain));
  }
  if (verb == "list" || command) {
    add("sender", absl::GetFlag(FLAGS_sender));
    add("older_than", absl::GetFlag(FLAGS_older_than));
  }
  if (verb == "suspend" || verb == "bounce") add("reason", absl::GetFlag(FLAGS_reason));
  if (absl::GetFlag(FLAGS_all) && (verb == "flush" || command)) add("all", "true");
  return call;
}

int Run(const std::vector<std::string>& args) {
  auto built = BuildCall(args);
  if (auto* problem = std::get_if<std::string>(&built)) return Usage(*problem);
  Call& call = std::get<Call>(built);
  const bool json = absl::GetFlag(FLAGS_json);
  AdminEndpoint endpoint;
  endpoint.unix_path = absl::GetFlag(FLAGS_admin_socket);
  endpoint.tcp = absl::GetFlag(FLAGS_admin_listen);
  if (const std::string token_file = absl::GetFlag(FLAGS_admin_token_file); !token_file.empty()) {
    std::ifstream in(token_file);
    if (!in || !std::getline(in, endpoint.token)) return Usage(absl::StrCat("cannot read ", token_file));
    endpoint.token = std::string(absl::StripAsciiWhitespace(endpoint.token));
  }
  // GET parameters go in the query string, POST ones in a JSON body.
  std::string target = absl::StrCat(call.path, "?format=", json ? "json" : "text");
  std::string body;
  if (call.method == "GET") {
    for (const auto& [name, value] : call.params) absl::StrAppend(&target, "&", name, "=", PercentEncode(value));
  } else {
    core::JsonObject object(&body);
    for (const auto& [name, value] : call.params) {
      if (name == "all") {
        object.Bool(name, true);
      } else {
        object.String(name, value);
      }
    }
  }
  absl::StatusOr<AdminReply> reply = CallAdmin(endpoint, call.method, target, body, stdout);
  if (absl::IsUnavailable(reply.status()) && endpoint.tcp.empty()) {
    // No daemon: what only looks is read from the spool, checked as the daemon would.
    std::vector<std::pair<std::string, std::string>> params = call.params;
    params.emplace_back("format", json ? "json" : "text");
    auto request = net::ParseAdminRequest(call.method, call.path, params);
    if (auto* error = std::get_if<net::AdminError>(&request)) {
      std::fprintf(stderr, "ringpost-queue: %s\n", error->message.c_str());
      return error->status == 400 ? 2 : 1;
    }
    return RunOffline(absl::GetFlag(FLAGS_spool_dir), std::get<net::AdminRequest>(request), stdout);
  }
  if (!reply.ok()) {
    std::fprintf(stderr, "ringpost-queue: %s\n", std::string(reply.status().message()).c_str());
    return 1;
  }
  if (reply->status == 200) return 0;
  if (!json && !reply->error.empty()) {
    std::fprintf(stderr, "ringpost-queue: %s\n", reply->error.c_str());
  } else {
    std::fprintf(stderr, "%s\n", reply->error.c_str());
  }
  return reply->status == 400 || reply->status == 405 ? 2 : 1;
}

}  // namespace
}  // namespace ringpost

int main(int argc, char** argv) {
  const ringpost::Program program{"ringpost-queue",
                                  "see and steer the queue of a running or stopped ringpost",
                                  ringpost::kUsage, "tools/queue_main.cc"};
  std::vector<char*> raw = ringpost::ParseProgramCommandLine(argc, argv, program);
  std::vector<std::string> args(raw.begin() + 1, raw.end());
  return ringpost::Run(args);
}
