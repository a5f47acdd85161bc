#include "tools/leyserctl/progress.h"

#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include <unistd.h>

namespace {

// "1:02:03" or "2:03".
std::string Clock(absl::Duration d) {
  const std::int64_t s = absl::ToInt64Seconds(d);
  return s >= 3600
             ? absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
             : absl::StrFormat("%d:%02d", s / 60, s % 60);
}

}  // namespace

Progress::Progress(std::string what, std::string unit)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      terminal_(isatty(STDERR_FILENO) == 1),
      start_(absl::Now()) {}

void Progress::Update(std::uint64_t done, std::uint64_t total) {
  if (total == 0) return;
  const double fraction =
      static_cast<double>(done) / static_cast<double>(total);
  const absl::Duration elapsed = absl::Now() - start_;
  const double seconds = absl::ToDoubleSeconds(elapsed);
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  const std::string left =
      rate > 0 ? Clock(absl::Seconds(static_cast<double>(total - done) / rate))
               : std::string("?");
  if (terminal_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    std::fprintf(stderr, "\r%s [%s%s] %3.0f%% %llu/%llu %s, %.1f/s, %s left ",
                 what_.c_str(), std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, '.').c_str(), fraction * 100,
                 static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total), unit_.c_str(), rate,
                 left.c_str());
    drawn_ = true;
    return;
  }
  const int tenth = static_cast<int>(fraction * 10);
  if (tenth == last_tenth_) return;
  last_tenth_ = tenth;
  std::fprintf(stderr, "%s: %llu of %llu %s (%.0f%%), %.1f/s, %s left\n",
               what_.c_str(), static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total), unit_.c_str(),
               fraction * 100, rate, left.c_str());
}

void Progress::Finish() {
  if (terminal_ && drawn_) std::fprintf(stderr, "\n");
}
