// The free functions of leyser/audit.h: names, JSON, the file sink.

#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

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
  return out;
}

namespace {

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
    const int fd =
        ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot open the audit checkpoint file ", path_, ": ",
                       std::strerror(errno)));
    }
    FdCloser closer(fd);
    LEYSER_RETURN_IF_ERROR(
        WriteAll(fd, reinterpret_cast<const unsigned char*>(json.data()),
                 json.size(), path_));
    if (::fsync(fd) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot sync the audit checkpoint file ", path_));
    }
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  std::mutex mu_;
};

}  // namespace
}  // namespace internal

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
    proto::AnchoredCheckpoint checkpoint;
    if (!google::protobuf::util::JsonStringToMessage(std::string(line),
                                                     &checkpoint)
             .ok()) {
      return absl::DataLossError(absl::StrCat(
          path, " line ", number, " is not a checkpoint written by a sink"));
    }
    notes.push_back(checkpoint.note());
  }
  return notes;
}

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
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(p, &json, options);
  // The log name is not part of the stored entry; put it first.
  return absl::StrCat("{\"log\":\"", internal::ToAbsl(entry.log), "\",",
                      json.substr(1));
}

}  // namespace leyser
