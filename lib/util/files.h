// Small POSIX file helpers.

#ifndef LEYSER_LIB_UTIL_FILES_H_
#define LEYSER_LIB_UTIL_FILES_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include <sys/types.h>

namespace leyser::internal {

// Closes a file descriptor when it goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser();

 private:
  int fd_;
};

// Writes all `size` bytes at `data` to `fd`. Unavailable (naming `path`) on
// failure.
[[nodiscard]] absl::Status WriteAll(int fd, const unsigned char* data,
                                    std::size_t size, const std::string& path);

// fsyncs the directory that contains `path`.
[[nodiscard]] absl::Status SyncParentDir(const std::string& path);

// The modes of everything leyser creates: only the owner may read, write or
// list it, whatever the process umask.
inline constexpr mode_t kOwnerOnlyDirMode = 0700;
inline constexpr mode_t kOwnerOnlyFileMode = 0600;

// fsyncs directory `dir` itself (its entries).
[[nodiscard]] absl::Status SyncDir(const std::string& dir);

// Renames `from` to `to` (same file system; `to` must not exist) and fsyncs
// the directories of both, so the move survives a crash.
[[nodiscard]] absl::Status RenameDurably(const std::string& from,
                                         const std::string& to);

// Removes the empty directory `dir` and fsyncs its parent. FailedPrecondition
// if `dir` is not empty (nothing is removed then).
[[nodiscard]] absl::Status RemoveEmptyDir(const std::string& dir);

// Creates directory `path` (mode 0700, whatever the umask) if missing, syncing
// its parent. Parents must exist. An existing directory keeps its mode.
[[nodiscard]] absl::Status EnsureDir(const std::string& path);

// Creates `path` with `bytes`, atomically and only if it does not exist: a
// synced temporary file beside it is hard-linked to `path` (which fails if
// `path` exists), then removed. AlreadyExists if `path` exists (nothing
// written); two processes racing never overwrite each other.
[[nodiscard]] absl::Status CreateFileExclusively(const std::string& path,
                                                 const std::string& bytes);

// Writes `bytes` to `path` atomically: a temporary file beside it (mode 0600,
// whatever the umask), fsync, rename, fsync of the directory. Readers see the
// old content or the new, never a mix.
[[nodiscard]] absl::Status WriteFileAtomically(const std::string& path,
                                               const std::string& bytes);

// Reads the whole file. NotFound if missing; Unavailable on I/O errors.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// The same; with `shared_lock`, under a shared flock of the file, so no
// append through AppendLineDurably is half done in what is read.
absl::StatusOr<std::string> ReadFile(const std::string& path, bool shared_lock);

// Names of the entries of directory `dir` (no "." or ".."). Unavailable on
// errors.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir);

// Removes `path` and everything under it; OK if absent.
[[nodiscard]] absl::Status RemoveAll(const std::string& path);

// True if `path` exists (any file type).
bool PathExists(const std::string& path);

// Holds an exclusive advisory lock (flock) on a file until destroyed.
class FileLock {
 public:
  // Locks `path`, creating it (mode 0600, whatever the umask) if missing.
  // FailedPrecondition if another open handle, in this or another process,
  // holds the lock.
  static absl::StatusOr<std::unique_ptr<FileLock>> Acquire(
      const std::string& path);
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

// A regular file opened for reading and appending under an exclusive advisory
// lock (flock; waits for it), released when destroyed. If another file is
// renamed over `path` while it waits (a rotation), the new file is opened and
// locked instead, so a holder always has the file `path` names.
class LockedFile {
 public:
  // With `create`, a missing file is created (mode 0600, whatever the umask;
  // its directory synced). NotFound if missing otherwise; FailedPrecondition
  // if `path` is not a regular file; Unavailable on I/O errors.
  static absl::StatusOr<std::unique_ptr<LockedFile>> Open(
      const std::string& path, bool create);
  LockedFile(const LockedFile&) = delete;
  LockedFile& operator=(const LockedFile&) = delete;
  ~LockedFile();
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  LockedFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// Appends `line` (one line ending in its only '\n') to the file at `path`
// (created with mode 0600, whatever the umask, if missing; an existing file
// keeps its mode) as a whole line or not at all, and syncs it: a line of a
// log that must survive a crash. Appenders take the file's LockedFile in
// turn. An earlier append that was torn (the file does not end in '\n') is
// ended first, so the torn piece stays a line of its own; a write that fails
// part-way is cut off again. InvalidArgument if `line` is not one line.
absl::Status AppendLineDurably(const std::string& path, std::string_view line);

// The same for `lines`, one or more lines each ending in '\n', appended
// together with one fsync (all or none of them, unless a crash tears the
// append: then whole lines up to a torn one). InvalidArgument if `lines` does
// not end in '\n'.
absl::Status AppendLinesDurably(const std::string& path,
                                std::string_view lines);

// Removes the group and other permission bits (and set-id and sticky bits)
// from `root` and from every directory and regular file under it, so what an
// older leyser or RocksDB left 0755/0644 becomes 0700/0600. Never adds a bit,
// never follows a symbolic link. Best effort: an entry it may not change (owned
// by another user, a read-only file system) is left as it is, silently.
void TightenPermissions(const std::string& root);

}  // namespace leyser::internal

#endif  // LEYSER_LIB_UTIL_FILES_H_
