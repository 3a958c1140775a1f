// Long-running agent actions: each runs on its own thread; the caller gets
// {"agent_task_id", "state": "running"} at once and polls get_task.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "bosh/plugin/json.hpp"

namespace bosh::agent {

class TaskManager {
 public:
  using Work = std::function<plugin::Json(const std::atomic<bool>& cancelled)>;
  ~TaskManager();

  std::string start(const std::string& method, Work work);
  // The running value while it runs; its result when done; throws Error with
  // the task's failure message when it failed; InputError for an unknown id.
  plugin::Json get(const std::string& id);
  // Asks the task to stop; returns "canceled".
  std::string cancel(const std::string& id);

 private:
  struct Task {
    std::string method;
    std::atomic<bool> cancelled{false};
    std::atomic<bool> finished{false};
    std::optional<plugin::Json> result;
    std::optional<std::string> error;
    std::thread thread;
  };
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Task>> tasks_;
};

}  // namespace bosh::agent
