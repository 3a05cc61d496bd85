// ringpost-queue: look into a stopped daemon's queue (DESIGN.md, tools/).
//
//   ringpost-queue --spool_dir=DIR list       one line per queued message
//   ringpost-queue --spool_dir=DIR show ID    its envelope and recipients' states
//   ringpost-queue --spool_dir=DIR cat ID     its stored body, byte for byte
//
// It takes the spool lock, so it never reads a log that a running daemon is writing
// (stop the daemon first; a crashed one holds no lock), and it runs the same recovery
// as the daemon's start-up (a torn tail is cut exactly as the next start would).
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "queue/log_reader.h"
#include "queue/recovery.h"
#include "queue/schedule/delivery_outcome.h"
#include "queue/spool_lock.h"

ABSL_FLAG(std::string, spool_dir, "./var/spool", "the daemon's --spool_dir");

namespace ringpost {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "ringpost-queue: %s\n", message.c_str());
  return 2;
}

absl::string_view StateName(const queue::RecipientState& state) {
  if (!state.final) {
    if (state.held) return "held";
    return state.attempts == 0 ? "queued" : "deferred";
  }
  return queue::OutcomeName(state.last_outcome);  // "relocated": compaction moved it forward
}

int Run(const std::string& command, const std::string& id) {
  const std::string spool_dir = absl::GetFlag(FLAGS_spool_dir);
  auto lock = queue::SpoolLock::Acquire(spool_dir, queue::SpoolLock::Create::kNo);
  if (absl::IsNotFound(lock.status())) return Fail(std::string(lock.status().message()));
  if (!lock.ok()) return Fail(absl::StrCat(lock.status().message(), " (stop the daemon first)"));
  auto recovered = queue::RecoverSpool(spool_dir);
  if (!recovered.ok()) return Fail(std::string(recovered.status().message()));
  if (command == "list") {
    for (const queue::RecoveredMessage& m : recovered->live) {
      std::printf("%s shard=%u bytes=%llu recipients=%zu\n", m.queue_id.c_str(), m.shard,
                  static_cast<unsigned long long>(m.body_bytes), m.recipients.size());
    }
    std::printf("%zu queued\n", recovered->live.size());
    return 0;
  }
  for (const queue::RecoveredMessage& m : recovered->live) {
    if (m.queue_id != id) continue;
    const std::string& path = recovered->segments[m.segment].path;
    auto envelope = queue::ReadEnvelope(path, m.commit_offset);
    if (!envelope.ok()) return Fail(std::string(envelope.status().message()));
    if (command == "cat") {
      auto body = queue::ReadBody(path, *envelope);
      if (!body.ok()) return Fail(std::string(body.status().message()));
      std::fwrite(body->data(), 1, body->size(), stdout);
      return 0;
    }
    const absl::Time arrival = absl::FromUnixMicros(static_cast<int64_t>(envelope->arrival_unix_micros));
    std::printf("id: %s\narrival: %s\nclient: %s\nhelo: %s\nprotocol: %s\nfrom: <%s> %s\nbytes: %llu\n",
                envelope->queue_id.c_str(),
                absl::FormatTime(absl::RFC3339_sec, arrival, absl::UTCTimeZone()).c_str(),
                envelope->client_address.c_str(), envelope->helo.c_str(), envelope->protocol.c_str(),
                envelope->mail_from.c_str(), envelope->mail_params.c_str(),
                static_cast<unsigned long long>(envelope->body_bytes));
    for (size_t i = 0; i < envelope->recipients.size(); ++i) {
      const auto state = i < m.recipients.size() ? StateName(m.recipients[i]) : "queued";
      std::printf("to: <%s> %s\n", envelope->recipients[i].address.c_str(), std::string(state).c_str());
    }
    return 0;
  }
  return Fail(absl::StrCat("no queued message ", id));
}

}  // namespace
}  // namespace ringpost

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("ringpost-queue --spool_dir=DIR list | show ID | cat ID");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const bool list = args.size() == 2 && std::string(args[1]) == "list";
  const bool by_id = args.size() == 3 && (std::string(args[1]) == "show" || std::string(args[1]) == "cat");
  if (!list && !by_id) {
    std::fprintf(stderr, "usage: ringpost-queue --spool_dir=DIR list | show ID | cat ID\n");
    return 2;
  }
  return ringpost::Run(args[1], by_id ? args[2] : "");
}
