// A blobstore provider: blobs addressed by id, streamed in and out.
//
// Checksums: every blob is addressed together with its digest in BOSH
// ("sha1" hex, or "sha256:<hex>" in sha2 releases). Providers only move bytes;
// the host's Blobstore wrapper (core/blobstore) hashes the stream on the way in
// and out and refuses a mismatch with BlobChecksumMismatch, so no provider can
// forget the check.
#pragma once

#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "bosh/plugin/errors.hpp"
#include "bosh/plugin/host_services.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::plugin {

class Blobstore {
 public:
  virtual ~Blobstore() = default;

  // Store the stream's bytes. With an id, store under it (overwriting is an
  // error: BlobstoreError); without, the provider picks a fresh unique id.
  // Returns the id. A failed create leaves no partial blob behind.
  virtual std::string create(std::istream& content, const std::optional<std::string>& id) = 0;
  // Stream the blob into `out`; BlobNotFound when there is none.
  virtual void get(const std::string& id, std::ostream& out) = 0;
  // Remove the blob; BlobNotFound when there is none.
  virtual void delete_blob(const std::string& id) = 0;
  virtual bool exists(const std::string& id) = 0;
};

// The factory a blobstore plugin exports as bosh_create_blobstore. `options`
// is the `blobstore.options` hash of the config that names the provider.
using blobstore_factory_t = std::unique_ptr<Blobstore>(HostServices& host, const Json& options);

}  // namespace bosh::plugin
