// Writes one received message for verification (--record_dir): NAME.eml holds the
// body exactly as stored (after dot-unstuffing), NAME.json the envelope. Files appear
// under their final names only on Commit(); a message that was not accepted leaves
// nothing behind. Plain blocking writes: recording is a verification mode, not the
// sink's fast path.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace ringpost::sink {

class MessageRecorder {
 public:
  MessageRecorder(const std::string& dir, std::string name);
  ~MessageRecorder();  // removes the partial file unless committed
  MessageRecorder(const MessageRecorder&) = delete;
  MessageRecorder& operator=(const MessageRecorder&) = delete;

  const std::string& name() const { return name_; }
  void Append(absl::string_view bytes);
  void Commit(absl::string_view envelope_json);

 private:
  std::string dir_;
  std::string name_;
  std::string partial_path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace ringpost::sink
