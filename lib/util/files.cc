#include "lib/util/files.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/status_macros.h"

namespace leyser::internal {
namespace {

// Opens `path` with `flags`, creating it first if missing. A file it creates
// gets exactly kOwnerOnlyFileMode, whatever the umask; an existing one keeps
// its mode. -1 with errno on failure.
int OpenOrCreateOwnerOnly(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CREAT | O_EXCL, kOwnerOnlyFileMode);
  if (fd >= 0) {
    ::fchmod(fd, kOwnerOnlyFileMode);
    return fd;
  }
  if (errno != EEXIST) return -1;
  return ::open(path.c_str(), flags);
}

// Waits for the flock `operation` (LOCK_SH or LOCK_EX) on `fd` of `path`.
absl::Status LockWaiting(int fd, int operation, const std::string& path) {
  int locked;
  do {
    locked = flock(fd, operation);
  } while (locked != 0 && errno == EINTR);
  if (locked != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot lock ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

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
      return absl::UnavailableError(
          absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open directory ", dir,
                                               ": ", std::strerror(errno)));
  }
  FdCloser closer(fd);
  if (fsync(fd) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot sync directory ", dir,
                                               ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status SyncParentDir(const std::string& path) {
  std::string dir = ".";
  if (std::size_t slash = path.find_last_of('/'); slash != std::string::npos) {
    dir = slash == 0 ? "/" : path.substr(0, slash);
  }
  return SyncDir(dir);
}

absl::Status RenameDurably(const std::string& from, const std::string& to) {
  if (PathExists(to)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot move ", from, " to ", to, ": it exists"));
  }
  if (rename(from.c_str(), to.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot move ", from, " to ", to,
                                               ": ", std::strerror(errno)));
  }
  LEYSER_RETURN_IF_ERROR(SyncParentDir(to));
  return SyncParentDir(from);
}

absl::Status RemoveEmptyDir(const std::string& dir) {
  if (rmdir(dir.c_str()) != 0) {
    if (errno == ENOTEMPTY || errno == EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat(dir, " is not empty"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot remove ", dir, ": ", std::strerror(errno)));
  }
  return SyncParentDir(dir);
}

absl::Status EnsureDir(const std::string& path) {
  if (mkdir(path.c_str(), kOwnerOnlyDirMode) == 0) {
    // The umask may have removed owner bits.
    chmod(path.c_str(), kOwnerOnlyDirMode);
    return SyncParentDir(path);
  }
  if (errno == EEXIST) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a directory"));
  }
  return absl::UnavailableError(absl::StrCat("cannot create directory ", path,
                                             ": ", std::strerror(errno)));
}

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                kOwnerOnlyFileMode);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  absl::Status s;
  {
    FdCloser closer(fd);
    // A temporary left by a crash keeps its old mode; the umask may have
    // removed owner bits from a new one.
    fchmod(fd, kOwnerOnlyFileMode);
    s = WriteAll(fd, reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size(), tmp);
    if (s.ok() && fsync(fd) != 0) {
      s = absl::UnavailableError(
          absl::StrCat("cannot sync ", tmp, ": ", std::strerror(errno)));
    }
  }
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    s = absl::UnavailableError(
        absl::StrCat("cannot rename ", tmp, ": ", std::strerror(errno)));
  }
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  return SyncParentDir(path);
}

absl::Status CreateFileExclusively(const std::string& path,
                                   const std::string& bytes) {
  // A name of this process's own: a racing process writes another.
  const std::string tmp = absl::StrCat(path, ".new.", getpid());
  LEYSER_RETURN_IF_ERROR(WriteFileAtomically(tmp, bytes));
  const int linked = link(tmp.c_str(), path.c_str());
  const int link_errno = errno;
  unlink(tmp.c_str());
  if (linked != 0) {
    if (link_errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(link_errno)));
  }
  return SyncParentDir(path);
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  return ReadFile(path, /*shared_lock=*/false);
}

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     bool shared_lock) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  FdCloser closer(fd);
  if (shared_lock) LEYSER_RETURN_IF_ERROR(LockWaiting(fd, LOCK_SH, path));
  std::string out;
  char buffer[65536];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::UnavailableError(
          absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) {
      return out;
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat(dir, " does not exist"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot list ", dir, ": ", std::strerror(errno)));
  }
  std::vector<std::string> out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") {
      out.push_back(std::move(name));
    }
  }
  closedir(d);
  return out;
}

absl::Status RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot remove ", path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

