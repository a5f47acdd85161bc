#include "lib/rocks/status.h"

#include <string>

#include "absl/strings/str_cat.h"

#include "lib/util/strings.h"

namespace leyser::internal {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) {
    return absl::OkStatus();
  }
  const std::string message = absl::StrCat(ToAbsl(context), ": ", s.ToString());
  // RocksDB may wrap the file layer's refusal of a file (Corruption) into
  // another code, e.g. "InvalidArgument: Found options incompatible with
  // filesystem: Corruption: ...".
  if (message.find(kFileLayerRejection) != std::string::npos) {
    return absl::DataLossError(absl::StrCat(
        message,
        " (a file of the store was not written under this store's file key)"));
  }
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(message);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(absl::StrCat(
          message, " (the store's files are damaged; restore from a backup)"));
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(message);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(message);
    case rocksdb::Status::kIOError:
      if (s.IsNoSpace()) {
        return absl::ResourceExhaustedError(
            absl::StrCat(message, " (free disk space, then reopen the store)"));
      }
      return absl::UnavailableError(
          absl::StrCat(message, " (check the disk, then reopen the store)"));
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kShutdownInProgress:
    case rocksdb::Status::kIncomplete:
      return absl::UnavailableError(message);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace leyser::internal
