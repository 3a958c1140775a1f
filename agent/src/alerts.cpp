#include "alerts.hpp"

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <random>
#include <sstream>

#include "bosh/common/log.hpp"

namespace bosh::agent {

namespace {

constexpr std::string_view kLog = "alerts";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

}  // namespace

int alert_severity(const std::string& monit_event) {
  // After the BOSH agent's table: 1 alert, 2 critical, 3 error, 4 warning, -1 ignored.
  static const std::map<std::string, int> table = {
      {"action done", -1},          {"checksum failed", 2},        {"checksum changed", 4},
      {"checksum succeeded", -1},   {"connection failed", 1},      {"connection succeeded", -1},
      {"connection changed", 3},    {"content failed", 3},         {"content succeeded", -1},
      {"content changed", 3},       {"data access error", 3},      {"data access succeeded", -1},
      {"data access changed", 4},   {"execution failed", 1},       {"execution succeeded", -1},
      {"execution changed", 4},     {"does not exist", 1},         {"exists", -1},
      {"exist", -1},                {"fsflags failed", 3},         {"fsflags succeeded", -1},
      {"fsflags changed", 4},       {"gid failed", 3},             {"gid succeeded", -1},
      {"gid changed", 4},           {"icmp failed", 2},            {"icmp succeeded", -1},
      {"icmp changed", 4},          {"monit instance failed", 1},  {"monit instance succeeded", -1},
      {"monit instance changed", -1}, {"invalid type", 3},         {"type succeeded", -1},
      {"not monitored", 4},         {"monitored", -1},             {"permission failed", 3},
      {"permission succeeded", -1}, {"permission changed", 4},     {"pid failed", 2},
      {"pid succeeded", -1},        {"pid changed", 4},            {"ppid failed", 2},
      {"ppid succeeded", -1},       {"ppid changed", 4},           {"resource limit matched", 3},
      {"resource limit succeeded", -1}, {"size failed", 3},        {"size succeeded", -1},
      {"size changed", 3},          {"timeout", 2},                {"timeout recovery", -1},
      {"timestamp failed", 3},      {"timestamp succeeded", -1},   {"timestamp changed", 4},
      {"uid failed", 2},            {"uid succeeded", -1},         {"uid changed", 4},
      {"status failed", 3},         {"status succeeded", -1},      {"status changed", 4},
  };
  auto it = table.find(lower(trim(monit_event)));
  return it == table.end() ? 2 : it->second;  // unknown events: critical, as BOSH's agent
}

std::optional<Alert> parse_monit_mail(const std::string& mail, const std::string& ips) {
  std::map<std::string, std::string> fields;
  std::istringstream in(mail);
  for (std::string line; std::getline(in, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    fields.emplace(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  }
  if (!fields.count("service") || !fields.count("event")) return std::nullopt;
  int severity = alert_severity(fields["event"]);
  if (severity < 0) return std::nullopt;
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  Alert a;
  a.id = fmt::format("{:016x}", rng());
  a.severity = severity;
  a.title = fmt::format("{} ({}) - {} - {}", fields["service"], ips, fields["event"], fields["action"]);
  a.summary = fields["description"];
  a.created_at = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                     .count();
  return a;
}

SmtpReceiver::SmtpReceiver(int port, std::function<void(const std::string&)> on_mail)
    : socket_(std::make_unique<Poco::Net::ServerSocket>(Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(port)))),
      on_mail_(std::move(on_mail)) {
  port_ = socket_->address().port();
  thread_ = std::thread([this] { serve(); });
}

SmtpReceiver::~SmtpReceiver() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void SmtpReceiver::serve() {
  while (!stopping_) {
    try {
      if (!socket_->poll(Poco::Timespan(0, 200000), Poco::Net::Socket::SELECT_READ)) continue;
      Poco::Net::StreamSocket conn = socket_->acceptConnection();
      conn.setReceiveTimeout(Poco::Timespan(10, 0));
      auto send = [&](const std::string& s) { conn.sendBytes(s.data(), static_cast<int>(s.size())); };
      std::string buffer;
      auto read_line = [&](std::string& line) {
        while (true) {
          auto nl = buffer.find("\r\n");
          if (nl != std::string::npos) {
            line = buffer.substr(0, nl);
            buffer.erase(0, nl + 2);
            return true;
          }
          char chunk[4096];
          int n = conn.receiveBytes(chunk, sizeof chunk);
          if (n <= 0) return false;
          buffer.append(chunk, static_cast<std::size_t>(n));
        }
      };
      send("220 bosh-agent ESMTP\r\n");
      std::string line;
      while (read_line(line)) {
        std::string verb = lower(line.substr(0, 4));
        if (verb == "data") {
          send("354 end with <CRLF>.<CRLF>\r\n");
          std::string body;
          while (read_line(line) && line != ".") body += (line.rfind("..", 0) == 0 ? line.substr(1) : line) + "\n";
          send("250 ok\r\n");
          try {
            on_mail_(body);
          } catch (const std::exception& e) {
            log::warn(kLog, "alert not delivered: {}", e.what());
          }
        } else if (verb == "quit") {
          send("221 bye\r\n");
          break;
        } else {
          send("250 ok\r\n");  // HELO, EHLO, MAIL, RCPT, RSET, NOOP
        }
      }
    } catch (const std::exception& e) {
      if (!stopping_) log::warn(kLog, "smtp: {}", e.what());
    }
  }
}

}  // namespace bosh::agent
