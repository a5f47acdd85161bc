// A test fixture for whole-store tests: a temporary directory, a manual clock
// at SomeInstant() + 1h, a key file, TestOptions with backups in
// tmp_/backups, and OpenStore.

#ifndef LEYSER_TESTS_TEST_STORE_FIXTURE_H_
#define LEYSER_TESTS_TEST_STORE_FIXTURE_H_

#include <memory>

#include "gtest/gtest.h"

#include "leyser/clock.h"
#include "leyser/key_provider.h"
#include "leyser/options.h"
#include "leyser/store.h"

#include "tests/test/test_util.h"

namespace leyser::test {

class StoreFixture : public testing::Test {
 protected:
  StoreFixture()
      : clock_(std::make_shared<ManualClock>(SomeInstant() + absl::Hours(1))),
        provider_(NewTestKeyProvider(tmp_)),
        options_(TestOptions(tmp_, provider_, clock_)) {
    options_.backup_dir = tmp_.Sub("backups");
  }

  // Opens a store with `options` (the fixture's by default); null, with a
  // test failure, if that fails.
  std::unique_ptr<Store> OpenStore(const Options& options) {
    auto store = Store::Open(options);
    EXPECT_THAT(store, IsOk());
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::unique_ptr<Store> OpenStore() { return OpenStore(options_); }

  TempDir tmp_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<KeyProvider> provider_;
  Options options_;
};

}  // namespace leyser::test

#endif  // LEYSER_TESTS_TEST_STORE_FIXTURE_H_
