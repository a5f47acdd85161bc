#include "lib/backup/engine_session.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/file_system.h"

#include "lib/backup/generation_files.h"
#include "lib/util/status_macros.h"

namespace leyser::internal {

// The engine's file system, refusing to delete what is kept: files by path,
// directories (and everything in them) by path, and, while a kept backup's
// meta file could not be read, every shared file.
class KeepingFileSystem : public rocksdb::FileSystemWrapper {
 public:
  KeepingFileSystem(std::shared_ptr<rocksdb::FileSystem> base,
                    const std::string& engine_dir)
      : FileSystemWrapper(std::move(base)),
        engine_dir_(Normal(engine_dir)),
        shared_dirs_{engine_dir_ + "/shared",
                     engine_dir_ + "/shared_checksum"} {}
  const char* Name() const override { return "LeyserKeepingFileSystem"; }

  // What engine backup `id` keeps: `files` (relative to the engine
  // directory), or every shared file (`all_shared`) when its meta file could
  // not be read. Called before the engine is opened over this file system.
  void Keep(rocksdb::BackupID id, const std::vector<std::string>& files,
            bool all_shared) {
    absl::MutexLock lock(&mu_);
    Kept& kept = kept_[id];
    kept.all_shared = all_shared;
    kept.paths.insert(absl::StrCat(engine_dir_, "/meta/", id));
    kept.dirs.insert(absl::StrCat(engine_dir_, "/private/", id));
    for (const std::string& file : files) {
      kept.paths.insert(Normal(absl::StrCat(engine_dir_, "/", file)));
    }
  }
  void Release(rocksdb::BackupID id) {
    absl::MutexLock lock(&mu_);
    kept_.erase(id);
  }
  rocksdb::IOStatus DeleteFile(const std::string& fname,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    if (IsKept(fname)) return Refused(fname);
    return FileSystemWrapper::DeleteFile(fname, options, dbg);
  }
  rocksdb::IOStatus DeleteDir(const std::string& dirname,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    if (IsKept(dirname)) return Refused(dirname);
    return FileSystemWrapper::DeleteDir(dirname, options, dbg);
  }

 private:
  struct Kept {
    absl::flat_hash_set<std::string> paths;
    absl::flat_hash_set<std::string> dirs;
    bool all_shared = false;
  };

  static std::string Normal(std::string path) {
    std::string out;
    out.reserve(path.size());
    for (char c : path) {
      if (c == '/' && !out.empty() && out.back() == '/') continue;
      out.push_back(c);
    }
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
  }
  static std::string Parent(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
  }

  bool IsKept(const std::string& raw) const {
    const std::string path = Normal(raw);
    const std::string parent = Parent(path);
    absl::MutexLock lock(&mu_);
    for (const auto& [id, kept] : kept_) {
      if (kept.paths.contains(path) || kept.dirs.contains(path) ||
          kept.dirs.contains(parent)) {
        return true;
      }
      if (kept.all_shared) {
        for (const std::string& dir : shared_dirs_) {
          if (parent == dir) return true;
        }
      }
    }
    return false;
  }
  static rocksdb::IOStatus Refused(const std::string& path) {
    return rocksdb::IOStatus::IOError(
        "leyser keeps this file for a listed backup generation", path);
  }

