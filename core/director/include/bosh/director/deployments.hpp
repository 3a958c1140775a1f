// Deployments: the deploy engine's tasks (update_deployment, delete_deployment,
// change_state, vms, run_errand, fetch_logs, cleanup) and what the API reads
// without a task (lists, manifests, diffs).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bosh/director/db.hpp"
#include "bosh/director/workers.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::director {

void add_deployment_tasks(std::map<std::string, TaskRunner>& runners);

// GET /deployments: [{name, releases: [{name, version}], stemcells: [{name, version}], cloud_config, teams}]
plugin::Json list_deployments(Database& db);
// GET /deployments/<d>/vms and /instances (without format=full).
plugin::Json list_vms(Database& db, const std::string& deployment, bool instances);

// Everything a deploy checks before it changes anything (the manifest, the
// cloud config, variables, releases and stemcells, placement and IPs),
// changing nothing; InputError naming what is wrong. POST .../diff answers
// with it, so `bosh diff` refuses what `bosh deploy` would.
void validate_manifest(Database& db, const std::string& director_name, const std::string& manifest);

// GET /deployments/<d>/snapshots: [{job, index, snapshot_cid, created_at ("... UTC"), clean}]
plugin::Json list_snapshots(Database& db, const std::string& deployment);

// GET /disks: [{disk_cid, size, deployment_name, instance_name, az, orphaned_at ("... UTC"), cloud_properties}]
plugin::Json list_orphaned_disks(Database& db);
// What `bosh clean-up` would delete (GET /cleanup/dryrun; the task deletes
// exactly this): {releases: [{name, versions}], stemcells, compiled_packages,
// orphaned_disks, orphaned_vms, exported_releases, dns_blobs}.
plugin::Json cleanup_plan(Database& db, bool remove_all, bool keep_orphaned_disks);


}  // namespace bosh::director
