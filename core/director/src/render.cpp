// Template rendering: properties (manifest over job-spec defaults), links
// between jobs, the ERB renderer process (one per deploy), the rendered
// templates archive and BOSH's configuration hash.
#include <Poco/Pipe.h>
#include <Poco/PipeStream.h>
#include <Poco/Process.h>

#include <fstream>
#include <set>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/yaml.hpp"
#include "deploy.hpp"

namespace bosh::director::deploy {

namespace fs = std::filesystem;
using plugin::JsonArray;
using plugin::JsonObject;

namespace {

bool is_object(const Json& v) { return v.type() == typeid(JsonObject::Ptr); }

// Sets a dotted path in nested objects, creating them as needed.
void put(const JsonObject::Ptr& root, const std::string& dotted, const Json& value) {
  JsonObject::Ptr at = root;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = dotted.find('.', start);
    const std::string key = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (dot == std::string::npos) {
      at->set(key, value);
      return;
    }
    if (!at->has(key) || !is_object(at->get(key))) at->set(key, Json(JsonObject::Ptr(new JsonObject)));
    at = at->getObject(key);
    start = dot + 1;
  }
}

// A job's properties as its templates see them: every property its spec
// declares, from the manifest where set, else its default.
Json resolve_properties(const release::JobSpec& spec, const Json& source) {
  JsonObject::Ptr out = new JsonObject;
  for (const auto& [name, prop] : spec.properties) {
    if (auto v = dig(source, name); v && !v->isEmpty())
      put(out, name, *v);
    else if (prop.default_value)
      put(out, name, yaml_to_typed_json(*prop.default_value));
  }
  return out;
}

Json properties_source(const JobRef& job, const InstanceGroup& group, const DeploymentSpec& spec) {
  if (!job.properties.isEmpty()) return job.properties;
  if (!group.properties.isEmpty()) return group.properties;
  return spec.properties;
}

// The ERB renderer: one Ruby process, one JSON line each way per request.
class Renderer {
 public:
  explicit Renderer(const std::string& script) {
    if (script.empty()) fail("the ERB renderer (share/bosh/bosh_renderer.rb) is not installed");
    handle_ = std::make_unique<Poco::ProcessHandle>(
        Poco::Process::launch("ruby", {script}, &in_pipe_, &out_pipe_, nullptr));
    in_ = std::make_unique<Poco::PipeOutputStream>(in_pipe_);
    out_ = std::make_unique<Poco::PipeInputStream>(out_pipe_);
  }
  ~Renderer() {
    try {
      in_->close();
      handle_->wait();
    } catch (const std::exception&) {
    }
  }
  JsonObject::Ptr render(const Json& request) {
    *in_ << to_json(request) << "\n";
    in_->flush();
    std::string line;
    if (!std::getline(*out_, line)) fail("the ERB renderer (ruby) stopped answering");
    return as_object(parse_json(line, "renderer reply"), "renderer reply");
  }

 private:
  Poco::Pipe in_pipe_, out_pipe_;
  std::unique_ptr<Poco::ProcessHandle> handle_;
  std::unique_ptr<Poco::PipeOutputStream> in_;
  std::unique_ptr<Poco::PipeInputStream> out_;
};

struct Provider {
  std::string group, job, name, type;
  Json properties;
};

Json instances_of(const Plan& plan, const std::string& group) {
  JsonArray::Ptr out = new JsonArray;
  for (const auto& i : plan.instances) {
    if (i.group->name != group) continue;
    JsonObject::Ptr o = new JsonObject;
    o->set("name", group);
    o->set("id", i.uuid);
    o->set("index", i.index);
    o->set("az", i.az.empty() ? Json() : Json(i.az));
    o->set("address", i.address());
    o->set("bootstrap", i.bootstrap);
    out->add(o);
  }
  return out;
}

}  // namespace

