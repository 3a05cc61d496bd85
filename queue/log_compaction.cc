#include "queue/log_compaction.h"

#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "queue/log_reader.h"

namespace ringpost::queue {
namespace {

// Reads a committed message back, lets `edit` change its envelope, and commits the
// copy into the newest head. Reading back blocks on the page cache or disk; compaction
// is rare and off the receive path.
void WriteCopy(LogWriter& log, const std::string& path, uint64_t commit_offset,
               const std::function<absl::Status(Envelope&)>& edit, CopyCallback done) {
  auto envelope = std::make_shared<Envelope>();
  auto fail = [&](const absl::Status& status) { done(status, *envelope, MessageLocation{}); };
  absl::StatusOr<Envelope> read = ReadEnvelope(path, commit_offset);
  if (!read.ok()) return fail(read.status());
  *envelope = std::move(*read);
  absl::StatusOr<std::string> body = ReadBody(path, *envelope);
  if (!body.ok()) return fail(body.status());
  if (absl::Status edited = edit(*envelope); !edited.ok()) return fail(edited);
  absl::StatusOr<uint64_t> message = log.BeginCopy();
  if (!message.ok()) return fail(message.status());
  if (absl::Status appended = log.AppendBody(*message, *body); !appended.ok()) {
    log.Abort(*message);
    return fail(appended);
  }
  log.Commit(*message, envelope.get(),
             [envelope, done = std::move(done)](const absl::Status& status, const MessageLocation& location) {
               done(status, *envelope, location);
             });
}

}  // namespace

void RelocateMessage(LogWriter& log, uint32_t segment, uint64_t commit_offset,
                     std::vector<Recipient> recipients, CommitCallback done) {
  const std::string path = log.SegmentPath(segment);
  RP_CHECK_MSG(!path.empty(), "RelocateMessage from an unknown segment");
  WriteCopy(
      log, path, commit_offset,
      [&recipients](Envelope& envelope) {
        RP_CHECK_EQ(recipients.size(), envelope.recipients.size());
        envelope.recipients = std::move(recipients);
        return absl::OkStatus();
      },
      [&log, segment, done = std::move(done)](const absl::Status& status, const Envelope&,
                                               const MessageLocation& location) {
        if (status.ok()) log.MessageFinished(segment);  // the old copy no longer pins its segment
        done(status, location);
      });
}

void CopyMessage(LogWriter& log, const std::string& path, uint64_t commit_offset, std::string queue_id,
                 const std::vector<RecipientPick>& picks, CopyCallback done) {
  WriteCopy(
      log, path, commit_offset,
      [&](Envelope& envelope) {
        std::vector<Recipient> chosen;
        for (const RecipientPick& pick : picks) {
          if (pick.index >= envelope.recipients.size()) {
            return absl::InvalidArgumentError(
                absl::StrCat("no recipient ", pick.index, " in ", envelope.queue_id));
          }
          Recipient r = envelope.recipients[pick.index];
          r.final = false;
          r.attempts = pick.attempts;
          r.next_attempt_unix_micros = pick.next_attempt_unix_micros;
          chosen.push_back(std::move(r));
        }
        envelope.recipients = std::move(chosen);
        envelope.queue_id = std::move(queue_id);
        return absl::OkStatus();
      },
      std::move(done));
}

}  // namespace ringpost::queue
