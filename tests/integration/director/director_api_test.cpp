// The bosh-director binary: config, TLS, auth and the task/lock endpoints.
#include <doctest/doctest.h>

#include <csignal>
#include <map>
#include <thread>

#include "../../peers/nats_server.hpp"  // free_port, port_open
#include "running_director.hpp"
#include "../../peers/postgres_server.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/http.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/director/config.hpp"
#include "bosh/director/db.hpp"
#include "bosh/director/tasks.hpp"
#include "bosh/release/create.hpp"

#include <fstream>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using bosh::testing::make_release;
using bosh::testing::RunningDirector;
using bosh::testing::kDirector;

namespace {
void check_upload_release(RunningDirector& director);
}

TEST_SUITE("integration") {
  TEST_CASE("director: /info / auth / tasks with output ranges / cancel / locks and restart recovery") {
    RunningDirector director;
    auto info = director.request("GET", "/info", "");
    REQUIRE(info.status == 200);
    auto o = bosh::as_object(bosh::parse_json(info.body, "info"), "info");
    CHECK(o->getValue<std::string>("name") == "test-bosh");
    CHECK(o->getValue<std::string>("uuid").size() == 36);
    CHECK(o->get("user").isEmpty());
    CHECK(o->getObject("user_authentication")->getValue<std::string>("type") == "basic");
    CHECK(bosh::as_object(bosh::parse_json(director.request("GET", "/info").body, "i"), "i")->getValue<std::string>("user") == "admin");

    auto denied = director.request("GET", "/tasks", "");
    CHECK(denied.status == 401);
    CHECK(denied.body == "{\"code\":401,\"description\":\"Not authorized: '/tasks'\"}");
    CHECK(director.request("GET", "/tasks", "admin:wrong").status == 401);
    CHECK(director.request("GET", "/tasks").body == "[]");

    // Tasks as workers leave them in the database and the log dir.
    auto db = bosh::director::Database::open(director.db_url());
    bosh::director::TaskQueue q(*db);
    auto id = q.enqueue("update_deployment", "create deployment", "admin", "cf");
    auto uuid = o->getValue<std::string>("uuid");
    REQUIRE(q.claim(uuid + "/worker-0"));
    bosh::write_file_atomic(director.dir.path() / ("state/tasks/" + std::to_string(id) + "/event"),
                            "{\"stage\":\"Preparing\"}\n{\"stage\":\"Updating\"}\n");
    auto task = bosh::as_object(bosh::parse_json(director.request("GET", "/tasks/" + std::to_string(id)).body, "t"), "t");
    CHECK(task->getValue<std::string>("state") == "processing");
    CHECK(task->getValue<std::string>("deployment") == "cf");
    auto full = director.request("GET", "/tasks/" + std::to_string(id) + "/output?type=event");
    CHECK(full.status == 200);
    CHECK(full.body == "{\"stage\":\"Preparing\"}\n{\"stage\":\"Updating\"}\n");
    auto tail = director.request("GET", "/tasks/" + std::to_string(id) + "/output?type=event", "admin:s3cret",
                                 {{"Range", "bytes=22-"}});
    CHECK(tail.status == 206);
    CHECK(tail.body == "{\"stage\":\"Updating\"}\n");
    CHECK(director.request("GET", "/tasks/999").status == 404);
    CHECK(director.request("GET", "/tasks/" + std::to_string(id) + "/output?type=nope").status == 400);

    // Locks show who holds them and until when.
    bosh::director::Locks(*db).acquire("lock:deployment:cf", id, "admin", std::chrono::seconds(60));
    auto locks = bosh::as_array(bosh::parse_json(director.request("GET", "/locks").body, "l"), "l");
    REQUIRE(locks->size() == 1);
    CHECK(locks->getObject(0)->getValue<std::string>("type") == "deployment");
    CHECK(locks->getObject(0)->getValue<std::string>("task_id") == std::to_string(id));

    // Restart: the task this director was running becomes an error; its lock goes.
    director.process->stop();
    director.start();
    auto after = bosh::as_object(bosh::parse_json(director.request("GET", "/tasks/" + std::to_string(id)).body, "t"), "t");
    CHECK(after->getValue<std::string>("state") == "error");
    CHECK(after->getValue<std::string>("result") == "director restarted while this task was running");
    CHECK(director.request("GET", "/locks").body == "[]");

    // Cancel: a queued task is cancelled at once.
    auto queued = q.enqueue("delete_release", "delete release", "admin");
    CHECK(director.request("DELETE", "/task/" + std::to_string(queued)).status == 204);
    CHECK(q.get(queued)->state == "cancelled");
    CHECK(director.request("DELETE", "/task/" + std::to_string(queued)).status == 400);
  }

  TEST_CASE("director: a plain password in director.yml is refused naming the line") {
    bosh::TempDir dir("bosh-director-bad");
    bosh::write_file_atomic(dir.path() / "d.yml", "state_dir: /tmp/x\nusers:\n- name: admin\n  password: admin\n");
    auto r = bosh::run_process({kDirector.string(), "--config", (dir.path() / "d.yml").string()});
    CHECK(r.exit_code == 1);
    CHECK(r.err == "bosh-director: " + (dir.path() / "d.yml").string() +
                       ":3:3: user 'admin' has a plain password; store password_hash (bosh-director hash-password)\n");
  }

  TEST_CASE("director: password hashes are sha512-crypt and verify") {
    auto h = bosh::director::hash_password("pw");
    CHECK(h.rfind("$6$", 0) == 0);
    CHECK(bosh::director::verify_password("pw", h));
    CHECK_FALSE(bosh::director::verify_password("pW", h));
    CHECK(bosh::director::hash_password("pw") != h);  // salted
  }

  TEST_CASE("director: upload release runs as a task and stores jobs and packages once") {
    RunningDirector director;
    check_upload_release(director);
  }

  TEST_CASE("director: upload release on PostgreSQL") {
    bosh::testing::PostgresServer pg;
    RunningDirector director(pg.url());
    check_upload_release(director);
  }

  TEST_CASE("director: kill -9 while a release upload is processed leaves no rows and the upload can be retried") {
    RunningDirector director;
    // A release whose import takes a moment: 24 MiB of incompressible package data.
    bosh::TempDir src("bosh-director-big-release");
    std::map<std::string, std::string> files = {{"config/final.yml", "name: big\n"}};
    for (int i = 0; i < 6; ++i) {
      const std::string n = "p" + std::to_string(i);
      files["packages/" + n + "/spec"] = "name: " + n + "\nfiles: [" + n + "/*]\n";
      files["packages/" + n + "/packaging"] = "true\n";
      files["src/" + n + "/blob.bin"] = bosh::run_process({"head", "-c", "4194304", "/dev/urandom"}).out;
    }
    const std::string tarball = bosh::read_file(make_release(src.path(), files));

    const std::string location = director.post_release(tarball);
    // Kill it as soon as the task is being processed (a deadline for a busy machine).
    std::string state;
    for (const auto until = std::chrono::steady_clock::now() + 60s;
         state != "processing" && std::chrono::steady_clock::now() < until;) {
      state = bosh::as_object(bosh::parse_json(director.request("GET", location).body, "t"), "t")->getValue<std::string>("state");
      if (state == "done") break;
      std::this_thread::sleep_for(2ms);
    }
    REQUIRE(state == "processing");
    kill(director.process->pid(), SIGKILL);
    director.process->stop();
    director.start();
    auto task = bosh::as_object(bosh::parse_json(director.request("GET", location).body, "t"), "t");
    CHECK(task->getValue<std::string>("state") == "error");
    CHECK(task->getValue<std::string>("result") == "director restarted while this task was running");
    // No half import: no release, package or job rows; the upload file is gone.
    auto db = bosh::director::Database::open(director.db_url());
    for (const char* table : {"releases", "release_versions", "packages", "templates"})
      CHECK_MESSAGE(db->rows(std::string("SELECT COUNT(*) FROM ") + table)[0][0] == "0", table);
    CHECK(fs::is_empty(director.dir.path() / "state/uploads"));
    // The same upload again works.
    auto again = director.wait_task(director.post_release(tarball));
    CHECK(again->getValue<std::string>("state") == "done");
    CHECK(again->getValue<std::string>("result") == "Created release 'big/0+dev.1'");
  }

  TEST_CASE("director: a compiled release is accepted and its packages are known as compiled for their stemcell") {
    RunningDirector director;
    // `bosh create release`, then turned into a compiled release as BOSH's
    // export writes one: packages/ -> compiled_packages/ with a stemcell.
    bosh::TempDir src("bosh-director-compiled");
    const fs::path tarball = make_release(src.path(), {{"config/final.yml", "name: comp\n"},
                                                       {"packages/lib/spec", "name: lib\nfiles: [lib/*]\n"},
                                                       {"packages/lib/packaging", "true\n"},
                                                       {"src/lib/a.txt", "a\n"},
                                                       {"jobs/web/spec", "name: web\ntemplates: {}\npackages: [lib]\n"},
                                                       {"jobs/web/monit", ""}});
    bosh::TempDir x("bosh-director-compiled-x");
    bosh::extract_tgz(tarball, x.path());
    std::string mf = bosh::read_file(x.path() / "release.MF");
    const auto at = mf.find("\npackages:");
    REQUIRE(at != std::string::npos);
    mf.replace(at + 1, 9, "compiled_packages:");
    const auto deps = mf.find("    dependencies: []", at);
    REQUIRE(deps != std::string::npos);
    mf.insert(deps, "    stemcell: ubuntu-jammy/1.5\n");
    bosh::write_file_atomic(x.path() / "release.MF", mf);
    fs::rename(x.path() / "packages", x.path() / "compiled_packages");
    const fs::path compiled = src.path() / "compiled.tgz";
    bosh::create_tgz(x.path(), compiled);

    auto task = director.wait_task(director.post_release(bosh::read_file(compiled)));
    REQUIRE_MESSAGE(task->getValue<std::string>("state") == "done", task->getValue<std::string>("result"));
    auto detail = bosh::as_object(
        bosh::parse_json(director.request("GET", "/releases/comp?version=0%2Bdev.1").body, "detail"), "detail");
    auto packages = detail->getArray("packages");
    REQUIRE(packages->size() == 1);
    auto lib = packages->getObject(0);
    CHECK(lib->getValue<std::string>("name") == "lib");
    CHECK(lib->getValue<std::string>("blobstore_id").empty());  // no source
    auto compiled_for = lib->getArray("compiled_packages");
    REQUIRE(compiled_for->size() == 1);
    CHECK(compiled_for->getObject(0)->getValue<std::string>("stemcell") == "ubuntu-jammy/1.5");
    CHECK_FALSE(compiled_for->getObject(0)->getValue<std::string>("blobstore_id").empty());
  }

  TEST_CASE("director: two directors on one PostgreSQL both take tasks and no task runs twice") {
    bosh::testing::PostgresServer pg;
    RunningDirector a(pg.url()), b(pg.url());
    // Tasks that need nothing local: cleanups, queued through both APIs.
    std::vector<std::string> locations;
    for (int i = 0; i < 40; ++i) {
      auto& d = i % 2 ? a : b;
      auto r = d.request("POST", "/cleanup", "admin:s3cret", {{"Content-Type", "application/json"}},
                         "{\"config\": {\"remove_all\": false}}");
      REQUIRE(r.status == 302);
      locations.push_back(r.headers.at("Location"));
    }
    for (const auto& l : locations) CHECK(a.wait_task(l)->getValue<std::string>("state") == "done");
    auto uuid_of = [](RunningDirector& d) {
      return bosh::as_object(bosh::parse_json(d.request("GET", "/info", "").body, "i"), "i")->getValue<std::string>("uuid");
    };
    const std::string ua = uuid_of(a), ub = uuid_of(b);
    REQUIRE(ua != ub);
    auto db = bosh::director::Database::open(pg.url());
    int by_a = 0, by_b = 0;
    for (const auto& row : db->rows("SELECT worker, state, started_at FROM tasks WHERE type = ?", {std::string("cleanup")})) {
      CHECK(row[1] == "done");
      if (row[0].rfind(ua, 0) == 0) ++by_a;
      if (row[0].rfind(ub, 0) == 0) ++by_b;
    }
    CHECK(by_a + by_b == 40);  // every task ran, on exactly one director
    CHECK(by_a > 0);
    CHECK(by_b > 0);
  }
}

