// The free functions of leyser/audit.h: names, JSON, the file sink.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "leyser/audit.h"

#include "lib/audit/audit_log.h"
#include "lib/proto/audit.pb.h"
#include "lib/util/files.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"
#include "lib/util/time.h"

namespace leyser {

std::string_view AuditEventName(AuditEvent event) {
  const auto* descriptor = proto::AuditEventType_descriptor();
  const auto* value = descriptor->FindValueByNumber(static_cast<int>(event));
  if (value == nullptr) return "UNKNOWN";
  std::string_view name = value->name();
  name.remove_prefix(std::string_view("AUDIT_EVENT_").size());
  return name;
}

namespace internal {

AuditEntry ToPublicAuditEntry(const proto::AuditEntry& entry,
                              std::string log_name) {
  AuditEntry out;
  out.log = std::move(log_name);
  out.seq = entry.seq();
  out.time = absl::FromUnixMicros(entry.time_micros());
  out.actor = entry.actor();
  out.event = static_cast<AuditEvent>(entry.event());
  out.target = entry.target();
  out.outcome = entry.outcome() == proto::AUDIT_OUTCOME_UNSPECIFIED
                    ? AuditOutcome::kOk
                    : static_cast<AuditOutcome>(entry.outcome());
  out.status_code = static_cast<absl::StatusCode>(entry.status_code());
  out.message = entry.message();
  out.key_hashes.assign(entry.key_hashes().begin(), entry.key_hashes().end());
  out.count = entry.count();
  out.details.insert(entry.details().begin(), entry.details().end());
  out.library_version = entry.library_version();
  return out;
}

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

class FileAuditSink final : public AuditSink {
 public:
  explicit FileAuditSink(std::string path) : path_(std::move(path)) {}

