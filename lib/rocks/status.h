// Translation of RocksDB statuses into absl::Status (the only place that does
// it).

#ifndef LEYSER_LIB_ROCKS_STATUS_H_
#define LEYSER_LIB_ROCKS_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace leyser::internal {

// Every refusal of a file by leyser's file layer carries this text.
inline constexpr char kFileLayerRejection[] = "rejected by leyser's file layer";

// Maps `s` to the absl code docs/errors.md prescribes, prefixing the message
// with `context` (what leyser was doing). Corruption -> DataLoss; NoSpace ->
// ResourceExhausted; other I/O errors, Busy, TimedOut, TryAgain,
// ShutdownInProgress -> Unavailable; NotFound, InvalidArgument, Aborted keep
// their meaning; a file-layer refusal, whatever code RocksDB wraps it in ->
// DataLoss; NotSupported -> Unimplemented; anything else -> Internal.
absl::Status FromRocks(const rocksdb::Status& s, std::string_view context);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_ROCKS_STATUS_H_
