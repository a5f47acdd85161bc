// Test helpers: status matchers, temporary directories, key files, file
// snapshots, seeds.

#ifndef LEYSER_TESTS_TEST_TEST_UTIL_H_
#define LEYSER_TESTS_TEST_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "leyser/key_provider.h"
#include "leyser/options.h"
#include "leyser/store.h"

namespace leyser::test {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) {
    *result_listener << "status: " << s;
  }
  return s.ok();
}

MATCHER_P(StatusIs, code, "has status code " + testing::PrintToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status: " << s;
  return s.code() == code;
}

MATCHER_P(IsOkAndHolds, matcher,
          "is OK and holds a value that " + testing::PrintToString(matcher)) {
  if (!arg.ok()) {
    *result_listener << "status: " << arg.status();
    return false;
  }
  return testing::ExplainMatchResult(matcher, *arg, result_listener);
}

// A fresh directory under $LEYSER_TEST_TMPDIR (or /tmp), removed when
// destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A fixed, known instant for tests (2026-01-01T00:00:00Z).
absl::Time SomeInstant();

// Creates a key file in `dir` and returns a provider for it.
std::shared_ptr<KeyProvider> NewTestKeyProvider(
    const TempDir& dir, const std::string& name = "master.key");

// Options for a store in `dir.Sub("store")` with `provider`, creating it,
// unsynced writes for speed unless the test asks otherwise.
Options TestOptions(const TempDir& dir, std::shared_ptr<KeyProvider> provider,
                    std::shared_ptr<const Clock> clock = nullptr);

// Every regular file under `root` (recursively), path relative to root ->
// content.
std::map<std::string, std::string> SnapshotFiles(const std::string& root);

// A seed for random tests: $LEYSER_TEST_SEED if set, else a random one. Printed
// via gtest.
std::uint64_t TestSeed();

// Writes `bytes` to `path` with `mode`.
void WriteFile(const std::string& path, const std::string& bytes,
               unsigned mode = 0600);

}  // namespace leyser::test

#endif  // LEYSER_TESTS_TEST_TEST_UTIL_H_
