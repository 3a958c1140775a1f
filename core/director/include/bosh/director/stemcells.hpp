// Stemcells in the director: upload (stemcell.MF checked, the image handed to
// the CPI's create_stemcell), list, delete (refused while a deployment uses
// one, unless forced).
#pragma once

#include <string>

#include "bosh/director/db.hpp"
#include "bosh/director/workers.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::director {

// "update_stemcell": payload {"path": "<uploaded tarball>" | "location": URL, "sha1"?, "fix": bool}.
std::string upload_stemcell_task(TaskContext& ctx);
// "delete_stemcell": payload {"name", "version", "force": bool}.
std::string delete_stemcell_task(TaskContext& ctx);
std::string delete_stemcell(TaskContext& ctx, const std::string& name, const std::string& version, bool force);

// True when a stemcell of that name and version is uploaded (POST /stemcell_uploads).
bool stemcell_exists(Database& db, const std::string& name, const std::string& version);

// GET /stemcells: [{name, operating_system, version, cid, cpi, deployments: [{name}], api_version, id}]
plugin::Json list_stemcells(Database& db);

}  // namespace bosh::director
