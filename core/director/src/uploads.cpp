#include "uploads.hpp"

#include <fstream>

#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/http.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"
#include "bosh/common/random.hpp"

namespace bosh::director {

namespace fs = std::filesystem;

namespace {

fs::path new_upload_path(const DirectorConfig& config) {
  fs::create_directories(config.state_dir / "uploads");
  return config.state_dir / "uploads" / (random_hex(16) + ".tgz");
}

}  // namespace

std::optional<plugin::JsonObject::Ptr> receive_upload(Call& call) {
  plugin::JsonObject::Ptr payload = new plugin::JsonObject;
  if (call.req.header("content-type").find("json") != std::string::npos) {
    auto body = call.json_body();
    auto location = find_string(body, "location", "request body");
    if (!location || location->empty()) {
      call.error(Status::HTTP_BAD_REQUEST, 40000, "expected a tarball or {\"location\": URL}");
      return std::nullopt;
    }
    if (location->rfind("http://", 0) != 0 && location->rfind("https://", 0) != 0) {
      call.error(Status::HTTP_BAD_REQUEST, 40000, "location must be an http:// or https:// URL");
      return std::nullopt;
    }
    payload->set("location", *location);
    if (auto sha1 = find_string(body, "sha1", "request body"); sha1 && !sha1->empty()) {
      parse_multi_digest(*sha1);  // refused now (400) rather than after the download
      payload->set("sha1", *sha1);
    }
    return payload;
  }
  const std::uint64_t limit = static_cast<std::uint64_t>(call.s.config.max_upload_mb) << 20;
  call.req.limit_body(limit);  // 413 before a byte is read when the declared size is larger
  const fs::path file = new_upload_path(call.s.config);
  // The body streams to disk; nothing holds the whole tarball.
  {
    std::ofstream out(file, std::ios::binary);
    char buffer[1 << 16];
    std::istream& in = call.req.body();
    while (in) {
      in.read(buffer, sizeof buffer);
      out.write(buffer, in.gcount());
    }
    if (!call.req.body_error().empty() || !out) {
      out.close();
      std::error_code ec;
      fs::remove(file, ec);
      if (!call.req.body_error().empty()) throw net::HttpError(call.req.body_error_status(), call.req.body_error());
      call.error(Status::HTTP_INTERNAL_SERVER_ERROR, 100, "cannot store the upload");
      return std::nullopt;
    }
  }
  payload->set("path", file.string());
  return payload;
}

fs::path fetch_upload(TaskContext& ctx, const plugin::JsonObject::Ptr& payload) {
  if (auto path = find_string(payload, "path", "task payload")) return *path;
  const std::string location = get_string(payload, "location", "task payload");
  const fs::path file = new_upload_path(ctx.config());
  const std::string shown = log::redact_url(location);
  ctx.event("Downloading remote file", shown, 1, 1, "started");
  plugin::HttpRequest get;
  get.url = location;
  get.timeout = std::chrono::seconds(600);
  const std::uint64_t limit = static_cast<std::uint64_t>(ctx.config().max_upload_mb) << 20;
  try {
    auto got = http_download(get, file, limit);
    if (got.status != 200) fail<InputError>("downloading {}: HTTP {}", shown, got.status);
  } catch (...) {
    std::error_code ec;
    fs::remove(file, ec);
    throw;
  }
  ctx.event("Downloading remote file", shown, 1, 1, "finished", 100);
  if (auto expected = find_string(payload, "sha1", "task payload")) {
    const Digest digest = strongest_digest(parse_multi_digest(*expected));  // a copy: the list is a temporary
    ctx.event("Verifying remote file", shown, 1, 1, "started");
    if (!verify_file(file, digest)) {
      const std::string actual = (digest.algorithm == DigestAlgorithm::sha1 ? "" : "sha256:") +
                                 file_digest(file, digest.algorithm);
      std::error_code ec;
      fs::remove(file, ec);
      fail<InputError>("{}: expected digest '{}', got '{}'", shown, digest.to_string(), actual);
    }
    ctx.event("Verifying remote file", shown, 1, 1, "finished", 100);
  }
  return file;
}

}  // namespace bosh::director
