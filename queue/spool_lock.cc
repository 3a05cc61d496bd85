#include "queue/spool_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "queue/queue_id.h"

namespace ringpost::queue {

absl::StatusOr<SpoolLock> SpoolLock::Acquire(const std::string& spool_dir, Create create) {
  std::error_code error;
  if (create == Create::kNo) {
    // A reader (ringpost-queue) never makes a spool: a typo must not read as an empty queue.
    if (!std::filesystem::is_directory(spool_dir, error)) {
      return absl::NotFoundError(absl::StrCat(
          "no spool at ", std::filesystem::absolute(spool_dir, error).lexically_normal().string()));
    }
  } else {
    std::filesystem::create_directories(spool_dir, error);
    if (error) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create spool directory ", spool_dir, ": ", error.message()));
    }
  }
  const std::string path = absl::StrCat(spool_dir, "/lock");
  const int fd = open(path.c_str(), O_RDWR | (create == Create::kYes ? O_CREAT : 0) | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int saved = errno;
    close(fd);
    if (saved == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "spool ", spool_dir, " is locked by another ringpost process; two daemons may not share a spool"));
    }
    return absl::ErrnoToStatus(saved, absl::StrCat("flock ", path));
  }
  return SpoolLock(spool_dir, fd);
}

SpoolLock::SpoolLock(SpoolLock&& other) noexcept
    : spool_dir_(std::move(other.spool_dir_)), fd_(std::exchange(other.fd_, -1)) {}

SpoolLock& SpoolLock::operator=(SpoolLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    spool_dir_ = std::move(other.spool_dir_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

SpoolLock::~SpoolLock() {
  if (fd_ >= 0) close(fd_);  // releases the flock
}

absl::StatusOr<uint32_t> LoadOrCreateNodeId(const std::string& spool_dir) {
  const std::string path = absl::StrCat(spool_dir, "/node_id");
  std::ifstream in(path);
  if (in) {
    uint32_t node = 0;
    if (!(in >> node) || node >= kQueueIdNodes) {
      return absl::DataLossError(absl::StrCat(path, ": expected a number below ", kQueueIdNodes));
    }
    return node;
  }
  std::random_device random;
  const uint32_t node = static_cast<uint32_t>(random()) % kQueueIdNodes;
  const std::string temporary = path + ".new";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << node << "\n";
    if (!out.flush()) return absl::UnavailableError(absl::StrCat("cannot write ", temporary));
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("rename ", path));
  return node;
}

}  // namespace ringpost::queue
