#include "bosh/director/db.hpp"

#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/RecordSet.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Statement.h>
#include <Poco/URI.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <filesystem>
#include <mutex>

#include "bosh/common/clock.hpp"
#include "bosh/common/log.hpp"

namespace bosh::director {

using namespace Poco::Data::Keywords;

namespace {
void register_connectors() {
  static std::once_flag once;
  std::call_once(once, [] {
    Poco::Data::SQLite::Connector::registerConnector();
    Poco::Data::PostgreSQL::Connector::registerConnector();
  });
}

}  // namespace

Database::Database(Dialect dialect, std::string connector, std::string connection, std::string shown_url)
    : dialect_(dialect), connector_(std::move(connector)), connection_(std::move(connection)),
      shown_url_(std::move(shown_url)) {}

std::unique_ptr<Database> Database::open(const std::string& url) {
  register_connectors();
  const std::string shown = log::redact_url(url);
  std::unique_ptr<Database> db;
  if (url.rfind("sqlite://", 0) == 0) {
    std::filesystem::path file = url.substr(9);
    if (file.empty()) throw DbError("database URL " + shown + ": no file");
    std::error_code ec;
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
    db.reset(new Database(Dialect::sqlite, "SQLite", file.string(), shown));
  } else if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    Poco::URI uri(url);
    std::string info = uri.getUserInfo(), user = info.substr(0, info.find(':')), password;
    if (info.find(':') != std::string::npos) password = info.substr(info.find(':') + 1);
    std::string dbname = uri.getPath().empty() ? "bosh" : uri.getPath().substr(1);
    std::string conn = fmt::format("host={} port={} user={} password={} dbname={} connect_timeout=10", uri.getHost(),
                                   uri.getPort() ? uri.getPort() : 5432, user, password, dbname);
    db.reset(new Database(Dialect::postgres, "PostgreSQL", conn, shown));
  } else {
    throw DbError("database URL " + shown + ": expected sqlite:///path or postgres://user:password@host:port/db");
  }
  try {
    auto s = db->session();
    if (db->dialect_ == Dialect::sqlite) {
      s << "PRAGMA journal_mode=WAL", now;
    }
  } catch (const Poco::Exception& e) {
    throw DbError("cannot open database " + shown + ": " + e.displayText());
  }
  return db;
}

Poco::Data::Session Database::session() const {
  try {
    Poco::Data::Session s(connector_, connection_);
    if (dialect_ == Dialect::sqlite) {
      // Writers queue for up to a minute (hundreds of instances update at
      // once); in WAL mode NORMAL syncs at checkpoints, not at every commit:
      // a crash of the process loses nothing, a power cut at most the last
      // commits, and never the file's consistency.
      s << "PRAGMA busy_timeout=60000", now;
      s << "PRAGMA synchronous=NORMAL", now;
    }
    return s;
  } catch (const Poco::Exception& e) {
    throw DbError("cannot connect to database " + shown_url_ + ": " + e.displayText());
  }
}

std::string Database::sql(const std::string& text) const {
  if (dialect_ == Dialect::sqlite) return text;
  std::string out;
  int n = 0;
  bool quoted = false;
  for (char c : text) {
    if (c == '\'') quoted = !quoted;
    if (c == '?' && !quoted)
      out += "$" + std::to_string(++n);
    else
      out += c;
  }
  return out;
}

int Database::schema_version() {
  auto s = session();
  s << "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
       "applied_at BIGINT NOT NULL)",
      now;
  int version = 0;
  s << "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", into(version), now;
  return version;
}

int Database::migrate() {
  const int current = schema_version();
  int ran = 0;
  for (const auto& m : migrations()) {
    if (m.version <= current) continue;
    auto s = session();
    try {
      s.begin();
      for (std::string statement : m.statements) {
        const std::string key = dialect_ == Dialect::sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY";
        for (auto pos = statement.find("{id}"); pos != std::string::npos; pos = statement.find("{id}"))
          statement.replace(pos, 4, key);
        s << statement, now;
      }
      std::int64_t at = now_seconds();
      int version = m.version;
      std::string name = m.name;
      s << sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"), use(version), use(name),
          use(at), now;
      s.commit();
      ++ran;
      log::info("db", "applied migration {} {}", m.version, m.name);
    } catch (const Poco::Exception& e) {
      if (s.isTransaction()) s.rollback();
      throw DbError(fmt::format("database {}: migration {} ({}) failed: {}", shown_url_, m.version, m.name,
                                e.displayText()));
    }
  }
  return ran;
}

