// SHA-1 / SHA-256 digests, HMAC-SHA256, and BOSH's digest strings.
//
// BOSH writes a sha1 as bare hex ("a9993e36...") and anything stronger with an
// algorithm prefix ("sha256:ba7816bf..."); release manifests may carry several
// digests of one file separated by ';' ("sha1:aaa;sha256:bbb").
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX; kept out of this header.

namespace bosh {

enum class DigestAlgorithm { sha1, sha256 };

// "sha1" / "sha256".
std::string_view to_string(DigestAlgorithm algorithm);

// Streaming hash. hex_final() returns the lowercase hex digest of everything
// fed so far and resets the hasher to its empty state, ready for reuse.
class Hasher {
 public:
  explicit Hasher(DigestAlgorithm algorithm);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view data);
  std::string hex_final();

  DigestAlgorithm algorithm() const { return algorithm_; }

 private:
  struct CtxDeleter {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  DigestAlgorithm algorithm_;
  std::unique_ptr<evp_md_ctx_st, CtxDeleter> ctx_;
};

std::string sha1_hex(std::string_view data);
std::string sha256_hex(std::string_view data);
std::string digest_hex(DigestAlgorithm algorithm, std::string_view data);

// Hashes a file in 1 MiB chunks. IoError "<path>: cannot read: <strerror>".
std::string file_digest(const std::filesystem::path& path, DigestAlgorithm algorithm);

// HMAC-SHA256 of data under key, lowercase hex.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// One digest in BOSH's notation.
struct Digest {
  DigestAlgorithm algorithm = DigestAlgorithm::sha1;
  std::string hex;  // lowercase

  // "<hex>" for sha1, "sha256:<hex>" for sha256.
  std::string to_string() const;

  // Accepts "<40 hex>", "sha1:<40 hex>" or "sha256:<64 hex>" (hex in either
  // case; stored lowercase). Anything else: InputError naming the value.
  static Digest parse(std::string_view text);

  friend bool operator==(const Digest&, const Digest&) = default;
};

// "sha1:aaa;sha256:bbb" (or a single digest) -> each digest, in order.
// InputError naming the whole string and the bad part; an algorithm listed
// twice is refused.
std::vector<Digest> parse_multi_digest(std::string_view text);

// The strongest of the digests (sha256 over sha1). InputError if empty.
Digest strongest_digest(const std::vector<Digest>& digests);  // a copy: callers pass temporaries

// True if the file's digest (in digest.algorithm) matches. IoError if unreadable.
bool verify_file(const std::filesystem::path& path, const Digest& digest);

}  // namespace bosh
