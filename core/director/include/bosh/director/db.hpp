// The director's database: SQLite (a file, the default) or PostgreSQL (by
// URL), one schema kept by numbered migrations applied at start.
//
//   sqlite:///var/vcap/store/director/director.db
//   postgres://user:password@127.0.0.1:5432/bosh
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <Poco/Data/Session.h>

#include "bosh/common/error.hpp"

namespace bosh::director {

class DbError : public Error {
 public:
  using Error::Error;
};

enum class Dialect { sqlite, postgres };

// A bound parameter, and a result row (every column as text; NULL as "").
using DbParam = std::variant<std::int64_t, std::string>;
using DbRow = std::vector<std::string>;
// A BOOLEAN column's parameter: text, which PostgreSQL casts to boolean and
// SQLite stores as 0/1 (an integer parameter is refused by PostgreSQL).
inline DbParam db_bool(bool value) { return std::string(value ? "1" : "0"); }

struct Migration {
  int version;
  std::string name;
  std::vector<std::string> statements;  // "{id}" becomes the dialect's auto-increment key
};

// Every migration, in order. Never edit a released one: add the next.
const std::vector<Migration>& migrations();

class Database {
 public:
  // Opens (creating a SQLite file's directory as needed); DbError naming the
  // URL (password redacted) when it cannot.
  static std::unique_ptr<Database> open(const std::string& url);

  // Applies the migrations not applied yet, each in its own transaction.
  // Returns how many ran.
  int migrate();
  int schema_version();

  Dialect dialect() const { return dialect_; }
  // A new session on the same database (one per thread or worker).
  Poco::Data::Session session() const;
  // '?' placeholders as this dialect wants them ($1, $2, ... on PostgreSQL).
  std::string sql(const std::string& text) const;
  const std::string& shown_url() const { return shown_url_; }

  // One statement with '?' placeholders; DbError naming the database and the
  // statement's first words on failure.
  std::vector<DbRow> rows(Poco::Data::Session& s, const std::string& sql_text, const std::vector<DbParam>& params = {});
  std::size_t exec(Poco::Data::Session& s, const std::string& sql_text, const std::vector<DbParam>& params = {});
  // An INSERT; returns the new row's id.
  std::int64_t insert(Poco::Data::Session& s, const std::string& sql_text, const std::vector<DbParam>& params);
  // The same on a session of their own.
  std::vector<DbRow> rows(const std::string& sql_text, const std::vector<DbParam>& params = {});
  std::size_t exec(const std::string& sql_text, const std::vector<DbParam>& params = {});
  std::int64_t insert(const std::string& sql_text, const std::vector<DbParam>& params);

 private:
  template <typename F>
  auto with_cached_session(F&& f);
  Database(Dialect dialect, std::string connector, std::string connection, std::string shown_url);
  Dialect dialect_;
  std::string connector_, connection_, shown_url_;
};

}  // namespace bosh::director
