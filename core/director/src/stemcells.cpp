#include "bosh/director/stemcells.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <set>

#include "bosh/common/archive.hpp"
#include "bosh/common/clock.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/names.hpp"
#include "bosh/common/yaml.hpp"
#include "bosh/director/configs.hpp"
#include "task_support.hpp"
#include "uploads.hpp"

namespace bosh::director {

namespace fs = std::filesystem;

namespace {

struct StemcellManifest {
  std::string name, version, operating_system, sha1;
  int api_version = 1;
  std::vector<std::string> formats;
  plugin::Json cloud_properties = plugin::json_object();
};

StemcellManifest read_manifest(const fs::path& file) {
  const std::string origin = "stemcell.MF";
  YAML::Node root = parse_yaml(read_file(file), origin);
  if (!root.IsMap()) fail<InputError>("{}: expected a map, got {}", origin, yaml_type_name(root));
  StemcellManifest m;
  m.name = yaml_string(root, "name", origin);
  m.version = yaml_string(root, "version", origin);
  if (m.name.empty()) fail<InputError>("{}: missing required key 'name'", origin);
  if (m.version.empty()) fail<InputError>("{}: missing required key 'version'", origin);
  check_bosh_name(origin + ": name", m.name);
  check_bosh_name(origin + ": version", m.version);
  m.operating_system = yaml_string(root, "operating_system", origin, m.name);
  check_bosh_name(origin + ": operating_system", m.operating_system);
  m.sha1 = yaml_string(root, "sha1", origin);
  if (root["api_version"]) {
    try {
      m.api_version = root["api_version"].as<int>();
    } catch (const YAML::Exception&) {
      fail<InputError>("{}: 'api_version' must be an integer", yaml_where(root["api_version"], origin));
    }
  }
  if (YAML::Node formats = yaml_list(root, "stemcell_formats", origin))
    for (const auto& f : formats) m.formats.push_back(f.Scalar());
  if (YAML::Node cp = yaml_map(root, "cloud_properties", origin)) m.cloud_properties = yaml_to_json(cp);
  return m;
}

std::string format_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return "[" + out + "]";
}

}  // namespace

std::string upload_stemcell_task(TaskContext& ctx) {
  auto payload = as_object(parse_json(ctx.task().payload, "task payload"), "task payload");
  const fs::path tarball = fetch_upload(ctx, payload);
  const bool fix = payload->has("fix") && payload->getValue<bool>("fix");
  RemoveOnExit cleanup(tarball);  // the upload is consumed, whatever the outcome
  const std::string stage = "Update stemcell";
  const int total = 5;

  ctx.event(stage, "Extracting stemcell archive", 1, total, "started");
  TempDir extracted("bosh-upload-stemcell");
  try {
    extract_tgz(tarball, extracted.path());
  } catch (const Error& e) {
    fail("stemcell tarball is not valid: {}", e.what());
  }
  ctx.event(stage, "Extracting stemcell archive", 1, total, "finished", 100);

  ctx.event(stage, "Verifying stemcell manifest", 2, total, "started");
  if (!fs::exists(extracted.path() / "stemcell.MF")) fail("stemcell tarball has no stemcell.MF");
  StemcellManifest m = read_manifest(extracted.path() / "stemcell.MF");
  const fs::path image = extracted.path() / "image";
  if (!fs::is_regular_file(image)) fail("stemcell tarball has no image");
  if (!m.sha1.empty() && fs::file_size(image) > 0) {
    const std::string actual = file_digest(image, DigestAlgorithm::sha1);
    if (actual != m.sha1)
      fail("stemcell '{}/{}': the image's sha1 is {}, stemcell.MF says {}", m.name, m.version, actual, m.sha1);
  }
  // The CPI must take one of the stemcell's formats.
  if (!m.formats.empty() && ctx.services().cpi_info.type() == typeid(plugin::JsonObject::Ptr)) {
    auto info = ctx.services().cpi_info.extract<plugin::JsonObject::Ptr>();
    std::vector<std::string> supported;
    if (info->has("stemcell_formats"))
      for (const auto& f : *info->getArray("stemcell_formats")) supported.push_back(f.convert<std::string>());
    bool any = supported.empty();
    for (const auto& f : m.formats) any = any || std::find(supported.begin(), supported.end(), f) != supported.end();
    if (!any)
      fail("CPI '{}' supports stemcell formats {}, the stemcell has {}", ctx.config().cpi_plugin,
           format_list(supported), format_list(m.formats));
  }
  ctx.event(stage, "Verifying stemcell manifest", 2, total, "finished", 100);

  TaskLock lock(ctx, "stemcell", m.name + "/" + m.version, "is already being uploaded");
  ctx.event(stage, "Checking if this stemcell already exists", 3, total, "started");
  Database& db = ctx.db();
  auto existing = db.rows("SELECT id, cid FROM stemcells WHERE name = ? AND version = ?", {m.name, m.version});
  if (!existing.empty() && !fix) {
    ctx.event(stage, "Checking if this stemcell already exists", 3, total, "finished", 100);
    return fmt::format("Stemcell '{}/{}' already exists", m.name, m.version);
  }
  ctx.event(stage, "Checking if this stemcell already exists", 3, total, "finished", 100);
  ctx.check_cancelled();

  const std::string what = m.name + "/" + m.version;
  ctx.event(stage, "Uploading stemcell " + what + " to the cloud", 4, total, "started");
  const std::string cid = ctx.cpi().create_stemcell(image.string(), m.cloud_properties);
  ctx.debug(fmt::format("CPI create_stemcell({}) -> {}", what, cid));
  ctx.event(stage, "Uploading stemcell " + what + " to the cloud", 4, total, "finished", 100);

  ctx.event(stage, "Save stemcell " + what + " (" + cid + ")", 5, total, "started");
  try {
    if (!existing.empty()) {
      // --fix: the cloud's copy was made again; the old one goes.
      const std::string old_cid = existing[0][1];
      db.exec("UPDATE stemcells SET cid = ? WHERE id = ?", {cid, std::stoll(existing[0][0])});
      try {
        ctx.cpi().delete_stemcell(old_cid);
      } catch (const std::exception& e) {
        ctx.warning(fmt::format("could not delete the old stemcell {}: {}", old_cid, e.what()));
      }
    } else {
      db.exec("INSERT INTO stemcells (name, version, operating_system, cid, sha1, api_version, cpi, created_at) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
              {m.name, m.version, m.operating_system, cid, m.sha1, std::int64_t{m.api_version},
               ctx.config().cpi_plugin, now_seconds()});
    }
  } catch (const std::exception&) {
    // Not recorded: the cloud's copy must not be left behind.
    try {
      ctx.cpi().delete_stemcell(cid);
    } catch (const std::exception&) {
    }
    throw;
  }
  ctx.event(stage, "Save stemcell " + what + " (" + cid + ")", 5, total, "finished", 100);
  record_event(db, {ctx.task().username, "create", "stemcell", what, std::to_string(ctx.task().id)});
  return "/stemcells/" + m.name + "/" + m.version;
}

