#include "bosh/director/workers.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include <Poco/JSON/Stringifier.h>

#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"
#include "bosh/director/api.hpp"

namespace bosh::director {

namespace fs = std::filesystem;

namespace {
std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

TaskContext::TaskContext(const Task& task, const DirectorConfig& config, Database& db, plugin::Blobstore& blobstore)
    : task_(task), config_(config), db_(db), blobstore_(blobstore) {
  fs::create_directories(task_log_dir(config_, task_.id));
}

void TaskContext::append(const std::string& file, const std::string& text) {
  std::ofstream out(task_log_dir(config_, task_.id) / file, std::ios::app);
  out << text;
}

void TaskContext::event(const std::string& stage, const std::string& name, int index, int total,
                        const std::string& state, int progress) {
  Poco::JSON::Object::Ptr e = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
  e->set("time", now_seconds());
  e->set("stage", stage);
  e->set("tags", plugin::json_array());
  e->set("total", total);
  e->set("task", name);
  e->set("index", index);
  e->set("state", state);
  e->set("progress", progress);
  std::ostringstream line;
  Poco::JSON::Stringifier::stringify(e, line);
  append("event", line.str() + "\n");
}

void TaskContext::debug(const std::string& line) {
  append("debug", fmt::format("D, [{}] {}\n", now_seconds(), line));
}

void TaskContext::check_cancelled() {
  auto fresh = TaskQueue(db_).get(task_.id);
  if (fresh && fresh->state == "cancelling") throw TaskCancelled();
}

Workers::Workers(const DirectorConfig& config, Database& db, plugin::Blobstore& blobstore, std::string director_id,
                 std::map<std::string, TaskRunner> runners)
    : config_(config), db_(db), blobstore_(blobstore), director_id_(std::move(director_id)),
      runners_(std::move(runners)) {
  for (int i = 0; i < std::max(1, config_.workers); ++i) threads_.emplace_back([this, i] { loop(i); });
}

Workers::~Workers() {
  stopping_ = true;
  for (auto& t : threads_) t.join();
}

void Workers::loop(int index) {
  const std::string worker = director_id_ + "/worker-" + std::to_string(index);
  TaskQueue queue(db_);
  while (!stopping_) {
    std::optional<Task> task;
    try {
      task = queue.claim(worker);
    } catch (const std::exception& e) {
      log::error("workers", "{}: {}", worker, e.what());
    }
    if (!task) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    TaskContext ctx(*task, config_, db_, blobstore_);
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
      result = e.what();
      ctx.debug("error: " + result);
    }
    std::ofstream(task_log_dir(config_, task->id) / "result") << result;
    try {
      queue.finish(task->id, state, result);
    } catch (const std::exception& e) {
      log::error("workers", "{}: finishing task {}: {}", worker, task->id, e.what());
    }
  }
}

}  // namespace bosh::director
