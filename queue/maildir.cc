#include "queue/maildir.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/op_tag.h"
#include "core/utf8.h"

namespace ringpost::queue {
namespace {

std::string HostName() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::string safe;
  for (const char c : std::string(host)) safe += (c == '/' || c == ':') ? '_' : c;
  return safe.empty() ? "localhost" : safe;
}

}  // namespace

std::string MaildirFolderName(absl::string_view local_part) {
  std::string name;
  if (local_part.size() >= 2 && local_part.front() == '"' && local_part.back() == '"') {
    for (size_t i = 1; i + 1 < local_part.size(); ++i) {
      if (local_part[i] == '\\' && i + 2 < local_part.size()) ++i;
      name += local_part[i];
    }
  } else {
    name = std::string(local_part);
  }
  if (name.empty() || name.front() == '.' || absl::StrContains(name, "..") || absl::StrContains(name, "/") ||
      name.find('\0') != std::string::npos || !core::IsValidUtf8(name)) {
    return "";
  }
  return absl::AsciiStrToLower(name);
}

absl::StatusOr<MaildirFile> PlanMaildirFile(const std::string& root, const MaildirMessage& message,
                                            uint64_t unique, absl::Time now, int pid, absl::string_view host) {
  const std::string folder = MaildirFolderName(message.local_part);
  if (folder.empty() || message.domain.empty() || message.domain.front() == '.' ||
      absl::StrContains(message.domain, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsafe mailbox name '", message.local_part, "@", message.domain, "'"));
  }
  MaildirFile file;
  const std::string domain_dir = absl::StrCat(root, "/", message.domain);
  const std::string maildir = absl::StrCat(domain_dir, "/", folder);
  file.folders = {root, domain_dir, maildir, maildir + "/tmp", maildir + "/new", maildir + "/cur"};
  // time.M<micros>P<pid>Q<unique>.host: unique across processes and deliveries.
  const int64_t micros = absl::ToUnixMicros(now);
  const std::string name =
      absl::StrCat(micros / 1000000, ".M", micros % 1000000, "P", pid, "Q", unique, ".", host);
  file.tmp_path = absl::StrCat(maildir, "/tmp/", name);
  file.new_path = absl::StrCat(maildir, "/new/", name);
  file.new_folder = maildir + "/new";
  file.header = absl::StrCat("Return-Path: <", message.return_path, ">\nDelivered-To: ", message.delivered_to, "\n");
  return file;
}

std::string UnixLines(absl::string_view body) {
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') continue;
    out += body[i];
  }
  return out;
}

// One delivery: one file, one io_uring operation in flight at a time.
struct MaildirWriter::Delivery {
  enum class Phase {
    kMkdir,       // file.folders[folder]
    kOpen,        // create tmp/NAME
    kWrite,       // header and body, until all is written
    kSync,        // the file
    kClose,       // the file
    kRename,      // tmp/NAME → new/NAME
    kOpenFolder,  // new/
    kSyncFolder,
    kCloseFolder,
    kCleanClose,   // after a failure: close the file
    kCleanUnlink,  // after a failure: remove tmp/NAME
  };
  uint32_t slot = 0;
  uint32_t generation = 0;
  bool busy = false;
  MaildirFile file;
  std::shared_ptr<const std::string> body;
  Done done;
  Phase phase = Phase::kMkdir;
  size_t folder = 0;
  int fd = -1;
  bool created = false;  // tmp/NAME exists
  uint64_t written = 0;  // of header + body
  iovec iov[2] = {};
  absl::Status failure;
};

MaildirWriter::MaildirWriter(core::Shard& shard, std::string root)
    : shard_(shard), root_(std::move(root)), host_(HostName()) {
  shard_.SetSink(core::OpKind::kFileOp, this);
}

MaildirWriter::~MaildirWriter() {
  // Every delivery holds the shard until its last operation completed.
  RP_CHECK_EQ(in_flight_, 0u);
  shard_.SetSink(core::OpKind::kFileOp, nullptr);
}

void MaildirWriter::Deliver(const MaildirMessage& message, std::shared_ptr<const std::string> body, Done done) {
  absl::StatusOr<MaildirFile> file =
      PlanMaildirFile(root_, message, ++unique_, absl::Now(), getpid(), host_);
  if (!file.ok()) {
    // Heard after Deliver returns, like every other outcome.
    auto* call = new std::pair<Done, absl::Status>(std::move(done), file.status());
    shard_.RunAfterTurn({[](void* context, uint64_t) {
                           std::unique_ptr<std::pair<Done, absl::Status>> c(
                               static_cast<std::pair<Done, absl::Status>*>(context));
                           c->first(c->second, "");
                         },
                         call, 0});
    return;
  }
  if (free_slots_.empty()) {
    slots_.push_back(std::make_unique<Delivery>());
    slots_.back()->slot = static_cast<uint32_t>(slots_.size() - 1);
    free_slots_.push_back(slots_.back()->slot);
  }
  Delivery& d = *slots_[free_slots_.back()];
  free_slots_.pop_back();
  d.generation = (d.generation + 1) & core::kGenerationMask;
  d.busy = true;
  d.file = *std::move(file);
  d.body = std::move(body);
  d.done = std::move(done);
  d.phase = Delivery::Phase::kMkdir;
  d.folder = 0;
  d.fd = -1;
  d.created = false;
  d.written = 0;
  d.failure = absl::OkStatus();
  ++in_flight_;
  shard_.Hold();  // a stop waits for the file operations in flight
  Step(d);
}

