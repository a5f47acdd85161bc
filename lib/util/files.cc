#include "lib/util/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace leyser::internal {

FdCloser::~FdCloser() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

absl::Status WriteAll(int fd, const unsigned char* data, std::size_t size,
                      const std::string& path) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SyncParentDir(const std::string& path) {
  std::string dir = ".";
  if (std::size_t slash = path.find_last_of('/'); slash != std::string::npos) {
    dir = slash == 0 ? "/" : path.substr(0, slash);
  }
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open directory ", dir, ": ", std::strerror(errno)));
  }
  FdCloser closer(fd);
  if (fsync(fd) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot sync directory ", dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status EnsureDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) == 0) {
    return SyncParentDir(path);
  }
  if (errno == EEXIST) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  }
  return absl::UnavailableError(absl::StrCat("cannot create directory ", path, ": ", std::strerror(errno)));
}

bool PathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

absl::StatusOr<std::unique_ptr<FileLock>> FileLock::Acquire(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open lock file ", path, ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the store is already open (lock ", path, " is held); close the other instance first"));
    }
    return absl::UnavailableError(absl::StrCat("cannot lock ", path, ": ", std::strerror(err)));
  }
  return std::unique_ptr<FileLock>(new FileLock(fd));
}

FileLock::~FileLock() {
  flock(fd_, LOCK_UN);
  close(fd_);
}

}  // namespace leyser::internal
