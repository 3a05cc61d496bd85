// Rates for traffic shaping ("100/s", "5000/h") and the pacing that keeps to them: the
// generic cell rate algorithm (GCRA, ITU-T I.371), which holds one time per limit, the
// theoretical arrival time (TAT) of the next event. An event conforms when it comes no
// earlier than TAT minus the tolerance; taking it moves TAT one emission interval on.
// Pure: the time is passed in.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ringpost::queue {

struct Rate {
  uint64_t count = 0;  // 0: nothing passes (suspended)
  absl::Duration per = absl::Seconds(1);

  // "100/s", "5000/h", "10/m", "1/5m", "250/d", "2/500ms", or "0" (suspended). At most
  // 10^9 events per period, and a period of 1 ms to 100 years.
  static absl::StatusOr<Rate> Parse(absl::string_view text);
  std::string ToString() const;  // "100/s", "5000/h", "1/5m"

  bool suspended() const { return count == 0; }
  // Time between two events (InfiniteDuration when suspended).
  absl::Duration interval() const;
  // One of `parts` equal shares (a limit spread over shards); never below one event
  // per its stretched period, so a share of "1/s" over two is "1/2s".
  Rate Share(uint32_t parts) const;
  // Twice as many events per period (the ramp after a suspension).
  Rate Doubled() const;
  // True when this lets fewer events through than `other`.
  bool SlowerThan(const Rate& other) const;
  bool operator==(const Rate& other) const { return count == other.count && per == other.per; }
};

class Gcra {
 public:
  // Bursts: a limit lets up to max(1 interval, 50 ms) of its events through at once, so
  // a timer that wakes a little late does not cost the destination its rate.
  static constexpr absl::Duration kToleranceFloor = absl::Milliseconds(50);

  // A new rate keeps the arrival time (a reload never grants a fresh burst).
  void set_rate(const Rate& rate) { rate_ = rate; }
  const Rate& rate() const { return rate_; }

  // When the next event may come (at or before `now`: now); InfiniteFuture when suspended.
  absl::Time NextAt(absl::Time now) const;
  // Takes one event at `now` if it conforms; false (and nothing taken) if not.
  bool TryTake(absl::Time now);
  // When at most one event is still owed: starting afresh from then on lets at most one
  // event more through than the limit would have (a destination's state is forgotten
  // then; waiting for the last interval would keep every busy destination of a
  // high rate a timer longer).
  absl::Time RestedAt() const { return rate_.suspended() ? tat_ : tat_ - rate_.interval(); }

 private:
  absl::Duration Tolerance() const;
  Rate rate_;
  absl::Time tat_ = absl::InfinitePast();
};

}  // namespace ringpost::queue