std::string delete_stemcell_task(TaskContext& ctx) {
  auto payload = as_object(parse_json(ctx.task().payload, "task payload"), "task payload");
  return delete_stemcell(ctx, get_string(payload, "name", "task payload"), get_string(payload, "version", "task payload"),
                         payload->has("force") && payload->getValue<bool>("force"));
}

std::string delete_stemcell(TaskContext& ctx, const std::string& name, const std::string& version, bool force) {
  Database& db = ctx.db();
  auto rows = db.rows("SELECT id, cid FROM stemcells WHERE name = ? AND version = ?", {name, version});
  if (rows.empty()) fail("Stemcell '{}/{}' does not exist", name, version);
  const std::int64_t id = std::stoll(rows[0][0]);
  const std::string cid = rows[0][1];
  auto users = db.rows("SELECT d.name FROM deployments d JOIN deployments_stemcells ds ON ds.deployment_id = d.id "
                       "WHERE ds.stemcell_id = ? ORDER BY d.name",
                       {id});
  if (!users.empty() && !force) {
    std::vector<std::string> names;
    for (const auto& r : users) names.push_back(r[0]);
    fail("Stemcell '{}/{}' is still in use by: {}", name, version, format_list(names).substr(1, format_list(names).size() - 2));
  }
  const std::string stage = "Deleting stemcell from cloud";
  ctx.event(stage, "Delete stemcell", 1, 1, "started");
  try {
    ctx.cpi().delete_stemcell(cid);
  } catch (const std::exception& e) {
    if (!force) throw;
    ctx.warning(fmt::format("CPI delete_stemcell({}) failed, removed anyway (--force): {}", cid, e.what()));
  }
  ctx.event(stage, "Delete stemcell", 1, 1, "finished", 100);
  auto s = db.session();
  s.begin();
  db.exec(s, "DELETE FROM deployments_stemcells WHERE stemcell_id = ?", {id});
  db.exec(s, "DELETE FROM stemcells WHERE id = ?", {id});
  s.commit();
  record_event(db, {ctx.task().username, "delete", "stemcell", name + "/" + version, std::to_string(ctx.task().id)});
  return fmt::format("Deleted stemcell '{}/{}' ({})", name, version, cid);
}

bool stemcell_exists(Database& db, const std::string& name, const std::string& version) {
  return !db.rows("SELECT id FROM stemcells WHERE name = ? AND version = ?", {name, version}).empty();
}

plugin::Json list_stemcells(Database& db) {
  Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
  for (const auto& r : db.rows("SELECT id, name, operating_system, version, cid, cpi, COALESCE(api_version, 1) "
                               "FROM stemcells ORDER BY name, id")) {
    Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
    o->set("id", r[0]);
    o->set("name", r[1]);
    o->set("operating_system", r[2]);
    o->set("version", r[3]);
    o->set("cid", r[4]);
    o->set("cpi", r[5]);
    o->set("api_version", std::stoi(r[6]));
    Poco::JSON::Array::Ptr deployments = new Poco::JSON::Array;
    for (const auto& d : db.rows("SELECT d.name FROM deployments d JOIN deployments_stemcells ds ON ds.deployment_id "
                                 "= d.id WHERE ds.stemcell_id = ? ORDER BY d.name",
                                 {std::stoll(r[0])})) {
      Poco::JSON::Object::Ptr dep = new Poco::JSON::Object;
      dep->set("name", d[0]);
      deployments->add(dep);
    }
    o->set("deployments", deployments);
    out->add(o);
  }
  return out;
}

}  // namespace bosh::director
