// An independent verifier of signed checkpoints and Merkle proofs, written
// from the specifications alone (c2sp.org/signed-note,
// c2sp.org/tlog-checkpoint, RFC 9162 sections 2.1.3.2 and 2.1.4.2) with
// libsodium's SHA-256 and Ed25519, sharing no code with leyser. Tests hold
// leyser's notes and exports against it, so that what leyser writes is what any
// standard verifier accepts.

#ifndef LEYSER_TESTS_TEST_C2SP_VERIFIER_H_
#define LEYSER_TESTS_TEST_C2SP_VERIFIER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace leyser::test::c2sp {

// A verifier key as signed-note defines it: a name and an Ed25519 public key
// (32 bytes); its key ID is SHA-256(name || 0x0A || 0x01 || key)[:4].
struct VerifierKey {
  std::string name;
  std::string public_key;
};

// A verified checkpoint's first three lines.
struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  std::string root;  // 32 bytes.
};

// Opens a signed note with `keys` per signed-note: signatures of unknown keys
// (name or ID differ) are ignored; a failing signature of a known key
// rejects the note; at least one known key must verify. Then parses the text
// as a tlog-checkpoint. nullopt if any of that fails.
std::optional<Checkpoint> OpenCheckpoint(std::string_view note,
                                         const std::vector<VerifierKey>& keys);

// RFC 9162 section 2.1.3.2: `leaf_hash` is leaf `index` of the tree of
// `size` leaves with root `root`, by `path` (raw 32-byte hashes).
bool VerifyInclusion(std::uint64_t index, std::uint64_t size,
                     const std::string& leaf_hash,
                     const std::vector<std::string>& path,
                     const std::string& root);

// RFC 9162 section 2.1.4.2: the tree of `first` leaves with root
// `first_root` is a prefix of the tree of `second` leaves with root
// `second_root`, by `path`. 0 < first < second.
bool VerifyConsistency(std::uint64_t first, std::uint64_t second,
                       const std::string& first_root,
                       const std::string& second_root,
                       const std::vector<std::string>& path);

// SHA-256(0x00 || data), the RFC 6962 leaf hash.
std::string LeafHash(std::string_view data);

}  // namespace leyser::test::c2sp

#endif  // LEYSER_TESTS_TEST_C2SP_VERIFIER_H_