absl::StatusOr<std::unique_ptr<FileLock>> FileLock::Acquire(
    const std::string& path) {
  int fd = OpenOrCreateOwnerOnly(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open lock file ", path,
                                               ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("the store is already open (lock ", path,
                       " is held); close the other instance first"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot lock ", path, ": ", std::strerror(err)));
  }
  return std::unique_ptr<FileLock>(new FileLock(fd));
}

FileLock::~FileLock() {
  flock(fd_, LOCK_UN);
  close(fd_);
}

absl::StatusOr<std::unique_ptr<LockedFile>> LockedFile::Open(
    const std::string& path, bool create) {
  // A file renamed over `path` while this waited for the lock (a rotation)
  // is not the one to use: open again until the locked file is `path`'s.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int flags = O_RDWR | O_APPEND | O_CLOEXEC;
    bool created = false;
    int fd = -1;
    if (create) {
      fd = ::open(path.c_str(), flags | O_CREAT | O_EXCL, kOwnerOnlyFileMode);
      if (fd >= 0) {
        ::fchmod(fd, kOwnerOnlyFileMode);
        created = true;
      } else if (errno == EEXIST) {
        fd = ::open(path.c_str(), flags);
      }
    } else {
      fd = ::open(path.c_str(), flags);
    }
    if (fd < 0) {
      const int err = errno;
      const std::string message =
          absl::StrCat("cannot open ", path, ": ", std::strerror(err));
      if (err == EISDIR) {
        return absl::FailedPreconditionError(
            absl::StrCat(path, " is a directory, not a regular file"));
      }
      // Missing: NotFound; with `create`, its directory is missing.
      return err == ENOENT && !create ? absl::NotFoundError(message)
                                      : absl::UnavailableError(message);
    }
    std::unique_ptr<LockedFile> file(new LockedFile(fd, path));
    LEYSER_RETURN_IF_ERROR(LockWaiting(fd, LOCK_EX, path));
    struct stat held;
    struct stat named;
    if (fstat(fd, &held) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
    }
    if (!S_ISREG(held.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is not a regular file"));
    }
    if (stat(path.c_str(), &named) == 0 && named.st_dev == held.st_dev &&
        named.st_ino == held.st_ino) {
      if (created) LEYSER_RETURN_IF_ERROR(SyncParentDir(path));
      return file;
    }
  }
  return absl::UnavailableError(
      absl::StrCat(path, " keeps being replaced; cannot lock it"));
}

LockedFile::~LockedFile() {
  flock(fd_, LOCK_UN);
  close(fd_);
}

absl::Status AppendLineDurably(const std::string& path, std::string_view line) {
  if (line.find('\n') != line.size() - 1) {
    return absl::InvalidArgumentError(
        "AppendLineDurably: not one line ending in a newline");
  }
  return AppendLinesDurably(path, line);
}

absl::Status AppendLinesDurably(const std::string& path,
                                std::string_view lines) {
  if (lines.empty() || lines.back() != '\n') {
    return absl::InvalidArgumentError(
        "AppendLinesDurably: not whole lines ending in a newline");
  }
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<LockedFile> file,
                          LockedFile::Open(path, /*create=*/true));
  const int fd = file->fd();
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  const off_t start = st.st_size;
  std::string bytes;
  // A torn earlier append (a crash, a full disk) left a line without its
  // newline: end it, so that piece stays a line of its own and this one is
  // whole.
  if (start > 0) {
    char last = '\n';
    if (pread(fd, &last, 1, start - 1) != 1) {
      return absl::UnavailableError(
          absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
    }
    if (last != '\n') bytes.push_back('\n');
  }
  bytes.append(lines.data(), lines.size());
  absl::Status written =
      WriteAll(fd, reinterpret_cast<const unsigned char*>(bytes.data()),
               bytes.size(), path);
  if (written.ok() && ::fsync(fd) != 0) {
    written = absl::UnavailableError(
        absl::StrCat("cannot sync ", path, ": ", std::strerror(errno)));
  }
  if (!written.ok()) {
    // Nothing or all: cut off what part of the lines got in (best effort; if
    // that fails too, the next append ends the torn piece).
    if (::ftruncate(fd, start) == 0) ::fsync(fd);
    return written;
  }
  return absl::OkStatus();
}

void TightenPermissions(const std::string& root) {
  // Returns whether `path` is a directory.
  auto tighten = [](const char* path) {
    struct stat st;
    if (lstat(path, &st) != 0) return false;  // Gone meanwhile.
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) return false;
    const mode_t mode = st.st_mode & 07777;
    if ((mode & ~mode_t{0700}) != 0) chmod(path, mode & 0700);
    return S_ISDIR(st.st_mode);
  };
  if (root.empty() || !tighten(root.c_str())) return;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           root, std::filesystem::directory_options::skip_permission_denied,
           ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    tighten(it->path().c_str());
  }
}

}  // namespace leyser::internal
