#include "lib/audit/checkpoint.h"

#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#include "lib/crypto/sodium.h"
#include "lib/util/status_macros.h"
#include "lib/util/strings.h"
#include "lib/util/time.h"

namespace leyser {
namespace internal {
namespace {

constexpr std::string_view kEmDash = "\xe2\x80\x94";

// The C2SP signed-note key ID of an Ed25519 key named `name`.
std::string KeyHint(std::string_view name, std::string_view public_key) {
  unsigned char digest[kSha256Bytes];
  const char alg = 0x01;  // Ed25519 in the C2SP signed-note key id.
  Sha256({name, "\n", std::string_view(&alg, 1), public_key}, digest);
  return std::string(reinterpret_cast<const char*>(digest), 4);
}

// The first line of a note's body: its origin, and the key name it is signed
// under.
std::string_view OriginOf(std::string_view body) {
  return body.substr(0, body.find('\n'));
}

// Splits a note into its signed body and its signature lines.
bool SplitNote(std::string_view note, std::string_view* body,
               std::vector<std::string_view>* signatures) {
  const std::size_t blank = note.find("\n\n");
  if (blank == std::string_view::npos) return false;
  *body = note.substr(0, blank + 1);
  std::string_view rest = note.substr(blank + 2);
  signatures->clear();
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    if (end == std::string_view::npos) return false;
    signatures->push_back(rest.substr(0, end));
    rest.remove_prefix(end + 1);
  }
  return !signatures->empty();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CheckpointSigner>>
CheckpointSigner::Create(SecretBytes seed) {
  if (seed.size() != kSigningSeedBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the signing key must be 32 bytes, not ", seed.size()));
  }
  auto signer = std::shared_ptr<CheckpointSigner>(new CheckpointSigner());
  LEYSER_ASSIGN_OR_RETURN(signer->secret_key_,
                          ExpandSigningKey(seed, &signer->public_key_));
  return std::shared_ptr<const CheckpointSigner>(std::move(signer));
}

absl::StatusOr<std::string> CheckpointSigner::SignatureLine(
    std::string_view body) const {
  const std::string_view name = OriginOf(body);
  if (name.empty() || name.find_first_of(" \t+") != std::string_view::npos) {
    return absl::InternalError(
        "a checkpoint origin must be a non-empty key name without spaces or "
        "plus signs");
  }
  const std::string signature = SignWithSecretKey(secret_key_, body);
  return absl::StrCat(
      ToAbsl(kEmDash), " ", ToAbsl(name), " ",
      absl::Base64Escape(KeyHint(name, public_key_) + signature), "\n");
}

std::string CheckpointBody(std::string_view origin, std::uint64_t size,
                           const merkle::Hash& root, absl::Time time) {
  return absl::StrCat(
      ToAbsl(origin), "\n", size, "\n",
      absl::Base64Escape(absl::string_view(
          reinterpret_cast<const char*>(root.data()), root.size())),
      "\ntime ", Rfc3339(time), "\n");
}

absl::StatusOr<std::string> SignCheckpoint(
    std::string_view body,
    const std::vector<std::shared_ptr<const CheckpointSigner>>& signers) {
  if (signers.empty()) {
    return absl::InternalError("a checkpoint needs at least one signer");
  }
  std::string note = absl::StrCat(ToAbsl(body), "\n");
  for (const auto& signer : signers) {
    LEYSER_ASSIGN_OR_RETURN(std::string line, signer->SignatureLine(body));
    note += line;
  }
  return note;
}

std::vector<SigningKeyInfo> UnboundedKeys(
    const std::vector<std::string>& public_keys) {
  std::vector<SigningKeyInfo> out;
  out.reserve(public_keys.size());
  for (const std::string& key : public_keys) {
    SigningKeyInfo info;
    info.public_key = key;
    out.push_back(std::move(info));
  }
  return out;
}

bool CheckpointSignedByAny(std::string_view note,
                           const std::vector<std::string>& public_keys) {
  return CheckpointSignedByAny(note, UnboundedKeys(public_keys));
}

bool CheckpointSignedByAny(std::string_view note,
                           const std::vector<SigningKeyInfo>& keys) {
  std::string_view body;
  std::vector<std::string_view> lines;
  if (!SplitNote(note, &body, &lines)) return false;
  // The time the note claims, parsed when a key with a window needs it (a
  // note without one counts only for keys without a window).
  std::optional<std::optional<absl::Time>> time;
  auto note_time = [&]() -> std::optional<absl::Time> {
    if (!time.has_value()) {
      absl::StatusOr<AuditCheckpoint> parsed = ParseAuditCheckpoint(note);
      time =
          parsed.ok() ? std::optional<absl::Time>(parsed->time) : std::nullopt;
    }
    return *time;
  };
  const std::string_view origin = OriginOf(body);
  const std::string em_dash = absl::StrCat(ToAbsl(kEmDash), " ");
  bool verified = false;
  for (std::string_view line : lines) {
    if (line.substr(0, em_dash.size()) != em_dash) return false;
    line.remove_prefix(em_dash.size());
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos) return false;
    const std::string_view name = line.substr(0, space);
    // The key name is the origin; earlier notes used one name for every
    // log.
    if (name != origin && name != kLegacyCheckpointKeyName) continue;
    std::string raw;
    if (!absl::Base64Unescape(ToAbsl(line.substr(space + 1)), &raw) ||
        raw.size() < 4) {
      continue;  // Not a signature this verifier knows how to read.
    }
    for (const SigningKeyInfo& key : keys) {
      if (raw.compare(0, 4, KeyHint(name, key.public_key)) != 0) continue;
      // A known key (name and ID): its signature must verify, or the whole
      // note is rejected (C2SP signed-note).
      if (raw.size() != 4 + kSignatureBytes ||
          !VerifyDetached(key.public_key, body,
                          std::string_view(raw).substr(4))) {
        return false;
      }
      // A valid signature counts only inside the key's window.
      const bool unbounded = key.valid_from == absl::InfinitePast() &&
                             key.valid_until == absl::InfiniteFuture();
      if (unbounded) {
        verified = true;
      } else if (const std::optional<absl::Time> t = note_time();
                 t.has_value() && key.ValidAt(*t)) {
        verified = true;
      }
    }
  }
  return verified;
}

}  // namespace internal

absl::StatusOr<AuditCheckpoint> ParseAuditCheckpoint(std::string_view note) {
  std::string_view body;
  std::vector<std::string_view> signatures;
  auto bad = [](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a leyser checkpoint note: ", internal::ToAbsl(why)));
  };
  if (!internal::SplitNote(note, &body, &signatures)) {
    return bad("no signature block");
  }
  std::vector<absl::string_view> lines =
      absl::StrSplit(internal::ToAbsl(body), '\n');
  // The body ends with a newline, so the last piece is empty.
  if (lines.size() != 5 || !lines[4].empty()) return bad("expected 4 lines");
  AuditCheckpoint out;
  out.origin = std::string(lines[0]);
  if (out.origin.empty()) return bad("empty origin");
  if (!absl::SimpleAtoi(lines[1], &out.size)) return bad("size");
  if (!absl::Base64Unescape(lines[2], &out.root) || out.root.size() != 32) {
    return bad("root hash");
  }
  absl::string_view time = lines[3];
  std::string error;
  if (!absl::ConsumePrefix(&time, "time ") ||
      !absl::ParseTime(internal::kRfc3339Format, time, &out.time, &error)) {
    return bad("time");
  }
  out.note = std::string(note);
  return out;
}

}  // namespace leyser
