// The command line as an operator meets it, for every ringpost program that takes
// Abseil flags. --help, --helpfull and --version print and exit 0 (the version with the
// git commit); the daemon also refuses a Postfix parameter typed as a flag
// (--relayhost, --myhostname, --mynetworks) naming the ringpost flag that does its job,
// and reads --flagfile=FILE as its configuration file (one --name=value per line,
// # comments; docs/ringpost.flags). Once parsed, the daemon's own flags can be seen:
// those that differ from their defaults (logged at start) and all of them as a
// flagfile (--print_config).
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ringpost {

struct Program {
  const char* name;     // "ringpost-queue"
  const char* summary;  // what it is, one line
  const char* usage;    // "usage: ringpost-queue [--json] VERB ...\n", one or more lines
  // The source file whose flags are the program's own: --help lists those (--helpfull
  // adds Abseil's). "tools/daemon_config.cc" for the daemon.
  const char* flags_file;
  bool refuse_postfix_parameters = false;
};

// Parses argv into the flags and returns the arguments that are not flags (argv[0]
// first). Exits 0 after help or the version, and 1 with one line on stderr for an
// unknown flag or a value that does not parse.
std::vector<char*> ParseProgramCommandLine(int argc, char** argv, const Program& program);

// "ringpost-queue 0.1.0 (commit 0123456789ab)".
std::string VersionText(absl::string_view program);

// True when --print_config asks the daemon for its configuration instead of a start.
bool PrintConfigRequested();

// "--routes=*=127.0.0.1:2526", ...: the daemon's flags that differ from their defaults.
std::vector<std::string> NonDefaultFlags();

// The daemon's configuration as a flagfile: the flags that differ from their defaults
// as lines (what `postconf -n` shows), every other flag as a comment with its default.
// Read back with --flagfile it gives the same configuration.
std::string ConfigAsFlagfile();

// What a Postfix user means by `parameter`, as ringpost flags ("--routes='*=HOST:PORT'"),
// or empty when `parameter` is not a Postfix parameter we know.
std::string PostfixParameterAdvice(absl::string_view parameter);

}  // namespace ringpost
