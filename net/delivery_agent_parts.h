// The delivery agent's per-shard state (private to net/delivery_agent*.cc): jobs, the
// per-domain queues and pools, pool members (the OutboundOwner of one session), and
// one attempt's outcomes on their way to the log.
#pragma once

#include <deque>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/delivery_agent.h"
#include "queue/bounce.h"

namespace ringpost::net {

struct DeliveryAgent::Job {
  DeliveryAgent* agent = nullptr;
  std::list<Job>::iterator self;
  std::unique_ptr<queue::DeliveryJob> work;
  Domain* domain = nullptr;
  core::TimerNode timer;
  std::string body;                // loaded for an attempt, dropped after it
  std::vector<size_t> attempt;     // positions in work->recipients tried in this attempt
  core::MonoNanos written_at = 0;  // when this shard took it over, or last copied it forward
};

struct DeliveryAgent::Domain {
  DeliveryAgent* agent = nullptr;
  std::string name;
  enum class Route { kUnknown, kResolving, kKnown } route = Route::kUnknown;
  NextHop hop;
  std::deque<Job*> due;
  std::vector<std::unique_ptr<Member>> members;
  uint32_t jobs = 0;             // owned jobs in any state
  uint32_t failures_in_row = 0;  // connections that never became ready
  uint32_t rests = 0;            // rests in a row (the breaker's backoff step)
  size_t next_address = 0;
  core::MonoNanos resting_until = 0;  // no new connection before this
  bool waiting_for_host = false;      // in waiting_for_host_
  core::TimerNode wake;
};

struct DeliveryAgent::Member final : OutboundOwner {
  DeliveryAgent* agent = nullptr;
  Domain* domain = nullptr;
  OutboundSession* session = nullptr;
  std::string host;     // the next hop's address, "ip:port"
  std::string tls_key;  // where a resumable TLS session is kept: "ip:port sni"
  Job* in_flight = nullptr;
  uint32_t messages = 0;
  bool ever_ready = false;
  bool closed = false;
  bool local_failure = false;  // refused by our own table (no slot, no descriptor)
  bool tls_failed = false;     // the STARTTLS handshake failed
  bool idle_listed = false;    // in idle_members_ (stays until closed; idle.armed() tells)
  core::TimerNode idle;

  void OnReady(OutboundSession& s) override {
    (void)s;
    agent->OnMemberReady(*this);
  }
  void OnMessageDone(OutboundSession& s, std::vector<RecipientResult> results) override {
    (void)s;
    agent->OnMemberDone(*this, std::move(results));
  }
  void OnSessionClosed(OutboundSession& s, const std::string& reason) override {
    (void)s;
    agent->OnMemberClosed(*this, reason);
  }
  void OnTlsFailed(OutboundSession& s, const std::string& error) override {
    (void)s;
    agent->OnMemberTlsFailed(*this, error);
  }
  void OnTlsSession(OutboundSession& s, bssl::UniquePtr<SSL_SESSION> tls_session) override {
    (void)s;
    agent->KeepTlsSession(tls_key, std::move(tls_session));
  }
};

// One attempt's outcome for a job, kept until its records are durable.
struct DeliveryAgent::Batch {
  std::vector<queue::DeliveryResult> results;                          // records to write
  std::vector<queue::BouncedRecipient> bounced;                        // for the DSN
  std::vector<uint32_t> bounced_indexes;                               // envelope indexes of `bounced`
  std::vector<std::pair<uint32_t, queue::RecipientOutcome>> outcomes;  // by envelope index
  std::vector<uint32_t> again_now;  // 452 beside accepted recipients: new transaction
  size_t pending = 0;
};

}  // namespace ringpost::net
