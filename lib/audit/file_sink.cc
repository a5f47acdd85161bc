// The file sink of leyser/audit.h (NewFileAuditSink): one JSON line per
// checkpoint (lib/proto/audit.proto, AnchoredCheckpoint), appended whole or
// not at all; reading such files back, damaged lines skipped and reported;
// rotating one without losing the open check's reference.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include <glob.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "leyser/audit.h"

#include "lib/proto/audit.pb.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"

namespace leyser {
namespace internal {
namespace {

// The note of one line of a file sink's file; nullopt if the line is not one
// (a torn append, or not written by a sink).
std::optional<std::string> NoteOfLine(absl::string_view line) {
  proto::AnchoredCheckpoint stored;
  if (!google::protobuf::util::JsonStringToMessage(std::string(line), &stored)
           .ok()) {
    return std::nullopt;
  }
  return std::move(*stored.mutable_note());
}

// The checkpoint a line holds (the note parsed; its signature unchecked).
absl::StatusOr<AuditCheckpoint> ParseLine(absl::string_view line) {
  std::optional<std::string> note = NoteOfLine(line);
  if (!note.has_value()) return absl::DataLossError("not a checkpoint line");
  return ParseAuditCheckpoint(*note);
}

// Reads origin and size from a line as the sink writes it
// ({"origin":"...","size":"N",...}); false if it does not start so.
bool QuickOriginAndSize(absl::string_view line, std::string* origin,
                        std::uint64_t* size) {
  constexpr absl::string_view kOrigin = "{\"origin\":\"";
  constexpr absl::string_view kSize = "\",\"size\":\"";
  if (!absl::StartsWith(line, kOrigin)) return false;
  line.remove_prefix(kOrigin.size());
  const std::size_t end = line.find(kSize);
  if (end == absl::string_view::npos) return false;
  const absl::string_view o = line.substr(0, end);
  if (o.find('\\') != absl::string_view::npos) return false;  // Escaped.
  line.remove_prefix(end + kSize.size());
  const std::size_t quote = line.find('"');
  if (quote == absl::string_view::npos ||
      !absl::SimpleAtoi(line.substr(0, quote), size)) {
    return false;
  }
  origin->assign(o.data(), o.size());
  return true;
}

// The newest checkpoint (largest size) of each origin in a sink file's
// `content`, with the line that holds it. Only the newest line of each origin
// is parsed in full (the file holds every checkpoint ever anchored); origin
// and size are read straight from the JSON the sink writes, and a line that
// does not read so is parsed in full. Damaged lines are skipped.
std::vector<std::pair<AuditCheckpoint, absl::string_view>> NewestOfEachOrigin(
    absl::string_view content) {
  struct Line {
    std::uint64_t size;
    absl::string_view text;
  };
  absl::flat_hash_map<std::string, std::vector<Line>> by_origin;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    if (line.empty()) continue;
    std::string origin;
    std::uint64_t size = 0;
    if (!QuickOriginAndSize(line, &origin, &size)) {
      absl::StatusOr<AuditCheckpoint> cp = ParseLine(line);
      if (!cp.ok()) continue;  // A torn append: the lines around it count.
      origin = cp->origin;
      size = cp->size;
    }
    by_origin[origin].push_back({size, line});
  }
  std::vector<std::pair<AuditCheckpoint, absl::string_view>> out;
  out.reserve(by_origin.size());
  for (auto& [origin, lines] : by_origin) {
    // Newest first; the first line that parses in full counts.
    std::stable_sort(
        lines.begin(), lines.end(),
        [](const Line& a, const Line& b) { return a.size > b.size; });
    for (const Line& line : lines) {
      absl::StatusOr<AuditCheckpoint> cp = ParseLine(line.text);
      if (cp.ok() && cp->origin == origin && cp->size == line.size) {
        out.emplace_back(*std::move(cp), line.text);
        break;
      }
    }
  }
  return out;
}

absl::Status InFile(const std::string& path, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat("the audit checkpoint file ", path,
                                             ": ", s.message()));
}

class FileAuditSink final : public AuditSink {
 public:
  explicit FileAuditSink(std::string path) : path_(std::move(path)) {}

