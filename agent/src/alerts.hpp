// Monit alerts reach the agent as mail: monit is told to deliver to the
// agent's own SMTP port on 127.0.0.1, and each mail becomes a BOSH alert on
// hm.agent.alert.<agent_id>: {id, severity (1 = worst .. 4), title, summary,
// created_at}. Events that only say things are fine again are not sent.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace Poco::Net {
class ServerSocket;
}

namespace bosh::agent {

struct Alert {
  std::string id;
  int severity = 0;
  std::string title;    // "<service> (<ips>) - <event> - <action>"
  std::string summary;  // monit's description
  long long created_at = 0;
};

// -1 when the event is not worth an alert (succeeded, exists, ...).
int alert_severity(const std::string& monit_event);

// The alert in a monit mail (Service/Event/Action/Date/Description lines);
// nothing when the mail is not an alert or the event is ignored.
std::optional<Alert> parse_monit_mail(const std::string& mail, const std::string& ips);

class SmtpReceiver {
 public:
  // Listens on 127.0.0.1:port (0: a free one); `on_mail` gets each message body.
  SmtpReceiver(int port, std::function<void(const std::string&)> on_mail);
  ~SmtpReceiver();
  int port() const { return port_; }

 private:
  void serve();
  std::unique_ptr<Poco::Net::ServerSocket> socket_;
  std::function<void(const std::string&)> on_mail_;
  std::atomic<bool> stopping_{false};
  int port_ = 0;
  std::thread thread_;
};

}  // namespace bosh::agent
