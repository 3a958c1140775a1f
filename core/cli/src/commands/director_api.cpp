// Talking to a director: login, logout, status, upload release, releases,
// tasks, task, cancel task, locks.
#include <ctime>
#include <iostream>

#include "../command.hpp"
#include "../director_client.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"

namespace bosh::cli {

namespace {

std::string when(std::int64_t t) { return utc_time(t); }

std::string str(const Poco::JSON::Object::Ptr& o, const std::string& key) {
  if (!o->has(key) || o->get(key).isEmpty()) return "";
  return o->get(key).toString();
}

int run_login(plugin::Invocation& inv, Context& ctx) {
  DirectorTarget target = current_target(ctx);
  std::string user = inv.args.size() > 0 ? inv.args[0] : "", password = inv.args.size() > 1 ? inv.args[1] : "";
  if (user.empty() || password.empty()) {
    if (ctx.global.non_interactive) throw plugin::UsageError("give USER and PASSWORD with -n");
    if (user.empty()) {
      std::cerr << "Username: ";
      std::getline(std::cin, user);
    }
    if (password.empty()) {
      std::cerr << "Password: ";
      std::getline(std::cin, password);
    }
  }
  target.user = user;
  target.password = password;
  DirectorClient client(target);
  auto info = as_object(client.get_json("/info"), "info");
  if (str(info, "user") != user) fail("cannot log in to {} as '{}': wrong user or password", target.url, user);
  ctx.config.set_credentials(target.url, user, password);
  ctx.config.set_director_facts(str(info, "name"), str(info, "uuid"), str(info, "version"));
  ctx.config.save();
  ctx.ui.line("Logged in to '" + str(info, "name") + "' as '" + user + "'");
  return 0;
}

int run_logout(plugin::Invocation&, Context& ctx) {
  DirectorTarget target = current_target(ctx);
  ctx.config.forget_credentials(target.url);
  ctx.config.save();
  ctx.ui.line("Logged out from " + target.url);
  return 0;
}

int run_status(plugin::Invocation&, Context& ctx) {
  ctx.ui.line("Config: " + ctx.config.path().string());
  auto url = ctx.global.target ? std::optional<std::string>(*ctx.global.target) : ctx.config.target();
  if (!url) {
    ctx.ui.line("Director: not set ('bosh target URL')");
    return 0;
  }
  DirectorTarget target = current_target(ctx);
  DirectorClient client(target);
  auto info = as_object(client.get_json("/info"), "info");
  Table t;
  t.content = "director";
  t.keys = {"name", "url", "version", "user", "uuid", "cpi"};
  t.headers = {"Name", "URL", "Version", "User", "UUID", "CPI"};
  std::string user = str(info, "user");
  t.rows.push_back({str(info, "name"), target.url, str(info, "version"), user.empty() ? "(not logged in)" : user,
                    str(info, "uuid"), str(info, "cpi")});
  ctx.ui.table(t);
  return 0;
}

int run_upload_release(plugin::Invocation& inv, Context& ctx) {
  DirectorClient client(current_target(ctx));
  const std::string& what = inv.args[0];
  std::int64_t id;
  if (what.rfind("http://", 0) == 0 || what.rfind("https://", 0) == 0) {
    Poco::JSON::Object::Ptr body = new Poco::JSON::Object;
    body->set("location", what);
    id = client.start_task("POST", "/releases", to_json(plugin::Json(body)), "application/json");
  } else {
    if (!std::filesystem::is_regular_file(what)) fail("{}: no such release tarball", what);
    id = client.upload_task(inv.has("fix") ? "/releases?fix=true" : "/releases", what, ctx.ui);
  }
  auto task = as_object(client.track(id, ctx.ui), "task");
  return task->getValue<std::string>("state") == "done" ? 0 : 1;
}

int run_releases(plugin::Invocation&, Context& ctx) {
  DirectorClient client(current_target(ctx));
  Table t;
  t.content = "releases";
  t.keys = {"name", "version", "commit_hash", "jobs"};
  t.headers = {"Name", "Version", "Commit Hash", "Jobs"};
  t.empty_text = "No releases.";
  const auto list1 = as_array(client.get_json("/releases"), "releases");  // kept alive for the loop
  for (const auto& r : *list1) {
    auto release = as_object(r, "release");
    for (const auto& v : *release->getArray("release_versions")) {
      auto version = as_object(v, "release version");
      std::string jobs;
      for (const auto& j : *version->getArray("job_names")) jobs += (jobs.empty() ? "" : ", ") + j.toString();
      std::string hash = str(version, "commit_hash");
      if (version->getValue<bool>("uncommitted_changes")) hash += "+";
      t.rows.push_back({release->getValue<std::string>("name"), str(version, "version"), hash, jobs});
    }
  }
  ctx.ui.table(t);
  return 0;
}

int run_tasks(plugin::Invocation& inv, Context& ctx) {
  DirectorClient client(current_target(ctx));
  std::string limit = inv.has("all") ? "10000" : inv.value("recent", "30");
  Table t;
  t.content = "tasks";
  t.keys = {"id", "state", "started_at", "user", "deployment", "description", "result"};
  t.headers = {"ID", "State", "Started At", "User", "Deployment", "Description", "Result"};
  t.empty_text = "No tasks.";
  const auto list2 = as_array(client.get_json("/tasks?limit=" + limit), "tasks");  // kept alive for the loop
  for (const auto& item : *list2) {
    auto task = as_object(item, "task");
    std::int64_t started = task->get("started_at").isEmpty() ? 0 : task->getValue<std::int64_t>("started_at");
    t.rows.push_back({str(task, "id"), str(task, "state"), when(started), str(task, "user"), str(task, "deployment"),
                      str(task, "description"), str(task, "result")});
  }
  ctx.ui.table(t);
  return 0;
}

int run_task(plugin::Invocation& inv, Context& ctx) {
  DirectorClient client(current_target(ctx));
  std::int64_t id = 0;
  if (inv.args.empty()) {
    const auto latest = as_array(client.get_json("/tasks?limit=1"), "tasks");
    if (latest->size() == 0) fail("there are no tasks yet");
    id = latest->getObject(0)->getValue<std::int64_t>("id");
  } else {
    try {
      id = std::stoll(inv.args[0]);
    } catch (const std::exception&) {
      throw plugin::UsageError("task id '" + inv.args[0] + "' is not a number");
    }
  }
  for (const char* type : {"event", "debug", "result"}) {
    if (!inv.has(type)) continue;
    auto r = client.request("GET", "/tasks/" + std::to_string(id) + "/output?type=" + type);
    if (r.status != 200) fail("task {}: no {} output (HTTP {})", id, type, r.status);
    ctx.ui.line(r.body);
    return 0;
  }
  auto task = as_object(client.track(id, ctx.ui), "task");
  return task->getValue<std::string>("state") == "done" ? 0 : 1;
}

int run_cancel_task(plugin::Invocation& inv, Context& ctx) {
  DirectorClient client(current_target(ctx));
  auto r = client.request("DELETE", "/task/" + inv.args[0]);
  if (r.status == 204) {
    ctx.ui.line("Task " + inv.args[0] + " is getting cancelled");
    return 0;
  }
  fail("cannot cancel task {}: HTTP {}", inv.args[0], r.status);
}

int run_locks(plugin::Invocation&, Context& ctx) {
  DirectorClient client(current_target(ctx));
  Table t;
  t.content = "locks";
  t.keys = {"type", "resource", "task_id", "user", "since", "expires"};
  t.headers = {"Type", "Resource", "Task ID", "User", "Since", "Expires"};
  t.empty_text = "No locks.";
  const auto list3 = as_array(client.get_json("/locks"), "locks");  // kept alive for the loop
  for (const auto& item : *list3) {
    auto lock = as_object(item, "lock");
    std::string resource;
    for (const auto& r : *lock->getArray("resource")) resource += (resource.empty() ? "" : ", ") + r.toString();
    t.rows.push_back({str(lock, "type"), resource, str(lock, "task_id"), str(lock, "user"),
                      when(std::stoll(str(lock, "since").empty() ? "0" : str(lock, "since"))),
                      when(std::stoll(str(lock, "timeout").empty() ? "0" : str(lock, "timeout")))});
  }
  ctx.ui.table(t);
  return 0;
}

int update_config(plugin::Invocation& inv, Context& ctx, const std::string& type) {
  DirectorClient client(current_target(ctx));
  Poco::JSON::Object::Ptr body = new Poco::JSON::Object;
  body->set("type", type);
  body->set("name", inv.value("name", "default"));
  body->set("content", read_file(inv.args[0]));
  auto r = client.request("POST", "/configs", to_json(plugin::Json(body)), "application/json");
  if (r.status == 401) fail("not logged in to {} (run 'bosh login')", client.target().url);
  if (r.status != 201) {
    std::string description = "HTTP " + std::to_string(r.status);
    try {
      description = as_object(parse_json(r.body, "reply"), "reply")->getValue<std::string>("description");
    } catch (const std::exception&) {
    }
    // The director names the line in "<type> config:L:C"; say which file that is.
    fail("{}: {}", inv.args[0], description);
  }
  ctx.ui.line("Updated " + type + " config '" + inv.value("name", "default") + "'");
  return 0;
}

int show_config(plugin::Invocation& inv, Context& ctx, const std::string& type) {
  DirectorClient client(current_target(ctx));
  const auto configs = as_array(client.get_json("/configs?type=" + type + "&latest=true"), "configs");
  const std::string name = inv.value("name", "default");
  for (const auto& c : *configs) {
    auto o = as_object(c, "config");
    if (o->getValue<std::string>("name") != name) continue;
    std::string content = o->getValue<std::string>("content");
    if (!content.empty() && content.back() == '\n') content.pop_back();
    ctx.ui.line(content);
    return 0;
  }
  fail("no {} config named '{}'", type, name);
}

int run_events(plugin::Invocation&, Context& ctx) {
  DirectorClient client(current_target(ctx));
  Table t;
  t.content = "events";
  t.keys = {"id", "time", "user", "action", "object_type", "object_name", "task", "deployment", "error"};
  t.headers = {"ID", "Time", "User", "Action", "Object Type", "Object Name", "Task ID", "Deployment", "Error"};
  t.empty_text = "No events.";
  const auto events = as_array(client.get_json("/events"), "events");
  for (const auto& item : *events) {
    auto e = as_object(item, "event");
    t.rows.push_back({str(e, "id"), when(e->getValue<std::int64_t>("timestamp")), str(e, "user"), str(e, "action"),
                      str(e, "object_type"), str(e, "object_name"), str(e, "task"), str(e, "deployment"),
                      str(e, "error")});
  }
  ctx.ui.table(t);
  return 0;
}

}  // namespace

void register_director_api_commands(CommandTable& table) {
  table.add_group({"Configs", "", "built-in", true});
  const plugin::OptionSpec name{"name", 0, "The config's name (default: default)", true, "NAME"};
  for (const std::string type : {"cloud", "runtime"}) {
    table.add({"Configs", "update " + type + "-config", "Store a new version of the " + type + " config",
               {{"FILE", true, false}}, {name},
               [type](plugin::Invocation& inv, Context& ctx) { return update_config(inv, ctx, type); }});
    table.add({"Configs", type + "-config", "Print the latest " + type + " config", {}, {name},
               [type](plugin::Invocation& inv, Context& ctx) { return show_config(inv, ctx, type); }});
  }
  table.add({"Director", "events", "List the director's events (who did what, when)", {}, {}, run_events});
  table.add({"Director", "login", "Log in to the current director (stored in the config file, mode 0600)",
             {{"USER", false, false}, {"PASSWORD", false, false}}, {}, run_login});
  table.add({"Director", "logout", "Forget the credentials for the current director", {}, {}, run_logout});
  table.add({"Director", "status", "Show the current director: name, URL, version, user, UUID, CPI", {}, {}, run_status});
  table.add({"Director", "tasks", "List recent tasks", {}, {{"recent", 0, "How many (default 30)", true, "N"}, {"all", 0, "Every task", false, ""}}, run_tasks});
  table.add({"Director", "task", "Follow a task (default: the latest) to its end, or print one of its logs",
             {{"ID", false, false}},
             {{"event", 0, "Print the event log", false, ""},
              {"debug", 0, "Print the debug log", false, ""},
              {"result", 0, "Print the result", false, ""}},
             run_task});
  table.add({"Director", "cancel task", "Cancel a queued or running task", {{"ID", true, false}}, {}, run_cancel_task});
  table.add({"Director", "locks", "List the director's locks: what, which task, who, since, until", {}, {}, run_locks});
  table.add({"Release", "upload release", "Upload a release tarball (path or URL) to the director",
             {{"PATH|URL", true, false}}, {{"fix", 0, "Upload again, replacing what is there", false, ""}},
             run_upload_release});
  table.add({"Release", "releases", "List the releases on the director", {}, {}, run_releases});
}

}  // namespace bosh::cli
