// http_request against a real POCO HTTP server on 127.0.0.1 (an ephemeral port).
#include <doctest/doctest.h>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include "bosh/common/error.hpp"
#include "bosh/common/http.hpp"

namespace {
class Echo : public Poco::Net::HTTPRequestHandler {
 public:
  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    std::string body;
    Poco::StreamCopier::copyToString(req.stream(), body);
    resp.set("X-Method", req.getMethod());
    resp.set("X-Auth", req.get("Authorization", "none"));
    resp.setStatus(req.getURI() == "/missing" ? Poco::Net::HTTPResponse::HTTP_NOT_FOUND
                                              : Poco::Net::HTTPResponse::HTTP_OK);
    resp.send() << req.getURI() << "|" << body;
  }
};
class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Echo;
  }
};

struct Server {
  Poco::Net::ServerSocket socket{Poco::Net::SocketAddress("127.0.0.1", 0)};
  Poco::Net::HTTPServer server{new Factory, socket, new Poco::Net::HTTPServerParams};
  Server() { server.start(); }
  ~Server() { server.stopAll(true); }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(socket.address().port()) + path;
  }
};
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("http_request sends method and body and returns status and body") {
    Server s;
    bosh::plugin::HttpRequest req;
    req.method = "PUT";
    req.url = s.url("/blobs/a?x=1");
    req.body = "payload";
    auto resp = bosh::http_request(req);
    CHECK(resp.status == 200);
    CHECK(resp.body == "/blobs/a?x=1|payload");
    CHECK(resp.headers.at("X-Method") == "PUT");
    CHECK(resp.headers.at("X-Auth") == "none");
  }

  TEST_CASE("http_request sends basic auth from the URL and returns error statuses") {
    Server s;
    bosh::plugin::HttpRequest req;
    std::string url = s.url("/missing");
    req.url = url.replace(0, 7, "http://admin:secret@");
    auto resp = bosh::http_request(req);
    CHECK(resp.status == 404);
    CHECK(resp.headers.at("X-Auth") == "Basic YWRtaW46c2VjcmV0");
  }

  TEST_CASE("a refused connection is an error that hides the password") {
    Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
    auto port = probe.address().port();
    probe.close();  // nothing listens there now
    bosh::plugin::HttpRequest req;
    req.url = "http://u:pw@127.0.0.1:" + std::to_string(port) + "/";
    try {
      bosh::http_request(req);
      FAIL("expected an error");
    } catch (const bosh::Error& e) {
      std::string msg = e.what();
      CHECK(msg.find("GET http://u:<redacted>@127.0.0.1:" + std::to_string(port) + "/: ") == 0);
      CHECK(msg.find("pw") == std::string::npos);
    }
  }

  TEST_CASE("an unsupported scheme is refused") {
    bosh::plugin::HttpRequest req;
    req.url = "ftp://127.0.0.1/x";
    CHECK_THROWS_WITH_AS(bosh::http_request(req), "GET ftp://127.0.0.1/x: unsupported URL scheme 'ftp'",
                         bosh::Error);
  }
}
