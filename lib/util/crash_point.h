// Named crash points for crash tests: a test's child process arms one point by
// name, and the library kills the process (SIGKILL) when it reaches it.
// Unarmed, a crash point costs one atomic load. Used only on rare paths
// (rotation, creation, purge), never per read or write.

#ifndef LEYSER_LIB_UTIL_CRASH_POINT_H_
#define LEYSER_LIB_UTIL_CRASH_POINT_H_

#include <string_view>

namespace leyser::internal {

// Kills the process with SIGKILL if `name` is the armed crash point.
void CrashPoint(std::string_view name);

// Arms the crash point `name` for this process (empty disarms). For crash-test
// children only.
void ArmCrashPointForTesting(std::string_view name);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_UTIL_CRASH_POINT_H_
