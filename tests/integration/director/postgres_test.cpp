// The director's database on a real PostgreSQL: the same checks as SQLite,
// with several workers claiming through FOR UPDATE SKIP LOCKED.
#include <doctest/doctest.h>

#include "../../peers/postgres_server.hpp"
#include "../../unit/director/director_db_checks.hpp"

TEST_SUITE("integration") {
  TEST_CASE("postgres: migrations / the task queue and locks") {
    bosh::testing::PostgresServer server;
    auto db = bosh::director::Database::open(server.url());
    CHECK(db->dialect() == bosh::director::Dialect::postgres);
    bosh::testing::check_database(*db);
  }
}
