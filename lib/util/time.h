// Conversions between absl::Time and protobuf Timestamps.

#ifndef LEYSER_LIB_UTIL_TIME_H_
#define LEYSER_LIB_UTIL_TIME_H_

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace leyser::internal {

void ToProtoTime(absl::Time t, google::protobuf::Timestamp* out);
absl::Time FromProtoTime(const google::protobuf::Timestamp& t);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_UTIL_TIME_H_