  absl::Status Publish(const AuditCheckpoint& checkpoint) override {
    return PublishAll({checkpoint});
  }

  // Every checkpoint one line, appended together with one fsync.
  absl::Status PublishAll(
      const std::vector<AuditCheckpoint>& checkpoints) override {
    if (checkpoints.empty()) return absl::OkStatus();
    std::string lines;
    for (const AuditCheckpoint& checkpoint : checkpoints) {
      proto::AnchoredCheckpoint line;
      line.set_origin(checkpoint.origin);
      line.set_size(checkpoint.size);
      line.set_note(checkpoint.note);
      std::string json;
      if (!google::protobuf::util::MessageToJsonString(line, &json).ok()) {
        return absl::InternalError("could not encode a checkpoint");
      }
      absl::StrAppend(&lines, json, "\n");
    }
    absl::Status appended = AppendLinesDurably(path_, lines);
    if (!appended.ok()) return InFile(path_, appended);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<AuditCheckpoint>> NewestCheckpoints() override {
    absl::StatusOr<std::string> content = ReadFile(path_, /*shared_lock=*/true);
    if (absl::IsNotFound(content.status())) {
      return std::vector<AuditCheckpoint>();
    }
    if (!content.ok()) return InFile(path_, content.status());
    std::vector<AuditCheckpoint> out;
    for (auto& [cp, line] : NewestOfEachOrigin(*content)) {
      out.push_back(std::move(cp));
    }
    return out;
  }

 private:
  const std::string path_;
};

// The files `pattern` names: itself, or (with *, ? or [) its glob matches in
// name order. NotFound if there are none.
absl::StatusOr<std::vector<std::string>> Expand(const std::string& pattern) {
  if (pattern.find_first_of("*?[") == std::string::npos) {
    if (!PathExists(pattern)) {
      return absl::NotFoundError(
          absl::StrCat("the audit checkpoint file ", pattern,
                       " does not exist (a typo, or not written yet?)"));
    }
    return std::vector<std::string>{pattern};
  }
  glob_t matches{};
  const int result = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &matches);
  std::vector<std::string> out;
  if (result == 0) {
    for (std::size_t i = 0; i < matches.gl_pathc; ++i) {
      out.emplace_back(matches.gl_pathv[i]);
    }
  }
  ::globfree(&matches);
  if (result == GLOB_NOMATCH || (result == 0 && out.empty())) {
    return absl::NotFoundError(
        absl::StrCat("no audit checkpoint file matches ", pattern));
  }
  if (result != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot list the files matching ", pattern));
  }
  return out;  // glob sorts them.
}

// Replaces `path` with a file holding `content` and the owner and mode of
// the open file `like`: a new file beside it (created exclusively, so never
// through a planted link), synced, renamed over `path`, the directory synced.
absl::Status ReplaceLike(const std::string& path, const std::string& content,
                         int like) {
  struct stat st;
  if (fstat(like, &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  std::string temp = absl::StrCat(path, ".rotating.XXXXXX");
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create a file beside ", path, ": ", std::strerror(errno)));
  }
  absl::Status s;
  {
    FdCloser closer(fd);
    // The owner can only be kept by root; a file of the caller's stays so.
    if (::fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) {
      s = absl::UnavailableError(absl::StrCat("cannot set the owner of ", temp,
                                              ": ", std::strerror(errno)));
    }
    if (s.ok() && ::fchmod(fd, st.st_mode & 0777) != 0) {
      s = absl::UnavailableError(absl::StrCat("cannot set the mode of ", temp,
                                              ": ", std::strerror(errno)));
    }
    if (s.ok()) {
      s = WriteAll(fd, reinterpret_cast<const unsigned char*>(content.data()),
                   content.size(), temp);
    }
    if (s.ok() && ::fsync(fd) != 0) {
      s = absl::UnavailableError(
          absl::StrCat("cannot sync ", temp, ": ", std::strerror(errno)));
    }
  }
  if (s.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    s = absl::UnavailableError(absl::StrCat("cannot rename ", temp, " to ",
                                            path, ": ", std::strerror(errno)));
  }
  if (!s.ok()) {
    ::unlink(temp.c_str());
    return s;
  }
  return SyncParentDir(path);
}

}  // namespace
}  // namespace internal

