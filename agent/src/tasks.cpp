#include "tasks.hpp"

#include <random>

#include "bosh/common/error.hpp"
#include "bosh/mbus/envelope.hpp"

namespace bosh::agent {

TaskManager::~TaskManager() {
  std::lock_guard lock(mutex_);
  for (auto& [_, task] : tasks_) {
    task->cancelled = true;
    if (task->thread.joinable()) task->thread.join();
  }
}

std::string TaskManager::start(const std::string& method, Work work) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = fmt::format("{:016x}", rng());
  auto task = std::make_shared<Task>();
  task->method = method;
  {
    std::lock_guard lock(mutex_);
    tasks_[id] = task;
  }
  task->thread = std::thread([task, work = std::move(work)] {
    try {
      task->result = work(task->cancelled);
    } catch (const std::exception& e) {
      task->error = e.what();
    }
    task->finished = true;
  });
  return id;
}

plugin::Json TaskManager::get(const std::string& id) {
  std::shared_ptr<Task> task;
  {
    std::lock_guard lock(mutex_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) fail<InputError>("unknown task '{}'", id);
    task = it->second;
  }
  if (!task->finished) return mbus::task_running(id);
  if (task->error) throw Error(*task->error);
  return *task->result;
}

std::string TaskManager::cancel(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) fail<InputError>("unknown task '{}'", id);
  it->second->cancelled = true;
  return "canceled";
}

}  // namespace bosh::agent
