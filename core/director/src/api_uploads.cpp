// The director API's release and stemcell routes (BOSH's releases, stemcells
// and stemcell_uploads controllers).
#include "bosh/common/json.hpp"
#include "bosh/release/tarball.hpp"
#include "dependency_key.hpp"
#include "bosh/director/releases.hpp"
#include "bosh/director/stemcells.hpp"
#include "bosh/director/tasks.hpp"
#include "router.hpp"
#include "uploads.hpp"

namespace bosh::director {

using plugin::Json;
using plugin::JsonArray;
using plugin::JsonObject;

namespace {

std::int64_t enqueue(Call& c, const std::string& type, const std::string& description, const JsonObject::Ptr& payload) {
  return TaskQueue(c.s.db).enqueue(type, description, c.user, "", to_json(Json(payload)));
}

}  // namespace

void add_upload_routes(Router& r) {
  r.add("GET", "/releases", [](Call& c) { c.json(Status::HTTP_OK, list_releases(c.s.db)); });
  r.add("POST", "/releases", [](Call& c) {
    auto payload = receive_upload(c);
    if (!payload) return;
    (*payload)->set("fix", c.flag("fix"));
    c.task(enqueue(c, "update_release", "create release", *payload));
  });
  // The Go CLI asks what it need not send: the release manifest in, the
  // fingerprints the director has out.
  r.add("POST", "/packages/matches", [](Call& c) {
    const auto m = release::parse_release_manifest(c.body(), "request body");
    JsonArray::Ptr out = new JsonArray;
    for (const auto& p : m.packages)
      if (!p.fingerprint.empty() && director_has_package(c.s.db, p.fingerprint)) out->add(p.fingerprint);
    c.json(Status::HTTP_OK, out);
  });
  r.add("POST", "/packages/matches_compiled", [](Call& c) {
    const auto m = release::parse_release_manifest(c.body(), "request body");
    std::map<std::string, PackageDeps> deps;
    for (const auto& p : m.compiled_packages) deps[p.name] = {p.version, p.dependencies};
    JsonArray::Ptr out = new JsonArray;
    for (const auto& p : m.compiled_packages)
      if (!p.fingerprint.empty() && p.stemcell.find('/') != std::string::npos &&
          director_has_compiled_package(c.s.db, p.fingerprint, p.stemcell, dependency_key(deps, p.name)))
        out->add(p.fingerprint);
    c.json(Status::HTTP_OK, out);
  });
  r.add("GET", "/releases/:name", [](Call& c) {
    auto detail = release_detail(c.s.db, c.params[0], c.q("version"));
    if (!detail) {
      const std::string what = c.q("version").empty() ? c.params[0] : c.params[0] + "/" + c.q("version");
      return c.error(Status::HTTP_NOT_FOUND, 30005, "Release '" + what + "' doesn't exist");
    }
    c.json(Status::HTTP_OK, *detail);
  });
  r.add("DELETE", "/releases/:name", [](Call& c) {
    JsonObject::Ptr payload = new JsonObject;
    payload->set("name", c.params[0]);
    if (!c.q("version").empty()) payload->set("version", c.q("version"));
    payload->set("force", c.flag("force"));
    c.task(enqueue(c, "delete_release", "delete release: " + c.params[0], payload));
  });

  r.add("GET", "/stemcells", [](Call& c) { c.json(Status::HTTP_OK, list_stemcells(c.s.db)); });
  // The Go CLI asks before it uploads: {"stemcell": {"name", "version"}} -> {"needed": bool}.
  // An unknown name or version (a URL upload without --name) is needed.
  r.add("POST", "/stemcell_uploads", [](Call& c) {
    auto body = c.json_body();
    if (!body->has("stemcell")) return c.error(Status::HTTP_BAD_REQUEST, 40000, "request body: missing 'stemcell'");
    auto stemcell = as_object(body->get("stemcell"), "request body: stemcell");
    const auto name = find_string(stemcell, "name", "request body: stemcell");
    const auto version = find_string(stemcell, "version", "request body: stemcell");
    if (!name || !version)
      return c.error(Status::HTTP_BAD_REQUEST, 40000, "request body: stemcell needs 'name' and 'version'");
    JsonObject::Ptr out = new JsonObject;
    out->set("needed", name->empty() || version->empty() || !stemcell_exists(c.s.db, *name, *version));
    c.json(Status::HTTP_OK, out);
  });
  r.add("POST", "/stemcells", [](Call& c) {
    auto payload = receive_upload(c);
    if (!payload) return;
    (*payload)->set("fix", c.flag("fix"));
    c.task(enqueue(c, "update_stemcell", "create stemcell", *payload));
  });
  r.add("DELETE", "/stemcells/:name/:version", [](Call& c) {
    JsonObject::Ptr payload = new JsonObject;
    payload->set("name", c.params[0]);
    payload->set("version", c.params[1]);
    payload->set("force", c.flag("force"));
    c.task(enqueue(c, "delete_stemcell", "delete stemcell: " + c.params[0] + "/" + c.params[1], payload));
  });
}

}  // namespace bosh::director
