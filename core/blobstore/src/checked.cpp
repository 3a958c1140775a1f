#include <fstream>
#include <streambuf>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/blobstore/dav.hpp"
#include "bosh/plugin_host/plugin_host.hpp"

namespace bosh::blobstore {

namespace {

namespace fs = std::filesystem;

// Hashes every byte that passes through, in either direction.
class HashingInBuf : public std::streambuf {
 public:
  HashingInBuf(std::istream& in, Hasher& hasher) : in_(in), hasher_(hasher) {}

 protected:
  int_type underflow() override {
    in_.read(buffer_, sizeof buffer_);
    std::streamsize n = in_.gcount();
    if (n <= 0) return traits_type::eof();
    hasher_.update(buffer_, static_cast<std::size_t>(n));
    setg(buffer_, buffer_, buffer_ + n);
    return traits_type::to_int_type(buffer_[0]);
  }

 private:
  std::istream& in_;
  Hasher& hasher_;
  char buffer_[1 << 16];
};

class HashingOutBuf : public std::streambuf {
 public:
  HashingOutBuf(std::ostream& out, Hasher& hasher) : out_(out), hasher_(hasher) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    hasher_.update(s, static_cast<std::size_t>(n));
    out_.write(s, n);
    return out_ ? n : 0;
  }
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    char ch = traits_type::to_char_type(c);
    return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
  }

 private:
  std::ostream& out_;
  Hasher& hasher_;
};

}  // namespace

void register_builtin_providers(plugin_host::PluginHost& host) {
  host.register_builtin_blobstore("local", kLocalVersion, "Blobs as files in a local directory", make_local_blobstore);
  host.register_builtin_blobstore("dav", kDavVersion, "BOSH's simple HTTP blobstore (bosh-blobstore)",
                                  make_dav_blobstore);
}

StoredBlob put_file(plugin::Blobstore& store, const fs::path& file, DigestAlgorithm algorithm,
                    const std::optional<std::string>& id) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail<IoError>("{}: cannot read", file.string());
  Hasher hasher(algorithm);
  HashingInBuf buf(in, hasher);
  std::istream hashed(&buf);
  std::string stored = store.create(hashed, id);
  return {stored, Digest{algorithm, hasher.hex_final()}};
}

void get_file(plugin::Blobstore& store, const std::string& id, const fs::path& dest, const Digest& expected) {
  fs::path tmp = dest;
  tmp += ".download";
  Hasher hasher(expected.algorithm);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail<IoError>("{}: cannot write", tmp.string());
    HashingOutBuf buf(out, hasher);
    std::ostream hashed(&buf);
    try {
      store.get(id, hashed);
      hashed.flush();
      out.flush();
      if (!out) fail<IoError>("{}: write failed", tmp.string());
    } catch (...) {
      out.close();
      fs::remove(tmp);
      throw;
    }
  }
  Digest actual{expected.algorithm, hasher.hex_final()};
  if (!(actual == expected)) {
    fs::remove(tmp);
    throw plugin::BlobChecksumMismatch(fmt::format("blob '{}': expected {} {}, got {}", id,
                                                   to_string(expected.algorithm), expected.hex, actual.hex));
  }
  fs::rename(tmp, dest);
}

}  // namespace bosh::blobstore
