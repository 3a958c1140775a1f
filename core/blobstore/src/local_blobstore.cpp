#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/random.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"

namespace bosh::blobstore {

namespace {

namespace fs = std::filesystem;

void check_id(const std::string& id) {
  if (id.empty() || id == "." || id == ".." || id.find('/') != std::string::npos || id.front() == '.')
    throw plugin::BlobstoreError("invalid blob id '" + id + "'");
}

class LocalBlobstore final : public plugin::Blobstore {
 public:
  explicit LocalBlobstore(fs::path root) : root_(std::move(root)) {
    std::error_code ec;
    fs::create_directories(root_, ec);
    if (ec) throw plugin::BlobstoreError("local blobstore: cannot create " + root_.string() + ": " + ec.message());
  }

  std::string create(std::istream& content, const std::optional<std::string>& id) override {
    std::string key = id ? *id : random_uuid();
    check_id(key);
    fs::path tmp = root_ / (".tmp-" + random_uuid());
    try {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw plugin::BlobstoreError("local blobstore: cannot write " + tmp.string());
      char buffer[1 << 16];
      while (content) {
        content.read(buffer, sizeof buffer);
        out.write(buffer, content.gcount());
      }
      if (content.bad()) throw plugin::BlobstoreError("local blobstore: reading the blob's content failed");
      out.flush();
      if (!out) throw plugin::BlobstoreError("local blobstore: writing " + tmp.string() + " failed");
      out.close();
      // link() refuses an existing name: a blob is never overwritten.
      if (::link(tmp.c_str(), (root_ / key).c_str()) != 0) {
        if (errno == EEXIST) throw plugin::BlobstoreError("blob '" + key + "' already exists");
        throw plugin::BlobstoreError("local blobstore: cannot store blob '" + key + "': " + std::strerror(errno));
      }
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
    ::unlink(tmp.c_str());
    return key;
  }

  void get(const std::string& id, std::ostream& out) override {
    check_id(id);
    std::ifstream in(root_ / id, std::ios::binary);
    if (!in) throw plugin::BlobNotFound("blob '" + id + "' not found");
    char buffer[1 << 16];
    while (in) {
      in.read(buffer, sizeof buffer);
      out.write(buffer, in.gcount());
    }
    if (in.bad() || !out) throw plugin::BlobstoreError("local blobstore: writing blob '" + id + "' out failed");
  }

  void delete_blob(const std::string& id) override {
    check_id(id);
    if (::unlink((root_ / id).c_str()) != 0) {
      if (errno == ENOENT) throw plugin::BlobNotFound("blob '" + id + "' not found");
      throw plugin::BlobstoreError("local blobstore: cannot delete blob '" + id + "': " + std::strerror(errno));
    }
  }

  bool exists(const std::string& id) override {
    check_id(id);
    std::error_code ec;
    return fs::is_regular_file(root_ / id, ec);
  }

 private:
  fs::path root_;
};

}  // namespace

std::unique_ptr<plugin::Blobstore> make_local_blobstore(plugin::HostServices&, const plugin::Json& options) {
  if (options.isEmpty()) throw plugin::BlobstoreError("local blobstore: options.blobstore_path is required");
  std::string path;
  try {
    path = get_string(as_object(options, "local blobstore options"), "blobstore_path", "local blobstore options");
  } catch (const bosh::Error& e) {
    throw plugin::BlobstoreError(e.what());
  }
  return std::make_unique<LocalBlobstore>(path);
}

}  // namespace bosh::blobstore
