#include "queue/maildir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ringpost::queue {
namespace {

// The folder a local part names: quotes and backslashes of a quoted local part
// (RFC 5321 §4.1.2) removed, lower-cased (local users are case-insensitive here, as
// in most MTAs' local delivery). Empty when it could leave its parent folder.
std::string FolderName(absl::string_view local_part) {
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
      name.find('\0') != std::string::npos) {
    return "";
  }
  return absl::AsciiStrToLower(name);
}

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return absl::OkStatus();
  return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", path));
}

absl::Status SyncDir(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  const int rc = fsync(fd);
  const int saved = errno;
  close(fd);
  if (rc != 0) return absl::ErrnoToStatus(saved, absl::StrCat("fsync ", path));
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, absl::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::ErrnoToStatus(n < 0 ? errno : EIO, absl::StrCat("write ", path));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// CRLF → LF, in pieces so a large body costs one pass and bounded extra memory.
absl::Status WriteUnixLines(int fd, absl::string_view body, const std::string& path) {
  std::string chunk;
  chunk.reserve(64 * 1024);
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') continue;
    chunk += body[i];
    if (chunk.size() >= 64 * 1024) {
      if (absl::Status s = WriteAll(fd, chunk, path); !s.ok()) return s;
      chunk.clear();
    }
  }
  return WriteAll(fd, chunk, path);
}

}  // namespace

absl::Status DeliverToMaildir(const std::string& root, const MaildirMessage& message, uint64_t unique,
                              std::string* delivered_path) {
  const std::string folder = FolderName(message.local_part);
  if (folder.empty() || message.domain.empty() || message.domain.front() == '.' ||
      absl::StrContains(message.domain, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsafe mailbox name '", message.local_part, "@", message.domain, "'"));
  }
  const std::string domain_dir = absl::StrCat(root, "/", message.domain);
  const std::string maildir = absl::StrCat(domain_dir, "/", folder);
  for (const std::string& dir :
       {root, domain_dir, maildir, maildir + "/tmp", maildir + "/new", maildir + "/cur"}) {
    if (absl::Status s = MakeDir(dir); !s.ok()) return s;
  }
  // time.M<micros>P<pid>Q<unique>.host: unique across processes and deliveries.
  const int64_t micros = absl::ToUnixMicros(absl::Now());
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::string safe_host;
  for (const char c : std::string(host)) safe_host += (c == '/' || c == ':') ? '_' : c;
  const std::string name = absl::StrCat(micros / 1000000, ".M", micros % 1000000, "P", getpid(), "Q", unique,
                                        ".", safe_host.empty() ? "localhost" : safe_host);
  const std::string tmp_path = absl::StrCat(maildir, "/tmp/", name);
  const std::string new_path = absl::StrCat(maildir, "/new/", name);

  const int fd = open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("create ", tmp_path));
  const std::string header =
      absl::StrCat("Return-Path: <", message.return_path, ">\nDelivered-To: ", message.delivered_to, "\n");
  absl::Status status = WriteAll(fd, header, tmp_path);
  if (status.ok()) status = WriteUnixLines(fd, message.body, tmp_path);
  if (status.ok() && fsync(fd) != 0) status = absl::ErrnoToStatus(errno, absl::StrCat("fsync ", tmp_path));
  close(fd);
  if (status.ok() && rename(tmp_path.c_str(), new_path.c_str()) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("rename into ", new_path));
  }
  if (!status.ok()) {
    unlink(tmp_path.c_str());
    return status;
  }
  if (absl::Status s = SyncDir(maildir + "/new"); !s.ok()) return s;
  *delivered_path = new_path;
  return absl::OkStatus();
}

}  // namespace ringpost::queue
