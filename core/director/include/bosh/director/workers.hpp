// Task workers: threads that claim queued tasks from the database and run
// them by type, writing BOSH's task logs (event: JSON lines of stages and
// progress; debug: text; result: the task's answer).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bosh/director/config.hpp"
#include "bosh/director/db.hpp"
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
  TaskContext(const Task& task, const DirectorConfig& config, Database& db, plugin::Blobstore& blobstore);

  const Task& task() const { return task_; }
  const DirectorConfig& config() const { return config_; }
  Database& db() { return db_; }
  plugin::Blobstore& blobstore() { return blobstore_; }

  // One event line: {"time","stage","tags","total","task","index","state","progress"}.
  void event(const std::string& stage, const std::string& name, int index, int total, const std::string& state,
             int progress = 0);
  void debug(const std::string& line);
  // Throws TaskCancelled once someone cancelled the task (checked in the DB).
  void check_cancelled();

 private:
  void append(const std::string& file, const std::string& text);
  const Task& task_;
  const DirectorConfig& config_;
  Database& db_;
  plugin::Blobstore& blobstore_;
};

// A task type's body: returns the task's result text.
using TaskRunner = std::function<std::string(TaskContext&)>;

class Workers {
 public:
  Workers(const DirectorConfig& config, Database& db, plugin::Blobstore& blobstore, std::string director_id,
          std::map<std::string, TaskRunner> runners);
  ~Workers();  // stops and joins

 private:
  void loop(int index);
  const DirectorConfig& config_;
  Database& db_;
  plugin::Blobstore& blobstore_;
  std::string director_id_;
  std::map<std::string, TaskRunner> runners_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace bosh::director