absl::Status AuditSink::PublishAll(
    const std::vector<AuditCheckpoint>& checkpoints) {
  for (const AuditCheckpoint& checkpoint : checkpoints) {
    LEYSER_RETURN_IF_ERROR(Publish(checkpoint));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditCheckpoint>> AuditSink::NewestCheckpoints() {
  return absl::UnimplementedError(
      "this audit sink cannot hand back the checkpoints it holds");
}

absl::StatusOr<std::shared_ptr<AuditSink>> NewFileAuditSink(
    const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "NewFileAuditSink: the path is empty; name a file outside the store");
  }
  return std::make_shared<internal::FileAuditSink>(path);
}

absl::StatusOr<AuditCheckpointFiles> ReadAuditCheckpointFiles(
    const std::vector<std::string>& paths) {
  if (paths.empty()) {
    return absl::InvalidArgumentError(
        "ReadAuditCheckpointFiles: no file or pattern given");
  }
  AuditCheckpointFiles out;
  std::set<std::string> seen;
  for (const std::string& pattern : paths) {
    LEYSER_ASSIGN_OR_RETURN(std::vector<std::string> files,
                            internal::Expand(pattern));
    for (const std::string& file : files) {
      if (!seen.insert(file).second) continue;
      LEYSER_ASSIGN_OR_RETURN(std::string content,
                              internal::ReadFile(file, /*shared_lock=*/true));
      out.files.push_back(file);
      int number = 0;
      for (absl::string_view line : absl::StrSplit(content, '\n')) {
        ++number;
        if (line.empty()) continue;
        std::optional<std::string> note = internal::NoteOfLine(line);
        if (!note.has_value() || !ParseAuditCheckpoint(*note).ok()) {
          out.damaged_lines.push_back(absl::StrCat(
              file, " line ", number,
              ": not a checkpoint written by a sink (a torn append, or "
              "written by something else); skipped"));
          continue;
        }
        out.notes.push_back(*std::move(note));
      }
    }
  }
  return out;
}

absl::StatusOr<std::string> RotateAuditCheckpointFile(const std::string& path,
                                                      absl::Time now) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "RotateAuditCheckpointFile: the path is empty");
  }
  // Appenders wait while the lock is held, then find the new file.
  LEYSER_ASSIGN_OR_RETURN(std::unique_ptr<internal::LockedFile> file,
                          internal::LockedFile::Open(path, /*create=*/false));
  LEYSER_ASSIGN_OR_RETURN(std::string content,
                          internal::ReadFileToString(path));
  std::string kept;
  for (const auto& [cp, line] : internal::NewestOfEachOrigin(content)) {
    absl::StrAppend(&kept, line, "\n");
  }
  const std::string stamp =
      absl::FormatTime("%Y%m%dT%H%M%SZ", now, absl::UTCTimeZone());
  std::string rotated = absl::StrCat(path, ".", stamp);
  for (int n = 1; internal::PathExists(rotated); ++n) {
    rotated = absl::StrCat(path, ".", stamp, "-", n);
  }
  // The old file keeps its name until the new one replaces it: `path` names
  // a complete file at every moment.
  if (::link(path.c_str(), rotated.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot link ", path, " to ", rotated, ": ", std::strerror(errno)));
  }
  absl::Status replaced = internal::ReplaceLike(path, kept, file->fd());
  if (!replaced.ok()) {
    ::unlink(rotated.c_str());  // `path` is still the whole old file.
    return replaced;
  }
  return rotated;
}

}  // namespace leyser
