#include "lib/db/db_files.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include <sys/stat.h>

#include "lib/db/filename.h"
#include "lib/rocks/status.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"

namespace leyser::internal {

absl::StatusOr<bool> IsAbsentOrEmptyDir(const std::string& dir) {
  if (!PathExists(dir)) return true;
  LEYSER_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  return names.empty();
}

absl::Status CheckDbFiles(rocksdb::Env* env, const std::string& dir,
                          std::string_view what) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::DataLossError(absl::StrCat(
        dir, " (", ToAbsl(what), ") is missing; ", kPutBackOrRestore));
  }
  const std::string current = CurrentFileName(dir);
  if (!PathExists(current)) {
    return absl::DataLossError(
        absl::StrCat(current, " is missing, so ", ToAbsl(what),
                     " cannot be opened (it names the database's MANIFEST); ",
                     kPutBackOrRestore));
  }
  std::string name;
  rocksdb::Status read = rocksdb::ReadFileToString(env, current, &name);
  if (!read.ok()) {
    absl::Status s = FromRocks(read, "reading");
    if (s.code() != absl::StatusCode::kDataLoss) {
      return absl::Status(
          s.code(), absl::StrCat("cannot read ", current, ": ", s.message()));
    }
    return absl::DataLossError(
        absl::StrCat(current,
                     " does not open with this store's file key (the key store "
                     "belongs to another store, or the file is damaged): ",
                     read.ToString(), "; ", kPutBackOrRestore));
  }
  const bool terminated = absl::EndsWith(name, "\n");
  if (terminated) name.pop_back();
  if (!terminated || !absl::StartsWith(name, kManifestPrefix) ||
      name.find('/') != std::string::npos) {
    return absl::DataLossError(
        absl::StrCat(current, " is damaged (it does not name a MANIFEST); ",
                     kPutBackOrRestore));
  }
  const std::string manifest = absl::StrCat(dir, "/", name);
  if (!PathExists(manifest)) {
    return absl::DataLossError(absl::StrCat(
        manifest, ", the MANIFEST that ", current, " names, is missing, so ",
        ToAbsl(what), " cannot be opened; ", kPutBackOrRestore));
  }
  return absl::OkStatus();
}

}  // namespace leyser::internal
