#include "lib/db/db_files.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include <sys/stat.h>
#include <unistd.h>

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

int TableOpeningThreads(const std::string& dir) {
  std::size_t tables = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (absl::EndsWith(it->path().filename().string(), ".sst")) ++tables;
  }
  return static_cast<int>(std::clamp<std::size_t>(tables / 8, 1, 16));
}

absl::StatusOr<int> RemoveEmptyWals(const std::string& dir,
                                    std::uint64_t empty_bytes) {
  std::vector<std::string> empty;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!absl::EndsWith(name, ".log")) continue;
    struct stat st;
    if (lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        static_cast<std::uint64_t>(st.st_size) == empty_bytes) {
      empty.push_back(it->path().string());
    }
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot list ", dir, ": ", ec.message()));
  }
  for (const std::string& path : empty) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return absl::UnavailableError(
          absl::StrCat("cannot remove the empty write-ahead log ", path, ": ",
                       std::strerror(errno)));
    }
  }
  return static_cast<int>(empty.size());
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
