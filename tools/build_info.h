// What `--version` says about the binary: the release and the git commit it was built
// from (cmake/build_info.cmake writes the definition at every build).
#pragma once

namespace ringpost {

// "0123456789ab", "0123456789ab-dirty" (uncommitted changes) or "unknown".
const char* BuildCommit();

}  // namespace ringpost
