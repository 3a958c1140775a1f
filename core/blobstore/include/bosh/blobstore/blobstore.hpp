// Built-in blobstore providers and the checksummed way to use any provider.
//
// Providers (plugin::Blobstore) only move bytes; every read and write in core
// code goes through put_file/get_file here, which hash the stream and refuse
// a mismatch, so no provider can skip the check.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "bosh/common/digest.hpp"
#include "bosh/plugin/blobstore.hpp"

namespace bosh::plugin_host {
class PluginHost;
}

namespace bosh::blobstore {

// Registers the built-in providers (local, dav) with a program's plugin host.
void register_builtin_providers(plugin_host::PluginHost& host);

// The `local` provider: blobs are files in options.blobstore_path (BOSH's
// option name), created with temp + link so a blob is never half-written and
// never silently overwritten.
std::unique_ptr<plugin::Blobstore> make_local_blobstore(plugin::HostServices& host, const plugin::Json& options);
inline constexpr const char* kLocalVersion = "1.0.0";

struct StoredBlob {
  std::string id;
  Digest digest;
};

// Uploads a file, hashing it on the way; returns the id and its digest.
StoredBlob put_file(plugin::Blobstore& store, const std::filesystem::path& file, DigestAlgorithm algorithm,
                    const std::optional<std::string>& id = std::nullopt);

// Downloads a blob to `dest` (temp + rename) and checks it against `expected`.
// On a mismatch nothing is left at `dest` and BlobChecksumMismatch says
// "blob '<id>': expected sha1 <x>, got <y>".
void get_file(plugin::Blobstore& store, const std::string& id, const std::filesystem::path& dest,
              const Digest& expected);

}  // namespace bosh::blobstore
