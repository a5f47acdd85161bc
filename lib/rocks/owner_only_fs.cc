#include "lib/rocks/owner_only_fs.h"

#include <cerrno>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/files.h"

namespace leyser::internal {
namespace {

// Makes sure the regular file `fname` exists (if `create`) with mode 0600
// before the target file system opens (and perhaps truncates) it. Best effort:
// when this fails (a missing directory, a symbolic link), the target's own open
// reports whatever is wrong.
void OwnerOnlyFile(const std::string& fname, bool create = true) {
  const int fd = ::open(
      fname.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0),
      kOwnerOnlyFileMode);
  if (fd < 0) return;
  struct stat st;
  // The umask may have removed owner bits from a new file; an existing one may
  // be looser.
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      (st.st_mode & 07777) != kOwnerOnlyFileMode) {
    ::fchmod(fd, kOwnerOnlyFileMode);
  }
  ::close(fd);
}

// mkdir with mode 0700, whatever the umask. False (errno set) on failure.
bool MakeOwnerOnlyDir(const std::string& name) {
  if (::mkdir(name.c_str(), kOwnerOnlyDirMode) != 0) return false;
  ::chmod(name.c_str(), kOwnerOnlyDirMode);
  return true;
}

class OwnerOnlyFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit OwnerOnlyFs(const std::shared_ptr<rocksdb::FileSystem>& target)
      : rocksdb::FileSystemWrapper(target) {}

  static const char* kClassName() { return "leyser.OwnerOnly"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    OwnerOnlyFile(fname);
    return target()->NewWritableFile(fname, options, result, dbg);
  }

  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    OwnerOnlyFile(fname);
    return target()->ReopenWritableFile(fname, options, result, dbg);
  }

  rocksdb::IOStatus ReuseWritableFile(
      const std::string& fname, const std::string& old_fname,
      const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    // Renames `old_fname` to `fname`, which keeps the old file's mode.
    OwnerOnlyFile(old_fname, /*create=*/false);
    return target()->ReuseWritableFile(fname, old_fname, options, result, dbg);
  }

  rocksdb::IOStatus NewLogger(const std::string& fname,
                              const rocksdb::IOOptions& options,
                              std::shared_ptr<rocksdb::Logger>* result,
                              rocksdb::IODebugContext* dbg) override {
    // The target's NewLogger opens the file through the target itself.
    OwnerOnlyFile(fname);
    return target()->NewLogger(fname, options, result, dbg);
  }

  rocksdb::IOStatus LockFile(const std::string& fname,
                             const rocksdb::IOOptions& options,
                             rocksdb::FileLock** lock,
                             rocksdb::IODebugContext* dbg) override {
    OwnerOnlyFile(fname);
    return target()->LockFile(fname, options, lock, dbg);
  }

  rocksdb::IOStatus CreateDir(const std::string& name,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    if (MakeOwnerOnlyDir(name)) return rocksdb::IOStatus::OK();
    // The target reports the failure (it exists, a parent is missing, ...)
    // in its own words.
    return target()->CreateDir(name, options, dbg);
  }

  rocksdb::IOStatus CreateDirIfMissing(const std::string& name,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override {
    MakeOwnerOnlyDir(name);
    // Now it exists, or the target reports why it cannot (or that it is not a
    // directory).
    return target()->CreateDirIfMissing(name, options, dbg);
  }
};

}  // namespace

const std::shared_ptr<rocksdb::FileSystem>& OwnerOnlyFileSystem() {
  static const auto* fs = new std::shared_ptr<rocksdb::FileSystem>(
      std::make_shared<OwnerOnlyFs>(rocksdb::FileSystem::Default()));
  return *fs;
}

rocksdb::Env* OwnerOnlyEnv() {
  static rocksdb::Env* env =
      rocksdb::NewCompositeEnv(OwnerOnlyFileSystem()).release();
  return env;
}

}  // namespace leyser::internal
