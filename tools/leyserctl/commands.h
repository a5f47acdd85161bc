// The leyserctl commands that work on an open store, and the output helpers
// main shares with them.

#ifndef LEYSER_TOOLS_LEYSERCTL_COMMANDS_H_
#define LEYSER_TOOLS_LEYSERCTL_COMMANDS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

#include "leyser/leyser.h"

// Exit statuses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // An error, or something not intact.
inline constexpr int kExitUsage = 2;
// audit-verify: intact, but no checkpoint kept outside the store applied.
inline constexpr int kExitUnvouched = 3;

// What the store commands take from the flags.
struct StoreCommandFlags {
  // Files or glob patterns of trusted checkpoints (audit-verify).
  std::vector<std::string> anchors;
};

// Prints `s` to stderr; returns kExitError.
int Fail(const absl::Status& s);

// Prints `message` and the usage to stderr; returns kExitUsage (leyserctl.cc).
int Usage(const char* message);

// `t` as RFC 3339 UTC, to the second.
std::string UtcTime(absl::Time t);

// Appends the checkpoint notes in the files `patterns` name to *notes and
// the files read to *files. A missing file or a pattern matching none, and
// each damaged line, is a warning on stderr; other errors are printed and
// return false.
bool ReadAnchors(const std::vector<std::string>& patterns,
                 std::vector<std::string>* notes,
                 std::vector<std::string>* files);

// Prints a verification of `log` against the external checkpoints read from
// `files`: kExitOk if intact and at least one applied, kExitUnvouched if
// intact but none applied (with a warning), kExitError if not intact.
int Report(const leyser::AuditVerification& v, std::string_view log,
           const std::vector<std::string>& files);

// Runs store command args[1] (args[0] is the program) on `store`; returns the
// exit status. The caller closes the store.
int RunStoreCommand(leyser::Store& store, const std::vector<char*>& args,
                    const StoreCommandFlags& flags);

#endif  // LEYSER_TOOLS_LEYSERCTL_COMMANDS_H_
