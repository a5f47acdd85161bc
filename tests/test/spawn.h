// Crash-test children: started with posix_spawn (never fork() after RocksDB is
// in use), their standard output read line by line through a pipe.

#ifndef LEYSER_TESTS_TEST_SPAWN_H_
#define LEYSER_TESTS_TEST_SPAWN_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include <sys/types.h>

namespace leyser::test {

class Child {
 public:
  // Starts `args[0]` with `args`; its stdout (and with `with_stderr` its
  // stderr too) feeds ReadLine.
  explicit Child(const std::vector<std::string>& args,
                 bool with_stderr = false);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads the next line (without the newline). False at end of output or after
  // `timeout`.
  bool ReadLine(std::string* line, absl::Duration timeout = absl::Seconds(60));

  // Sends SIGKILL (if still running) and waits. Returns the wait status.
  int Kill();

  // Waits for the child to exit by itself. Returns the wait status.
  int Wait();

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
  bool reaped_ = false;
  int wait_status_ = 0;
};

// Path of the crash-child helper binary (set by CMake).
std::string CrashChildPath();

}  // namespace leyser::test

#endif  // LEYSER_TESTS_TEST_SPAWN_H_