void render_templates(Deployer& d, Plan& plan) {
  const DeploymentSpec& spec = plan.spec;

  // Job archives, unpacked once each.
  TempDir work("bosh-render");
  std::map<std::int64_t, fs::path> unpacked;
  auto job_dir = [&](const TemplateRow& t) {
    auto it = unpacked.find(t.id);
    if (it != unpacked.end()) return it->second;
    const fs::path tgz = work.path() / (std::to_string(t.id) + ".tgz"), dir = work.path() / std::to_string(t.id);
    blobstore::get_file(d.ctx().blobstore(), t.blobstore_id, tgz, strongest_digest(parse_multi_digest(t.sha1)));
    extract_tgz(tgz, dir);
    return unpacked[t.id] = dir;
  };

  // Providers of links, by the name consumers ask for.
  std::vector<Provider> providers;
  for (const auto& g : spec.groups) {
    if (g.lifecycle != "service" && !plan.errands.count(g.name)) continue;
    for (const auto& j : g.jobs) {
      const TemplateRow& t = plan.releases.at(j.release).templates.at(j.name);
      const Json props = resolve_properties(t.spec, properties_source(j, g, spec));
      auto manifest_provides = as_object(j.provides, "provides");
      for (const auto& p : t.spec.provides) {
        std::string name = p.name;
        if (manifest_provides->has(p.name)) {
          Json m = manifest_provides->get(p.name);
          if (m.isEmpty()) continue;  // `provides: {x: nil}`: not offered
          if (is_object(m)) name = find_string(m.extract<JsonObject::Ptr>(), "as", "provides").value_or(name);
        }
        JsonObject::Ptr shared = new JsonObject;
        for (const auto& prop : p.properties)
          if (auto v = dig(props, prop)) put(shared, prop, *v);
        providers.push_back({g.name, j.name, name, p.type, shared});
      }
    }
  }
  auto link_for = [&](const InstanceGroup& g, const JobRef& j, const release::LinkSpec& c) -> std::optional<Json> {
    auto manifest_consumes = as_object(j.consumes, "consumes");
    std::string wanted;
    if (manifest_consumes->has(c.name)) {
      Json m = manifest_consumes->get(c.name);
      if (m.isEmpty()) return std::nullopt;  // blocked
      if (is_object(m)) {
        auto mo = m.extract<JsonObject::Ptr>();
        if (mo->has("instances") || mo->has("properties") || mo->has("address")) {  // a manual link
          JsonObject::Ptr link = new JsonObject;
          link->set("instances", mo->has("instances") ? mo->get("instances") : plugin::json_array());
          link->set("properties", mo->has("properties") ? mo->get("properties") : plugin::json_object());
          if (mo->has("address")) link->set("address", mo->get("address"));
          return Json(link);
        }
        wanted = find_string(mo, "from", "consumes").value_or("");
        if (auto dot = wanted.rfind('.'); dot != std::string::npos) wanted = wanted.substr(dot + 1);
      }
    }
    std::vector<const Provider*> found;
    for (const auto& p : providers)
      if (p.type == c.type && (wanted.empty() || p.name == wanted)) found.push_back(&p);
    if (found.size() != 1) {
      if (found.empty() && c.optional && wanted.empty()) return std::nullopt;
      std::string candidates;
      for (const auto* p : found) candidates += fmt::format("\n   - {}.{}.{}", p->group, p->job, p->name);
      fail<InputError>("Failed to resolve link '{}' with type '{}' from job '{}' in instance group '{}'. {}{}", c.name,
                       c.type, j.name, g.name,
                       found.empty() ? (wanted.empty() ? std::string("No link providers found")
                                                       : "No provider named '" + wanted + "'")
                                     : std::string("Multiple link providers found:"),
                       candidates);
    }
    JsonObject::Ptr link = new JsonObject;
    Json instances = instances_of(plan, found[0]->group);
    link->set("instances", instances);
    link->set("properties", found[0]->properties);
    auto list = instances.extract<JsonArray::Ptr>();
    if (list->size() > 0) link->set("address", list->getObject(0)->getValue<std::string>("address"));
    link->set("instance_group", found[0]->group);
    link->set("deployment_name", spec.name);
    return Json(link);
  };

  std::unique_ptr<Renderer> renderer;
  std::vector<std::string> errors;
  int request_id = 0;
  for (auto& inst : plan.instances) {
    const InstanceGroup& g = *inst.group;
    // The spec every job of the instance sees, before its own properties and links.
    JsonObject::Ptr base = new JsonObject;
    base->set("deployment", spec.name);
    JsonObject::Ptr job_name = new JsonObject;
    job_name->set("name", g.name);
    base->set("job", job_name);
    base->set("name", g.name);
    base->set("index", inst.index);
    base->set("id", inst.uuid);
    base->set("az", inst.az.empty() ? Json() : Json(inst.az));
    base->set("bootstrap", inst.bootstrap);
    base->set("address", inst.address());
    base->set("ip", inst.address());
    base->set("networks", inst.network_settings);
    base->set("persistent_disk", g.persistent_disk_mb);
    base->set("resource_pool", g.vm_type);
    base->set("dns_domain_name", "bosh");
    inst.template_spec = base;

    struct Rendered {
      std::string job, monit;
      std::vector<std::pair<std::string, std::string>> files;  // (src, dest) sorted by src, contents below
      std::map<std::string, std::string> contents;              // dest -> text
    };
    std::vector<Rendered> jobs;
    std::vector<std::string> job_errors;
    for (const auto& j : g.jobs) {
      const TemplateRow& t = plan.releases.at(j.release).templates.at(j.name);
      JsonObject::Ptr context = as_object(parse_json(to_json(Json(base)), "spec"), "spec");
      context->set("properties", resolve_properties(t.spec, properties_source(j, g, spec)));
      JsonObject::Ptr links = new JsonObject;
      try {
        for (const auto& c : t.spec.consumes)
          if (auto link = link_for(g, j, c)) links->set(c.name, *link);
      } catch (const InputError& e) {
        job_errors.push_back(e.what());
        continue;
      }
      context->set("links", links);
      JsonObject::Ptr release = new JsonObject;
      release->set("name", j.release);
      release->set("version", plan.releases.at(j.release).version);
      context->set("release", release);

      const fs::path dir = job_dir(t);
      JsonArray::Ptr templates = new JsonArray;
      Rendered r;
      r.job = j.name;
      for (const auto& [src, dest] : t.spec.templates) {
        JsonObject::Ptr tpl = new JsonObject;
        tpl->set("name", src);
        tpl->set("path", (dir / "templates" / src).string());
        tpl->set("dest", dest);
        templates->add(tpl);
        r.files.emplace_back(src, dest);
      }
      std::error_code ec;
      if (fs::exists(dir / "monit", ec)) {
        JsonObject::Ptr tpl = new JsonObject;
        tpl->set("name", "monit");
        tpl->set("path", (dir / "monit").string());
        tpl->set("dest", "monit");
        templates->add(tpl);
      }
      JsonObject::Ptr request = new JsonObject;
      request->set("id", ++request_id);
      request->set("templates", templates);
      request->set("context", context);
      if (!renderer) renderer = std::make_unique<Renderer>(d.ctx().services().renderer);
      auto reply = renderer->render(request);
      if (reply->has("error")) {
        std::string lines, text = reply->getValue<std::string>("error");
        for (std::size_t start = 0; start < text.size();) {
          auto nl = text.find('\n', start);
          lines += "\n    - " + text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
          start = nl == std::string::npos ? text.size() : nl + 1;
        }
        job_errors.push_back(fmt::format("Unable to render templates for job '{}'. Errors are:{}", j.name, lines));
        continue;
      }
      auto rendered = reply->getObject("rendered");
      for (const auto& [dest, content] : *rendered) {
        if (dest == "monit")
          r.monit = content.convert<std::string>();
        else
          r.contents[dest] = content.convert<std::string>();
      }
      jobs.push_back(std::move(r));
    }
    if (!job_errors.empty()) {
      std::string text;
      for (const auto& e : job_errors) text += "\n  - " + e;
      errors.push_back(fmt::format("Unable to render jobs for instance group '{}'. Errors are:{}", g.name, text));
      continue;
    }

    // configuration_hash: jobs by name; each job's monit, name, then every
    // file (by source path) as contents + destination.
    std::sort(jobs.begin(), jobs.end(), [](const Rendered& a, const Rendered& b) { return a.job < b.job; });
    Hasher hasher(DigestAlgorithm::sha1);
    JsonObject::Ptr template_hashes = new JsonObject;
    for (auto& r : jobs) {
      std::sort(r.files.begin(), r.files.end());
      hasher.update(r.monit);
      hasher.update(r.job);
      Hasher job_hasher(DigestAlgorithm::sha1);
      job_hasher.update(r.monit);
      for (const auto& [src, dest] : r.files) {
        hasher.update(r.contents[dest]);
        hasher.update(dest);
        job_hasher.update(r.contents[dest]);
      }
      template_hashes->set(r.job, job_hasher.hex_final());
    }
    inst.configuration_hash = hasher.hex_final();

    // The archive: uploaded only when the configuration changed.
    Json old_archive;
    if (inst.existing) {
      if (auto v = dig(inst.existing->spec, "apply.configuration_hash");
          v && v->isString() && v->convert<std::string>() == inst.configuration_hash)
        if (auto a = dig(inst.existing->spec, "apply.rendered_templates_archive")) old_archive = *a;
    }
    if (!old_archive.isEmpty()) {
      inst.rendered_archive = old_archive;
    } else {
      const fs::path root = work.path() / ("instance-" + inst.uuid);
      std::vector<TarInput> inputs;
      for (const auto& r : jobs) {
        write_file_atomic(root / r.job / "monit", r.monit);
        inputs.push_back({r.job + "/monit", root / r.job / "monit", 0644u, false});
        for (const auto& [dest, content] : r.contents) {
          write_file_atomic(root / r.job / dest, content);
          const bool executable = dest.rfind("bin/", 0) == 0;
          inputs.push_back({r.job + "/" + dest, root / r.job / dest, executable ? 0755u : 0644u, false});
        }
      }
      const fs::path tgz = work.path() / ("instance-" + inst.uuid + ".tgz");
      create_tgz_from(inputs, tgz);
      auto stored = blobstore::put_file(d.ctx().blobstore(), tgz, DigestAlgorithm::sha1);
      JsonObject::Ptr archive = new JsonObject;
      archive->set("blobstore_id", stored.id);
      archive->set("sha1", stored.digest.hex);
      inst.rendered_archive = archive;
    }

    // The apply spec the agent gets.
    JsonObject::Ptr apply = new JsonObject, job = new JsonObject;
    JsonArray::Ptr templates = new JsonArray;
    for (const auto& j : g.jobs) {
      const TemplateRow& t = plan.releases.at(j.release).templates.at(j.name);
      JsonObject::Ptr o = new JsonObject;
      o->set("name", t.name);
      o->set("version", t.version);
      o->set("sha1", t.sha1);
      o->set("blobstore_id", t.blobstore_id);
      templates->add(o);
    }
    job->set("name", g.name);
    job->set("templates", templates);
    if (!g.jobs.empty()) {
      const TemplateRow& first = plan.releases.at(g.jobs[0].release).templates.at(g.jobs[0].name);
      job->set("template", first.name);
      job->set("version", first.version);
      job->set("sha1", first.sha1);
      job->set("blobstore_id", first.blobstore_id);
    }
    apply->set("deployment", spec.name);
    apply->set("job", job);
    apply->set("index", inst.index);
    apply->set("name", g.name);
    apply->set("id", inst.uuid);
    apply->set("az", inst.az.empty() ? Json() : Json(inst.az));
    apply->set("networks", inst.network_settings);
    apply->set("packages", inst.packages);
    apply->set("configuration_hash", inst.configuration_hash);
    apply->set("template_hashes", template_hashes);
    apply->set("rendered_templates_archive", inst.rendered_archive);
    apply->set("persistent_disk", g.persistent_disk_mb);
    apply->set("dns_domain_name", "bosh");
    inst.apply_spec = apply;
  }
  if (!errors.empty()) {
    // Every instance of a group fails the same way: each error once.
    std::string text;
    std::set<std::string> seen;
    for (const auto& e : errors)
      if (seen.insert(e).second) text += (text.empty() ? "" : "\n") + e;
    throw InputError(text);
  }
}

}  // namespace bosh::director::deploy
