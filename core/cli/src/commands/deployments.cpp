// Stemcells and deployments on a director: upload/list/delete stemcells,
// delete and inspect releases there, and the deployment commands (deployment,
// deploy, diff, deployments, vms, instances, start/stop/restart/recreate,
// delete deployment, run errand, logs, manifest, cleanup, disks).
#include <Poco/URI.h>

#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "../command.hpp"
#include "../director_client.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/yaml.hpp"

namespace bosh::cli {

namespace fs = std::filesystem;
using plugin::Json;
using plugin::JsonArray;
using plugin::JsonObject;

namespace {

std::string str(const JsonObject::Ptr& o, const std::string& key) {
  if (!o->has(key) || o->get(key).isEmpty()) return "";
  return o->get(key).toString();
}

std::string encode(const std::string& s) {
  std::string out;
  Poco::URI::encode(s, "/?#&=+ ", out);
  return out;
}

bool is_url(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }

int task_exit(const Json& task) {
  return as_object(task, "task")->getValue<std::string>("state") == "done" ? 0 : 1;
}

// Asks unless -n; false when the answer is not "yes".
bool confirm(Context& ctx, const std::string& question) {
  if (ctx.global.non_interactive) return true;
  std::cerr << question << " (type 'yes' to continue): ";
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "yes";
}

// ---- stemcells -------------------------------------------------------------------------

int run_upload_stemcell(plugin::Invocation& inv, Context& ctx) {
  DirectorClient client(current_target(ctx));
  const std::string& what = inv.args[0];
  const std::string query = inv.has("fix") ? "?fix=true" : "";
  std::int64_t id;
  if (is_url(what)) {
    JsonObject::Ptr body = new JsonObject;
    body->set("location", what);
    id = client.start_task("POST", "/stemcells" + query, to_json(Json(body)), "application/json");
  } else {
    if (!fs::is_regular_file(what)) fail("{}: no such stemcell tarball", what);
    id = client.upload_task("/stemcells" + query, what, ctx.ui);
  }
  return task_exit(client.track(id, ctx.ui));
}

int run_stemcells(plugin::Invocation&, Context& ctx) {
  DirectorClient client(current_target(ctx));
  Table t;
  t.content = "stemcells";
  t.keys = {"name", "version", "os", "cpi", "cid", "deployments"};
  t.headers = {"Name", "Version", "OS", "CPI", "CID", "Deployments"};
  t.empty_text = "No stemcells.";
  const auto list = as_array(client.get_json("/stemcells"), "stemcells");
  for (const auto& item : *list) {
    auto s = as_object(item, "stemcell");
    std::string deps;
    for (const auto& d : *s->getArray("deployments"))
      deps += (deps.empty() ? "" : ", ") + d.extract<JsonObject::Ptr>()->getValue<std::string>("name");
    t.rows.push_back({str(s, "name"), str(s, "version") + (deps.empty() ? "" : "*"), str(s, "operating_system"),
                      str(s, "cpi"), str(s, "cid"), deps});
  }
  if (std::any_of(t.rows.begin(), t.rows.end(), [](const auto& r) { return !r.back().empty(); }))
    t.footer = fmt::format("(*) Currently deployed\n{} stemcells", t.rows.size());
  ctx.ui.table(t);
  return 0;
}

std::pair<std::string, std::string> name_version(const std::string& arg, const char* what) {
  auto slash = arg.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == arg.size())
    throw plugin::UsageError(std::string("expected ") + what + " as NAME/VERSION, got '" + arg + "'");
  return {arg.substr(0, slash), arg.substr(slash + 1)};
}

int run_delete_stemcell(plugin::Invocation& inv, Context& ctx) {
  auto [name, version] = name_version(inv.args[0], "the stemcell");
  if (!confirm(ctx, "Delete stemcell '" + inv.args[0] + "'?")) return 1;
  DirectorClient client(current_target(ctx));
  const std::string path =
      "/stemcells/" + encode(name) + "/" + encode(version) + (inv.has("force") ? "?force=true" : "");
  return task_exit(client.track(client.start_task("DELETE", path, "", ""), ctx.ui));
}

int run_delete_release(plugin::Invocation& inv, Context& ctx) {
  std::string name = inv.args[0], version;
  if (auto slash = name.find('/'); slash != std::string::npos) {
    version = name.substr(slash + 1);
    name = name.substr(0, slash);
  }
  if (!confirm(ctx, "Delete release '" + inv.args[0] + "'?")) return 1;
  DirectorClient client(current_target(ctx));
  std::string path = "/releases/" + encode(name);
  std::string query;
  if (!version.empty()) query += "version=" + encode(version);
  if (inv.has("force")) query += std::string(query.empty() ? "" : "&") + "force=true";
  if (!query.empty()) path += "?" + query;
  return task_exit(client.track(client.start_task("DELETE", path, "", ""), ctx.ui));
}

// ---- deployments -----------------------------------------------------------------------

// The deployment the command is about: -d NAME, or the name in the manifest
// `bosh deployment` chose.
std::string deployment_name(plugin::Invocation& inv, Context& ctx) {
  if (inv.has("deployment")) return inv.value("deployment");
  DirectorTarget target = current_target(ctx);
  auto manifest = ctx.config.deployment(target.url);
  if (!manifest) fail("no deployment set: run 'bosh deployment FILE' (or give -d NAME)");
  auto root = as_object(yaml_to_typed_json(load_yaml_file(*manifest)), manifest->string());
  auto name = find_string(root, "name", manifest->string());
  if (!name) fail("{}: the manifest has no 'name'", manifest->string());
  return *name;
}

fs::path manifest_path(plugin::Invocation& inv, Context& ctx) {
  if (!inv.args.empty()) return inv.args[0];
  DirectorTarget target = current_target(ctx);
  auto manifest = ctx.config.deployment(target.url);
  if (!manifest) fail("no deployment manifest set: run 'bosh deployment FILE' or give the manifest");
  return *manifest;
}

int run_deployment(plugin::Invocation& inv, Context& ctx) {
  DirectorTarget target = current_target(ctx);
  if (inv.args.empty()) {
    auto manifest = ctx.config.deployment(target.url);
    if (!manifest) {
      ctx.ui.line("Deployment not set");
      return 1;
    }
    ctx.ui.line("Current deployment is '" + manifest->string() + "'");
    return 0;
  }
  const fs::path manifest = fs::absolute(inv.args[0]);
  auto root = as_object(yaml_to_typed_json(load_yaml_file(manifest)), manifest.string());
  if (!find_string(root, "name", manifest.string())) fail("{}: the manifest has no 'name'", manifest.string());
  ctx.config.set_deployment(target.url, manifest);
  ctx.config.save();
  ctx.ui.line("Deployment set to '" + manifest.string() + "'");
  return 0;
}

// Prints the director's diff of the manifest against what is deployed.
void show_diff(Context& ctx, DirectorClient& client, const std::string& name, const std::string& manifest,
               bool redact) {
  auto r = client.request("POST", "/deployments/" + encode(name) + "/diff" + (redact ? "" : "?redact=false"), manifest,
                          "text/yaml");
  if (r.status == 401) fail("not logged in to {} (run 'bosh login')", client.target().url);
  if (r.status != 200) fail("director: {}", director_error(r));  // e.g. what the deploy would refuse
  auto o = as_object(parse_json(r.body, "diff"), "diff");
  if (o->has("error")) ctx.ui.warn(o->getValue<std::string>("error"));
  ctx.ui.line("Detecting deployment changes");
  ctx.ui.line("----------------------------");
  bool any = false;
  for (const auto& l : *o->getArray("diff")) {
    auto pair = l.extract<JsonArray::Ptr>();
    const std::string text = pair->get(0).convert<std::string>();
    const std::string status = pair->get(1).isEmpty() ? "" : pair->get(1).convert<std::string>();
    if (status == "added") {
      any = true;
      ctx.ui.line(ctx.ui.color() ? ctx.ui.green("+ " + text) : "+ " + text);
    } else if (status == "removed") {
      any = true;
      ctx.ui.line(ctx.ui.color() ? ctx.ui.red("- " + text) : "- " + text);
    } else {
      ctx.ui.line("  " + text);
    }
  }
  if (!any) ctx.ui.line("No changes");
}

// The manifest's text and its deployment name.
std::pair<std::string, std::string> read_manifest(const fs::path& path) {
  std::string manifest = read_file(path);
  auto root = as_object(yaml_to_typed_json(parse_yaml(manifest, path.string())), path.string());
  auto name = find_string(root, "name", path.string());
  if (!name) fail("{}: the manifest has no 'name'", path.string());
  return {std::move(manifest), *name};
}

int run_deploy(plugin::Invocation& inv, Context& ctx) {
  const fs::path path = manifest_path(inv, ctx);
  const auto [manifest, deployment] = read_manifest(path);
  const std::optional<std::string> name = deployment;
  DirectorClient client(current_target(ctx));
  // A manifest given while none is set becomes the deployment, as `bosh deployment FILE` would.
  if (!inv.args.empty() && !ctx.config.deployment(client.target().url)) {
    ctx.config.set_deployment(client.target().url, fs::absolute(path));
    ctx.config.save();
  }
  show_diff(ctx, client, *name, manifest, !inv.has("no-redact"));
  if (!inv.has("dry-run") && !confirm(ctx, "Are you sure you want to deploy?")) return 1;
  std::string query;
  auto add = [&](const std::string& kv) { query += (query.empty() ? "?" : "&") + kv; };
  if (inv.has("recreate")) add("recreate=true");
  if (inv.has("fix")) add("fix=true");
  if (inv.has("skip-drain")) add("skip_drain=true");
  if (inv.has("dry-run")) add("dry_run=true");
  if (inv.has("canaries")) add("canaries=" + encode(inv.value("canaries")));
  if (inv.has("max-in-flight")) add("max_in_flight=" + encode(inv.value("max-in-flight")));
  auto task = client.track(client.start_task("POST", "/deployments" + query, manifest, "text/yaml"), ctx.ui);
  const int rc = task_exit(task);
  if (rc == 0)
    ctx.ui.line(fmt::format("Deployed '{}' to '{}'{}", *name, client.target().url, inv.has("dry-run") ? " (dry run)" : ""));
  return rc;
}

int run_diff(plugin::Invocation& inv, Context& ctx) {
  const auto [manifest, name] = read_manifest(manifest_path(inv, ctx));
  DirectorClient client(current_target(ctx));
  show_diff(ctx, client, name, manifest, !inv.has("no-redact"));
  return 0;
}

int run_deployments(plugin::Invocation&, Context& ctx) {
  DirectorClient client(current_target(ctx));
  Table t;
  t.content = "deployments";
  t.keys = {"name", "release_s", "stemcell_s", "cloud_config"};
  t.headers = {"Name", "Release(s)", "Stemcell(s)", "Cloud Config"};
  t.empty_text = "No deployments.";
  const auto list = as_array(client.get_json("/deployments"), "deployments");
  for (const auto& item : *list) {
    auto d = as_object(item, "deployment");
    std::string releases, stemcells;
    for (const auto& r : *d->getArray("releases")) {
      auto o = r.extract<JsonObject::Ptr>();
      releases += (releases.empty() ? "" : ", ") + str(o, "name") + "/" + str(o, "version");
    }
    for (const auto& s : *d->getArray("stemcells")) {
      auto o = s.extract<JsonObject::Ptr>();
      stemcells += (stemcells.empty() ? "" : ", ") + str(o, "name") + "/" + str(o, "version");
    }
    t.rows.push_back({str(d, "name"), releases, stemcells, str(d, "cloud_config")});
  }
  ctx.ui.table(t);
  return 0;
}

std::string percent_kb(const Json& v) {
  if (v.type() != typeid(JsonObject::Ptr)) return "";
  auto o = v.extract<JsonObject::Ptr>();
  const std::string pct = str(o, "percent"), kb = str(o, "kb");
  if (pct.empty()) return "";
  std::string size = kb;
  try {
    const double k = std::stod(kb);
    size = k >= 1048576 ? fmt::format("{:.1f}G", k / 1048576) : fmt::format("{:.1f}M", k / 1024);
  } catch (const std::exception&) {
  }
  return pct + "% (" + size + ")";
}

std::string disk_pct(const Json& vitals, const std::string& which) {
  auto v = dig(vitals, "disk." + which + ".percent");
  return v ? v->convert<std::string>() + "%" : "";
}

// vms / instances: from the DB, or with --vitals/--ps through the agents (a task).
int run_vms_or_instances(plugin::Invocation& inv, Context& ctx, bool instances) {
  DirectorClient client(current_target(ctx));
  const std::string name = deployment_name(inv, ctx);
  Table t;
  t.content = instances ? "instances" : "vms";
  t.keys = {instances ? "instance" : "vm", "process_state", "az", "ips"};
  t.headers = {instances ? "Instance" : "VM", "Process State", "AZ", "IPs"};
  if (!instances || inv.has("details")) {
    t.keys.insert(t.keys.end(), {"vm_cid", "vm_type"});
    t.headers.insert(t.headers.end(), {"VM CID", "VM Type"});
  }
  if (inv.has("details")) {
    t.keys.insert(t.keys.end(), {"disk_cids", "agent_id"});
    t.headers.insert(t.headers.end(), {"Disk CIDs", "Agent ID"});
  }
  const bool vitals = inv.has("vitals");
  if (vitals) {
    t.keys.insert(t.keys.end(), {"load", "cpu_user", "cpu_sys", "cpu_wait", "memory", "swap", "system_disk",
                                 "ephemeral_disk", "persistent_disk"});
    t.headers.insert(t.headers.end(), {"Load (1m, 5m, 15m)", "CPU User", "CPU Sys", "CPU Wait", "Memory Usage",
                                       "Swap Usage", "System Disk Usage", "Ephemeral Disk Usage",
                                       "Persistent Disk Usage"});
  }
  t.empty_text = instances ? "No instances." : "No VMs.";
  const std::string path = "/deployments/" + encode(name) + (instances ? "/instances" : "/vms") + "?format=full";
  const std::int64_t id = client.start_task("GET", path, "", "");
  // Quietly: only the table is of interest.
  for (;;) {
    auto task = as_object(client.get_json("/tasks/" + std::to_string(id)), "task");
    const std::string state = task->getValue<std::string>("state");
    if (state == "done") break;
    if (state != "queued" && state != "processing") fail("task {} {}: {}", id, state, str(task, "result"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto r = client.request("GET", "/tasks/" + std::to_string(id) + "/output?type=result");
  std::istringstream lines(r.body);
  int total = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    auto o = as_object(parse_json(line, "vm state"), "vm state");
    if (!instances && o->get("vm_cid").isEmpty()) continue;
    ++total;
    std::string ips;
    for (const auto& ip : *o->getArray("ips")) ips += (ips.empty() ? "" : "\n") + ip.convert<std::string>();
    std::string label = str(o, "job_name") + "/" + str(o, "id");
    if (instances && o->has("bootstrap") && o->get("bootstrap").convert<bool>()) label += "*";
    std::string state = str(o, "job_state");
    if (state.empty()) state = str(o, "state") == "detached" ? "detached" : "-";
    std::vector<std::string> row = {label, state, str(o, "az"), ips};
    if (!instances || inv.has("details")) {
      row.push_back(str(o, "vm_cid"));
      row.push_back(str(o, "vm_type"));
    }
    if (inv.has("details")) {
      std::string disks;
      for (const auto& dc : *o->getArray("disk_cids")) disks += (disks.empty() ? "" : "\n") + dc.convert<std::string>();
      row.push_back(disks);
      row.push_back(str(o, "agent_id"));
    }
    if (vitals) {
      const Json v = o->get("vitals");
      std::string load;
      if (auto l = dig(v, "load"); l && l->type() == typeid(JsonArray::Ptr))
        for (const auto& x : *l->extract<JsonArray::Ptr>()) load += (load.empty() ? "" : ", ") + x.convert<std::string>();
      auto cpu = [&](const char* k) {
        auto c = dig(v, std::string("cpu.") + k);
        return c ? c->convert<std::string>() + "%" : std::string();
      };
      row.insert(row.end(), {load, cpu("user"), cpu("sys"), cpu("wait"), percent_kb(dig(v, "mem").value_or(Json())),
                             percent_kb(dig(v, "swap").value_or(Json())), disk_pct(v, "system"),
                             disk_pct(v, "ephemeral"), disk_pct(v, "persistent")});
    }
    t.rows.push_back(row);
    if (inv.has("ps") && o->has("processes") && !o->get("processes").isEmpty())
      for (const auto& p : *o->getArray("processes")) {
        auto po = p.extract<JsonObject::Ptr>();
        std::vector<std::string> prow = {"  " + str(po, "name"), str(po, "state")};
        prow.resize(t.keys.size());
        t.rows.push_back(prow);
      }
  }
  ctx.ui.line("Deployment '" + name + "'");
  t.footer = (instances ? "(*) Bootstrap node\n" : "") + fmt::format("{} total: {}", instances ? "Instances" : "VMs", total);
  ctx.ui.table(t);
  return 0;
}

int change_state(plugin::Invocation& inv, Context& ctx, const std::string& state) {
  DirectorClient client(current_target(ctx));
  const std::string name = deployment_name(inv, ctx);
  std::string group = "*", instance;
  if (!inv.args.empty()) {
    group = inv.args[0];
    if (auto slash = group.find('/'); slash != std::string::npos) {
      instance = group.substr(slash + 1);
      group = group.substr(0, slash);
    }
  }
  std::string s = state;
  if (state == "stopped" && inv.has("hard")) s = "detached";
  std::string path = "/deployments/" + encode(name) + "/jobs/" + encode(group) +
                     (instance.empty() ? "" : "/" + encode(instance)) + "?state=" + s;
  if (inv.has("skip-drain")) path += "&skip_drain=true";
  const std::string what = instance.empty() ? (group == "*" ? "all instances" : "'" + group + "'")
                                            : "'" + group + "/" + instance + "'";
  const char* verb = state == "started" ? "Start" : state == "stopped" ? "Stop" : state == "restart" ? "Restart" : "Recreate";
  if (!confirm(ctx, fmt::format("{} {} of deployment '{}'?", verb, what, name))) return 1;
  return task_exit(client.track(client.start_task("PUT", path, "", "text/yaml"), ctx.ui));
}

int run_delete_deployment(plugin::Invocation& inv, Context& ctx) {
  DirectorClient client(current_target(ctx));
  const std::string name = inv.args.empty() ? deployment_name(inv, ctx) : inv.args[0];
  if (!confirm(ctx, "Delete deployment '" + name + "'? Its VMs and disks go")) return 1;
  std::string path = "/deployments/" + encode(name);
  if (inv.has("force")) path += "?force=true";
  return task_exit(client.track(client.start_task("DELETE", path, "", ""), ctx.ui));
}

int run_run_errand(plugin::Invocation& inv, Context& ctx) {
  DirectorClient client(current_target(ctx));
  const std::string name = deployment_name(inv, ctx);
  JsonObject::Ptr body = new JsonObject;
  body->set("keep-alive", inv.has("keep-alive"));
  const std::int64_t id = client.start_task("POST", "/deployments/" + encode(name) + "/errands/" + encode(inv.args[0]) +
                                                      "/runs",
                                            to_json(Json(body)), "application/json");
  auto task = client.track(id, ctx.ui);
  if (task_exit(task) != 0) return 1;
  auto r = client.request("GET", "/tasks/" + std::to_string(id) + "/output?type=result");
  std::istringstream lines(r.body);
  int worst = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    auto o = as_object(parse_json(line, "errand result"), "errand result");
    const int code = o->getValue<int>("exit_code");
    worst = std::max(worst, code);
    ctx.ui.line("");
    ctx.ui.line(fmt::format("Instance   {}", str(o, "instance")));
    ctx.ui.line(fmt::format("Exit Code  {}", code));
    ctx.ui.line("Stdout     " + str(o, "stdout"));
    ctx.ui.line("Stderr     " + str(o, "stderr"));
  }
  return worst == 0 ? 0 : 1;
}

int run_logs(plugin::Invocation& inv, Context& ctx) {
  DirectorClient client(current_target(ctx));
  const std::string name = deployment_name(inv, ctx);
  const std::string arg = inv.args[0];
  auto slash = arg.find('/');
  const std::string group = arg.substr(0, slash), instance = slash == std::string::npos ? "0" : arg.substr(slash + 1);
  std::string path = "/deployments/" + encode(name) + "/jobs/" + encode(group) + "/" + encode(instance) +
                     "/logs?type=" + (inv.has("agent") ? "agent" : "job");
  if (inv.has("only")) path += "&filters=" + encode(inv.value("only"));
  const std::int64_t id = client.start_task("GET", path, "", "");
  auto task = as_object(client.track(id, ctx.ui), "task");
  if (task->getValue<std::string>("state") != "done") return 1;
  const std::string blob = task->getValue<std::string>("result");
  auto r = client.request("GET", "/resources/" + encode(blob));
  if (r.status != 200) fail("downloading logs {}: HTTP {}", blob, r.status);
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  const fs::path dir = inv.has("dir") ? fs::path(inv.value("dir")) : fs::current_path();
  const fs::path out = dir / fmt::format("{}.{}.{}-{}.tgz", name, group, instance, stamp);
  write_file_atomic(out, r.body);
  ctx.ui.line("Downloaded logs to '" + out.string() + "'");
  return 0;
}

int run_manifest(plugin::Invocation& inv, Context& ctx) {
  DirectorClient client(current_target(ctx));
  const std::string name = deployment_name(inv, ctx);
  auto o = as_object(client.get_json("/deployments/" + encode(name)), "deployment");
  std::string text = o->getValue<std::string>("manifest");
  if (!text.empty() && text.back() == '\n') text.pop_back();
  ctx.ui.line(text);
  return 0;
}

int run_cleanup(plugin::Invocation& inv, Context& ctx) {
  DirectorClient client(current_target(ctx));
  if (!confirm(ctx, inv.has("all") ? "Delete every unused release, stemcell and orphaned disk?"
                                   : "Delete unused releases and stemcells (keeping the two newest)?"))
    return 1;
  JsonObject::Ptr body = new JsonObject, config = new JsonObject;
  config->set("remove_all", inv.has("all"));
  body->set("config", config);
  return task_exit(client.track(client.start_task("POST", "/cleanup", to_json(Json(body)), "application/json"), ctx.ui));
}

int run_disks(plugin::Invocation&, Context& ctx) {
  DirectorClient client(current_target(ctx));
  Table t;
  t.content = "disks";
  t.keys = {"disk_cid", "size", "deployment", "instance", "orphaned_at"};
  t.headers = {"Disk CID", "Size (MB)", "Deployment", "Instance", "Orphaned At"};
  t.empty_text = "No orphaned disks.";
  const auto list = as_array(client.get_json("/disks?orphaned=true"), "disks");
  for (const auto& item : *list) {
    auto d = as_object(item, "disk");
    t.rows.push_back({str(d, "disk_cid"), str(d, "size"), str(d, "deployment_name"), str(d, "instance_name"),
                      str(d, "orphaned_at")});
  }
  ctx.ui.table(t);
  return 0;
}

}  // namespace

int inspect_remote_release(plugin::Invocation& inv, Context& ctx) {
  auto [name, version] = name_version(inv.args[0], "the release");
  DirectorClient client(current_target(ctx));
  auto r = as_object(client.get_json("/releases/" + encode(name) + "?version=" + encode(version)), "release");
  Table jobs;
  jobs.content = "jobs";
  jobs.keys = {"job", "fingerprint", "blobstore_id", "sha1"};
  jobs.headers = {"Job", "Fingerprint", "Blobstore ID", "SHA1"};
  for (const auto& j : *r->getArray("jobs")) {
    auto o = j.extract<JsonObject::Ptr>();
    jobs.rows.push_back({str(o, "name") + "/" + str(o, "version"), str(o, "fingerprint"), str(o, "blobstore_id"),
                         str(o, "sha1")});
  }
  Table packages;
  packages.content = "packages";
  packages.keys = {"package", "compiled_for", "blobstore_id", "sha1"};
  packages.headers = {"Package", "Compiled for", "Blobstore ID", "SHA1"};
  for (const auto& p : *r->getArray("packages")) {
    auto o = p.extract<JsonObject::Ptr>();
    packages.rows.push_back({str(o, "name") + "/" + str(o, "version"), "(source)", str(o, "blobstore_id"), str(o, "sha1")});
    for (const auto& c : *o->getArray("compiled_packages")) {
      auto co = c.extract<JsonObject::Ptr>();
      packages.rows.push_back({"", str(co, "stemcell"), str(co, "blobstore_id"), str(co, "sha1")});
    }
  }
  ctx.ui.line(fmt::format("Release {}/{} (commit {})", name, version, str(r, "commit_hash")));
  ctx.ui.table(jobs);
  ctx.ui.table(packages);
  return 0;
}

void register_deployment_commands(CommandTable& table) {
  const plugin::OptionSpec dep{"deployment", 'd', "The deployment (default: the one 'bosh deployment' set)", true,
                               "NAME"};
  table.add({"Stemcell", "upload stemcell", "Upload a stemcell tarball (path or URL) to the director",
             {{"PATH|URL", true, false}}, {{"fix", 0, "Upload again, replacing the cloud's copy", false, ""}},
             run_upload_stemcell});
  table.add({"Stemcell", "stemcells", "List the stemcells on the director", {}, {}, run_stemcells});
  table.add({"Stemcell", "delete stemcell", "Delete a stemcell (refused while a deployment uses it)",
             {{"NAME/VERSION", true, false}}, {{"force", 0, "Delete even if in use", false, ""}}, run_delete_stemcell});
  table.add({"Release", "delete release", "Delete a release, or one version of it, from the director",
             {{"NAME[/VERSION]", true, false}}, {{"force", 0, "Delete even if in use", false, ""}}, run_delete_release});

  table.add_group({"Deployment", "", "built-in", true});
  table.add({"Deployment", "deployment", "Set (or show) the deployment manifest for this director",
             {{"FILE", false, false}}, {}, run_deployment});
  table.add({"Deployment", "deploy", "Deploy the manifest: show the diff, confirm, then converge",
             {{"MANIFEST", false, false}},
             {{"recreate", 0, "Recreate every VM", false, ""},
              {"fix", 0, "Recreate VMs whose agents do not answer", false, ""},
              {"skip-drain", 0, "Do not run drain scripts", false, ""},
              {"dry-run", 0, "Plan only: no VM, disk or database change", false, ""},
              {"canaries", 0, "Canaries per instance group (N or N%)", true, "N"},
              {"max-in-flight", 0, "Instances updated at once (N or N%)", true, "N"},
              {"no-redact", 0, "Show properties in the diff", false, ""}},
             run_deploy});
  table.add({"Deployment", "diff", "Show what deploying the manifest would change", {{"MANIFEST", false, false}},
             {{"no-redact", 0, "Show properties in the diff", false, ""}}, run_diff});
  table.add({"Deployment", "deployments", "List the deployments", {}, {}, run_deployments});
  table.add({"Deployment", "vms", "List the deployment's VMs", {},
             {dep, {"vitals", 0, "Show load, CPU, memory and disk usage", false, ""},
              {"details", 0, "Show disk CIDs and agent ids", false, ""}},
             [](plugin::Invocation& inv, Context& ctx) { return run_vms_or_instances(inv, ctx, false); }});
  table.add({"Deployment", "instances", "List the deployment's instances", {},
             {dep, {"ps", 0, "Show each instance's processes", false, ""},
              {"vitals", 0, "Show load, CPU, memory and disk usage", false, ""},
              {"details", 0, "Show VM and disk CIDs and agent ids", false, ""}},
             [](plugin::Invocation& inv, Context& ctx) { return run_vms_or_instances(inv, ctx, true); }});
  for (const auto& [word, state] : {std::pair{"start", "started"}, std::pair{"stop", "stopped"},
                                    std::pair{"restart", "restart"}, std::pair{"recreate", "recreate"}}) {
    std::vector<plugin::OptionSpec> options = {dep, {"skip-drain", 0, "Do not run drain scripts", false, ""}};
    if (std::string(word) == "stop") options.push_back({"hard", 0, "Also delete the VMs (disks are kept)", false, ""});
    const std::string s = state;
    table.add({"Deployment", word, std::string("The instances' jobs: ") + word + " (all, a group, or GROUP/ID)",
               {{"GROUP[/ID]", false, false}}, options,
               [s](plugin::Invocation& inv, Context& ctx) { return change_state(inv, ctx, s); }});
  }
  table.add({"Deployment", "delete deployment", "Delete a deployment with its VMs and disks", {{"NAME", false, false}},
             {dep, {"force", 0, "Go on past errors (agents that do not answer, CPI failures)", false, ""}},
             run_delete_deployment});
  table.add({"Deployment", "run errand", "Run an errand and show its output", {{"NAME", true, false}},
             {dep, {"keep-alive", 0, "Keep the errand's VMs afterwards", false, ""}}, run_run_errand});
  table.add({"Deployment", "logs", "Download an instance's job (or agent) logs as a tarball", {{"GROUP/ID", true, false}},
             {dep, {"agent", 0, "The agent's logs instead of the jobs'", false, ""},
              {"only", 0, "Only these files (comma-separated globs)", true, "GLOBS"},
              {"dir", 0, "Where to put the tarball", true, "DIR"}},
             run_logs});
  table.add({"Deployment", "manifest", "Print the deployed manifest", {}, {dep}, run_manifest});
  table.add({"Director", "cleanup", "Delete unused releases and stemcells (and orphaned disks with --all)", {},
             {{"all", 0, "Delete every unused one, and orphaned disks", false, ""}}, run_cleanup});
  table.add({"Director", "disks", "List orphaned disks", {}, {{"orphaned", 0, "Orphaned disks (the default)", false, ""}},
             run_disks});
}

}  // namespace bosh::cli
