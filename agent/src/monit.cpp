#include "monit.hpp"

#include <Poco/DOM/DOMParser.h>
#include <Poco/DOM/Document.h>
#include <Poco/DOM/Element.h>
#include <Poco/DOM/NodeList.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/SAX/InputSource.h>

#include <ctime>
#include <random>
#include <sstream>
#include <thread>

#include "bosh/common/error.hpp"
#include "bosh/common/random.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/http.hpp"
#include "bosh/common/log.hpp"

namespace bosh::agent {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kLog = "monit";

int free_local_port() {
  // Bind port 0 through POCO and take what the kernel chose.
  return static_cast<int>(Poco::Net::ServerSocket(Poco::Net::SocketAddress("127.0.0.1", 0)).address().port());
}

std::string child_text(Poco::XML::Element* parent, const std::string& name) {
  if (!parent) return "";
  Poco::XML::Element* e = parent->getChildElement(name);
  return e ? e->innerText() : "";
}

long long to_ll(const std::string& s, long long fallback = 0) {
  try {
    return s.empty() ? fallback : std::stoll(s);
  } catch (const std::exception&) {
    return fallback;
  }
}

double to_d(const std::string& s) {
  try {
    return s.empty() ? 0 : std::stod(s);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

std::vector<MonitService> parse_monit_status(const std::string& xml) {
  std::vector<MonitService> out;
  Poco::XML::DOMParser parser;
  std::istringstream in(xml);
  Poco::XML::InputSource source(in);
  Poco::AutoPtr<Poco::XML::Document> doc;
  try {
    doc = parser.parse(&source);
  } catch (const Poco::Exception& e) {
    fail("monit status is not XML: {}", e.displayText());
  }
  Poco::AutoPtr<Poco::XML::NodeList> services = doc->getElementsByTagName("service");
  for (unsigned long i = 0; i < services->length(); ++i) {
    auto* e = static_cast<Poco::XML::Element*>(services->item(i));
    if (e->getAttribute("type") != "3") continue;
    MonitService s;
    s.name = child_text(e, "name");
    s.status = static_cast<int>(to_ll(child_text(e, "status")));
    s.monitor = static_cast<int>(to_ll(child_text(e, "monitor")));
    s.pending_action = static_cast<int>(to_ll(child_text(e, "pendingaction")));
    s.pid = static_cast<int>(to_ll(child_text(e, "pid"), -1));
    s.uptime = to_ll(child_text(e, "uptime"));
    auto* memory = e->getChildElement("memory");
    s.memory_kb = to_ll(child_text(memory, "kilobyte"));
    s.memory_percent = to_d(child_text(memory, "percent"));
    s.cpu_percent = to_d(child_text(e->getChildElement("cpu"), "percent"));
    out.push_back(std::move(s));
  }
  return out;
}

std::string monit_incarnation(const std::string& xml) {
  auto start = xml.find("<incarnation>");
  auto end = xml.find("</incarnation>");
  if (start == std::string::npos || end == std::string::npos) return "";
  start += 13;
  return xml.substr(start, end - start);
}

std::string job_state_of(const std::vector<MonitService>& services) {
  bool starting = false;
  for (const auto& s : services) {
    if (s.monitor == 2 || (s.monitor == 1 && s.status == 0 && s.pid <= 0)) {
      starting = true;
      continue;
    }
    if (s.monitor == 0 || s.status != 0) return "failing";
  }
  return starting ? "starting" : "running";
}

Monit::Monit(Config config) : config_(std::move(config)), password_(random_hex(32)) {
  if (config_.http_port == 0) config_.http_port = free_local_port();
}

Monit::~Monit() { stop_daemon(); }

fs::path Monit::job_dir() const { return config_.base_dir / "monit/job"; }

std::string Monit::url(const std::string& path) const {
  return fmt::format("http://{}:{}@127.0.0.1:{}{}", user_, password_, config_.http_port, path);
}

void Monit::start_daemon() {
  const fs::path dir = config_.base_dir / "monit";
  fs::create_directories(job_dir());
  fs::create_directories(dir / "events");
  fs::permissions(dir, fs::perms::owner_all);
  std::string rc = fmt::format(
      "set daemon {poll}\n"
      "set pidfile {dir}/monit.pid\n"
      "set statefile {dir}/monit.state\n"
      "set idfile {dir}/monit.id\n"
      "set logfile {dir}/monit.log\n"
      "set eventqueue basedir {dir}/events slots 1000\n"
      "set mailserver 127.0.0.1 port {alert_port}\n"
      "set alert bosh-agent@localhost\n"
      "set mail-format {{\n  from: monit@localhost\n  subject: Monit Alert\n  message: Service: $SERVICE\n"
      "Event: $EVENT\nAction: $ACTION\nDate: $DATE\nDescription: $DESCRIPTION\n}}\n"
      "set httpd port {http_port} and use address 127.0.0.1\n"
      "    allow {user}:{password}\n"
      "include {dir}/job/*.monitrc\n",
      fmt::arg("poll", config_.poll.count()), fmt::arg("dir", dir.string()),
      fmt::arg("alert_port", config_.alert_port), fmt::arg("http_port", config_.http_port), fmt::arg("user", user_),
      fmt::arg("password", password_));
  write_file_atomic(dir / "monitrc", rc, fs::perms::owner_read | fs::perms::owner_write);
  // monit belongs to its agent: same process group (stopping the VM's tree
  // stops it) and gone if the agent dies. The jobs it starts live on.
  ProcessOptions po;
  po.own_process_group = false;
  po.die_with_parent = true;
  process_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{"monit", "-I", "-c", (dir / "monitrc").string()}, dir / "monit.out", po);
  for (int i = 0; i < 500; ++i) {
    try {
      plugin::HttpRequest req;
      req.url = url("/_status?format=xml");
      req.timeout = std::chrono::seconds(1);
      if (http_request(req).status == 200) return;
    } catch (const bosh::Error&) {
    }
    if (!process_->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string out;
  try {
    out = read_file(dir / "monit.out");
  } catch (const bosh::Error&) {
  }
  fail("monit did not start on port {}: {}", config_.http_port, out);
}

void Monit::stop_daemon() {
  if (process_) process_->stop();
  process_.reset();
}

std::string Monit::status_xml() {
  plugin::HttpRequest req;
  req.url = url("/_status?format=xml");
  req.timeout = std::chrono::seconds(5);
  auto resp = http_request(req);
  if (resp.status != 200) fail("monit status: HTTP {}", resp.status);
  return resp.body;
}

void Monit::reload() {
  const std::string before = monit_incarnation(status_xml());
  // The incarnation is monit's start time in whole seconds: reload in a later
  // second than the last (re)start, or the change cannot be seen.
  const long long since = to_ll(before);
  while (static_cast<long long>(std::time(nullptr)) <= since)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto r = run_process({"monit", "-c", (config_.base_dir / "monit/monitrc").string(), "reload"});
  if (r.exit_code != 0) fail("monit reload failed: {}{}", r.out, r.err);
  // monit restarts (new incarnation) and re-reads its files; wait for that.
  // It reads the signal only once the action it is running ends, and a start
  // whose process never appears holds it for its whole start timeout (30 s
  // by default): the wait covers that and more.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    try {
      if (monit_incarnation(status_xml()) != before) return;
    } catch (const bosh::Error&) {
    }
  }
  fail("monit did not come back within 90 s of a reload");
}

std::vector<MonitService> Monit::status() { return parse_monit_status(status_xml()); }

void Monit::action(const std::string& service, const std::string& action) {
  // monit wants the same CSRF token in a cookie and in the form.
  const std::string token = random_hex(32);
  plugin::HttpRequest req;
  req.method = "POST";
  req.url = url("/" + service);
  req.headers["Cookie"] = "securitytoken=" + token;
  req.headers["Content-Type"] = "application/x-www-form-urlencoded";
  req.body = "securitytoken=" + token + "&action=" + action;
  auto resp = http_request(req);
  if (resp.status != 200 && resp.status != 302)
    fail("monit {} {}: HTTP {} {}", action, service, resp.status, resp.body.substr(0, 200));
  log::debug(kLog, "{} {}", action, service);
}

void Monit::start_all() {
  for (const auto& s : status()) action(s.name, "start");
}

void Monit::stop_all(std::chrono::seconds timeout) {
  for (const auto& s : status()) action(s.name, "stop");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    bool all_stopped = true;
    for (const auto& s : status()) all_stopped = all_stopped && s.monitor == 0 && s.pid <= 0;
    if (all_stopped) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  fail("monit did not stop every service within {} s", timeout.count());
}

}  // namespace bosh::agent
