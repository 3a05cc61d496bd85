#include "tools/service/service_notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/log.h"

namespace ringpost {

void NotifyServiceManager(absl::string_view state) {
  const std::string text(state);
  // Negative: the socket named by $NOTIFY_SOCKET refused it. Delivery goes on; the
  // service manager's view of it is wrong, which the log should say.
  if (const int r = sd_notify(0, text.c_str()); r < 0) {
    RP_LOG(kWarning) << "sd_notify(" << text.substr(0, text.find('\n')) << "): " << strerror(-r);
  }
}

std::string ReloadingState() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const uint64_t micros =
      static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
  return absl::StrCat("RELOADING=1\nMONOTONIC_USEC=", micros);
}

}  // namespace ringpost
