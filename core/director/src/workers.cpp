#include "bosh/director/workers.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include <Poco/JSON/Stringifier.h>

#include "bosh/common/clock.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"
#include "bosh/common/utf8.hpp"
#include "bosh/director/api.hpp"

namespace bosh::director {

namespace fs = std::filesystem;

TaskContext::TaskContext(const Task& task, DirectorServices& services) : task_(task), services_(services) {
  fs::create_directories(task_log_dir(config(), task_.id));
}

plugin::Cpi& TaskContext::cpi() {
  std::lock_guard lock(mutex_);
  if (!cpi_) cpi_ = services_.make_cpi();
  return *cpi_;
}

void TaskContext::append(const std::string& file, const std::string& text) {
  std::lock_guard lock(mutex_);
  std::ofstream out(task_log_dir(config(), task_.id) / file, std::ios::app);
  out << text;
}

void TaskContext::result_line(const std::string& line) { append("result", line + "\n"); }

void TaskContext::empty_result() { append("result", ""); }

void TaskContext::warning(const std::string& message) {
  Poco::JSON::Object::Ptr e = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
  e->set("time", now_seconds());
  e->set("type", "warning");
  e->set("message", message);
  std::ostringstream line;
  Poco::JSON::Stringifier::stringify(e, line);
  append("event", line.str() + "\n");
}

void TaskContext::error_event(int code, const std::string& message) {
  Poco::JSON::Object::Ptr e = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER), error = new Poco::JSON::Object;
  error->set("code", code);
  error->set("message", message);
  e->set("time", now_seconds());
  e->set("error", error);
  append("event", to_json(plugin::Json(e)) + "\n");
}

bool TaskContext::cancelled() {
  auto fresh = TaskQueue(db()).get(task_.id);
  return fresh && fresh->state == "cancelling";
}

void TaskContext::event(const std::string& stage, const std::string& name, int index, int total,
                        const std::string& state, int progress, const std::vector<std::string>& tags,
                        const std::string& error) {
  // Every step a CLI sees end has begun: a step logged only as finished
  // gets its start first (the Go CLI shows a finished step's duration from it).
  bool start_first = false;
  {
    std::lock_guard lock(mutex_);
    const bool first = started_.insert(stage + '\n' + name).second;
    start_first = first && state != "started";
  }
  if (start_first) event(stage, name, index, total, "started", 0, tags);
  Poco::JSON::Object::Ptr e = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
  e->set("time", now_seconds());
  e->set("stage", stage);
  Poco::JSON::Array::Ptr tag_list = new Poco::JSON::Array;
  for (const auto& t : tags) tag_list->add(t);
  e->set("tags", tag_list);
  e->set("total", total);
  e->set("task", name);
  e->set("index", index);
  e->set("state", state);
  e->set("progress", progress);
  if (!error.empty()) {
    Poco::JSON::Object::Ptr data = new Poco::JSON::Object;
    data->set("error", error);
    e->set("data", data);
  }
  std::ostringstream line;
  Poco::JSON::Stringifier::stringify(e, line);
  append("event", line.str() + "\n");
}

void TaskContext::debug(const std::string& line) {
  append("debug", fmt::format("D, [{}] {}\n", now_seconds(), line));
}

void TaskContext::check_cancelled() {
  if (cancelled()) throw TaskCancelled();
}

Workers::Workers(DirectorServices& services, std::map<std::string, TaskRunner> runners)
    : services_(services), runners_(std::move(runners)) {
  on_task_queued([this] {
    std::lock_guard lock(wake_mutex_);
    ++queued_;
    wake_.notify_all();
  });
  for (int i = 0; i < std::max(1, services_.config.workers); ++i) threads_.emplace_back([this, i] { loop(i); });
}

Workers::~Workers() {
  on_task_queued({});
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void Workers::loop(int index) {
  const std::string worker = services_.uuid + "/worker-" + std::to_string(index);
  TaskQueue queue(services_.db);
  while (!stopping_) {
    std::uint64_t seen;
    {
      std::lock_guard lock(wake_mutex_);
      seen = queued_;  // before the claim, so a task queued during it is not slept over
    }
    std::optional<Task> task;
    try {
      task = queue.claim(worker);
    } catch (const std::exception& e) {
      log::error("workers", "{}: {}", worker, e.what());
    }
    if (!task) {
      // Woken at once by a task queued here; other directors' tasks are found within a second.
      std::unique_lock lock(wake_mutex_);
      wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || queued_ != seen; });
      continue;
    }
    TaskContext ctx(*task, services_);
    ctx.debug("task " + std::to_string(task->id) + " (" + task->type + ") started by " + worker);
    std::string state = "done", result;
    try {
      auto it = runners_.find(task->type);
      if (it == runners_.end()) throw Error("unknown task type '" + task->type + "'");
      result = it->second(ctx);
    } catch (const TaskCancelled&) {
      state = "cancelled";
      result = "task cancelled";
    } catch (const std::exception& e) {
      state = "error";
      result = mend_utf8(e.what());
      ctx.debug("error: " + result);
      ctx.error_event(100, result);
    }
    // Tasks that wrote result lines keep them; the others' result is their answer.
    const fs::path result_file = task_log_dir(services_.config, task->id) / "result";
    std::error_code ec;
    if (!fs::exists(result_file, ec) || state != "done") std::ofstream(result_file, std::ios::app) << result;
    try {
      queue.finish(task->id, state, result);
    } catch (const std::exception& e) {
      log::error("workers", "{}: finishing task {}: {}", worker, task->id, e.what());
    }
  }
}

}  // namespace bosh::director
