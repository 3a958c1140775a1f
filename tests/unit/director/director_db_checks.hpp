// Checks every database backend passes (SQLite in unit tests, PostgreSQL in
// integration tests): migrations, the task queue, locks.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

#include "bosh/director/db.hpp"
#include "bosh/director/tasks.hpp"

namespace bosh::testing {

inline void check_database(director::Database& db) {
  using namespace director;
  CHECK(db.migrate() == static_cast<int>(migrations().size()));
  CHECK(db.schema_version() == migrations().back().version);
  CHECK(db.migrate() == 0);  // idempotent

  TaskQueue q(db);
  auto a = q.enqueue("update_deployment", "create deployment", "admin", "cf");
  auto b = q.enqueue("cck", "scan and fix", "hm", "cf", "{}", 10);  // repairs jump the queue
  CHECK(b > a);
  auto first = q.claim("dir-1/worker-0");
  REQUIRE(first);
  CHECK(first->id == b);
  CHECK(first->state == "processing");
  CHECK(first->worker == "dir-1/worker-0");
  CHECK(first->started_at > 0);
  auto second = q.claim("dir-1/worker-1");
  REQUIRE(second);
  CHECK(second->id == a);
  CHECK_FALSE(q.claim("dir-1/worker-2"));
  q.finish(b, "done", "fixed 2 problems");
  CHECK(q.get(b)->state == "done");
  CHECK(q.get(b)->result == "fixed 2 problems");
  CHECK(q.get(b)->finished_at > 0);

  // Cancel: queued ones at once, running ones are asked to stop.
  auto c = q.enqueue("delete_release", "delete release", "admin");
  CHECK(q.cancel(c));
  CHECK(q.get(c)->state == "cancelled");
  CHECK(q.cancel(a));
  CHECK(q.get(a)->state == "cancelling");
  CHECK_FALSE(q.cancel(b));  // finished

  // Locks: owner, expiry, renewal.
  Locks locks(db);
  CHECK(locks.acquire("lock:deployment:cf", a, "admin", std::chrono::seconds(60)));
  CHECK_FALSE(locks.acquire("lock:deployment:cf", 99, "other", std::chrono::seconds(60)));
  auto held = locks.list();
  REQUIRE(held.size() == 1);
  CHECK(held[0].task_id == a);
  CHECK(held[0].username == "admin");
  CHECK(held[0].expires_at >= held[0].acquired_at + 59);
  CHECK(locks.renew("lock:deployment:cf", a, std::chrono::seconds(120)));
  CHECK_FALSE(locks.renew("lock:deployment:cf", 99, std::chrono::seconds(120)));
  CHECK(locks.acquire("lock:release:x", 77, "admin", std::chrono::seconds(-1)));  // already expired
  CHECK(locks.acquire("lock:release:x", 78, "admin", std::chrono::seconds(60)));  // so it can be taken

  // A restarted director fails what it left running and frees its locks.
  CHECK(q.recover("dir-1/") == 1);  // task a (cancelling)
  CHECK(q.get(a)->state == "error");
  CHECK(q.get(a)->result == "director restarted while this task was running");
  CHECK(locks.list().size() == 1);  // only lock:release:x (task 78) is left

  // Many workers, many tasks: each task is claimed exactly once.
  for (int i = 0; i < 60; ++i) q.enqueue("noop", "task " + std::to_string(i), "admin");
  std::mutex m;
  std::vector<std::int64_t> claimed;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&, w] {
      while (auto t = q.claim("dir-2/w" + std::to_string(w))) {
        std::lock_guard lock(m);
        claimed.push_back(t->id);
      }
    });
  for (auto& t : workers) t.join();
  std::set<std::int64_t> unique(claimed.begin(), claimed.end());
  CHECK(claimed.size() == 60);
  CHECK(unique.size() == 60);
  CHECK(q.recent(5).size() == 5);
  CHECK(q.recent(100, {"queued"}).empty());
  CHECK(q.recent(100, {"queued", "done"}).size() == q.recent(100, {"done"}).size());
  CHECK(q.recent(100, {}, "no-such-deployment").empty());
  // Filters apply before the limit: an old task of a deployment is still found.
  const auto old = q.enqueue("update_deployment", "create deployment", "admin", "d1");
  for (int i = 0; i < 5; ++i) q.enqueue("update_deployment", "create deployment", "admin", "d2");
  auto d1 = q.recent(3, {}, "d1");
  REQUIRE(d1.size() == 1);
  CHECK(d1[0].id == old);
  CHECK(q.recent(3, {"processing", "queued"}, "d1").size() == 1);
  CHECK(q.recent(3, {"done"}, "d1").empty());
}

}  // namespace bosh::testing
