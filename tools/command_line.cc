#include "tools/command_line.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tools/build_info.h"

ABSL_FLAG(bool, print_config, false,
          "print the configuration as a --flagfile (the flags that differ from their defaults, then every "
          "other one as a comment) after checking it as a start would, and exit");

namespace ringpost {
namespace {

constexpr const char* kDaemonFlagsFile = "tools/daemon_config.cc";

bool IsFromFile(const absl::CommandLineFlag& flag, absl::string_view file) {
  return absl::EndsWith(flag.Filename(), file);
}

// The daemon's own flags are the ones tools/daemon_config.cc defines (not Abseil's
// --flagfile and friends, not --print_config). Every flag when `file` is empty.
std::vector<const absl::CommandLineFlag*> SortedFlags(absl::string_view file) {
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (flag->IsRetired() || (!file.empty() && !IsFromFile(*flag, file))) continue;
    flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(), [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  return flags;
}

// Postfix's main.cf parameters an operator may type as flags, and ringpost's way.
const absl::flat_hash_map<absl::string_view, absl::string_view>& PostfixParameters() {
  static const auto* const kMap = new absl::flat_hash_map<absl::string_view, absl::string_view>{
      {"relayhost", "--routes='*=HOST:PORT' (a smarthost for every domain)"},
      {"transport_maps", "--routes=DOMAIN=HOST:PORT,..."},
      {"myhostname", "--hostname"},
      {"mynetworks", "--relay_networks"},
      {"mydestination", "--local_domains"},
      {"virtual_mailbox_domains", "--local_domains"},
      {"inet_interfaces", "--listen=ADDR:PORT,..."},
      {"message_size_limit", "--max_message_size (50M, 64MiB, bytes)"},
      {"queue_directory", "--spool_dir"},
      {"maximal_queue_lifetime", "--max_queue_lifetime"},
      {"bounce_queue_lifetime", "--max_queue_lifetime"},
      {"minimal_backoff_time", "--retry_initial"},
      {"maximal_backoff_time", "--retry_max"},
      {"smtpd_recipient_limit", "--max_recipients"},
      {"smtpd_client_connection_count_limit", "--max_connections_per_ip"},
      {"smtpd_tls_cert_file", "--tls_cert"},
      {"smtpd_tls_key_file", "--tls_key"},
      {"smtpd_tls_chain_files", "--tls_cert and --tls_key"},
      {"smtp_tls_security_level", "--outbound_tls (may: opportunistic, encrypt: required)"},
      {"smtp_tls_CAfile", "--tls_ca_file"},
      {"smtp_sasl_password_maps", "--route_auth=FILE (host user password-file lines)"},
      {"smtp_sasl_auth_enable", "--route_auth=FILE (a login per next hop that wants one)"},
      {"smtpd_sasl_auth_enable", "--auth_users=FILE (user:hash lines)"},
      {"default_destination_concurrency_limit", "--domain_max_connections"},
      {"smtp_destination_concurrency_limit", "--domain_max_connections"},
      {"local_recipient_maps", "--local_recipients"},
      {"virtual_mailbox_maps", "--local_recipients"},
      {"virtual_mailbox_base", "--maildir_root"},
      {"home_mailbox", "--maildir_root"},
      {"strict_rfc821_envelopes", "--strict_envelope"},
      {"always_add_missing_headers", "--add_missing_headers"},
      {"smtpd_timeout", "--smtp_idle_timeout"},
      {"mail_owner", "--user"},
      {"smtpd_upstream_proxy_protocol", "--proxy_protocol_networks=CIDRs (the balancers that send it)"},
      {"smtpd_upstream_proxy_timeout", "--proxy_timeout"},
  };
  return *kMap;
}

// The flag name in one argument ("--name=value", "-name", "--noname"), or empty.
absl::string_view FlagName(absl::string_view arg) {
  if (!absl::ConsumePrefix(&arg, "-")) return {};
  absl::ConsumePrefix(&arg, "-");
  return arg.substr(0, arg.find('='));
}

bool IsKnownFlag(absl::string_view name) {
  if (absl::FindCommandLineFlag(name) != nullptr) return true;
  return absl::StartsWith(name, "no") && absl::FindCommandLineFlag(name.substr(2)) != nullptr;
}

// A Postfix parameter where a flag should be: one line and exit 1, before Abseil's
// generic "unknown flag".
void RefusePostfixParameter(absl::string_view name, absl::string_view where) {
  if (name.empty() || IsKnownFlag(name)) return;
  const std::string advice = PostfixParameterAdvice(name);
  if (advice.empty()) return;
  std::fprintf(stderr, "ringpost: unknown flag --%.*s%.*s: that is Postfix's %.*s; ringpost's is %s\n",
               static_cast<int>(name.size()), name.data(), static_cast<int>(where.size()), where.data(),
               static_cast<int>(name.size()), name.data(), advice.c_str());
  std::exit(1);
}

void CheckFlagfiles(absl::string_view list) {
  for (absl::string_view path : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    std::ifstream in{std::string(path)};
    std::string line;
    while (std::getline(in, line)) {
      RefusePostfixParameter(FlagName(absl::StripAsciiWhitespace(line)), absl::StrCat(" (in ", path, ")"));
    }
  }
}

// Greedy word wrap at `width` columns, each line indented by `indent`.
std::string Wrap(absl::string_view text, size_t indent, size_t width) {
  std::string out(indent, ' ');
  size_t column = indent;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (column > indent && column + 1 + word.size() > width) {
      absl::StrAppend(&out, "\n", std::string(indent, ' '));
      column = indent;
    } else if (column > indent) {
      out.push_back(' ');
      ++column;
    }
    absl::StrAppend(&out, word);
    column += word.size();
  }
  return out;
}

void PrintHelp(const Program& program, bool full) {
  std::string out = absl::StrCat(VersionText(program.name), ": ", program.summary, "\n", program.usage, "\n");
  // The program's own flags first (the daemon's --print_config with them); Abseil's
  // own come last, in full.
  auto own = [&](const absl::CommandLineFlag& f) {
    return IsFromFile(f, program.flags_file) || f.Name() == "print_config";
  };
  for (const bool mine : {true, false}) {
    if (!mine && !full) break;
    absl::StrAppend(&out, mine ? "flags:\n" : "\ncommand-line handling (Abseil's own flags):\n");
    for (const absl::CommandLineFlag* flag : SortedFlags("")) {
      if (own(*flag) != mine) continue;
      if (flag->Name() == "print_config" && program.flags_file != absl::string_view(kDaemonFlagsFile))
        continue;
      absl::StrAppend(&out, "  --", flag->Name(), "=", flag->DefaultValue(), "\n", Wrap(flag->Help(), 6, 88),
                      "\n");
    }
  }
  if (!full)
    absl::StrAppend(&out,
                    "\n--helpfull also lists Abseil's command-line flags (--flagfile, --fromenv, ...).\n");
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

std::string VersionText(absl::string_view program) {
  return absl::StrCat(program, " ", RINGPOST_VERSION, " (commit ", BuildCommit(), ")");
}

std::string PostfixParameterAdvice(absl::string_view parameter) {
  const auto& map = PostfixParameters();
  auto it = map.find(parameter);
  return it == map.end() ? std::string() : std::string(it->second);
}

std::vector<char*> ParseProgramCommandLine(int argc, char** argv, const Program& program) {
  absl::FlagsUsageConfig usage;
  usage.version_string = [name = std::string(program.name)] { return VersionText(name) + "\n"; };
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(absl::StrCat(program.summary, " (--help lists the flags)"));
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    const absl::string_view name = FlagName(arg);
    if (name == "help" || name == "helpshort" || name == "h" || name == "helpfull") {
      PrintHelp(program, name == "helpfull");
      std::exit(0);
    }
    if (name == "version") {
      std::printf("%s\n", VersionText(program.name).c_str());
      std::exit(0);
    }
    if (!program.refuse_postfix_parameters) continue;
    if (name == "flagfile") {
      const size_t equals = arg.find('=');
      if (equals != absl::string_view::npos) {
        CheckFlagfiles(arg.substr(equals + 1));
      } else if (i + 1 < argc) {
        CheckFlagfiles(argv[i + 1]);
      }
    }
    RefusePostfixParameter(name, "");
  }
  return absl::ParseCommandLine(argc, argv);
}

bool PrintConfigRequested() { return absl::GetFlag(FLAGS_print_config); }

std::vector<std::string> NonDefaultFlags() {
  std::vector<std::string> set;
  for (const absl::CommandLineFlag* flag : SortedFlags(kDaemonFlagsFile)) {
    const std::string value = flag->CurrentValue();
    if (value != flag->DefaultValue()) set.push_back(absl::StrCat("--", flag->Name(), "=", value));
  }
  return set;
}

std::string ConfigAsFlagfile() {
  std::string out =
      absl::StrCat("# ", VersionText("ringpost"), ": the configuration, read back with --flagfile=FILE.\n",
                   "# Flags that differ from their defaults:\n");
  std::string defaults = "# Every other flag, at its default:\n";
  for (const absl::CommandLineFlag* flag : SortedFlags(kDaemonFlagsFile)) {
    const std::string value = flag->CurrentValue();
    if (value != flag->DefaultValue()) {
      absl::StrAppend(&out, "--", flag->Name(), "=", value, "\n");
    } else {
      absl::StrAppend(&defaults, "# --", flag->Name(), "=", value, "\n");
    }
  }
  return out + defaults;
}

}  // namespace ringpost
