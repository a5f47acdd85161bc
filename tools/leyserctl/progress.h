// Progress of a long leyserctl operation on standard error: on a terminal one
// line redrawn in place (bar, percentage, rate, time left); otherwise a plain
// line at every tenth of the way, so logs stay readable.

#ifndef LEYSER_TOOLS_LEYSERCTL_PROGRESS_H_
#define LEYSER_TOOLS_LEYSERCTL_PROGRESS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

class Progress {
 public:
  // `what` names the work, `unit` what is counted (plural).
  Progress(std::string what, std::string unit);

  // `done` of `total` finished.
  void Update(std::uint64_t done, std::uint64_t total);

  // Ends the line (on a terminal).
  void Finish();

 private:
  const std::string what_;
  const std::string unit_;
  const bool terminal_;
  const absl::Time start_;
  int last_tenth_ = -1;
  bool drawn_ = false;
};

#endif  // LEYSER_TOOLS_LEYSERCTL_PROGRESS_H_
