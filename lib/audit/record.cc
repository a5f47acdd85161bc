// The stored form of audit records and the keys of the audit column family.

#include <algorithm>
#include <climits>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "rocksdb/write_batch.h"

#include "lib/audit/log_internal.h"
#include "lib/crypto/sodium.h"
#include "lib/rocks/options.h"
#include "lib/rocks/status.h"
#include "lib/util/proto.h"
#include "lib/util/status_macros.h"
#include "lib/util/time.h"

namespace leyser::internal {

std::string HashToBytes(const merkle::Hash& h) {
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

std::optional<merkle::Hash> HashFromBytes(std::string_view bytes) {
  if (bytes.size() != 32) return std::nullopt;
  merkle::Hash h;
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

bool ParseAuditRecord(std::string_view record, proto::AuditEntry* entry,
                      std::string_view* bytes) {
  AuditNodes nodes;
  return DecodeAuditRecord(record, bytes, &nodes) &&
         entry->ParseFromArray(bytes->data(), static_cast<int>(bytes->size()));
}

std::string AuditLogKey(std::uint64_t log, char kind) {
  std::string key;
  key.reserve(19);
  // 0x80 first: no tenant data key starts with it (tenant numbers < 2^63), so
  // a tenant's audit records never look like its data.
  key.push_back('\x80');
  AppendBigEndian64(log, &key);
  key.push_back(kind);
  return key;
}

std::string AuditEntryKey(std::uint64_t log, std::uint64_t seq) {
  std::string key = AuditLogKey(log, 'e');
  AppendBigEndian64(seq, &key);
  return key;
}

std::string AuditNodeKey(std::uint64_t log, int level, std::uint64_t index) {
  std::string key = AuditLogKey(log, 'n');
  key.push_back(static_cast<char>(level));
  AppendBigEndian64(index, &key);
  return key;
}

std::string EncodeAuditRecord(std::string_view entry, const AuditNodes& nodes) {
  std::string out;
  out.reserve(4 + entry.size() + nodes.size() * 33);
  const auto n = static_cast<std::uint32_t>(entry.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  out.append(entry);
  for (const auto& [level, hash] : nodes) {
    out.push_back(static_cast<char>(level));
    out.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  }
  return out;
}

bool DecodeAuditRecord(std::string_view record, std::string_view* entry,
                       AuditNodes* nodes) {
  if (record.size() < 4) return false;
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n = (n << 8) | static_cast<unsigned char>(record[i]);
  }
  record.remove_prefix(4);
  if (record.size() < n || (record.size() - n) % 33 != 0) return false;
  *entry = record.substr(0, n);
  record.remove_prefix(n);
  nodes->clear();
  while (!record.empty()) {
    const int level = static_cast<unsigned char>(record[0]);
    if (level > 63) return false;
    merkle::Hash h;
    std::copy(record.begin() + 1, record.begin() + 33, h.begin());
    nodes->emplace_back(level, h);
    record.remove_prefix(33);
  }
  return true;
}

}  // namespace leyser::internal
