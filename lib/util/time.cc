#include "lib/util/time.h"

#include <cstdint>

namespace leyser::internal {

void ToProtoTime(absl::Time t, google::protobuf::Timestamp* out) {
  const absl::Duration since = t - absl::UnixEpoch();
  const std::int64_t seconds = absl::ToInt64Seconds(since);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<std::int32_t>(
      absl::ToInt64Nanoseconds(since - absl::Seconds(seconds))));
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(kRfc3339Format, t, absl::UTCTimeZone());
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& t) {
  return absl::UnixEpoch() + absl::Seconds(t.seconds()) +
         absl::Nanoseconds(t.nanos());
}

}  // namespace leyser::internal
