#include "tools/sink/message_recorder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace ringpost::sink {
namespace {
void WriteAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n <= 0) return;  // a full disk loses the recording, never the session
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}
}  // namespace

MessageRecorder::MessageRecorder(const std::string& dir, std::string name)
    : dir_(dir), name_(std::move(name)), partial_path_(absl::StrCat(dir, "/", name_, ".partial")) {
  fd_ = open(partial_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

MessageRecorder::~MessageRecorder() {
  if (fd_ >= 0) close(fd_);
  if (!committed_) unlink(partial_path_.c_str());
}

void MessageRecorder::Append(absl::string_view bytes) {
  if (fd_ >= 0) WriteAll(fd_, bytes);
}

void MessageRecorder::Commit(absl::string_view envelope_json) {
  if (fd_ < 0) return;
  close(fd_);
  fd_ = -1;
  const std::string envelope_path = absl::StrCat(dir_, "/", name_, ".json");
  const int env = open(envelope_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (env >= 0) {
    WriteAll(env, envelope_json);
    close(env);
  }
  // The .eml appears last, complete: a reader that sees it sees its envelope too.
  committed_ = std::rename(partial_path_.c_str(), absl::StrCat(dir_, "/", name_, ".eml").c_str()) == 0;
}

}  // namespace ringpost::sink
