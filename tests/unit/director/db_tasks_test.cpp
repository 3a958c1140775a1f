// The director's database and task queue on SQLite (a temp file).
#include <doctest/doctest.h>

#include <set>
#include <thread>

#include "bosh/common/fs.hpp"
#include "bosh/director/db.hpp"
#include "bosh/director/tasks.hpp"
#include "director_db_checks.hpp"

using namespace bosh::director;

TEST_SUITE("unit") {
  TEST_CASE("sqlite: migrations / the task queue and locks") {
    bosh::TempDir dir("bosh-director-db");
    auto db = Database::open("sqlite://" + (dir.path() / "sub/director.db").string());
    bosh::testing::check_database(*db);
  }

  TEST_CASE("database URLs are checked and passwords never shown") {
    CHECK_THROWS_WITH_AS(Database::open("mysql://u:pw@h/db"),
                         "database URL mysql://u:<redacted>@h/db: expected sqlite:///path or "
                         "postgres://user:password@host:port/db",
                         DbError);
    auto pg = [] { Database::open("postgres://bosh:s3cret@127.0.0.1:1/bosh"); };
    CHECK_THROWS_WITH_AS(pg(), doctest::Contains("cannot connect to database postgres://bosh:<redacted>@127.0.0.1:1/bosh: "),
                         DbError);
  }
}
