// A small HTTP(S) client over POCO Net/NetSSL, using the plugin API's request
// and response types so the same call serves core code and HostServices.
#pragma once

#include "bosh/plugin/host_services.hpp"

namespace bosh {

// One request. Transport failures (refused, TLS, timeout, bad URL) throw
// bosh::Error "<METHOD> <url>: <reason>" with credentials redacted; HTTP error
// statuses are returned, not thrown.
plugin::HttpResponse http_request(const plugin::HttpRequest& request);

}  // namespace bosh
