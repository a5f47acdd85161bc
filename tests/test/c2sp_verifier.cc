#include "tests/test/c2sp_verifier.h"

#include <cstring>

#include <sodium.h>

namespace leyser::test::c2sp {
namespace {

std::string Sha256(std::string_view data) {
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(out, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size());
  return std::string(reinterpret_cast<const char*>(out), sizeof(out));
}

std::string NodeHash(const std::string& left, const std::string& right) {
  return Sha256(std::string(1, '\x01') + left + right);
}

std::optional<std::string> Base64(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()),
                        out.size(), text.data(), text.size(), nullptr, &len,
                        &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

bool ParseSize(std::string_view text, std::uint64_t* out) {
  // Decimal, no leading zeros (tlog-checkpoint), fits 64 bits.
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *out = v;
  return true;
}

}  // namespace

std::string LeafHash(std::string_view data) {
  return Sha256(std::string(1, '\0') + std::string(data));
}

std::optional<Checkpoint> OpenCheckpoint(std::string_view note,
                                         const std::vector<VerifierKey>& keys) {
  if (sodium_init() < 0) return std::nullopt;
  // The text ends at the last blank line; signature lines follow.
  const std::size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return std::nullopt;
  const std::string_view text = note.substr(0, split + 1);
  std::string_view sigs = note.substr(split + 2);
  if (sigs.empty() || sigs.back() != '\n') return std::nullopt;
  const std::string_view dash = "\xe2\x80\x94 ";
  bool verified = false;
  while (!sigs.empty()) {
    const std::size_t nl = sigs.find('\n');
    std::string_view line = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    if (line.substr(0, dash.size()) != dash) return std::nullopt;
    line.remove_prefix(dash.size());
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0) return std::nullopt;
    const std::string_view name = line.substr(0, space);
    const std::optional<std::string> sig = Base64(line.substr(space + 1));
    if (!sig || sig->size() < 5) return std::nullopt;
    for (const VerifierKey& key : keys) {
      if (key.name != name) continue;
      const std::string id =
          Sha256(std::string(name) + "\n" + '\x01' + key.public_key)
              .substr(0, 4);
      if (sig->compare(0, 4, id) != 0) continue;
      if (sig->size() != 4 + crypto_sign_BYTES ||
          key.public_key.size() != crypto_sign_PUBLICKEYBYTES ||
          crypto_sign_verify_detached(
              reinterpret_cast<const unsigned char*>(sig->data() + 4),
              reinterpret_cast<const unsigned char*>(text.data()), text.size(),
              reinterpret_cast<const unsigned char*>(key.public_key.data())) !=
              0) {
        return std::nullopt;  // A known key whose signature fails.
      }
      verified = true;
    }
  }
  if (!verified) return std::nullopt;
  // tlog-checkpoint: origin, size, base64 root hash, then extension lines.
  Checkpoint cp;
  std::string_view rest = text;
  std::string_view lines[3];
  for (std::string_view& l : lines) {
    const std::size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    l = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
  }
  cp.origin = std::string(lines[0]);
  if (cp.origin.empty() || !ParseSize(lines[1], &cp.size)) return std::nullopt;
  const std::optional<std::string> root = Base64(lines[2]);
  if (!root || root->size() != 32) return std::nullopt;
  cp.root = *root;
  return cp;
}

bool VerifyInclusion(std::uint64_t index, std::uint64_t size,
                     const std::string& leaf_hash,
                     const std::vector<std::string>& path,
                     const std::string& root) {
  if (index >= size) return false;
  std::uint64_t fn = index;
  std::uint64_t sn = size - 1;
  std::string r = leaf_hash;
  for (const std::string& p : path) {
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      r = NodeHash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool VerifyConsistency(std::uint64_t first, std::uint64_t second,
                       const std::string& first_root,
                       const std::string& second_root,
                       const std::vector<std::string>& proof) {
  if (first == 0 || first >= second) return false;
  std::vector<std::string> path = proof;
  // 1. An exact power of two: the first tree's root starts the path.
  if ((first & (first - 1)) == 0) path.insert(path.begin(), first_root);
  if (path.empty()) return false;
  std::uint64_t fn = first - 1;
  std::uint64_t sn = second - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  std::string fr = path[0];
  std::string sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const std::string& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == first_root && sr == second_root;
}

}  // namespace leyser::test::c2sp