void MaildirWriter::Submit(Delivery& d, io_uring_sqe* sqe) {
  io_uring_sqe_set_data64(sqe, core::OpTag{d.slot, d.generation, core::OpKind::kFileOp}.Encode());
}

void MaildirWriter::Step(Delivery& d) {
  using Phase = Delivery::Phase;
  io_uring_sqe* sqe = shard_.ring().GetSqe();
  switch (d.phase) {
    case Phase::kMkdir:
      io_uring_prep_mkdirat(sqe, AT_FDCWD, d.file.folders[d.folder].c_str(), 0700);
      break;
    case Phase::kOpen:
      io_uring_prep_openat(sqe, AT_FDCWD, d.file.tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      break;
    case Phase::kWrite: {
      const uint64_t header_bytes = d.file.header.size();
      int count = 0;
      if (d.written < header_bytes) {
        d.iov[count++] = {d.file.header.data() + d.written, header_bytes - d.written};
      }
      const uint64_t body_from = d.written > header_bytes ? d.written - header_bytes : 0;
      d.iov[count++] = {const_cast<char*>(d.body->data()) + body_from, d.body->size() - body_from};
      io_uring_prep_writev(sqe, d.fd, d.iov, static_cast<unsigned>(count), d.written);
      break;
    }
    case Phase::kSync:
    case Phase::kSyncFolder:
      io_uring_prep_fsync(sqe, d.fd, 0);
      break;
    case Phase::kClose:
    case Phase::kCloseFolder:
    case Phase::kCleanClose:
      io_uring_prep_close(sqe, d.fd);
      break;
    case Phase::kRename:
      io_uring_prep_renameat(sqe, AT_FDCWD, d.file.tmp_path.c_str(), AT_FDCWD, d.file.new_path.c_str(), 0);
      break;
    case Phase::kOpenFolder:
      io_uring_prep_openat(sqe, AT_FDCWD, d.file.new_folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
      break;
    case Phase::kCleanUnlink:
      io_uring_prep_unlinkat(sqe, AT_FDCWD, d.file.tmp_path.c_str(), 0);
      break;
  }
  Submit(d, sqe);
}

void MaildirWriter::OnCompletion(const core::Completion& completion) {
  using Phase = Delivery::Phase;
  const core::OpTag tag = core::OpTag::Decode(completion.user_data);
  RP_CHECK_LT(tag.slot, slots_.size());
  Delivery& d = *slots_[tag.slot];
  RP_CHECK(d.busy && d.generation == tag.generation);  // one operation in flight per delivery
  const int res = completion.res;
  auto fail = [&](const char* what, const std::string& path) {
    d.failure = absl::ErrnoToStatus(-res, absl::StrCat(what, " ", path));
    if (d.fd >= 0) {
      d.phase = Phase::kCleanClose;
    } else if (d.created) {
      d.phase = Phase::kCleanUnlink;
    } else {
      return Finish(d, d.failure);
    }
    Step(d);
  };
  switch (d.phase) {
    case Phase::kMkdir:
      if (res < 0 && res != -EEXIST) return fail("mkdir", d.file.folders[d.folder]);
      d.phase = ++d.folder < d.file.folders.size() ? Phase::kMkdir : Phase::kOpen;
      break;
    case Phase::kOpen:
      if (res < 0) return fail("create", d.file.tmp_path);
      d.fd = res;
      d.created = true;
      d.phase = Phase::kWrite;
      break;
    case Phase::kWrite:
      if (res <= 0) return fail("write", d.file.tmp_path);  // 0: no progress (a full disk)
      d.written += static_cast<uint64_t>(res);
      if (d.written == d.file.header.size() + d.body->size()) d.phase = Phase::kSync;
      break;
    case Phase::kSync:
      if (res < 0) return fail("fsync", d.file.tmp_path);
      d.phase = Phase::kClose;
      break;
    case Phase::kClose:
      d.fd = -1;
      if (res < 0) return fail("close", d.file.tmp_path);
      d.phase = Phase::kRename;
      break;
    case Phase::kRename:
      if (res < 0) return fail("rename into", d.file.new_path);
      d.created = false;
      d.phase = Phase::kOpenFolder;
      break;
    case Phase::kOpenFolder:
      if (res < 0) return fail("open", d.file.new_folder);
      d.fd = res;
      d.phase = Phase::kSyncFolder;
      break;
    case Phase::kSyncFolder:
      if (res < 0) return fail("fsync", d.file.new_folder);
      d.phase = Phase::kCloseFolder;
      break;
    case Phase::kCloseFolder:
      d.fd = -1;
      return Finish(d, absl::OkStatus());
    case Phase::kCleanClose:
      d.fd = -1;
      if (!d.created) return Finish(d, d.failure);
      d.phase = Phase::kCleanUnlink;
      break;
    case Phase::kCleanUnlink:
      return Finish(d, d.failure);
  }
  Step(d);
}

void MaildirWriter::Finish(Delivery& d, const absl::Status& status) {
  Done done = std::move(d.done);
  const std::string path = status.ok() ? d.file.new_path : std::string();
  d.busy = false;
  d.body.reset();
  free_slots_.push_back(d.slot);
  --in_flight_;
  shard_.Release();
  done(status, path);
}

}  // namespace ringpost::queue
