// Task workers: threads that claim queued tasks from the database and run
// them by type, writing BOSH's task logs (event: JSON lines of stages and
// progress; debug: text; result: the task's answer).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bosh/director/config.hpp"
#include "bosh/director/db.hpp"
#include "bosh/director/services.hpp"
#include "bosh/director/tasks.hpp"
#include "bosh/plugin/blobstore.hpp"

namespace bosh::director {

// Thrown by a task that noticed its cancellation.
class TaskCancelled : public Error {
 public:
  TaskCancelled() : Error("task cancelled") {}
};

class TaskContext {
 public:
  TaskContext(const Task& task, DirectorServices& services);

  const Task& task() const { return task_; }
  const DirectorConfig& config() const { return services_.config; }
  Database& db() { return services_.db; }
  plugin::Blobstore& blobstore() { return services_.blobstore; }
  DirectorServices& services() { return services_; }
  // The task's CPI, made at first use.
  plugin::Cpi& cpi();

  // One event line: {"time","stage","tags","total","task","index","state","progress"}.
  void event(const std::string& stage, const std::string& name, int index, int total, const std::string& state,
             int progress = 0, const std::vector<std::string>& tags = {}, const std::string& error = "");
  void debug(const std::string& line);
  // One line of the result output (tasks whose result is JSON lines: vms --vitals, errands).
  void result_line(const std::string& line);
  // The result output stays empty (the task's answer is only its result text).
  void empty_result();
  // A warning on the event log ({"time", "type": "warning", "message"}).
  void warning(const std::string& message);
  // Why the task failed, as the last event ({"time", "error": {"code", "message"}}):
  // every CLI shows it.
  void error_event(int code, const std::string& message);
  bool cancelled();
  // Throws TaskCancelled once someone cancelled the task (checked in the DB).
  void check_cancelled();

 private:
  void append(const std::string& file, const std::string& text);
  const Task& task_;
  DirectorServices& services_;
  std::shared_ptr<plugin::Cpi> cpi_;
  std::mutex mutex_;  // task logs are written from several threads of one task
  std::set<std::string> started_;  // "stage\ntask" of every step begun
};

// A task type's body: returns the task's result text.
using TaskRunner = std::function<std::string(TaskContext&)>;

class Workers {
 public:
  Workers(DirectorServices& services, std::map<std::string, TaskRunner> runners);
  ~Workers();  // stops and joins

 private:
  void loop(int index);
  DirectorServices& services_;
  std::map<std::string, TaskRunner> runners_;
  std::atomic<bool> stopping_{false};
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::uint64_t queued_ = 0;  // tasks queued by this process, under wake_mutex_
  std::vector<std::thread> threads_;
};

}  // namespace bosh::director