namespace {
// Binds the parameters (kept alive in `ints`/`texts` until execution).
void bind(Poco::Data::Statement& st, const std::vector<DbParam>& params, std::deque<Poco::Int64>& ints,
          std::deque<std::string>& texts) {
  for (const auto& p : params) {
    if (std::holds_alternative<std::int64_t>(p)) {
      ints.push_back(std::get<std::int64_t>(p));
      st, use(ints.back());
    } else {
      texts.push_back(std::get<std::string>(p));
      st, use(texts.back());
    }
  }
}

std::string first_words(const std::string& sql_text) { return sql_text.substr(0, std::min<std::size_t>(60, sql_text.size())); }
}  // namespace

std::vector<DbRow> Database::rows(Poco::Data::Session& s, const std::string& sql_text,
                                  const std::vector<DbParam>& params) {
  try {
    Poco::Data::Statement st(s);
    std::deque<Poco::Int64> ints;
    std::deque<std::string> texts;
    st << sql(sql_text);
    bind(st, params, ints, texts);
    st.execute();
    Poco::Data::RecordSet rs(st);
    std::vector<DbRow> out;
    const std::size_t columns = rs.columnCount();
    for (bool more = rs.moveFirst(); more; more = rs.moveNext()) {
      DbRow row;
      row.reserve(columns);
      for (std::size_t c = 0; c < columns; ++c) {
        const Poco::Dynamic::Var& v = rs[c];
        if (v.isEmpty())
          row.emplace_back();
        else if (v.type() == typeid(bool))
          row.emplace_back(v.extract<bool>() ? "1" : "0");
        else
          row.push_back(v.convert<std::string>());
      }
      out.push_back(std::move(row));
    }
    return out;
  } catch (const Poco::Exception& e) {
    throw DbError(fmt::format("database {}: {}...: {}", shown_url_, first_words(sql_text), e.displayText()));
  }
}

std::size_t Database::exec(Poco::Data::Session& s, const std::string& sql_text, const std::vector<DbParam>& params) {
  try {
    Poco::Data::Statement st(s);
    std::deque<Poco::Int64> ints;
    std::deque<std::string> texts;
    st << sql(sql_text);
    bind(st, params, ints, texts);
    return st.execute();
  } catch (const Poco::Exception& e) {
    throw DbError(fmt::format("database {}: {}...: {}", shown_url_, first_words(sql_text), e.displayText()));
  }
}

std::int64_t Database::insert(Poco::Data::Session& s, const std::string& sql_text, const std::vector<DbParam>& params) {
  if (dialect_ == Dialect::postgres) return std::stoll(rows(s, sql_text + " RETURNING id", params).at(0).at(0));
  exec(s, sql_text, params);
  return std::stoll(rows(s, "SELECT last_insert_rowid()").at(0).at(0));
}

// The one-statement calls reuse a session of this thread (a connection per
// statement cost more than most statements): never one inside a transaction,
// and a session that failed is dropped.
template <typename F>
auto Database::with_cached_session(F&& f) {
  thread_local std::map<std::string, std::unique_ptr<Poco::Data::Session>> cache;
  auto& slot = cache[connector_ + "|" + connection_];
  if (slot && (!slot->isConnected() || slot->isTransaction())) slot.reset();
  if (!slot) slot = std::make_unique<Poco::Data::Session>(session());
  try {
    return f(*slot);
  } catch (...) {
    slot.reset();
    throw;
  }
}

std::vector<DbRow> Database::rows(const std::string& sql_text, const std::vector<DbParam>& params) {
  return with_cached_session([&](Poco::Data::Session& s) { return rows(s, sql_text, params); });
}

std::size_t Database::exec(const std::string& sql_text, const std::vector<DbParam>& params) {
  return with_cached_session([&](Poco::Data::Session& s) { return exec(s, sql_text, params); });
}

std::int64_t Database::insert(const std::string& sql_text, const std::vector<DbParam>& params) {
  return with_cached_session([&](Poco::Data::Session& s) { return insert(s, sql_text, params); });
}

}  // namespace bosh::director
