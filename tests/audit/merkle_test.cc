// Tests for lib/audit/merkle: the published RFC 6962 test vectors, property
// tests against a naive reference written from the RFC definitions, huge
// trees, and malformed inputs.

#include "lib/audit/merkle.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <iostream>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#include "lib/crypto/sodium.h"

namespace leyser::internal::merkle {
namespace {

using Hashes = std::vector<Hash>;
using Shape = std::vector<bool>;

// ---------------------------------------------------------------------------
// Helpers.

std::string Hex(const Hash& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : hash) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::vector<std::string> Hex(const Hashes& hashes) {
  std::vector<std::string> out;
  for (const Hash& h : hashes) out.push_back(Hex(h));
  return out;
}

std::string Bytes(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(
        std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

Hash H(std::string_view hex) {
  EXPECT_EQ(hex.size(), 64u) << hex;
  const std::string bytes = Bytes(hex);
  Hash out{};
  for (std::size_t i = 0; i < out.size() && i < bytes.size(); ++i) {
    out[i] = static_cast<unsigned char>(bytes[i]);
  }
  return out;
}

Hashes Hs(std::initializer_list<std::string_view> hexes) {
  Hashes out;
  for (std::string_view hex : hexes) out.push_back(H(hex));
  return out;
}

std::string_view View(const Hash& h) {
  return std::string_view(reinterpret_cast<const char*>(h.data()), h.size());
}

// Reference hashing straight on the SHA-256 wrapper, independent of the
// library's LeafHash / NodeHash.
Hash RefLeaf(std::string_view data) {
  Hash out;
  Sha256({std::string_view("\0", 1), data}, out.data());
  return out;
}

Hash RefNode(const Hash& l, const Hash& r) {
  Hash out;
  Sha256({std::string_view("\1", 1), View(l), View(r)}, out.data());
  return out;
}

// The largest power of two < n (RFC 6962 "k"), by repeated doubling.
std::uint64_t RefSplit(std::uint64_t n) {
  std::uint64_t k = 1;
  while (k < n - k) k *= 2;
  return k;
}

bool IsPow2(std::uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

std::size_t CeilLog2(std::uint64_t n) {
  std::size_t bits = 0;
  while (bits < 64 && (std::uint64_t{1} << bits) < n) ++bits;
  return bits;
}

// True if [b, e) is a node of the RFC 6962 tree of n leaves, found by walking
// down from the root.
bool IsNodeOfTree(std::uint64_t b, std::uint64_t e, std::uint64_t n) {
  std::uint64_t lo = 0, hi = n;
  while (true) {
    if (lo == b && hi == e) return true;
    if (hi - lo <= 1) return false;
    const std::uint64_t mid = lo + RefSplit(hi - lo);
    if (b < mid) {
      if (e > mid) return false;
      hi = mid;
    } else {
      lo = mid;
    }
  }
}

// The RFC 9162 PATH shape of leaf m in D[b:e]: for each proof hash, leaf side
// first, whether the sibling is on the right.
void PathShape(std::uint64_t m, std::uint64_t b, std::uint64_t e,
               Shape* shape) {
  if (e - b <= 1) return;
  const std::uint64_t mid = b + RefSplit(e - b);
  if (m < mid) {
    PathShape(m, b, mid, shape);
  } else {
    PathShape(m, mid, e, shape);
  }
  shape->push_back(m < mid);
}

// The RFC 9162 SUBPROOF shape of (m, D[b:e], whole): whether the old node is
// sent explicitly, then per sibling whether it lies right of the old tree.
void SubproofShape(std::uint64_t m, std::uint64_t b, std::uint64_t e,
                   bool whole, Shape* shape) {
  if (m == e) {
    shape->push_back(!whole);
    return;
  }
  const std::uint64_t mid = b + RefSplit(e - b);
  if (m <= mid) {
    SubproofShape(m, b, mid, whole, shape);
  } else {
    SubproofShape(m, mid, e, false, shape);
  }
  shape->push_back(m <= mid);
}

Shape InclusionShape(std::uint64_t index, std::uint64_t size) {
  Shape shape;
  PathShape(index, 0, size, &shape);
  return shape;
}

Shape ConsistencyShape(std::uint64_t m, std::uint64_t n) {
  Shape shape;
  if (m < n) SubproofShape(m, 0, n, true, &shape);
  return shape;
}

// True if node (level, index) lies inside [0, limit).
bool Inside(int level, std::uint64_t index, std::uint64_t limit) {
  return level >= 0 && level < 64 && index < (limit >> level);
}

// The perfect subtrees covering [pos, end), by trying levels from the top.
std::vector<std::pair<int, std::uint64_t>> RefCover(std::uint64_t pos,
                                                    std::uint64_t end) {
  std::vector<std::pair<int, std::uint64_t>> out;
  while (pos < end) {
    for (int l = 63; l >= 0; --l) {
      const std::uint64_t w = std::uint64_t{1} << l;
      if (pos % w == 0 && w <= end - pos) {
        out.emplace_back(l, pos >> l);
        pos += w;
        break;
      }
    }
  }
  return out;
}

std::uint64_t TestSeed() {
  static const std::uint64_t seed = [] {
    std::uint64_t s;
    if (const char* env = std::getenv("LEYSER_TEST_SEED")) {
      s = std::strtoull(env, nullptr, 10);
    } else {
      s = (std::uint64_t{std::random_device{}()} << 32) ^
          std::random_device{}();
    }
    std::cout << "merkle_test seed: " << s
              << " (rerun with LEYSER_TEST_SEED=" << s << ")\n";
    return s;
  }();
  return seed;
}

// ---------------------------------------------------------------------------
// Published vectors: the RFC 6962 test tree used by Certificate Transparency
// (google/certificate-transparency merkle_tree_test.cc, transparency-dev/merkle
// testonly/constants.go and proof/verify_test.go).

const char* const kLeafInputs[] = {"",
                                   "00",
                                   "10",
                                   "2021",
                                   "3031",
                                   "40414243",
                                   "5051525354555657",
                                   "606162636465666768696a6b6c6d6e6f"};

// Perfect subtree hashes of the 8-leaf tree, [level][index].
const std::vector<std::vector<std::string_view>> kNodeHashes = {
    {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
     "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
     "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
     "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
     "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
     "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"},
    {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"},
    {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
    {"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"}};

// Roots of the trees of 0..8 leaves.
const char* const kRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

Hash Vec(int level, std::uint64_t index) {
  return H(kNodeHashes[level][index]);
}

// Serves kNodeHashes, restricted to the tree of `limit` leaves.
NodeReader VectorReader(std::uint64_t limit) {
  return [limit](int level, std::uint64_t index) -> absl::StatusOr<Hash> {
    if (!Inside(level, index, limit) || level > 3) {
      return absl::NotFoundError("no such node");
    }
    return Vec(level, index);
  };
}

struct ProofVector {
  std::uint64_t a;  // Leaf index, or old size.
  std::uint64_t size;
  Hashes proof;
};

// Inclusion proofs (0-based leaf index) from the published vectors.
std::vector<ProofVector> InclusionVectors() {
  return {
      {0, 8,
       Hs({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e"
           "4"})},
      {5, 8,
       Hs({"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
           "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b"
           "7"})},
      {2, 3,
       Hs({"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c12"
           "5"})},
      {1, 5,
       Hs({"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6"
           "b"})},
  };
}

// Consistency proofs from the published vectors.
std::vector<ProofVector> ConsistencyVectors() {
  return {
      {1, 8,
       Hs({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e"
           "4"})},
      {6, 8,
       Hs({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
           "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b"
           "7"})},
      {2, 5,
       Hs({"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6"
           "b"})},
      {6, 7,
       Hs({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
           "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b"
           "7"})},
  };
}

TEST(MerkleVectorsTest, LeafNodeAndEmptyHashes) {
  EXPECT_EQ(Hex(LeafHash("")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_EQ(Hex(LeafHash(Bytes("00"))),
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7");
  EXPECT_EQ(Hex(LeafHash(Bytes("101112131415161718191a1b1c1d1e1f"))),
            "3bfb960453ebaebf33727da7a1f4db38acc051d381b6da20d6d4e88f0eabfd7a");
  EXPECT_EQ(
      Hex(NodeHash(
          H("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
          H("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3"
            "f"))),
      "1a378704c17da31e2d05b6d121c2bb2c7d76f6ee6fa8f983e596c2d034963c57");
  EXPECT_EQ(Hex(EmptyRoot()), kRoots[0]);
  EXPECT_EQ(Hex(CompactRange().Root()), kRoots[0]);
}

TEST(MerkleVectorsTest, RootsNodesAndCompactRanges) {
  CompactRange range;
  std::vector<std::pair<int, std::uint64_t>> seen;
  for (std::uint64_t i = 0; i < 8; ++i) {
    range.Append(LeafHash(Bytes(kLeafInputs[i])),
                 [&](int level, std::uint64_t index, const Hash& h) {
                   EXPECT_EQ(Hex(h), kNodeHashes[level][index]);
                   seen.emplace_back(level, index);
                 });
    EXPECT_EQ(range.size(), i + 1);
    EXPECT_EQ(Hex(range.Root()), kRoots[i + 1]) << "size " << i + 1;
  }
  // Every perfect subtree of the 8-leaf tree, each once, children first.
  const std::vector<std::pair<int, std::uint64_t>> want = {
      {0, 0}, {0, 1}, {1, 0}, {0, 2}, {0, 3}, {1, 1}, {2, 0}, {0, 4},
      {0, 5}, {1, 2}, {0, 6}, {0, 7}, {1, 3}, {2, 1}, {3, 0}};
  EXPECT_EQ(seen, want);

  // Compact ranges read from the stored nodes, per transparency-dev's
  // CompactTrees().
  const std::vector<Hashes> compact = {{},
                                       {Vec(0, 0)},
                                       {Vec(1, 0)},
                                       {Vec(1, 0), Vec(0, 2)},
                                       {Vec(2, 0)},
                                       {Vec(2, 0), Vec(0, 4)},
                                       {Vec(2, 0), Vec(1, 2)},
                                       {Vec(2, 0), Vec(1, 2), Vec(0, 6)},
                                       {Vec(3, 0)}};
  for (std::uint64_t n = 0; n <= 8; ++n) {
    absl::StatusOr<CompactRange> read = ReadCompactRange(n, VectorReader(n));
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(Hex(read->hashes()), Hex(compact[n])) << "size " << n;
    EXPECT_EQ(Hex(read->Root()), kRoots[n]);
    if (n > 0) {
      absl::StatusOr<Hash> root = SubtreeRoot(0, n, VectorReader(n));
      ASSERT_TRUE(root.ok()) << root.status();
      EXPECT_EQ(Hex(*root), kRoots[n]);
    }
  }
}

TEST(MerkleVectorsTest, InclusionProofs) {
  for (const ProofVector& v : InclusionVectors()) {
    SCOPED_TRACE(testing::Message() << "leaf " << v.a << " size " << v.size);
    absl::StatusOr<Hashes> proof =
        InclusionProof(v.a, v.size, VectorReader(v.size));
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(Hex(*proof), Hex(v.proof));

    const Hash leaf = LeafHash(Bytes(kLeafInputs[v.a]));
    const Hash root = H(kRoots[v.size]);
    EXPECT_TRUE(VerifyInclusion(v.a, v.size, leaf, v.proof, root));
    // The corruptions of transparency-dev's verifier tests, all rejected.
    EXPECT_FALSE(VerifyInclusion(v.a - 1, v.size, leaf, v.proof, root));
    EXPECT_FALSE(VerifyInclusion(v.a + 1, v.size, leaf, v.proof, root));
    EXPECT_FALSE(VerifyInclusion(v.a ^ 2, v.size, leaf, v.proof, root));
    EXPECT_FALSE(VerifyInclusion(v.a, v.size * 2, leaf, v.proof, root));
    EXPECT_FALSE(VerifyInclusion(v.a, v.size / 2, leaf, v.proof, root));
    EXPECT_FALSE(
        VerifyInclusion(v.a, v.size, LeafHash("WrongLeaf"), v.proof, root));
    EXPECT_FALSE(VerifyInclusion(v.a, v.size, leaf, v.proof, EmptyRoot()));
    Hashes longer = v.proof;
    longer.push_back(root);
    EXPECT_FALSE(VerifyInclusion(v.a, v.size, leaf, longer, root));
    longer = v.proof;
    longer.insert(longer.begin(), root);
    EXPECT_FALSE(VerifyInclusion(v.a, v.size, leaf, longer, root));
    for (std::size_t i = 0; i < v.proof.size(); ++i) {
      Hashes flipped = v.proof;
      flipped[i][0] ^= 8;
      EXPECT_FALSE(VerifyInclusion(v.a, v.size, leaf, flipped, root)) << i;
    }
    Hashes shorter(v.proof.begin(), v.proof.end() - 1);
    EXPECT_FALSE(VerifyInclusion(v.a, v.size, leaf, shorter, root));
  }
  // A one-leaf tree: the root is the leaf hash and the proof is empty.
  absl::StatusOr<Hashes> single = InclusionProof(0, 1, VectorReader(1));
  ASSERT_TRUE(single.ok());
  EXPECT_TRUE(single->empty());
  EXPECT_TRUE(VerifyInclusion(0, 1, Vec(0, 0), {}, H(kRoots[1])));
  EXPECT_FALSE(VerifyInclusion(0, 1, Vec(0, 1), {}, H(kRoots[1])));
}

TEST(MerkleVectorsTest, ConsistencyProofs) {
  std::vector<ProofVector> vectors = ConsistencyVectors();
  // 3 -> 7, derived by hand from RFC 9162 section 2.1.4 over the stored
  // nodes: c, d, g, and the non-perfect l = NodeHash(i, j) (the example of
  // transparency-dev's proof_test.go).
  vectors.push_back(
      {3,
       7,
       {Vec(0, 2), Vec(0, 3), Vec(1, 0), NodeHash(Vec(1, 2), Vec(0, 6))}});
  for (const ProofVector& v : vectors) {
    SCOPED_TRACE(testing::Message() << v.a << " -> " << v.size);
    absl::StatusOr<Hashes> proof =
        ConsistencyProof(v.a, v.size, VectorReader(v.size));
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(Hex(*proof), Hex(v.proof));

    const Hash r1 = H(kRoots[v.a]), r2 = H(kRoots[v.size]);
    EXPECT_TRUE(VerifyConsistency(v.a, v.size, r1, r2, v.proof));
    EXPECT_FALSE(VerifyConsistency(v.a - 1, v.size, r1, r2, v.proof));
    EXPECT_FALSE(VerifyConsistency(v.a + 1, v.size, r1, r2, v.proof));
    EXPECT_FALSE(VerifyConsistency(v.a ^ 2, v.size, r1, r2, v.proof));
    EXPECT_FALSE(VerifyConsistency(v.a, v.size * 2, r1, r2, v.proof));
    EXPECT_FALSE(VerifyConsistency(v.a, v.size / 2, r1, r2, v.proof));
    EXPECT_FALSE(VerifyConsistency(v.a, v.size, r2, r1, v.proof));
    EXPECT_FALSE(VerifyConsistency(v.a, v.size, EmptyRoot(), r2, v.proof));
    EXPECT_FALSE(VerifyConsistency(v.a, v.size, r1, EmptyRoot(), v.proof));
    EXPECT_FALSE(VerifyConsistency(v.a, v.size, r1, r2, {}));
    Hashes longer = v.proof;
    longer.push_back(r2);
    EXPECT_FALSE(VerifyConsistency(v.a, v.size, r1, r2, longer));
    longer = v.proof;
    longer.insert(longer.begin(), v.proof[0]);
    EXPECT_FALSE(VerifyConsistency(v.a, v.size, r1, r2, longer));
    Hashes shorter(v.proof.begin(), v.proof.end() - 1);
    EXPECT_FALSE(VerifyConsistency(v.a, v.size, r1, r2, shorter));
    for (std::size_t i = 0; i < v.proof.size(); ++i) {
      Hashes flipped = v.proof;
      flipped[i][0] ^= 16;
      EXPECT_FALSE(VerifyConsistency(v.a, v.size, r1, r2, flipped)) << i;
    }
  }
  absl::StatusOr<Hashes> same = ConsistencyProof(1, 1, VectorReader(1));
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->empty());
}

TEST(MerkleVectorsTest, SubtreeRootOfNonPerfectNode) {
  // Node l of the 7-leaf tree covers [4, 7).
  absl::StatusOr<Hash> l = SubtreeRoot(4, 7, VectorReader(7));
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(Hex(*l), Hex(RefNode(Vec(1, 2), Vec(0, 6))));
  absl::StatusOr<Hash> g = SubtreeRoot(0, 2, VectorReader(7));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(Hex(*g), kNodeHashes[1][0]);
}

// ---------------------------------------------------------------------------
// Property tests against a naive reference.

// The leaves "leaf 0", "leaf 1", ... and all their perfect subtree hashes,
// built bottom up by pairing.
class RefTree {
 public:
  explicit RefTree(std::uint64_t size) {
    levels_.emplace_back();
    for (std::uint64_t i = 0; i < size; ++i) {
      levels_[0].push_back(RefLeaf("leaf " + std::to_string(i)));
    }
    while (levels_.back().size() > 1) {
      const Hashes& below = levels_.back();
      Hashes above;
      for (std::size_t i = 0; i + 1 < below.size(); i += 2) {
        above.push_back(RefNode(below[i], below[i + 1]));
      }
      levels_.push_back(std::move(above));
    }
  }

  std::uint64_t size() const { return levels_[0].size(); }
  const Hashes& leaves() const { return levels_[0]; }
  const Hash& Node(int level, std::uint64_t index) const {
    return levels_[level][index];
  }

  // MTH(D[b:e]) by the RFC 6962 recursion, straight from the leaves.
  Hash NaiveMth(std::uint64_t b, std::uint64_t e) const {
    if (e - b == 1) return leaves()[b];
    const std::uint64_t mid = b + RefSplit(e - b);
    return RefNode(NaiveMth(b, mid), NaiveMth(mid, e));
  }

  // MTH(D[b:e]) by the RFC 6962 recursion, taking aligned perfect ranges from
  // the table.
  Hash Mth(std::uint64_t b, std::uint64_t e) const {
    const std::uint64_t n = e - b;
    if (IsPow2(n) && b % n == 0) {
      int level = 0;
      while ((std::uint64_t{1} << level) < n) ++level;
      return Node(level, b / n);
    }
    const std::uint64_t mid = b + RefSplit(n);
    return RefNode(Mth(b, mid), Mth(mid, e));
  }

  // RFC 9162 PATH(m, D[b:e]).
  void Path(std::uint64_t m, std::uint64_t b, std::uint64_t e,
            Hashes* out) const {
    if (e - b <= 1) return;
    const std::uint64_t mid = b + RefSplit(e - b);
    if (m < mid) {
      Path(m, b, mid, out);
      out->push_back(Mth(mid, e));
    } else {
      Path(m, mid, e, out);
      out->push_back(Mth(b, mid));
    }
  }

  // RFC 9162 SUBPROOF(m, D[b:e], whole).
  void Subproof(std::uint64_t m, std::uint64_t b, std::uint64_t e, bool whole,
                Hashes* out) const {
    if (m == e) {
      if (!whole) out->push_back(Mth(b, e));
      return;
    }
    const std::uint64_t mid = b + RefSplit(e - b);
    if (m <= mid) {
      Subproof(m, b, mid, whole, out);
      out->push_back(Mth(mid, e));
    } else {
      Subproof(m, mid, e, false, out);
      out->push_back(Mth(b, mid));
    }
  }

  // Serves the table, restricted to the tree of `limit` leaves, so reading a
  // node the smaller tree does not have yet fails.
  NodeReader Reader(std::uint64_t limit) const {
    return
        [this, limit](int level, std::uint64_t index) -> absl::StatusOr<Hash> {
          if (!Inside(level, index, limit) || limit > size()) {
            return absl::NotFoundError("node outside the tree");
          }
          return Node(level, index);
        };
  }

 private:
  std::vector<Hashes> levels_;
};

constexpr std::uint64_t kRefSize = 100000;

const RefTree& Ref() {
  static const RefTree* tree = new RefTree(kRefSize);
  return *tree;
}

class MerklePropertyTest : public testing::Test {
 protected:
  MerklePropertyTest() : rng_(TestSeed()) {}

  std::uint64_t Uniform(std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }

  // Edge sizes, random sizes in [1, 2000], and a few up to kRefSize.
  std::vector<std::uint64_t> Sizes() {
    std::vector<std::uint64_t> sizes = {1,  2,   3,   4,   5,    6,    7,   8,
                                        9,  15,  16,  17,  31,   32,   33,  63,
                                        64, 255, 256, 257, 1023, 1024, 1025};
    for (int i = 0; i < 12; ++i) sizes.push_back(Uniform(1, 2000));
    for (int i = 0; i < 3; ++i) sizes.push_back(Uniform(2001, kRefSize));
    sizes.push_back(kRefSize);
    return sizes;
  }

  // Every index for small trees, a sample for large ones.
  std::vector<std::uint64_t> Indices(std::uint64_t n) {
    std::vector<std::uint64_t> out;
    if (n <= 2000) {
      for (std::uint64_t i = 0; i < n; ++i) out.push_back(i);
      return out;
    }
    out = {0, n - 1, n / 2};
    for (int i = 0; i < 300; ++i) out.push_back(Uniform(0, n - 1));
    return out;
  }

  Hash Flip(Hash h) {
    h[Uniform(0, 31)] ^= static_cast<unsigned char>(1u << Uniform(0, 7));
    return h;
  }

  std::mt19937_64 rng_;
};

TEST_F(MerklePropertyTest, AppendRootAndReportedNodes) {
  const RefTree& ref = Ref();
  for (std::uint64_t n : Sizes()) {
    SCOPED_TRACE(testing::Message() << "size " << n);
    // Append leaf by leaf; each append reports the leaf then every completed
    // parent, bottom up.
    CompactRange range;
    std::uint64_t reported = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::vector<std::pair<int, std::uint64_t>> got;
      range.Append(ref.leaves()[i], [&](int l, std::uint64_t j, const Hash& h) {
        got.emplace_back(l, j);
        EXPECT_EQ(Hex(h), Hex(ref.Node(l, j)));
      });
      std::vector<std::pair<int, std::uint64_t>> want;
      for (int l = 0; (i + 1) % (std::uint64_t{1} << l) == 0; ++l) {
        want.emplace_back(l, ((i + 1) >> l) - 1);
      }
      ASSERT_EQ(got, want) << "append " << i;
      reported += got.size();
    }
    // Exactly the perfect subtrees of [0, n).
    std::uint64_t perfect = 0;
    for (std::uint64_t w = 1; w <= n; w *= 2) perfect += n / w;
    EXPECT_EQ(reported, perfect);

    const Hash root = n <= 2000 ? ref.NaiveMth(0, n) : ref.Mth(0, n);
    EXPECT_EQ(Hex(range.Root()), Hex(root));
    Hashes want_compact;
    for (const auto& [l, j] : RefCover(0, n)) {
      want_compact.push_back(ref.Node(l, j));
    }
    EXPECT_EQ(Hex(range.hashes()), Hex(want_compact));
    EXPECT_EQ(range.hashes().size(),
              static_cast<std::size_t>(__builtin_popcountll(n)));

    absl::StatusOr<CompactRange> read = ReadCompactRange(n, ref.Reader(n));
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(Hex(read->hashes()), Hex(want_compact));
    EXPECT_EQ(read->size(), n);
    absl::StatusOr<CompactRange> rebuilt =
        CompactRange::FromHashes(n, want_compact);
    ASSERT_TRUE(rebuilt.ok());
    EXPECT_EQ(Hex(rebuilt->Root()), Hex(root));

    // Build the same range from random aligned subtrees; only merged parents
    // are reported.
    CompactRange chunks;
    std::uint64_t pos = 0;
    while (pos < n) {
      int max_level = 0;
      while (pos % (std::uint64_t{2} << max_level) == 0 &&
             (std::uint64_t{2} << max_level) <= n - pos) {
        ++max_level;
      }
      const int l = static_cast<int>(Uniform(0, max_level));
      std::vector<std::pair<int, std::uint64_t>> got;
      ASSERT_TRUE(
          chunks
              .AppendSubtree(l, ref.Node(l, pos >> l),
                             [&](int pl, std::uint64_t pj, const Hash& h) {
                               got.emplace_back(pl, pj);
                               EXPECT_EQ(Hex(h), Hex(ref.Node(pl, pj)));
                             })
              .ok());
      pos += std::uint64_t{1} << l;
      std::vector<std::pair<int, std::uint64_t>> want;
      for (int pl = l + 1; pos % (std::uint64_t{1} << pl) == 0; ++pl) {
        want.emplace_back(pl, (pos >> pl) - 1);
      }
      ASSERT_EQ(got, want) << "subtree at " << pos;
    }
    EXPECT_EQ(Hex(chunks.hashes()), Hex(want_compact));
    EXPECT_EQ(Hex(chunks.Root()), Hex(root));
  }
}

TEST_F(MerklePropertyTest, SubtreeRoot) {
  const RefTree& ref = Ref();
  int valid = 0;
  for (int t = 0; t < 3000; ++t) {
    const std::uint64_t limit = t % 2 == 0 ? 70 : kRefSize;
    const std::uint64_t e = Uniform(1, limit);
    const std::uint64_t b =
        t % 3 == 0 ? e - Uniform(1, e) : Uniform(0, e - 1) & ~Uniform(0, 15);
    absl::StatusOr<Hash> got = SubtreeRoot(b, e, ref.Reader(e));
    if (IsNodeOfTree(b, e, e)) {
      ++valid;
      ASSERT_TRUE(got.ok()) << b << ".." << e << ": " << got.status();
      EXPECT_EQ(Hex(*got), Hex(ref.Mth(b, e))) << b << ".." << e;
      // Only perfect nodes are also nodes of bigger trees.
      if (e < kRefSize) {
        EXPECT_EQ(IsNodeOfTree(b, e, kRefSize), IsPow2(e - b))
            << b << ".." << e;
      }
    } else {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
          << b << ".." << e;
    }
  }
  EXPECT_GT(valid, 100);
}

TEST_F(MerklePropertyTest, InclusionProofs) {
  const RefTree& ref = Ref();
  std::uint64_t size_rejections = 0;
  for (std::uint64_t n : Sizes()) {
    SCOPED_TRACE(testing::Message() << "size " << n);
    const Hash root = ref.Mth(0, n);
    const NodeReader reader = ref.Reader(n);
    for (std::uint64_t i : Indices(n)) {
      absl::StatusOr<Hashes> proof = InclusionProof(i, n, reader);
      ASSERT_TRUE(proof.ok()) << i << ": " << proof.status();
      Hashes want;
      ref.Path(i, 0, n, &want);
      ASSERT_EQ(Hex(*proof), Hex(want)) << "index " << i;
      EXPECT_LE(proof->size(), CeilLog2(n));

      const Hash& leaf = ref.leaves()[i];
      ASSERT_TRUE(VerifyInclusion(i, n, leaf, *proof, root)) << i;
      EXPECT_FALSE(VerifyInclusion(i, n, ref.leaves()[(i + 1) % kRefSize],
                                   *proof, root));
      EXPECT_FALSE(VerifyInclusion(i, n, leaf, *proof, Flip(root)));
      if (!proof->empty()) {
        Hashes flipped = *proof;
        Hash& victim = flipped[Uniform(0, flipped.size() - 1)];
        victim = Flip(victim);
        EXPECT_FALSE(VerifyInclusion(i, n, leaf, flipped, root)) << i;
        Hashes shorter(proof->begin(), proof->end() - 1);
        EXPECT_FALSE(VerifyInclusion(i, n, leaf, shorter, root)) << i;
      }
      Hashes longer = *proof;
      longer.push_back(root);
      EXPECT_FALSE(VerifyInclusion(i, n, leaf, longer, root)) << i;
      // Another index never verifies: the path determines the leaf.
      for (std::uint64_t j : {i + 1, i - 1, i ^ 1, i ^ 2, Uniform(0, n)}) {
        if (j != i) {
          EXPECT_FALSE(VerifyInclusion(j, n, leaf, *proof, root));
        }
      }
      // Another size verifies exactly when it gives the leaf the same path
      // shape (the verifier cannot tell such trees apart).
      const Shape shape = InclusionShape(i, n);
      for (std::uint64_t m : {n + 1, n - 1, n * 2, n / 2, n + Uniform(1, n)}) {
        const bool same = i < m && InclusionShape(i, m) == shape;
        EXPECT_EQ(VerifyInclusion(i, m, leaf, *proof, root), same)
            << "index " << i << " claimed size " << m;
        size_rejections += same ? 0 : 1;
      }
    }
  }
  EXPECT_GT(size_rejections, 1000u);
}

// InclusionVerifier answers as VerifyInclusion does, for leaves in order
// with genuine proofs (where walks join) and with damaged ones among them.
TEST_F(MerklePropertyTest, InclusionVerifierAgreesWithVerifyInclusion) {
  const RefTree& ref = Ref();
  int joined_checks = 0;
  for (std::uint64_t n : Sizes()) {
    SCOPED_TRACE(testing::Message() << "size " << n);
    const Hash root = ref.Mth(0, n);
    const NodeReader reader = ref.Reader(n);
    InclusionVerifier verifier(n, root);
    const std::uint64_t count = std::min<std::uint64_t>(n, 300);
    const std::uint64_t start = n - count;
    for (std::uint64_t i = start; i < n; ++i) {
      absl::StatusOr<Hashes> proof = InclusionProof(i, n, reader);
      ASSERT_TRUE(proof.ok());
      Hashes given = *proof;
      Hash leaf = ref.leaves()[i];
      switch (Uniform(0, 9)) {
        case 0:  // A changed hash (anywhere in the path).
          if (!given.empty()) {
            Hash& victim = given[Uniform(0, given.size() - 1)];
            victim = Flip(victim);
          }
          break;
        case 1:  // Another leaf.
          leaf = Flip(leaf);
          break;
        case 2:  // One hash short.
          if (!given.empty()) given.pop_back();
          break;
        default:
          break;
      }
      const bool want = VerifyInclusion(i, n, leaf, given, root);
      EXPECT_EQ(verifier.Verify(i, leaf, given), want) << "index " << i;
      joined_checks += want ? 1 : 0;
    }
  }
  EXPECT_GT(joined_checks, 1000);
}

TEST_F(MerklePropertyTest, ConsistencyProofs) {
  const RefTree& ref = Ref();
  std::uint64_t size_rejections = 0;
  for (std::uint64_t n : Sizes()) {
    SCOPED_TRACE(testing::Message() << "size " << n);
    const Hash root_n = ref.Mth(0, n);
    const NodeReader reader = ref.Reader(n);
    std::vector<std::uint64_t> olds = {1, n, n - 1, n / 2 + 1};
    for (std::uint64_t p = 1; p <= n; p *= 2) olds.push_back(p);
    for (int k = 0; k < 40; ++k) olds.push_back(Uniform(1, n));
    for (std::uint64_t m : olds) {
      if (m == 0 || m > n) continue;
      absl::StatusOr<Hashes> proof = ConsistencyProof(m, n, reader);
      ASSERT_TRUE(proof.ok()) << m << ": " << proof.status();
      Hashes want;
      if (m < n) ref.Subproof(m, 0, n, true, &want);
      ASSERT_EQ(Hex(*proof), Hex(want)) << m << " -> " << n;
      EXPECT_LE(proof->size(), CeilLog2(n) + 1);

      const Hash root_m = ref.Mth(0, m);
      ASSERT_TRUE(VerifyConsistency(m, n, root_m, root_n, *proof)) << m;
      EXPECT_FALSE(VerifyConsistency(m, n, Flip(root_m), root_n, *proof));
      EXPECT_FALSE(VerifyConsistency(m, n, root_m, Flip(root_n), *proof));
      if (m == n) {
        EXPECT_FALSE(VerifyConsistency(m, n, root_m, root_n, {root_m}));
        continue;
      }
      EXPECT_FALSE(VerifyConsistency(m, n, root_n, root_m, *proof));
      EXPECT_FALSE(VerifyConsistency(m, n, root_m, root_n, {}));
      Hashes flipped = *proof;
      Hash& victim = flipped[Uniform(0, flipped.size() - 1)];
      victim = Flip(victim);
      EXPECT_FALSE(VerifyConsistency(m, n, root_m, root_n, flipped)) << m;
      Hashes longer = *proof;
      longer.push_back(root_n);
      EXPECT_FALSE(VerifyConsistency(m, n, root_m, root_n, longer)) << m;
      Hashes shorter(proof->begin(), proof->end() - 1);
      EXPECT_FALSE(VerifyConsistency(m, n, root_m, root_n, shorter)) << m;
      // Other sizes verify exactly when the proof has the same shape.
      const Shape shape = ConsistencyShape(m, n);
      const std::pair<std::uint64_t, std::uint64_t> claims[] = {
          {m - 1, n}, {m + 1, n}, {m ^ 2, n}, {m, n + 1},
          {m, n - 1}, {m, n * 2}, {m, n / 2}, {m * 2, n}};
      for (const auto& [m2, n2] : claims) {
        const bool same =
            m2 > 0 && m2 <= n2 && ConsistencyShape(m2, n2) == shape;
        EXPECT_EQ(VerifyConsistency(m2, n2, root_m, root_n, *proof), same)
            << m << " -> " << n << " claimed as " << m2 << " -> " << n2;
        size_rejections += same ? 0 : 1;
      }
    }
  }
  EXPECT_GT(size_rejections, 1000u);
}

TEST_F(MerklePropertyTest, RangeProofs) {
  const RefTree& ref = Ref();
  for (std::uint64_t n : Sizes()) {
    SCOPED_TRACE(testing::Message() << "size " << n);
    const Hash root = ref.Mth(0, n);
    for (int t = 0; t < 25; ++t) {
      std::uint64_t begin = Uniform(0, n - 1);
      std::uint64_t end = begin + Uniform(1, std::min<std::uint64_t>(
                                                 n - begin, t % 2 ? 3 : 600));
      if (t == 0) {
        begin = 0;
        end = n;
      }
      SCOPED_TRACE(testing::Message() << "[" << begin << ", " << end << ")");
      absl::StatusOr<RangeProof> proof =
          ProveRange(begin, end, n, ref.Reader(n));
      ASSERT_TRUE(proof.ok()) << proof.status();
      Hashes want_left, want_right;
      for (const auto& [l, j] : RefCover(0, begin)) {
        want_left.push_back(ref.Node(l, j));
      }
      for (const auto& [l, j] : RefCover(end, n)) {
        want_right.push_back(ref.Node(l, j));
      }
      EXPECT_EQ(Hex(proof->left), Hex(want_left));
      EXPECT_EQ(Hex(proof->right), Hex(want_right));

      const Hashes leaves(ref.leaves().begin() + begin,
                          ref.leaves().begin() + end);
      absl::StatusOr<Hash> got = RootFromRange(begin, leaves, n, *proof);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(Hex(*got), Hex(root));

      Hashes tampered = leaves;
      Hash& victim = tampered[Uniform(0, tampered.size() - 1)];
      victim = Flip(victim);
      got = RootFromRange(begin, tampered, n, *proof);
      ASSERT_TRUE(got.ok());
      EXPECT_NE(Hex(*got), Hex(root));

      // Wrong shapes.
      RangeProof bad = *proof;
      bad.left.push_back(root);
      EXPECT_EQ(RootFromRange(begin, leaves, n, bad).status().code(),
                absl::StatusCode::kInvalidArgument);
      bad = *proof;
      bad.right.push_back(root);
      EXPECT_EQ(RootFromRange(begin, leaves, n, bad).status().code(),
                absl::StatusCode::kInvalidArgument);
      if (!proof->right.empty()) {
        bad = *proof;
        bad.right.pop_back();
        EXPECT_EQ(RootFromRange(begin, leaves, n, bad).status().code(),
                  absl::StatusCode::kInvalidArgument);
      }
      if (!proof->left.empty()) {
        bad = *proof;
        bad.left.pop_back();
        EXPECT_EQ(RootFromRange(begin, leaves, n, bad).status().code(),
                  absl::StatusCode::kInvalidArgument);
      }
      // The same proof for a shifted range has the wrong left shape unless
      // popcounts agree; either way it must not yield the root.
      if (begin + 1 < end) {
        absl::StatusOr<Hash> shifted = RootFromRange(
            begin + 1, Hashes(leaves.begin() + 1, leaves.end()), n, *proof);
        EXPECT_TRUE(!shifted.ok() || *shifted != root);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Huge trees. All leaves equal, so a level-k subtree always hashes to z[k]
// and roots of any size are cheap to compute by the RFC recursion.

class UniformTree {
 public:
  UniformTree() {
    z_.push_back(RefLeaf("same"));
    for (int k = 1; k < 64; ++k) z_.push_back(RefNode(z_.back(), z_.back()));
  }
  const Hash& z(int k) const { return z_[k]; }
  Hash Root(std::uint64_t n) const {
    if (IsPow2(n)) {
      int k = 0;
      while ((std::uint64_t{1} << k) < n) ++k;
      return z_[k];
    }
    const std::uint64_t k = RefSplit(n);
    return RefNode(Root(k), Root(n - k));
  }
  NodeReader Reader(std::uint64_t limit) const {
    return
        [this, limit](int level, std::uint64_t index) -> absl::StatusOr<Hash> {
          if (!Inside(level, index, limit))
            return absl::NotFoundError("outside");
          return z_[level];
        };
  }

 private:
  Hashes z_;
};

TEST_F(MerklePropertyTest, HugeTrees) {
  const UniformTree tree;
  std::vector<std::uint64_t> sizes = {kMaxTreeSize, kMaxTreeSize - 1,
                                      (std::uint64_t{1} << 62) + 1,
                                      (std::uint64_t{1} << 40) + 12345};
  for (int i = 0; i < 4; ++i) sizes.push_back(Uniform(1, kMaxTreeSize));
  for (std::uint64_t n : sizes) {
    SCOPED_TRACE(testing::Message() << "size " << n);
    const Hash root = tree.Root(n);
    absl::StatusOr<CompactRange> range = ReadCompactRange(n, tree.Reader(n));
    ASSERT_TRUE(range.ok()) << range.status();
    EXPECT_EQ(Hex(range->Root()), Hex(root));
    absl::StatusOr<Hash> whole = SubtreeRoot(0, n, tree.Reader(n));
    ASSERT_TRUE(whole.ok());
    EXPECT_EQ(Hex(*whole), Hex(root));

    for (std::uint64_t i :
         {std::uint64_t{0}, n - 1, n / 2, Uniform(0, n - 1)}) {
      absl::StatusOr<Hashes> proof = InclusionProof(i, n, tree.Reader(n));
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_EQ(proof->size(), InclusionShape(i, n).size());
      EXPECT_LE(proof->size(), CeilLog2(n));
      EXPECT_TRUE(VerifyInclusion(i, n, tree.z(0), *proof, root)) << i;
      if (!proof->empty()) {
        Hashes flipped = *proof;
        flipped.back() = Flip(flipped.back());
        EXPECT_FALSE(VerifyInclusion(i, n, tree.z(0), flipped, root)) << i;
      }
    }
    for (std::uint64_t m :
         {std::uint64_t{1}, n - 1, n, Uniform(1, n), std::uint64_t{1} << 62}) {
      if (m == 0 || m > n) continue;
      absl::StatusOr<Hashes> proof = ConsistencyProof(m, n, tree.Reader(n));
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_LE(proof->size(), CeilLog2(n) + 1);
      const Hash root_m = tree.Root(m);
      EXPECT_TRUE(VerifyConsistency(m, n, root_m, root, *proof)) << m;
      if (!proof->empty()) {
        Hashes flipped = *proof;
        flipped.front() = Flip(flipped.front());
        EXPECT_FALSE(VerifyConsistency(m, n, root_m, root, flipped)) << m;
      }
    }
    for (std::uint64_t begin :
         {n - 1, n - std::min<std::uint64_t>(n, 3), Uniform(0, n - 1)}) {
      const std::uint64_t end = std::min(n, begin + 3);
      absl::StatusOr<RangeProof> proof =
          ProveRange(begin, end, n, tree.Reader(n));
      ASSERT_TRUE(proof.ok()) << proof.status();
      absl::StatusOr<Hash> got =
          RootFromRange(begin, Hashes(end - begin, tree.z(0)), n, *proof);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(Hex(*got), Hex(root)) << begin;
    }
  }

  // The largest node and a non-perfect node near the top.
  absl::StatusOr<Hash> top =
      SubtreeRoot(0, kMaxTreeSize, tree.Reader(kMaxTreeSize));
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(Hex(*top), Hex(tree.z(63)));
  absl::StatusOr<Hash> right = SubtreeRoot(
      std::uint64_t{1} << 62, kMaxTreeSize - 1, tree.Reader(kMaxTreeSize));
  ASSERT_TRUE(right.ok()) << right.status();
  EXPECT_EQ(Hex(*right), Hex(tree.Root((std::uint64_t{1} << 62) - 1)));

  // Filling the tree to 2^63 merges all the way up; then it is full.
  Hashes frontier;
  for (int k = 62; k >= 0; --k) frontier.push_back(tree.z(k));
  absl::StatusOr<CompactRange> almost =
      CompactRange::FromHashes(kMaxTreeSize - 1, frontier);
  ASSERT_TRUE(almost.ok()) << almost.status();
  int merges = 0;
  almost->Append(tree.z(0), [&](int l, std::uint64_t j, const Hash& h) {
    EXPECT_EQ(j, (kMaxTreeSize >> l) - 1);
    EXPECT_EQ(Hex(h), Hex(tree.z(l)));
    ++merges;
  });
  EXPECT_EQ(merges, 64);  // The leaf and 63 parents.
  EXPECT_EQ(almost->size(), kMaxTreeSize);
  EXPECT_EQ(Hex(almost->Root()), Hex(tree.z(63)));
  // Full: Append changes and reports nothing, AppendSubtree fails.
  almost->Append(tree.z(0), [&](int, std::uint64_t, const Hash&) {
    ADD_FAILURE() << "reported a node past 2^63";
  });
  EXPECT_EQ(almost->AppendSubtree(0, tree.z(0)).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(almost->size(), kMaxTreeSize);
  EXPECT_EQ(almost->hashes().size(), 1u);
}

// ---------------------------------------------------------------------------
// Malformed input.

template <typename T>
absl::StatusCode Code(const absl::StatusOr<T>& s) {
  return s.status().code();
}

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

TEST(MerkleMalformedTest, CompactRange) {
  const Hash h = LeafHash("x");
  EXPECT_EQ(Code(CompactRange::FromHashes(5, {h})), kInvalid);
  EXPECT_EQ(Code(CompactRange::FromHashes(5, {h, h, h})), kInvalid);
  EXPECT_EQ(Code(CompactRange::FromHashes(0, {h})), kInvalid);
  EXPECT_EQ(Code(CompactRange::FromHashes(kMaxTreeSize + 1, {h, h})), kInvalid);
  EXPECT_TRUE(CompactRange::FromHashes(0, {}).ok());
  EXPECT_TRUE(CompactRange::FromHashes(kMaxTreeSize, {h}).ok());

  absl::StatusOr<CompactRange> range = CompactRange::FromHashes(6, {h, h});
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->AppendSubtree(2, h).code(), kInvalid);  // 6 % 4 != 0.
  EXPECT_EQ(range->AppendSubtree(-1, h).code(), kInvalid);
  EXPECT_EQ(range->AppendSubtree(64, h).code(), kInvalid);
  EXPECT_EQ(range->size(), 6u);
  EXPECT_EQ(range->hashes().size(), 2u);
  EXPECT_TRUE(range->AppendSubtree(1, h).ok());
  EXPECT_EQ(range->size(), 8u);
  EXPECT_EQ(range->hashes().size(), 1u);

  CompactRange empty;
  EXPECT_TRUE(empty.AppendSubtree(63, h).ok());
  EXPECT_EQ(empty.size(), kMaxTreeSize);
  EXPECT_EQ(empty.AppendSubtree(0, h).code(), absl::StatusCode::kOutOfRange);
  empty.Append(h);
  EXPECT_EQ(empty.size(), kMaxTreeSize);
  EXPECT_EQ(empty.hashes().size(), 1u);
  CompactRange two;
  ASSERT_TRUE(two.AppendSubtree(1, h).ok());
  EXPECT_EQ(two.AppendSubtree(63, h).code(), kInvalid);  // Misaligned.
}

TEST(MerkleMalformedTest, ReadersAndProofRequests) {
  const NodeReader reader = VectorReader(8);
  EXPECT_EQ(Code(SubtreeRoot(3, 3, reader)), kInvalid);
  EXPECT_EQ(Code(SubtreeRoot(5, 3, reader)), kInvalid);
  EXPECT_EQ(Code(SubtreeRoot(1, 3, reader)), kInvalid);
  EXPECT_EQ(Code(SubtreeRoot(2, 5, reader)), kInvalid);
  EXPECT_EQ(Code(SubtreeRoot(2, 6, reader)), kInvalid);
  EXPECT_EQ(Code(SubtreeRoot(kMaxTreeSize, kMaxTreeSize + 1, reader)),
            kInvalid);
  EXPECT_EQ(Code(ReadCompactRange(kMaxTreeSize + 1, reader)), kInvalid);

  EXPECT_EQ(Code(InclusionProof(5, 5, reader)), kInvalid);
  EXPECT_EQ(Code(InclusionProof(0, 0, reader)), kInvalid);
  EXPECT_EQ(Code(InclusionProof(0, kMaxTreeSize + 1, reader)), kInvalid);
  EXPECT_EQ(Code(ConsistencyProof(0, 5, reader)), kInvalid);
  EXPECT_EQ(Code(ConsistencyProof(6, 5, reader)), kInvalid);
  EXPECT_EQ(Code(ConsistencyProof(1, kMaxTreeSize + 1, reader)), kInvalid);
  EXPECT_EQ(Code(ProveRange(3, 3, 5, reader)), kInvalid);
  EXPECT_EQ(Code(ProveRange(4, 6, 5, reader)), kInvalid);
  EXPECT_EQ(Code(ProveRange(0, 1, kMaxTreeSize + 1, reader)), kInvalid);
  EXPECT_EQ(Code(InclusionProof(1, 5, nullptr)), kInvalid);

  // Reader errors pass through, and a smaller tree never reads nodes beyond
  // its size (VectorReader(5) has no node covering leaf 5 or later).
  const NodeReader missing = [](int, std::uint64_t) -> absl::StatusOr<Hash> {
    return absl::NotFoundError("gone");
  };
  const absl::StatusCode kNotFound = absl::StatusCode::kNotFound;
  EXPECT_EQ(Code(InclusionProof(1, 5, missing)), kNotFound);
  EXPECT_EQ(Code(ConsistencyProof(2, 5, missing)), kNotFound);
  EXPECT_EQ(Code(ProveRange(1, 2, 5, missing)), kNotFound);
  EXPECT_EQ(Code(ReadCompactRange(5, missing)), kNotFound);
  EXPECT_EQ(Code(SubtreeRoot(0, 5, missing)), kNotFound);
  EXPECT_TRUE(InclusionProof(4, 5, VectorReader(5)).ok());
  EXPECT_TRUE(ConsistencyProof(3, 5, VectorReader(5)).ok());
}

TEST(MerkleMalformedTest, Verifiers) {
  const Hash leaf = Vec(0, 0), root = H(kRoots[1]);
  EXPECT_FALSE(VerifyInclusion(1, 1, leaf, {}, root));
  EXPECT_FALSE(VerifyInclusion(0, 0, leaf, {}, root));
  EXPECT_FALSE(
      VerifyInclusion(~std::uint64_t{0}, ~std::uint64_t{0}, leaf, {}, root));
  EXPECT_FALSE(VerifyInclusion(0, kMaxTreeSize + 1, leaf, {}, root));
  EXPECT_FALSE(VerifyInclusion(0, 2, leaf, Hashes(200, leaf), root));

  const Hash r4 = H(kRoots[4]);
  EXPECT_FALSE(VerifyConsistency(0, 4, EmptyRoot(), r4, {}));
  EXPECT_FALSE(VerifyConsistency(0, 0, EmptyRoot(), EmptyRoot(), {}));
  EXPECT_FALSE(VerifyConsistency(5, 4, r4, r4, {}));
  EXPECT_TRUE(VerifyConsistency(4, 4, r4, r4, {}));
  EXPECT_FALSE(VerifyConsistency(4, 4, r4, root, {}));
  EXPECT_FALSE(VerifyConsistency(4, 4, r4, r4, {r4}));
  EXPECT_FALSE(VerifyConsistency(1, 4, root, r4, Hashes(200, leaf)));
  EXPECT_FALSE(VerifyConsistency(~std::uint64_t{0} - 1, ~std::uint64_t{0}, root,
                                 r4, {leaf}));

  RangeProof proof;
  EXPECT_EQ(Code(RootFromRange(0, {}, 1, proof)), kInvalid);
  EXPECT_EQ(Code(RootFromRange(0, {leaf, leaf}, 1, proof)), kInvalid);
  EXPECT_EQ(Code(RootFromRange(1, {leaf}, 1, proof)), kInvalid);
  EXPECT_EQ(Code(RootFromRange(kMaxTreeSize, {leaf}, kMaxTreeSize + 1, proof)),
            kInvalid);
  EXPECT_EQ(Code(RootFromRange(1, {leaf}, 2, proof)), kInvalid);  // No left.
  absl::StatusOr<Hash> single = RootFromRange(0, {leaf}, 1, proof);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(Hex(*single), kRoots[1]);
}

}  // namespace
}  // namespace leyser::internal::merkle
