#include "leyser/clock.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "tests/test/test_util.h"

namespace leyser {
namespace {

TEST(ClockTest, SystemClockIsNearAbslNow) {
  const absl::Time before = absl::Now();
  const absl::Time now = SystemClock()->Now();
  const absl::Time after = absl::Now();
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
  EXPECT_EQ(SystemClock().get(), SystemClock().get());
}

TEST(ClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock clock(test::SomeInstant());
  EXPECT_EQ(clock.Now(), test::SomeInstant());
  EXPECT_EQ(clock.Advance(absl::Hours(24) * 30),
            test::SomeInstant() + absl::Hours(720));
  EXPECT_EQ(clock.Now(), test::SomeInstant() + absl::Hours(720));
  clock.Advance(-absl::Hours(1));  // Steps back.
  EXPECT_EQ(clock.Now(), test::SomeInstant() + absl::Hours(719));
  clock.Set(test::SomeInstant());
  EXPECT_EQ(clock.Now(), test::SomeInstant());
}

TEST(ClockTest, ManualClockIsThreadSafe) {
  ManualClock clock(test::SomeInstant());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&clock] {
      for (int i = 0; i < 10000; ++i) {
        clock.Advance(absl::Seconds(1));
        (void)clock.Now();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(clock.Now(), test::SomeInstant() + absl::Seconds(40000));
}

}  // namespace
}  // namespace leyser
