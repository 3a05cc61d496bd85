// Resumable outbound TLS sessions of one shard, per destination: a session is for one
// server address and one server name ("ip:port sni"). A ticket is offered once (RFC 8446
// §C.4: Take removes it; the connection's own new ticket refills it). Bounded: past
// the limit the cache starts over, which costs only full handshakes.
#pragma once

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "net/transport/tls_channel.h"

namespace ringpost::net {

class TlsSessionCache {
 public:
  static constexpr size_t kSessionsMax = 10000;

  static std::string KeyOf(const std::string& host, const std::string& sni) { return absl::StrCat(host, " ", sni); }

  bssl::UniquePtr<SSL_SESSION> Take(const std::string& key) {
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return nullptr;
    bssl::UniquePtr<SSL_SESSION> session = std::move(it->second);
    sessions_.erase(it);
    return session;
  }
  void Keep(const std::string& key, bssl::UniquePtr<SSL_SESSION> session) {
    if (sessions_.size() >= kSessionsMax && !sessions_.contains(key)) sessions_.clear();
    sessions_[key] = std::move(session);
  }
  // A session that resumed badly is not offered again.
  void Forget(const std::string& key) { sessions_.erase(key); }

 private:
  absl::flat_hash_map<std::string, bssl::UniquePtr<SSL_SESSION>> sessions_;
};

}  // namespace ringpost::net
