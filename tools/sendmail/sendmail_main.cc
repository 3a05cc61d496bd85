// ringpost-sendmail: the sendmail command that programs on this machine call to hand
// a message to the MTA (the message on standard input, recipients as arguments or, with
// -t, from its headers). It submits the message to the running daemon over SMTP on
// loopback (--server=HOST:PORT, else $RINGPOST_SMTP, else 127.0.0.1:2525) and exits with
// a sysexits.h code: 0 when the daemon took it, 75 (EX_TEMPFAIL) when the daemon cannot
// take it now (not running, 4xx: the caller retries), 67 (EX_NOUSER) when a recipient
// is refused, 65 (EX_DATAERR) when the message is, 64 (EX_USAGE) for a bad command line.
// Nothing is sent unless every recipient is accepted. Installable as /usr/sbin/sendmail.
#include <netdb.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/socket_address.h"
#include "net/smtp/dot_stuffer.h"
#include "net/smtp/smtp_reply.h"
#include "tools/sendmail/sendmail_request.h"

namespace ringpost::sendmail {
namespace {

constexpr char kDefaultServer[] = "127.0.0.1:2525";
constexpr int kTimeoutSeconds = 300;

int Fail(int code, absl::string_view message) {
  fprintf(stderr, "ringpost-sendmail: %.*s\n", static_cast<int>(message.size()), message.data());
  return code;
}

std::string LocalHostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  addrinfo hints{};
  hints.ai_flags = AI_CANONNAME;
  addrinfo* info = nullptr;
  std::string result = name;
  if (getaddrinfo(name, nullptr, &hints, &info) == 0 && info != nullptr && info->ai_canonname != nullptr) {
    result = info->ai_canonname;
  }
  if (info != nullptr) freeaddrinfo(info);
  return result;
}

std::string UserName() {
  const passwd* pw = getpwuid(getuid());
  return pw != nullptr && pw->pw_name != nullptr ? pw->pw_name : absl::StrCat(getuid());
}

// One blocking SMTP conversation with the daemon.
class Submission {
 public:
  ~Submission() {
    if (fd_ >= 0) close(fd_);
  }

  bool Connect(const std::string& server) {
    auto address = core::ParseSocketAddress(server);
    if (!address.ok()) {
      error_ = absl::StrCat("--server: ", address.status().message());
      return false;
    }
    fd_ = socket(address->sockaddr_ptr()->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval timeout{kTimeoutSeconds, 0};
    if (fd_ < 0 || setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0 ||
        setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) != 0 ||
        connect(fd_, address->sockaddr_ptr(), address->length()) != 0) {
      error_ = absl::StrCat("cannot reach the ringpost daemon at ", server, ": ", strerror(errno));
      return false;
    }
    return true;
  }

  // Sends `command` (unless empty) and reads the reply; false when the connection fails.
  bool Exchange(absl::string_view command, net::SmtpReply* reply) {
    if (!command.empty() && !SendAll(command)) return false;
    net::ReplyParser parser;
    while (true) {
      const size_t end = buffer_.find("\r\n");
      if (end == std::string::npos) {
        if (buffer_.size() > 64 * 1024) return Broken("a reply line over 64 KiB");
        char chunk[4096];
        const ssize_t got = recv(fd_, chunk, sizeof(chunk), 0);
        if (got <= 0) return Broken(got == 0 ? "the daemon closed the connection" : strerror(errno));
        buffer_.append(chunk, static_cast<size_t>(got));
        continue;
      }
      const std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      switch (parser.OnLine(line)) {
        case net::ReplyParser::Result::kNeedMore:
          break;
        case net::ReplyParser::Result::kReply:
          *reply = parser.reply();
          return true;
        case net::ReplyParser::Result::kError:
          return Broken(parser.error());
      }
    }
  }

  bool SendAll(absl::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return Broken(strerror(errno));
      bytes.remove_prefix(static_cast<size_t>(sent));
    }
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool Broken(absl::string_view why) {
    error_ = absl::StrCat("the conversation with the daemon failed: ", why);
    return false;
  }

