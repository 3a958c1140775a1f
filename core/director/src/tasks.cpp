#include "bosh/director/tasks.hpp"

#include <functional>
#include <mutex>
#include "bosh/common/clock.hpp"

#include <Poco/Data/RecordSet.h>
#include <Poco/Data/Statement.h>

namespace bosh::director {

namespace {
std::mutex& listener_mutex() {
  static std::mutex m;
  return m;
}
std::function<void()>& queued_listener() {
  static std::function<void()> f;
  return f;
}
}  // namespace

void on_task_queued(std::function<void()> listener) {
  std::lock_guard lock(listener_mutex());
  queued_listener() = std::move(listener);
}

using namespace Poco::Data::Keywords;

namespace {


const char* kColumns =
    "id, type, description, state, priority, username, deployment, payload, result, worker, created_at, "
    "COALESCE(started_at, 0), COALESCE(finished_at, 0)";

std::vector<Task> read_tasks(Poco::Data::Statement& statement) {
  statement.execute();
  Poco::Data::RecordSet rs(statement);
  std::vector<Task> out;
  for (bool more = rs.moveFirst(); more; more = rs.moveNext()) {
    Task t;
    t.id = rs[0].convert<std::int64_t>();
    t.type = rs[1].convert<std::string>();
    t.description = rs[2].convert<std::string>();
    t.state = rs[3].convert<std::string>();
    t.priority = rs[4].convert<int>();
    t.username = rs[5].convert<std::string>();
    t.deployment = rs[6].convert<std::string>();
    t.payload = rs[7].convert<std::string>();
    t.result = rs[8].convert<std::string>();
    t.worker = rs[9].convert<std::string>();
    t.created_at = rs[10].convert<std::int64_t>();
    t.started_at = rs[11].convert<std::int64_t>();
    t.finished_at = rs[12].convert<std::int64_t>();
    out.push_back(std::move(t));
  }
  return out;
}

template <typename F>
auto guarded(Database& db, const char* what, F&& f) {
  try {
    return f();
  } catch (const Poco::Exception& e) {
    throw DbError(fmt::format("database {}: {}: {}", db.shown_url(), what, e.displayText()));
  }
}

}  // namespace

std::int64_t TaskQueue::enqueue(const std::string& type, const std::string& description, const std::string& username,
                             const std::string& deployment, const std::string& payload, int priority) {
  const std::int64_t queued = guarded(db_, "enqueue task", [&] {
    auto s = db_.session();
    std::int64_t at = now_seconds();
    std::string t = type, d = description, u = username, dep = deployment, p = payload, state = "queued";
    int prio = priority;
    std::int64_t id = 0;
    if (db_.dialect() == Dialect::postgres) {
      Poco::Data::Statement st(s);
      st << db_.sql("INSERT INTO tasks (type, description, state, priority, username, deployment, payload, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"),
          use(t), use(d), use(state), use(prio), use(u), use(dep), use(p), use(at), into(id);
      st.execute();
    } else {
      s.begin();
      s << "INSERT INTO tasks (type, description, state, priority, username, deployment, payload, created_at) VALUES "
           "(?, ?, ?, ?, ?, ?, ?, ?)",
          use(t), use(d), use(state), use(prio), use(u), use(dep), use(p), use(at), now;
      s << "SELECT last_insert_rowid()", into(id), now;
      s.commit();
    }
    return id;
  });
  std::function<void()> listener;
  {
    std::lock_guard lock(listener_mutex());
    listener = queued_listener();
  }
  if (listener) listener();
  return queued;
}

std::optional<Task> TaskQueue::claim(const std::string& worker) {
  return guarded(db_, "claim task", [&]() -> std::optional<Task> {
    auto s = db_.session();
    std::vector<std::int64_t> ids;
    if (db_.dialect() == Dialect::postgres) {
      s.begin();
      s << "SELECT id FROM tasks WHERE state = 'queued' ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED",
          into(ids), now;
    } else {
      s << "BEGIN IMMEDIATE", now;  // the write lock first: no two claimers read the same row
      s << "SELECT id FROM tasks WHERE state = 'queued' ORDER BY priority DESC, id LIMIT 1", into(ids), now;
    }
    auto commit = [&] {
      if (db_.dialect() == Dialect::postgres)
        s.commit();
      else
        s << "COMMIT", now;
    };
    if (ids.empty()) {
      commit();
      return std::nullopt;
    }
    std::int64_t id = ids.front(), at = now_seconds();
    std::string w = worker;
    s << db_.sql("UPDATE tasks SET state = 'processing', worker = ?, started_at = ? WHERE id = ?"), use(w), use(at),
        use(id), now;
    commit();
    return get(id);
  });
}

void TaskQueue::finish(std::int64_t id, const std::string& state, const std::string& result) {
  guarded(db_, "finish task", [&] {
    auto s = db_.session();
    std::string st = state, r = result;
    std::int64_t at = now_seconds(), i = id;
    s << db_.sql("UPDATE tasks SET state = ?, result = ?, finished_at = ? WHERE id = ?"), use(st), use(r), use(at),
        use(i), now;
    return 0;
  });
}

bool TaskQueue::cancel(std::int64_t id) {
  return guarded(db_, "cancel task", [&] {
    auto s = db_.session();
    std::int64_t i = id, at = now_seconds();
    Poco::Data::Statement queued(s);
    queued << db_.sql("UPDATE tasks SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'queued'"),
        use(at), use(i);
    if (queued.execute() > 0) return true;
    Poco::Data::Statement running(s);
    running << db_.sql("UPDATE tasks SET state = 'cancelling' WHERE id = ? AND state = 'processing'"), use(i);
    return running.execute() > 0;
  });
}

std::optional<Task> TaskQueue::get(std::int64_t id) {
  return guarded(db_, "read task", [&]() -> std::optional<Task> {
    auto s = db_.session();
    std::int64_t i = id;
    Poco::Data::Statement st(s);
    st << db_.sql(std::string("SELECT ") + kColumns + " FROM tasks WHERE id = ?"), use(i);
    auto tasks = read_tasks(st);
    if (tasks.empty()) return std::nullopt;
    return tasks.front();
  });
}

std::vector<Task> TaskQueue::recent(int limit, const std::vector<std::string>& states, const std::string& deployment,
                                    const std::vector<std::string>& types) {
  return guarded(db_, "list tasks", [&] {
    auto s = db_.session();
    // Filters in SQL, before the LIMIT.
    std::string where;
    std::vector<std::string> values;
    if (!states.empty()) {
      where += " WHERE state IN (";
      for (std::size_t i = 0; i < states.size(); ++i) where += i ? ", ?" : "?";
      where += ")";
      values = states;
    }
    if (!deployment.empty()) {
      where += where.empty() ? " WHERE deployment = ?" : " AND deployment = ?";
      values.push_back(deployment);
    }
    if (!types.empty()) {
      where += where.empty() ? " WHERE type IN (" : " AND type IN (";
      for (std::size_t i = 0; i < types.size(); ++i) where += i ? ", ?" : "?";
      where += ")";
      values.insert(values.end(), types.begin(), types.end());
    }
    int l = limit;
    Poco::Data::Statement st(s);
    st << db_.sql(std::string("SELECT ") + kColumns + " FROM tasks" + where + " ORDER BY id DESC LIMIT ?");
    for (auto& v : values) st, use(v);
    st, use(l);
    return read_tasks(st);
  });
}

int TaskQueue::recover(const std::string& director_id) {
  return guarded(db_, "recover tasks", [&] {
    auto s = db_.session();
    std::string pattern = director_id + "%", reason = "director restarted while this task was running";
    std::int64_t at = now_seconds();
    s.begin();
    std::vector<std::int64_t> ids;
    s << db_.sql("SELECT id FROM tasks WHERE state IN ('processing', 'cancelling') AND worker LIKE ?"), use(pattern),
        into(ids), now;
    for (std::int64_t id : ids) {
      std::int64_t i = id;
      s << db_.sql("UPDATE tasks SET state = 'error', result = ?, finished_at = ? WHERE id = ?"), use(reason), use(at),
          use(i), now;
      s << db_.sql("DELETE FROM locks WHERE task_id = ?"), use(i), now;
    }
    s.commit();
    return static_cast<int>(ids.size());
  });
}

bool Locks::acquire(const std::string& name, std::int64_t task_id, const std::string& username, std::chrono::seconds ttl) {
  return guarded(db_, "acquire lock", [&] {
    auto s = db_.session();
    std::string n = name, u = username;
    std::int64_t t = task_id, at = now_seconds(), until = now_seconds() + ttl.count();
    if (db_.dialect() == Dialect::sqlite)
      s << "BEGIN IMMEDIATE", now;
    else
      s.begin();
    s << db_.sql("DELETE FROM locks WHERE name = ? AND expires_at < ?"), use(n), use(at), now;
    int held = 0;
    s << db_.sql("SELECT COUNT(*) FROM locks WHERE name = ?"), use(n), into(held), now;
    if (held == 0)
      s << db_.sql("INSERT INTO locks (name, task_id, username, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?)"),
          use(n), use(t), use(u), use(at), use(until), now;
    if (db_.dialect() == Dialect::sqlite)
      s << "COMMIT", now;
    else
      s.commit();
    return held == 0;
  });
}

void Locks::release(const std::string& name, std::int64_t task_id) {
  guarded(db_, "release lock", [&] {
    auto s = db_.session();
    std::string n = name;
    std::int64_t t = task_id;
    s << db_.sql("DELETE FROM locks WHERE name = ? AND task_id = ?"), use(n), use(t), now;
    return 0;
  });
}

bool Locks::renew(const std::string& name, std::int64_t task_id, std::chrono::seconds ttl) {
  return guarded(db_, "renew lock", [&] {
    auto s = db_.session();
    std::string n = name;
    std::int64_t t = task_id, until = now_seconds() + ttl.count();
    Poco::Data::Statement st(s);
    st << db_.sql("UPDATE locks SET expires_at = ? WHERE name = ? AND task_id = ?"), use(until), use(n), use(t);
    return st.execute() > 0;
  });
}

std::vector<Lock> Locks::list() {
  return guarded(db_, "list locks", [&] {
    auto s = db_.session();
    Poco::Data::Statement st(s);
    st << "SELECT name, COALESCE(task_id, 0), username, acquired_at, expires_at FROM locks ORDER BY name";
    st.execute();
    Poco::Data::RecordSet rs(st);
    std::vector<Lock> out;
    for (bool more = rs.moveFirst(); more; more = rs.moveNext())
      out.push_back({rs[0].convert<std::string>(), rs[1].convert<std::int64_t>(), rs[2].convert<std::string>(),
                     rs[3].convert<std::int64_t>(), rs[4].convert<std::int64_t>()});
    return out;
  });
}

}  // namespace bosh::director
