// Durable tasks: rows taken by workers (threads, or several director
// processes on one PostgreSQL: FOR UPDATE SKIP LOCKED), and deployment locks
// that say who holds them and until when.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bosh/director/db.hpp"

namespace bosh::director {

struct Task {
  std::int64_t id = 0;
  std::string type, description, state, username, deployment, payload, result, worker;
  int priority = 0;
  std::int64_t created_at = 0, started_at = 0, finished_at = 0;  // 0: not yet
};

class TaskQueue {
 public:
  explicit TaskQueue(Database& db) : db_(db) {}

  std::int64_t enqueue(const std::string& type, const std::string& description, const std::string& username,
                    const std::string& deployment = "", const std::string& payload = "{}", int priority = 0);
  // The oldest queued task of the highest priority, now processing for
  // `worker`; no task is ever given to two workers.
  std::optional<Task> claim(const std::string& worker);
  // done | error | cancelled | timeout, with the result text.
  void finish(std::int64_t id, const std::string& state, const std::string& result);
  // queued -> cancelled, processing -> cancelling; false when already finished.
  bool cancel(std::int64_t id);
  std::optional<Task> get(std::int64_t id);
  // Newest first; only these states, this deployment and these types (any when empty).
  std::vector<Task> recent(int limit, const std::vector<std::string>& states = {}, const std::string& deployment = "",
                           const std::vector<std::string>& types = {});
  // At start: tasks a previous life of this director (worker names starting
  // with `director_id`) left processing become errors saying so; their locks
  // are released. Returns how many.
  int recover(const std::string& director_id);

 private:
  Database& db_;
};

// Called after this process queues a task, so its own workers take it at
// once (other directors on the database find it when they next poll).
void on_task_queued(std::function<void()> listener);

struct Lock {
  std::string name;
  std::int64_t task_id = 0;
  std::string username;
  std::int64_t acquired_at = 0, expires_at = 0;
};

class Locks {
 public:
  explicit Locks(Database& db) : db_(db) {}
  // Takes the lock unless someone holds it unexpired; false then.
  bool acquire(const std::string& name, std::int64_t task_id, const std::string& username, std::chrono::seconds ttl);
  void release(const std::string& name, std::int64_t task_id);
  // Extends a held lock (a long task keeps it while it works).
  bool renew(const std::string& name, std::int64_t task_id, std::chrono::seconds ttl);
  std::vector<Lock> list();

 private:
  Database& db_;
};

}  // namespace bosh::director
