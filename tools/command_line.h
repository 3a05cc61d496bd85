// The daemon's command line as an operator meets it. --help, --helpfull and --version
// print and exit 0; a Postfix parameter typed as a flag (--relayhost, --myhostname,
// --mynetworks) is refused with the ringpost flag that does its job; --flagfile=FILE is
// the configuration file (one --name=value per line, # comments; docs/ringpost.flags).
// Once parsed, the daemon's own flags can be seen: those that differ from their
// defaults (logged at start) and all of them as a flagfile (--print_config).
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ringpost {

// Parses argv into the flags; exits 0 after help or the version, and 1 with one line
// on stderr for an unknown flag or a value that does not parse.
void ParseDaemonCommandLine(int argc, char** argv);

// True when --print_config asks for the configuration instead of a start.
bool PrintConfigRequested();

// "--routes=*=127.0.0.1:2526", ...: the daemon's flags that differ from their defaults.
std::vector<std::string> NonDefaultFlags();

// The configuration as a flagfile: the flags that differ from their defaults as lines
// (what `postconf -n` shows), every other flag as a comment with its default. Read back
// with --flagfile it gives the same configuration.
std::string ConfigAsFlagfile();

// What a Postfix user means by `parameter`, as ringpost flags ("--routes='*=HOST:PORT'"),
// or empty when `parameter` is not a Postfix parameter we know.
std::string PostfixParameterAdvice(absl::string_view parameter);

// "ringpost 0.1.0 (commit 0123456789ab)".
std::string VersionText();

}  // namespace ringpost
