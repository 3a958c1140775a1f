// A small HTTP(S) client over POCO Net/NetSSL, using the plugin API's request
// and response types so the same call serves core code and HostServices.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>

#include "bosh/plugin/host_services.hpp"

namespace bosh {

// One request. Transport failures (refused, TLS, timeout, bad URL) throw
// bosh::Error "<METHOD> <url>: <reason>" with credentials redacted; HTTP error
// statuses are returned, not thrown.
plugin::HttpResponse http_request(const plugin::HttpRequest& request);

// The same with the body read from `file` as it is sent (never all in
// memory); `progress(sent, total)` after each chunk.
plugin::HttpResponse http_upload(const plugin::HttpRequest& request, const std::filesystem::path& file,
                                 const std::function<void(std::uint64_t, std::uint64_t)>& progress = {});

// The same, streaming a 200 response's body into `file` (never all in
// memory); other statuses come back with their body as http_request's do.
// Error when the body passes `max_bytes` (0: no limit); the file is removed.
plugin::HttpResponse http_download(const plugin::HttpRequest& request, const std::filesystem::path& file,
                                   std::uint64_t max_bytes = 0);

}  // namespace bosh