  int fd_ = -1;
  std::string buffer_;
  std::string error_;
};

// The exit code for a refusal: 4xx is temporary for everything.
int Refused(int permanent_code, absl::string_view step, const net::SmtpReply& reply) {
  return Fail(reply.code_class() == 4 ? EX_TEMPFAIL : permanent_code,
              absl::StrCat(step, " refused: ", reply.Summary()));
}

int Submit(const SendmailRequest& request, const std::string& server, const std::string& helo,
           const std::string& sender, const std::vector<std::string>& recipients,
           const PreparedMessage& message) {
  Submission smtp;
  if (!smtp.Connect(server)) return Fail(EX_TEMPFAIL, smtp.error());
  net::SmtpReply reply;
  if (!smtp.Exchange("", &reply)) return Fail(EX_TEMPFAIL, smtp.error());
  if (reply.code != 220) return Refused(EX_UNAVAILABLE, "the connection", reply);
  if (!smtp.Exchange(absl::StrCat("EHLO ", helo, "\r\n"), &reply)) return Fail(EX_TEMPFAIL, smtp.error());
  if (reply.code != 250) return Refused(EX_PROTOCOL, "EHLO", reply);
  const std::string mail_dsn = absl::StrCat(request.ret.empty() ? "" : " RET=", request.ret,
                                            request.envid.empty() ? "" : " ENVID=", request.envid);
  const std::string rcpt_dsn = request.notify.empty() ? "" : absl::StrCat(" NOTIFY=", request.notify);
  if (!smtp.Exchange(absl::StrCat("MAIL FROM:<", sender, ">", message.eight_bit ? " BODY=8BITMIME" : "",
                                  mail_dsn, "\r\n"),
                     &reply)) {
    return Fail(EX_TEMPFAIL, smtp.error());
  }
  if (reply.code != 250) return Refused(EX_DATAERR, absl::StrCat("sender <", sender, ">"), reply);
  for (const std::string& recipient : recipients) {
    if (!smtp.Exchange(absl::StrCat("RCPT TO:<", recipient, ">", rcpt_dsn, "\r\n"), &reply)) {
      return Fail(EX_TEMPFAIL, smtp.error());
    }
    if (reply.code != 250 && reply.code != 251) {
      net::SmtpReply quit;
      smtp.Exchange("QUIT\r\n", &quit);  // nothing was sent: the caller decides again
      return Refused(EX_NOUSER, absl::StrCat("recipient <", recipient, ">"), reply);
    }
  }
  if (!smtp.Exchange("DATA\r\n", &reply)) return Fail(EX_TEMPFAIL, smtp.error());
  if (reply.code != 354) return Refused(EX_DATAERR, "DATA", reply);
  std::string wire;
  wire.reserve(message.data.size() + message.data.size() / 64 + 8);
  net::DotStuffer stuffer;
  stuffer.Stuff(message.data, &wire);
  stuffer.Finish(&wire);
  if (!smtp.Exchange(wire, &reply)) return Fail(EX_TEMPFAIL, smtp.error());
  if (reply.code != 250) return Refused(EX_DATAERR, "the message", reply);
  smtp.Exchange("QUIT\r\n", &reply);  // the message is queued whatever QUIT does
  return EX_OK;
}

int Main(int argc, char** argv) {
  auto request = ParseSendmailArgs(std::vector<std::string>(argv + 1, argv + argc));
  if (!request.ok()) return Fail(EX_USAGE, request.status().message());
  std::string input;
  char chunk[65536];
  while (true) {
    const ssize_t got = read(STDIN_FILENO, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Fail(EX_IOERR, absl::StrCat("reading standard input: ", strerror(errno)));
    if (got == 0) break;
    input.append(chunk, static_cast<size_t>(got));
    if (input.size() > kMessageBytesMax) {
      return Fail(EX_DATAERR, absl::StrCat("the message is over ", kMessageBytesMax, " bytes"));
    }
  }
  const std::string host = LocalHostName();
  const std::string sender = request->sender_given ? request->sender : absl::StrCat(UserName(), "@", host);
  auto message = PrepareMessage(input, *request, sender);
  if (!message.ok()) return Fail(EX_DATAERR, message.status().message());
  std::vector<std::string> recipients = request->recipients;
  recipients.insert(recipients.end(), message->header_recipients.begin(), message->header_recipients.end());
  for (std::string& recipient : recipients) {
    // A bare user name is a user of this host, as sendmail's $myorigin makes it.
    if (!absl::StrContains(recipient, '@') && !absl::EqualsIgnoreCase(recipient, "postmaster")) {
      absl::StrAppend(&recipient, "@", host);
    }
  }
  if (recipients.empty()) return Fail(EX_USAGE, "no recipients (name them, or use -t)");
  std::string server = request->server;
  if (server.empty() && getenv("RINGPOST_SMTP") != nullptr) server = getenv("RINGPOST_SMTP");
  if (server.empty()) server = kDefaultServer;
  return Submit(*request, server, host, sender, recipients, *message);
}

}  // namespace
}  // namespace ringpost::sendmail

int main(int argc, char** argv) { return ringpost::sendmail::Main(argc, argv); }
