#include "net/connection.h"
#include "absl/strings/string_view.h"

#include "core/shard.h"
#include "net/connection_table.h"

namespace ringpost::net {

void Session::OnPeerClosed(Connection& connection) { connection.Close(); }

void Session::OnShutdown(Connection& connection, core::MonoNanos deadline) {
  (void)deadline;
  connection.Close();
}

core::Shard& Connection::shard() { return table_->shard(); }

void Connection::Send(absl::string_view bytes) {
  if (bytes.empty() || (state_ != State::kOpen && state_ != State::kConnecting)) return;
  // Append to the last chunk only when the kernel is not reading it: a chunk in the
  // in-flight sendmsg must not move or grow.
  if (!out_.empty() && !out_.back().loan.valid() && out_.size() > chunks_in_flight_) {
    out_.back().bytes.append(bytes.data(), bytes.size());
  } else {
    out_.push_back(OutChunk{core::BufferLoan(), std::string(bytes), 0});
  }
  queued_bytes_ += bytes.size();
  table_->ScheduleFlush(*this);
}

void Connection::Send(core::BufferLoan bytes) {
  if (bytes.size() == 0 || (state_ != State::kOpen && state_ != State::kConnecting)) return;
  queued_bytes_ += bytes.size();
  out_.push_back(OutChunk{std::move(bytes), std::string(), 0});
  table_->ScheduleFlush(*this);
}

void Connection::CloseAfterSend() {
  if (state_ == State::kClosing || state_ == State::kFree) return;
  if (out_.empty()) return Close();
  close_after_send_ = true;
}

void Connection::Close() { table_->RequestClose(*this); }

void Connection::ArmTimer(core::MonoNanos deadline) {
  if (state_ == State::kClosing || state_ == State::kFree) return;
  shard().timers().Schedule(&timer_, deadline);
}

void Connection::CancelTimer() { shard().timers().Cancel(&timer_); }

void Connection::OnTimerFired(void* context) {
  auto* connection = static_cast<Connection*>(context);
  if (connection->state_ == State::kOpen) connection->session_->OnTimer(*connection);
}

}  // namespace ringpost::net