  const std::string engine_dir_;
  const std::vector<std::string> shared_dirs_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<rocksdb::BackupID, Kept> kept_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<EngineSession>> EngineSession::Open(
    const std::string& engine_dir, rocksdb::Env* env,
    const std::string& generations_dir) {
  auto session = std::unique_ptr<EngineSession>(new EngineSession());
  // Opening an engine deletes nothing. Over the plain env first: with every
  // backup loaded, the engine's garbage collection cannot touch a listed
  // generation's files, so a healthy directory's engine runs as before.
  LEYSER_ASSIGN_OR_RETURN(session->engine_, OpenEngine(engine_dir, env));
  std::vector<rocksdb::BackupID> corrupt;
  session->engine_->GetCorruptedBackups(&corrupt);
  if (corrupt.empty()) return session;
  // Which generation holds each corrupt backup. A generation file that
  // cannot be read hides which one it holds: then every corrupt backup is
  // kept, as if listed.
  LEYSER_ASSIGN_OR_RETURN(std::vector<BackupId> listed,
                          ListedIds(generations_dir));
  absl::flat_hash_map<rocksdb::BackupID, BackupId> holder;
  bool unknown = false;
  for (BackupId id : listed) {
    absl::StatusOr<proto::GenerationFile> file =
        ReadGeneration(generations_dir, id);
    if (file.ok()) {
      holder[EngineId(*file)] = id;
    } else if (!absl::IsNotFound(file.status())) {
      unknown = true;
    }
  }
  auto fs =
      std::make_shared<KeepingFileSystem>(env->GetFileSystem(), engine_dir);
  bool keeps = false;
  for (rocksdb::BackupID id : corrupt) {
    const auto found = holder.find(id);
    if (found == holder.end() && !unknown) continue;
    absl::StatusOr<std::vector<std::string>> files =
        EngineBackupFiles(engine_dir, env, id);
    fs->Keep(id, files.ok() ? *files : std::vector<std::string>(), !files.ok());
    keeps = true;
    if (found != holder.end()) {
      // VerifyBackup of a corrupt backup answers its load error, no I/O.
      session->damaged_[found->second] =
          session->engine_->VerifyBackup(id).ToString();
    }
  }
  if (!keeps) return session;  // Only unlisted backups are corrupt.
  // Opened again over the keeping file system.
  session->engine_.reset();
  session->fs_ = std::move(fs);
  session->env_ = rocksdb::NewCompositeEnv(session->fs_);
  LEYSER_ASSIGN_OR_RETURN(session->engine_,
                          OpenEngine(engine_dir, session->env_.get()));
  return session;
}

EngineSession::~EngineSession() = default;  // engine_ goes first.

void EngineSession::Release(rocksdb::BackupID id) {
  if (fs_ != nullptr) fs_->Release(id);
}

absl::StatusOr<std::vector<std::string>> EngineBackupFiles(
    const std::string& engine_dir, rocksdb::Env* env, rocksdb::BackupID id) {
  const std::string path = absl::StrCat(engine_dir, "/meta/", id);
  std::string bytes;
  const rocksdb::Status read = rocksdb::ReadFileToString(env, path, &bytes);
  if (read.IsNotFound() || read.IsPathNotFound()) {
    return absl::NotFoundError(absl::StrCat("no engine backup ", id));
  }
  if (!read.ok()) {
    return absl::DataLossError(
        absl::StrCat("the meta file of engine backup ", id,
                     " cannot be read: ", read.ToString()));
  }
  // One line per file: its path relative to the engine directory, then
  // fields ("crc32 <n>", "size <n>", ...); the header lines hold no '/'.
  std::vector<std::string> files;
  for (absl::string_view line : absl::StrSplit(bytes, '\n')) {
    absl::string_view first = line.substr(0, line.find(' '));
    if ((absl::StartsWith(first, "shared/") ||
         absl::StartsWith(first, "shared_checksum/") ||
         absl::StartsWith(first, "private/")) &&
        !absl::StrContains(first, "..")) {
      files.emplace_back(first);
    }
  }
  if (files.empty()) {
    return absl::DataLossError(
        absl::StrCat("the meta file of engine backup ", id, " names no file"));
  }
  return files;
}

std::optional<std::string> DamagedSharedFile(std::string_view text) {
  const absl::string_view message(text.data(), text.size());
  for (absl::string_view dir : {"/shared_checksum/", "/shared/"}) {
    std::size_t at = message.find(dir);
    std::size_t begin = at + 1;
    if (at == absl::string_view::npos) {
      // A relative name ("Size mismatch for existing backup file: shared_...")
      const absl::string_view bare = dir.substr(1);
      at = message.find(bare);
      if (at == absl::string_view::npos ||
          (at > 0 && message[at - 1] != ' ' && message[at - 1] != '/')) {
        continue;
      }
      begin = at;
    }
    std::size_t end = message.find_first_of(" :\n", begin);
    if (end == absl::string_view::npos) end = message.size();
    const absl::string_view name = message.substr(begin, end - begin);
    const absl::string_view base = name.substr(name.find('/') + 1);
    if (base.empty() || absl::StrContains(base, "/") ||
        absl::StrContains(base, "..")) {
      continue;
    }
    return std::string(name);
  }
  return std::nullopt;
}

}  // namespace leyser::internal
