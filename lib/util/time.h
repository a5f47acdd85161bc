// Conversions between absl::Time and protobuf Timestamps, and the one RFC 3339
// form leyser writes.

#ifndef LEYSER_LIB_UTIL_TIME_H_
#define LEYSER_LIB_UTIL_TIME_H_

#include <string>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace leyser::internal {

void ToProtoTime(absl::Time t, google::protobuf::Timestamp* out);
absl::Time FromProtoTime(const google::protobuf::Timestamp& t);

// The format of Rfc3339: UTC with microseconds, e.g.
// 2026-12-06T23:00:00.000000Z (also parsed back with absl::ParseTime).
inline constexpr char kRfc3339Format[] = "%Y-%m-%dT%H:%M:%E6SZ";

// `t` in kRfc3339Format.
std::string Rfc3339(absl::Time t);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_UTIL_TIME_H_
