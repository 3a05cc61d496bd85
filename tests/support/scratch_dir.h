// A folder of one test's own under gtest's TempDir(), removed with everything in
// it when the test ends, pass or fail. Tests that write spools must clean up: CI
// runs on a long-lived machine, and leaked spools once filled its disk.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "gtest/gtest.h"

namespace ringpost::testing {

class ScratchDir {
 public:
  // `name` starts the folder's name, so a folder a crashed test left behind says
  // which test it was; mkdtemp makes the rest unique.
  explicit ScratchDir(std::string_view name) {
    std::string pattern = ::testing::TempDir();
    if (!pattern.empty() && pattern.back() != '/') pattern += '/';
    pattern.append(name).append("-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << pattern << " failed";
    path_ = std::move(pattern);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;  // a folder that cannot be removed must not fail the test
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const { return path_; }
  // A path inside the folder, not created.
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

}  // namespace ringpost::testing
