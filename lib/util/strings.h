// Debian's Abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW=0, so
// absl::string_view and std::string_view are different types; convert
// explicitly where they meet.

#ifndef LEYSER_LIB_UTIL_STRINGS_H_
#define LEYSER_LIB_UTIL_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace leyser::internal {

inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace leyser::internal

#endif  // LEYSER_LIB_UTIL_STRINGS_H_
