#include "bosh/common/digest.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bosh/common/error.hpp"

namespace bosh {

namespace {

const EVP_MD* evp_md(DigestAlgorithm algorithm) {
  switch (algorithm) {
    case DigestAlgorithm::sha1: return EVP_sha1();
    case DigestAlgorithm::sha256: return EVP_sha256();
  }
  throw Error("unknown digest algorithm");
}

std::size_t hex_length(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::sha1 ? 40 : 64;
}

std::string to_hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

// Lowercased hex if text is exactly `length` hex digits, else empty.
std::string normalize_hex(std::string_view text, std::size_t length) {
  if (text.size() != length) return {};
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
  }
  return out;
}

}  // namespace

std::string_view to_string(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::sha1 ? "sha1" : "sha256";
}

void Hasher::CtxDeleter::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Hasher::Hasher(DigestAlgorithm algorithm) : algorithm_(algorithm), ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), evp_md(algorithm_), nullptr) != 1) {
    throw Error(fmt::format("cannot initialise {} digest", to_string(algorithm_)));
  }
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, std::size_t size) {
  if (size == 0) return;
  if (EVP_DigestUpdate(ctx_.get(), data, size) != 1) {
    throw Error(fmt::format("{} digest update failed", to_string(algorithm_)));
  }
}

void Hasher::update(std::string_view data) { update(data.data(), data.size()); }

std::string Hasher::hex_final() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1 ||
      EVP_DigestInit_ex(ctx_.get(), evp_md(algorithm_), nullptr) != 1) {
    throw Error(fmt::format("{} digest finalisation failed", to_string(algorithm_)));
  }
  return to_hex(md, len);
}

std::string digest_hex(DigestAlgorithm algorithm, std::string_view data) {
  Hasher hasher(algorithm);
  hasher.update(data);
  return hasher.hex_final();
}

std::string sha1_hex(std::string_view data) { return digest_hex(DigestAlgorithm::sha1, data); }
std::string sha256_hex(std::string_view data) { return digest_hex(DigestAlgorithm::sha256, data); }

std::string file_digest(const std::filesystem::path& path, DigestAlgorithm algorithm) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  constexpr std::size_t kChunk = 1 << 20;
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  Hasher hasher(algorithm);
  for (;;) {
    ssize_t n = ::read(fd, buffer.get(), kChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
    }
    if (n == 0) break;
    hasher.update(buffer.get(), static_cast<std::size_t>(n));
  }
  return hasher.hex_final();
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const unsigned char kEmpty = 0;
  const auto* key_bytes = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  const auto* data_bytes = data.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(data.data());
  if (HMAC(EVP_sha256(), key_bytes, static_cast<int>(key.size()), data_bytes, data.size(), md, &len) ==
      nullptr) {
    throw Error("HMAC-SHA256 failed");
  }
  return to_hex(md, len);
}

std::string Digest::to_string() const {
  if (algorithm == DigestAlgorithm::sha1) return hex;
  return fmt::format("{}:{}", bosh::to_string(algorithm), hex);
}

Digest Digest::parse(std::string_view text) {
  DigestAlgorithm algorithm = DigestAlgorithm::sha1;
  std::string_view hex = text;
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    std::string_view name = text.substr(0, colon);
    hex = text.substr(colon + 1);
    if (name == "sha1") {
      algorithm = DigestAlgorithm::sha1;
    } else if (name == "sha256") {
      algorithm = DigestAlgorithm::sha256;
    } else {
      throw InputError(fmt::format("invalid digest '{}': unknown algorithm '{}' (expected sha1 or sha256)",
                                   text, name));
    }
  }
  std::string normalized = normalize_hex(hex, hex_length(algorithm));
  if (normalized.empty()) {
    throw InputError(fmt::format("invalid digest '{}': expected {} hex digits for {}", text,
                                 hex_length(algorithm), bosh::to_string(algorithm)));
  }
  return Digest{algorithm, std::move(normalized)};
}

std::vector<Digest> parse_multi_digest(std::string_view text) {
  std::vector<Digest> digests;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = text.find(';', start);
    std::string_view part = text.substr(start, end == std::string_view::npos ? text.npos : end - start);
    if (part.empty()) throw InputError(fmt::format("invalid digest '{}': empty entry", text));
    Digest digest;
    try {
      digest = Digest::parse(part);
    } catch (const InputError& e) {
      if (digests.empty() && end == std::string_view::npos) throw;  // a single digest
      throw InputError(fmt::format("invalid digest '{}': {}", text, e.what()));
    }
    for (const Digest& seen : digests) {
      if (seen.algorithm == digest.algorithm) {
        throw InputError(fmt::format("invalid digest '{}': {} is listed twice", text,
                                     bosh::to_string(digest.algorithm)));
      }
    }
    digests.push_back(std::move(digest));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return digests;
}

Digest strongest_digest(const std::vector<Digest>& digests) {
  if (digests.empty()) throw InputError("no digest given");
  const Digest* best = &digests.front();
  for (const Digest& d : digests) {
    if (d.algorithm == DigestAlgorithm::sha256 && best->algorithm != DigestAlgorithm::sha256) best = &d;
  }
  return *best;
}

bool verify_file(const std::filesystem::path& path, const Digest& digest) {
  return file_digest(path, digest.algorithm) == digest.hex;
}

}  // namespace bosh