namespace {
void check_upload_release(RunningDirector& director) {
  {
    // A small release, made as `bosh create release --with-tarball` makes it.
    bosh::TempDir src("bosh-director-release");
    const std::string tarball = bosh::read_file(make_release(
        src.path(), {{"config/final.yml", "name: demo\n"},
                     {"packages/lib/spec", "name: lib\nfiles: [lib/*]\n"},
                     {"packages/lib/packaging", "cp -a lib ${BOSH_INSTALL_TARGET}\n"},
                     {"src/lib/a.txt", "a\n"},
                     {"jobs/web/spec", "name: web\ntemplates: {ctl.erb: bin/ctl}\npackages: [lib]\n"},
                     {"jobs/web/monit", ""},
                     {"jobs/web/templates/ctl.erb", "run\n"}}));
    auto upload = [&](const std::string& body) {
      const std::string location = director.post_release(body);
      return std::make_pair(location, director.wait_task(location));
    };
    auto [location, task] = upload(tarball);
    CHECK(task->getValue<std::string>("state") == "done");
    CHECK(task->getValue<std::string>("result") == "Created release 'demo/0+dev.1'");
    auto events = director.request("GET", location + "/output?type=event").body;
    CHECK(events.find("\"stage\":\"Creating new packages\"") != std::string::npos);
    CHECK(events.find("\"stage\":\"Release has been created\"") != std::string::npos);
    auto releases = bosh::as_array(bosh::parse_json(director.request("GET", "/releases").body, "r"), "r");
    REQUIRE(releases->size() == 1);
    CHECK(releases->getObject(0)->getValue<std::string>("name") == "demo");
    auto v = releases->getObject(0)->getArray("release_versions")->getObject(0);
    CHECK(v->getValue<std::string>("version") == "0+dev.1");
    CHECK(v->getArray("job_names")->getElement<std::string>(0) == "web");
    std::size_t blobs = 0;
    for (const auto& e : fs::recursive_directory_iterator(director.dir.path() / "state/blobs"))
      blobs += e.is_regular_file();
    CHECK(blobs == 2);  // one package, one job

    // The same again: nothing new.
    auto [again_location, again] = upload(tarball);
    CHECK(again->getValue<std::string>("result") == "Release 'demo/0+dev.1' already exists");

    // A tampered tarball fails its task with the digest named.
    std::string bad = tarball;
    auto [bad_location, failed] = upload(bad.substr(0, bad.size() / 2));
    CHECK(failed->getValue<std::string>("state") == "error");
    CHECK_FALSE(failed->getValue<std::string>("result").empty());
    // Nothing half-stored: still one release version, two blobs.
    CHECK(bosh::as_array(bosh::parse_json(director.request("GET", "/releases").body, "r"), "r")->size() == 1);
  }
}
}  // namespace