  absl::Status Publish(const AuditCheckpoint& checkpoint) override {
    proto::AnchoredCheckpoint line;
    line.set_origin(checkpoint.origin);
    line.set_size(checkpoint.size);
    line.set_note(checkpoint.note);
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(line, &json).ok()) {
      return absl::InternalError("could not encode a checkpoint");
    }
    json += "\n";
    std::lock_guard<std::mutex> lock(mu_);
    absl::Status appended = AppendAndSync(path_, json);
    if (!appended.ok()) {
      return absl::Status(
          appended.code(),
          absl::StrCat("the audit checkpoint file: ", appended.message()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<AuditCheckpoint>> NewestCheckpoints() override {
    std::lock_guard<std::mutex> lock(mu_);
    absl::StatusOr<std::string> content = ReadFileToString(path_);
    if (absl::IsNotFound(content.status())) {
      return std::vector<AuditCheckpoint>();
    }
    if (!content.ok()) {
      return absl::Status(content.status().code(),
                          absl::StrCat("the audit checkpoint file: ",
                                       content.status().message()));
    }
    // The file holds every checkpoint ever anchored; only the newest of each
    // origin is parsed in full. Origin and size are read straight from the
    // JSON this sink writes; a line that does not read so is parsed in full.
    struct Line {
      std::uint64_t size;
      absl::string_view text;
    };
    absl::flat_hash_map<std::string, std::vector<Line>> by_origin;
    for (absl::string_view line : absl::StrSplit(*content, '\n')) {
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
    std::vector<AuditCheckpoint> out;
    out.reserve(by_origin.size());
    for (auto& [origin, lines] : by_origin) {
      // Newest first; the first line that parses in full counts.
      std::stable_sort(
          lines.begin(), lines.end(),
          [](const Line& a, const Line& b) { return a.size > b.size; });
      for (const Line& line : lines) {
        absl::StatusOr<AuditCheckpoint> cp = ParseLine(line.text);
        if (cp.ok() && cp->origin == origin && cp->size == line.size) {
          out.push_back(*std::move(cp));
          break;
        }
      }
    }
    return out;
  }

 private:
  // The checkpoint a line holds (the note parsed; its signature unchecked).
  static absl::StatusOr<AuditCheckpoint> ParseLine(absl::string_view line) {
    std::optional<std::string> note = NoteOfLine(line);
    if (!note.has_value()) return absl::DataLossError("not a checkpoint line");
    return ParseAuditCheckpoint(*note);
  }

  // Reads origin and size from a line as Publish writes it
  // ({"origin":"...","size":"N",...}); false if it does not start so.
  static bool QuickOriginAndSize(absl::string_view line, std::string* origin,
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

  const std::string path_;
  std::mutex mu_;
};

}  // namespace
}  // namespace internal

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

absl::StatusOr<std::vector<std::string>> ReadAuditCheckpointFile(
    const std::string& path) {
  LEYSER_ASSIGN_OR_RETURN(std::string content,
                          internal::ReadFileToString(path));
  std::vector<std::string> notes;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    ++number;
    if (line.empty()) continue;
    std::optional<std::string> note = internal::NoteOfLine(line);
    if (!note.has_value()) {
      return absl::DataLossError(absl::StrCat(
          path, " line ", number, " is not a checkpoint written by a sink"));
    }
    notes.push_back(*std::move(note));
  }
  return notes;
}

namespace internal {
namespace {

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20 || u == 0x7f) {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 15]);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

std::string_view EnumName(const google::protobuf::EnumDescriptor* d, int v,
                          std::string_view prefix) {
  const auto* value = d->FindValueByNumber(v);
  if (value == nullptr) return "UNKNOWN";
  std::string_view name = value->name();
  if (name.substr(0, prefix.size()) == prefix)
    name.remove_prefix(prefix.size());
  return name;
}

}  // namespace

std::string RenderAuditEntryJson(const proto::AuditEntry& e,
                                 std::string_view log_name) {
  std::string out;
  out.reserve(256);
  out += "{\"log\":";
  AppendJsonString(log_name, &out);
  absl::StrAppend(&out, ",\"seq\":", e.seq(), ",\"time\":\"",
                  Rfc3339(absl::FromUnixMicros(e.time_micros())),
                  "\",\"actor\":");
  AppendJsonString(e.actor(), &out);
  out += ",\"event\":\"";
  out +=
      EnumName(proto::AuditEventType_descriptor(), e.event(), "AUDIT_EVENT_");
  out += "\",\"target\":";
  AppendJsonString(e.target(), &out);
  out += ",\"outcome\":\"";
  out +=
      EnumName(proto::AuditOutcome_descriptor(), e.outcome(), "AUDIT_OUTCOME_");
  absl::StrAppend(&out, "\",\"status_code\":", e.status_code(),
                  ",\"message\":");
  AppendJsonString(e.message(), &out);
  out += ",\"key_hashes\":[";
  for (int i = 0; i < e.key_hashes_size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    out += absl::BytesToHexString(e.key_hashes(i));
    out.push_back('"');
  }
  absl::StrAppend(&out, "],\"count\":", e.count(), ",\"details\":{");
  std::vector<std::pair<std::string_view, std::string_view>> details(
      e.details().begin(), e.details().end());
  std::sort(details.begin(), details.end());
  for (std::size_t i = 0; i < details.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(details[i].first, &out);
    out.push_back(':');
    AppendJsonString(details[i].second, &out);
  }
  out += "},\"library_version\":";
  AppendJsonString(e.library_version(), &out);
  out.push_back('}');
  return out;
}

std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80         ? 1
                    : (c >> 5) == 6  ? 2
                    : (c >> 4) == 14 ? 3
                    : (c >> 3) == 30 ? 4
                                     : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
    }
    if (ok && n > 1) {
      // No overlong forms, surrogates or code points above U+10FFFF.
      std::uint32_t cp = c & (0x7f >> n);
      for (std::size_t k = 1; k < n; ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
      }
      static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[n] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    }
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

}  // namespace internal

std::string AuditEntryToJson(const AuditEntry& entry) {
  proto::AuditEntry p;
  p.set_seq(entry.seq);
  p.set_time_micros(absl::ToUnixMicros(entry.time));
  p.set_actor(entry.actor);
  p.set_event(static_cast<proto::AuditEventType>(entry.event));
  p.set_target(entry.target);
  p.set_outcome(static_cast<proto::AuditOutcome>(entry.outcome));
  p.set_status_code(static_cast<int>(entry.status_code));
  p.set_message(entry.message);
  for (const std::string& h : entry.key_hashes) p.add_key_hashes(h);
  p.set_count(entry.count);
  p.mutable_details()->insert(entry.details.begin(), entry.details.end());
  p.set_library_version(entry.library_version);
  return internal::RenderAuditEntryJson(p, entry.log);
}

}  // namespace leyser
