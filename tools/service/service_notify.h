// Tells the service manager what the daemon is doing (systemd's Type=notify): READY=1
// once every shard listens, RELOADING=1 then READY=1 around a SIGHUP reload,
// STOPPING=1 when a stop begins. Started by anything else ($NOTIFY_SOCKET unset), it
// does nothing.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace ringpost {

// `state` is sd_notify's: newline-separated VARIABLE=value assignments.
void NotifyServiceManager(absl::string_view state);

// "RELOADING=1" with the monotonic time systemd (Type=notify-reload) asks for.
std::string ReloadingState();

}  // namespace ringpost
