// Installing what `apply` and `compile_package` name: package and job blobs
// from the blobstore (digest checked), unpacked under data/ and linked from
// packages/<name> and jobs/<name>, as on a BOSH VM. Names and versions from
// messages are checked before any path is built from them.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "bosh/plugin/blobstore.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::agent {

struct BlobRef {
  std::string name;
  std::string version;
  std::string sha1;          // "<hex>" | "sha256:<hex>" | "sha1:<a>;sha256:<b>"
  std::string blobstore_id;
};

// A package or job reference from a message; InputError naming `what` when a
// field is missing or unsafe ("..", "/", empty).
BlobRef blob_ref(const plugin::Json& value, const std::string& what, bool needs_version = true);
// A name or version usable as one path component.
void check_path_component(const std::string& value, const std::string& what);

class Installer {
 public:
  Installer(std::filesystem::path base_dir, plugin::Blobstore& blobstore);

  // Downloads (digest checked) into data/blobs/<id>; reuses a verified copy.
  std::filesystem::path fetch(const BlobRef& ref);
  // data/packages/<name>/<version>, unpacked once; packages/<name> links to it.
  std::filesystem::path install_package(const BlobRef& ref);
  // The jobs of a rendered templates archive: <archive>/<job>/... becomes
  // data/jobs/<job>/<hash>, linked from jobs/<job>; monit files collected into
  // monit/job/NNNN_<job>.monitrc (others removed). Returns the job names.
  std::vector<std::string> install_jobs(const std::filesystem::path& rendered_archive,
                                        const std::vector<std::string>& job_names, const std::string& hash);

  const std::filesystem::path& base_dir() const { return base_; }

 private:
  std::filesystem::path base_;
  plugin::Blobstore& blobstore_;
};

// Replaces `link` with a symlink to `target` atomically (temp link + rename).
void replace_symlink(const std::filesystem::path& target, const std::filesystem::path& link);

}  // namespace bosh::agent
