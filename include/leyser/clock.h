// leyser/clock.h: the time source of a store.
//
// Every instant leyser records or schedules (tenant creation, contract ends,
// backup and purge deadlines, audit entries) is a UTC `absl::Time` taken from
// the `Clock` in `Options`. Production code uses `SystemClock()`; tests and
// simulations inject a `ManualClock` and move it instead of sleeping.
//
// Thread safety: implementations of `Clock` must be thread-safe. `ManualClock`
// is thread-safe. Ownership: clocks are shared through `std::shared_ptr`; a
// store keeps its clock alive.

#ifndef LEYSER_CLOCK_H_
#define LEYSER_CLOCK_H_

#include <memory>
#include <mutex>

#include "absl/time/time.h"

namespace leyser {

// A source of UTC instants. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;

  // Returns the current instant (UTC; `absl::Time` has no time zone).
  virtual absl::Time Now() const = 0;
};

// Returns the process-wide clock that reads the operating system's real-time
// clock.
std::shared_ptr<const Clock> SystemClock();

// A clock that moves only when told to. For tests and simulations. Thread-safe.
class ManualClock final : public Clock {
 public:
  // Starts the clock at `start`.
  explicit ManualClock(absl::Time start) : now_(start) {}

  absl::Time Now() const override;

  // Sets the clock to `t`, which may lie before the current value (a clock
  // stepping back).
  void Set(absl::Time t);

  // Moves the clock by `d` (negative `d` moves it back) and returns the new
  // time.
  absl::Time Advance(absl::Duration d);

 private:
  mutable std::mutex mu_;
  absl::Time now_;
};

}  // namespace leyser

#endif  // LEYSER_CLOCK_H_
