// The director's schema, as numbered migrations. Timestamps are unix seconds
// (BIGINT) so both dialects store them alike; "{id}" is the auto-increment key.
#include "bosh/director/db.hpp"

namespace bosh::director {

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all = {
      {1,
       "initial schema",
       {
           "CREATE TABLE stemcells (id {id}, name TEXT NOT NULL, version TEXT NOT NULL, operating_system TEXT NOT NULL "
           "DEFAULT '', cid TEXT NOT NULL, sha1 TEXT NOT NULL DEFAULT '', api_version INTEGER, cpi TEXT NOT NULL "
           "DEFAULT '', created_at BIGINT NOT NULL, UNIQUE (name, version, cpi))",
           "CREATE TABLE releases (id {id}, name TEXT NOT NULL UNIQUE)",
           "CREATE TABLE release_versions (id {id}, release_id BIGINT NOT NULL REFERENCES releases(id), version TEXT "
           "NOT NULL, commit_hash TEXT NOT NULL DEFAULT '', uncommitted_changes BOOLEAN NOT NULL DEFAULT FALSE, "
           "UNIQUE (release_id, version))",
           "CREATE TABLE packages (id {id}, release_id BIGINT NOT NULL REFERENCES releases(id), name TEXT NOT NULL, "
           "version TEXT NOT NULL, fingerprint TEXT NOT NULL, sha1 TEXT, blobstore_id TEXT, dependencies TEXT NOT NULL "
           "DEFAULT '[]', UNIQUE (release_id, name, version))",
           "CREATE TABLE templates (id {id}, release_id BIGINT NOT NULL REFERENCES releases(id), name TEXT NOT NULL, "
           "version TEXT NOT NULL, fingerprint TEXT NOT NULL, sha1 TEXT NOT NULL, blobstore_id TEXT NOT NULL, spec "
           "TEXT NOT NULL DEFAULT '{}', UNIQUE (release_id, name, version))",
           "CREATE TABLE release_versions_packages (release_version_id BIGINT NOT NULL REFERENCES "
           "release_versions(id), package_id BIGINT NOT NULL REFERENCES packages(id), PRIMARY KEY "
           "(release_version_id, package_id))",
           "CREATE TABLE release_versions_templates (release_version_id BIGINT NOT NULL REFERENCES "
           "release_versions(id), template_id BIGINT NOT NULL REFERENCES templates(id), PRIMARY KEY "
           "(release_version_id, template_id))",
           "CREATE TABLE compiled_packages (id {id}, package_id BIGINT NOT NULL REFERENCES packages(id), "
           "stemcell_os TEXT NOT NULL, stemcell_version TEXT NOT NULL, dependency_key TEXT NOT NULL, build INTEGER "
           "NOT NULL, sha1 TEXT NOT NULL, blobstore_id TEXT NOT NULL, UNIQUE (package_id, stemcell_os, "
           "stemcell_version, dependency_key))",
           "CREATE TABLE deployments (id {id}, name TEXT NOT NULL UNIQUE, manifest TEXT NOT NULL DEFAULT '', "
           "created_at BIGINT NOT NULL)",
           "CREATE TABLE deployment_manifests (id {id}, deployment_id BIGINT NOT NULL REFERENCES deployments(id), "
           "manifest TEXT NOT NULL, task_id BIGINT, created_at BIGINT NOT NULL)",
           "CREATE TABLE instances (id {id}, deployment_id BIGINT NOT NULL REFERENCES deployments(id), job TEXT NOT "
           "NULL, idx INTEGER NOT NULL, uuid TEXT NOT NULL UNIQUE, az TEXT, state TEXT NOT NULL DEFAULT 'started', "
           "bootstrap BOOLEAN NOT NULL DEFAULT FALSE, spec TEXT NOT NULL DEFAULT '{}', UNIQUE (deployment_id, job, "
           "idx))",
           "CREATE TABLE vms (id {id}, instance_id BIGINT REFERENCES instances(id), cid TEXT NOT NULL UNIQUE, "
           "agent_id TEXT NOT NULL UNIQUE, cpi TEXT NOT NULL DEFAULT '', active BOOLEAN NOT NULL DEFAULT TRUE, "
           "created_at BIGINT NOT NULL)",
           "CREATE TABLE persistent_disks (id {id}, instance_id BIGINT REFERENCES instances(id), disk_cid TEXT NOT "
           "NULL UNIQUE, size_mb INTEGER NOT NULL, cloud_properties TEXT NOT NULL DEFAULT '{}', active BOOLEAN NOT "
           "NULL DEFAULT FALSE, orphaned_at BIGINT)",
           "CREATE TABLE ip_addresses (id {id}, instance_id BIGINT REFERENCES instances(id), network TEXT NOT NULL, "
           "address TEXT NOT NULL, static BOOLEAN NOT NULL DEFAULT FALSE, task_id BIGINT, UNIQUE (network, address))",
           "CREATE TABLE tasks (id {id}, type TEXT NOT NULL, description TEXT NOT NULL, state TEXT NOT NULL, "
           "priority INTEGER NOT NULL DEFAULT 0, username TEXT NOT NULL DEFAULT '', deployment TEXT NOT NULL DEFAULT "
           "'', context_id TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL DEFAULT '{}', result TEXT NOT NULL DEFAULT "
           "'', worker TEXT NOT NULL DEFAULT '', created_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT)",
           "CREATE INDEX tasks_state ON tasks (state, priority, id)",
           "CREATE TABLE locks (name TEXT PRIMARY KEY, task_id BIGINT, username TEXT NOT NULL DEFAULT '', "
           "acquired_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)",
           "CREATE TABLE events (id {id}, parent_id BIGINT, timestamp BIGINT NOT NULL, username TEXT NOT NULL "
           "DEFAULT '', action TEXT NOT NULL, object_type TEXT NOT NULL, object_name TEXT NOT NULL DEFAULT '', task "
           "TEXT NOT NULL DEFAULT '', deployment TEXT NOT NULL DEFAULT '', instance TEXT NOT NULL DEFAULT '', error "
           "TEXT, context TEXT NOT NULL DEFAULT '{}')",
           "CREATE TABLE configs (id {id}, type TEXT NOT NULL, name TEXT NOT NULL DEFAULT 'default', content TEXT NOT "
           "NULL, created_at BIGINT NOT NULL, deleted BOOLEAN NOT NULL DEFAULT FALSE)",
           "CREATE INDEX configs_type_name ON configs (type, name, id)",
       }},
      {2,
       "deployments: what they use, variables, orphaned disks, errand runs",
       {
           "CREATE TABLE deployments_stemcells (deployment_id BIGINT NOT NULL REFERENCES deployments(id), "
           "stemcell_id BIGINT NOT NULL REFERENCES stemcells(id), PRIMARY KEY (deployment_id, stemcell_id))",
           "CREATE TABLE deployments_release_versions (deployment_id BIGINT NOT NULL REFERENCES deployments(id), "
           "release_version_id BIGINT NOT NULL REFERENCES release_versions(id), PRIMARY KEY (deployment_id, "
           "release_version_id))",
           "ALTER TABLE deployments ADD COLUMN cloud_config_id BIGINT",
           "ALTER TABLE deployments ADD COLUMN runtime_config_id BIGINT",
           "CREATE TABLE variables (id {id}, deployment_id BIGINT NOT NULL REFERENCES deployments(id), name TEXT NOT "
           "NULL, value TEXT NOT NULL, created_at BIGINT NOT NULL, UNIQUE (deployment_id, name))",
           "ALTER TABLE instances ADD COLUMN lifecycle TEXT NOT NULL DEFAULT 'service'",
           "ALTER TABLE persistent_disks ADD COLUMN deployment TEXT NOT NULL DEFAULT ''",
           "ALTER TABLE persistent_disks ADD COLUMN instance_name TEXT NOT NULL DEFAULT ''",
           "CREATE TABLE errand_runs (id {id}, deployment_id BIGINT NOT NULL REFERENCES deployments(id), name TEXT "
           "NOT NULL, configuration_hash TEXT NOT NULL DEFAULT '', exit_code INTEGER NOT NULL, created_at BIGINT "
           "NOT NULL)",
       }},
      {3,
       "ignored instances, disk snapshots, the AZ of orphaned disks",
       {
           "ALTER TABLE instances ADD COLUMN ignored BOOLEAN NOT NULL DEFAULT FALSE",
           "CREATE TABLE snapshots (id {id}, persistent_disk_id BIGINT NOT NULL REFERENCES persistent_disks(id), "
           "snapshot_cid TEXT NOT NULL UNIQUE, clean BOOLEAN NOT NULL DEFAULT FALSE, created_at BIGINT NOT NULL)",
           "ALTER TABLE persistent_disks ADD COLUMN az TEXT NOT NULL DEFAULT ''",
       }},
  };
  return all;
}

}  // namespace bosh::director
