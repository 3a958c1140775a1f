// The director's HTTPS API (BOSH's JSON shapes): GET /info (no login needed),
// GET /tasks, GET /tasks/<id>, GET /tasks/<id>/output?type=event|debug|result
// (Range: bytes=N- for streaming), DELETE /task/<id>, GET /locks. Basic auth
// against director.yml's users; errors are {"code", "description"}.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "bosh/director/config.hpp"
#include "bosh/director/db.hpp"
#include "bosh/director/services.hpp"

namespace bosh::director {

// The task's log files: <state_dir>/tasks/<id>/{event,debug,result}.
std::filesystem::path task_log_dir(const DirectorConfig& config, std::int64_t task_id);

class ApiServer {
 public:
  explicit ApiServer(DirectorServices& services);
  ~ApiServer();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The director's uuid, made at first start and kept in the state dir.
std::string director_uuid(const DirectorConfig& config);
// The TLS certificate: director.yml's, or a self-signed one in the state dir.
void ensure_tls_certificate(DirectorConfig& config);

}  // namespace bosh::director
