// The free functions of leyser/audit.h: names and JSON (the file sink is in
// file_sink.cc).

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

#include "leyser/audit.h"

#include "lib/audit/audit_log.h"
#include "lib/proto/audit.pb.h"
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
