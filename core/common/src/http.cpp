#include "bosh/common/http.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/log.hpp"

namespace bosh {

namespace {

// Sends the request and hands the response body's stream to `sink`.
// Writes the request body: request.body, or the file's bytes as they are read.
struct BodySource {
  const std::filesystem::path* file = nullptr;
  const std::function<void(std::uint64_t, std::uint64_t)>* progress = nullptr;
};

plugin::HttpResponse exchange(const plugin::HttpRequest& request,
                              const std::function<void(std::istream&, plugin::HttpResponse&)>& sink,
                              BodySource source = {}) {
  const std::string shown = log::redact_url(request.url);
  try {
    Poco::URI uri(request.url);
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    std::optional<TempDir> ca_dir;
    if (uri.getScheme() == "https") {
      std::string ca_file;
      if (request.ca_cert_pem) {
        ca_dir.emplace("bosh-ca");
        ca_file = (ca_dir->path() / "ca.pem").string();
        write_file_atomic(ca_file, *request.ca_cert_pem);
      }
      auto mode = request.verify_tls ? Poco::Net::Context::VERIFY_STRICT : Poco::Net::Context::VERIFY_NONE;
      Poco::Net::Context::Ptr context = new Poco::Net::Context(
          Poco::Net::Context::TLS_CLIENT_USE, "", "", ca_file, mode, 9, ca_file.empty() && request.verify_tls);
      session = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(), context);
    } else if (uri.getScheme() == "http") {
      session = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
    } else {
      fail("{} {}: unsupported URL scheme '{}'", request.method, shown, uri.getScheme());
    }
    session->setTimeout(Poco::Timespan(static_cast<long>(request.timeout.count()), 0));

    Poco::Net::HTTPRequest req(request.method, uri.getPathAndQuery().empty() ? "/" : uri.getPathAndQuery(),
                               Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [k, v] : request.headers) req.set(k, v);
    if (!uri.getUserInfo().empty() && !req.has("Authorization")) {
      std::string info = uri.getUserInfo();
      auto colon = info.find(':');
      Poco::Net::HTTPBasicCredentials(info.substr(0, colon),
                                      colon == std::string::npos ? "" : info.substr(colon + 1))
          .authenticate(req);
    }
    if (source.file) {
      const std::uint64_t size = std::filesystem::file_size(*source.file);
      std::ifstream in(*source.file, std::ios::binary);
      if (!in) fail<IoError>("{}: cannot read", source.file->string());
      req.setContentLength64(static_cast<Poco::Int64>(size));
      std::ostream& body = session->sendRequest(req);
      char buffer[1 << 16];
      std::uint64_t sent = 0;
      while (in) {
        in.read(buffer, sizeof buffer);
        body.write(buffer, in.gcount());
        sent += static_cast<std::uint64_t>(in.gcount());
        if (source.progress && *source.progress) (*source.progress)(sent, size);
      }
      if (!body) fail("{} {}: the connection closed while sending", request.method, shown);
    } else {
      if (!request.body.empty() || request.method == "POST" || request.method == "PUT")
        req.setContentLength(static_cast<std::streamsize>(request.body.size()));
      std::ostream& body = session->sendRequest(req);
      body.write(request.body.data(), static_cast<std::streamsize>(request.body.size()));
    }

    Poco::Net::HTTPResponse resp;
    std::istream& in = session->receiveResponse(resp);
    plugin::HttpResponse out;
    out.status = static_cast<int>(resp.getStatus());
    for (const auto& [k, v] : resp) out.headers[k] = v;
    sink(in, out);
    return out;
  } catch (const Poco::Exception& e) {
    fail("{} {}: {}", request.method, shown, e.displayText());
  }
}

}  // namespace

plugin::HttpResponse http_request(const plugin::HttpRequest& request) {
  return exchange(request, [](std::istream& in, plugin::HttpResponse& out) {
    std::ostringstream buffer;
    Poco::StreamCopier::copyStream(in, buffer);
    out.body = std::move(buffer).str();
  });
}

plugin::HttpResponse http_upload(const plugin::HttpRequest& request, const std::filesystem::path& file,
                                 const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  return exchange(
      request,
      [](std::istream& in, plugin::HttpResponse& out) {
        std::ostringstream buffer;
        Poco::StreamCopier::copyStream(in, buffer);
        out.body = std::move(buffer).str();
      },
      BodySource{&file, &progress});
}

plugin::HttpResponse http_download(const plugin::HttpRequest& request, const std::filesystem::path& file,
                                   std::uint64_t max_bytes) {
  return exchange(request, [&](std::istream& in, plugin::HttpResponse& out) {
    if (out.status != 200) {
      std::ostringstream buffer;
      Poco::StreamCopier::copyStream(in, buffer);
      out.body = std::move(buffer).str();
      return;
    }
    std::ofstream sink(file, std::ios::binary | std::ios::trunc);
    if (!sink) fail<IoError>("{}: cannot write", file.string());
    char buffer[1 << 16];
    std::uint64_t total = 0;
    while (in) {
      in.read(buffer, sizeof buffer);
      total += static_cast<std::uint64_t>(in.gcount());
      if (max_bytes && total > max_bytes) {
        sink.close();
        std::error_code ec;
        std::filesystem::remove(file, ec);
        fail("{} {}: larger than {} bytes", request.method, log::redact_url(request.url), max_bytes);
      }
      sink.write(buffer, in.gcount());
    }
    if (!sink.flush()) fail<IoError>("{}: cannot write", file.string());
  });
}

}  // namespace bosh
