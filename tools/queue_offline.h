// ringpost-queue on a stopped daemon's spool: the same views as the admin API, read
// from the queue log. It takes the spool lock (so it never reads a log a running daemon
// is writing; a crashed one holds no lock) and runs the daemon's own recovery (a torn
// tail is cut exactly as the next start would). Commands need the running daemon.
#pragma once

#include <cstdio>
#include <string>

#include "net/admin/admin_request.h"

namespace ringpost {

// Prints the answer to `request` to `out`; returns the exit status (0, 1 when the
// message is not queued or the spool cannot be read, 2 when the spool is missing).
int RunOffline(const std::string& spool_dir, const net::AdminRequest& request, FILE* out);

}  // namespace ringpost
