#include "bosh/release/create.hpp"

#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/cancel.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/common/yaml.hpp"
#include "bosh/release/config.hpp"
#include "bosh/release/index.hpp"

namespace bosh::release {

namespace fs = std::filesystem;

namespace {

struct GitState {
  std::string commit_hash = "non-git";
  bool dirty = false;
  std::string status;
};

GitState git_state(const fs::path& dir) {
  GitState state;
  std::error_code ec;
  auto head = run_process({"git", "-C", dir.string(), "rev-parse", "--short", "HEAD"});
  if (head.exit_code != 0) return state;  // not a git repository (or no commit yet)
  state.commit_hash = head.out.substr(0, head.out.find_first_of("\r\n"));
  auto status = run_process({"git", "-C", dir.string(), "status", "--porcelain"});
  state.status = status.out;
  state.dirty = !status.out.empty();
  return state;
}

fs::path index_dir(const fs::path& root, const Resource& r) {
  if (r.kind == ResourceKind::license) return root / "license";
  return root / std::string(kind_dir(r.kind)) / r.name;
}

// Go's getFilePerms: executable for its owner -> 0755, else 0644.
unsigned staged_mode(const fs::path& path, bool follow) {
  std::error_code ec;
  auto status = follow ? fs::status(path, ec) : fs::symlink_status(path, ec);
  return (status.permissions() & fs::perms::owner_exec) != fs::perms::none ? 0755 : 0644;
}

std::string digest_string(DigestAlgorithm algorithm, const std::string& hex) {
  return Digest{algorithm, hex}.to_string();
}

// Builds one resource's archive at `out`; returns its digest string.
std::string build_archive(const Resource& r, const fs::path& release_dir, const fs::path& out,
                          DigestAlgorithm algorithm) {
  fs::create_directories(out.parent_path());
  if (r.prep_files.empty()) {
    std::vector<TarInput> inputs;
    for (const auto& f : r.files) {
      std::error_code ec;
      bool link = fs::is_symlink(f.path, ec);
      TarInput in{f.relative_path, f.path, std::nullopt, r.follow_symlinks};
      if (!link || r.follow_symlinks) in.mode = staged_mode(f.path, r.follow_symlinks);
      inputs.push_back(std::move(in));
    }
    return digest_string(algorithm, create_tgz_from(inputs, out, algorithm));
  }
  // pre_packaging runs in a staging copy with BUILD_DIR and RELEASE_DIR, then is removed.
  TempDir staging("bosh-resource-archive");
  for (const auto& f : r.files) {
    fs::path dest = staging.path() / f.relative_path;
    fs::create_directories(dest.parent_path());
    std::error_code ec;
    if (fs::is_symlink(f.path, ec) && !r.follow_symlinks) {
      fs::create_symlink(fs::read_symlink(f.path), dest);
    } else {
      fs::copy_file(f.path, dest, fs::copy_options::overwrite_existing);
      fs::permissions(dest, static_cast<fs::perms>(staged_mode(f.path, r.follow_symlinks)));
    }
  }
  for (const auto& prep : r.prep_files) {
    ProcessOptions opts;
    opts.cwd = staging.path();
    opts.env_overrides = {{"BUILD_DIR", staging.path().string()}, {"RELEASE_DIR", fs::absolute(release_dir).string()}};
    auto result = run_process({"bash", "-x", prep.path.string()}, opts);
    if (result.exit_code != 0)
      fail("package '{}': pre_packaging failed (exit {}):\n{}{}", r.name, result.exit_code, result.out, result.err);
    fs::remove_all(staging.path() / prep.relative_path);
  }
  create_tgz(staging.path(), out);
  return digest_string(algorithm, file_digest(out, algorithm));
}

bool archive_matches(const fs::path& archive, const std::string& expected) {
  std::error_code ec;
  if (!fs::is_regular_file(archive, ec)) return false;
  Digest want = strongest_digest(parse_multi_digest(expected));
  return file_digest(archive, want.algorithm) == want.hex;
}

struct Plan {
  const Resource* resource;
  BuiltItem item;
  bool build = false;
  bool upload = false;                   // final: upload after building/copying
  std::optional<fs::path> copy_from;     // final: a dev build with this fingerprint
};

template <typename F>
void parallel_for(std::size_t n, unsigned workers, F&& work) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&] {
    while (true) {
      std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      {
        std::lock_guard lock(error_mutex);
        if (error) return;
      }
      try {
        work(i);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < std::min<std::size_t>(workers, n); ++t) threads.emplace_back(run);
  run();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

std::string choose_version(const CreateOptions& options, const fs::path& dir, const std::string& name) {
  ReleaseIndex finals = ReleaseIndex::load(dir / "releases" / name / "index.yml");
  ReleaseIndex devs = ReleaseIndex::load(dir / "dev_releases" / name / "index.yml");
  ReleaseIndex& mine = options.final ? finals : devs;
  if (options.version) {
    Version::parse(*options.version);
    if (mine.contains(*options.version))
      fail<InputError>("release version '{}' of '{}' already exists", *options.version, name);
    return *options.version;
  }
  auto latest_final = finals.latest();
  if (options.final) return latest_final ? latest_final->next_final().str() : "1";
  Version base = latest_final ? *latest_final : Version::parse("0");
  if (options.timestamp_version)
    return base.str() + "+dev." +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
  auto latest_dev = devs.latest();
  if (latest_dev && latest_dev->release_part() == base) return latest_dev->next_dev().str();
  return base.next_dev().str();
}

void check_blobs_present(const fs::path& dir) {
  for (const auto& [path, record] : load_blobs(dir)) {
    std::error_code ec;
    if (!fs::exists(dir / "blobs" / path, ec))
      fail<InputError>("blob '{}' is listed in config/blobs.yml but missing from blobs/ (run 'bosh sync blobs')", path);
  }
}

}  // namespace

std::string release_manifest_yaml(const CreatedRelease& release) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << release.name;
  out << YAML::Key << "version" << YAML::Value << YAML::DoubleQuoted << release.version;
  out << YAML::Key << "commit_hash" << YAML::Value << release.commit_hash;
  out << YAML::Key << "uncommitted_changes" << YAML::Value << release.uncommitted_changes;
  auto items = [&](const char* key, const std::vector<BuiltItem>& list, const char* deps_key) {
    out << YAML::Key << key << YAML::Value << YAML::BeginSeq;
    for (const auto& i : list) {
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << i.name << YAML::Key << "version" << YAML::Value
          << i.version << YAML::Key << "fingerprint" << YAML::Value << i.fingerprint << YAML::Key << "sha1"
          << YAML::Value << i.sha1 << YAML::Key << deps_key << YAML::Value << YAML::Flow << i.dependencies
          << YAML::EndMap;
    }
    out << YAML::EndSeq;
  };
  items("jobs", release.jobs, "packages");
  items("packages", release.packages, "dependencies");
  if (release.license) {
    out << YAML::Key << "license" << YAML::Value << YAML::BeginMap << YAML::Key << "version" << YAML::Value
        << release.license->version << YAML::Key << "fingerprint" << YAML::Value << release.license->fingerprint
        << YAML::Key << "sha1" << YAML::Value << release.license->sha1 << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

namespace {

fs::path write_release_tarball(const CreatedRelease& release, const fs::path& out) {
  TempDir tmp("bosh-release-mf");
  write_file_atomic(tmp.path() / "release.MF", release_manifest_yaml(release));
  std::vector<TarInput> inputs{{"release.MF", tmp.path() / "release.MF"}};
  for (const auto& j : release.jobs) inputs.push_back({"jobs/" + j.name + ".tgz", j.archive});
  for (const auto& p : release.packages) inputs.push_back({"packages/" + p.name + ".tgz", p.archive});
  if (release.license) inputs.push_back({"license.tgz", release.license->archive});
  // The inner archives are compressed already: the outer gzip only stores them.
  create_tgz_from(inputs, out, std::nullopt, 0);
  return out;
}

}  // namespace

CreatedRelease create_release(const CreateOptions& options, plugin::Blobstore* final_blobstore,
                              const Progress& progress) {
  const fs::path dir = options.dir;
  ReleaseConfig config = load_release_config(dir);
  CreatedRelease release;
  release.name = options.name ? *options.name : config.name;
  if (release.name.empty())
    fail<InputError>("{}: the release has no name (set 'name' in config/final.yml or pass --name)",
                     (dir / "config/final.yml").string());
  if (!valid_name(release.name)) fail<InputError>("release name '{}' is not valid", release.name);

  GitState git = git_state(dir);
  if (git.dirty && !options.force)
    fail<InputError>("release directory has uncommitted changes (commit them, or use --force):\n{}", git.status);
  release.commit_hash = git.commit_hash;
  release.uncommitted_changes = git.dirty;
  check_blobs_present(dir);

  auto report = [&](const std::string& stage, std::size_t done, std::size_t total, const std::string& item) {
    if (progress) progress(stage, done, total, item);
  };

  ReleaseSources sources =
      read_release_dir(dir, options.algorithm, [&](std::size_t done, std::size_t total, const std::string& item) {
        report("Fingerprinting", done, total, item);
      });

  std::vector<const Resource*> resources;
  for (const auto& p : sources.packages) resources.push_back(&p);
  for (const auto& j : sources.jobs) resources.push_back(&j);
  if (sources.license) resources.push_back(&*sources.license);

  const fs::path dev_root = dir / ".dev_builds", final_root = dir / ".final_builds";
  std::vector<Plan> plans;
  for (const Resource* r : resources) {
    Plan plan{r, {}};
    plan.item.name = r->name;
    plan.item.fingerprint = r->fingerprint;
    plan.item.version = r->fingerprint;
    if (r->kind == ResourceKind::package)
      plan.item.dependencies = static_cast<const Package*>(r)->spec.dependencies;
    if (r->kind == ResourceKind::job) plan.item.dependencies = static_cast<const Job*>(r)->spec.packages;

    const fs::path final_archive = index_dir(final_root, *r) / (r->fingerprint + ".tgz");
    const fs::path dev_archive = index_dir(dev_root, *r) / (r->fingerprint + ".tgz");
    auto final_entry = BuildIndex::load(index_dir(final_root, *r) / "index.yml").find(r->fingerprint);
    if (final_entry) {
      plan.item.origin = "final";
      plan.item.sha1 = final_entry->sha1;
      plan.item.version = final_entry->version;
      plan.item.archive = final_archive;
      if (!archive_matches(final_archive, final_entry->sha1)) {
        if (!final_blobstore || final_entry->blobstore_id.empty())
          fail("{} '{}' ({}) is a final build, but {} is missing and no release blobstore is configured",
               kind_dir(r->kind), r->name, r->fingerprint, final_archive.string());
        fs::create_directories(final_archive.parent_path());
        blobstore::get_file(*final_blobstore, final_entry->blobstore_id, final_archive,
                            strongest_digest(parse_multi_digest(final_entry->sha1)));
      }
      plans.push_back(std::move(plan));
      continue;
    }
    auto dev_entry = BuildIndex::load(index_dir(dev_root, *r) / "index.yml").find(r->fingerprint);
    bool dev_ok = false;
    if (dev_entry) {
      std::error_code ec;
      if (fs::exists(dev_archive, ec)) {
        if (!archive_matches(dev_archive, dev_entry->sha1))
          fail("{}: does not match its digest {} in {} (delete it to rebuild)", dev_archive.string(),
               dev_entry->sha1, (index_dir(dev_root, *r) / "index.yml").string());
        dev_ok = true;
      }
    }
    if (options.final) {
      plan.item.origin = "new";
      plan.upload = true;
      plan.item.archive = final_archive;
      if (dev_ok) {
        plan.copy_from = dev_archive;
        plan.item.sha1 = dev_entry->sha1;
      } else {
        plan.build = true;
      }
    } else if (dev_ok) {
      plan.item.origin = "dev";
      plan.item.sha1 = dev_entry->sha1;
      plan.item.archive = dev_archive;
    } else {
      plan.item.origin = "new";
      plan.build = true;
      plan.item.archive = dev_archive;
    }
    plans.push_back(std::move(plan));
  }
  if (options.final && !final_blobstore)
    for (const auto& p : plans)
      if (p.upload)
        fail<InputError>("{}: a final release uploads its jobs and packages to the release blobstore, but none is "
                         "configured (blobstore.provider)",
                         (dir / "config/final.yml").string());

  // Build (in parallel) what is new.
  std::vector<Plan*> to_build;
  for (auto& p : plans)
    if (p.build) to_build.push_back(&p);
  unsigned workers = options.jobs ? options.jobs : std::max(1u, std::thread::hardware_concurrency());
  std::atomic<std::size_t> built{0};
  std::mutex progress_mutex;
  auto record_dev_build = [&](const Plan& p) {
    BuildIndex index = BuildIndex::load(index_dir(dev_root, *p.resource) / "index.yml");
    index.put(p.resource->fingerprint, {p.resource->fingerprint, p.item.sha1, ""});
    index.save();
  };
  try {
    parallel_for(to_build.size(), workers, [&](std::size_t i) {
      throw_if_cancelled();
      Plan& p = *to_build[i];
      p.item.sha1 = build_archive(*p.resource, dir, p.item.archive, options.algorithm);
      std::lock_guard lock(progress_mutex);
      report("Building", ++built, to_build.size(), std::string(kind_dir(p.resource->kind)) + "/" + p.resource->name);
    });
  } catch (...) {
    // What was built completely is kept for the next run; nothing else is written.
    if (!options.final)
      for (const Plan* p : to_build)
        if (!p->item.sha1.empty()) record_dev_build(*p);
    throw;
  }

  // Final: copy dev builds over, upload, and record in .final_builds.
  std::size_t uploads = 0, uploaded = 0;
  for (const auto& p : plans) uploads += p.upload ? 1 : 0;
  for (auto& p : plans) {
    throw_if_cancelled();
    const Resource& r = *p.resource;
    if (p.copy_from) {
      fs::create_directories(p.item.archive.parent_path());
      fs::path tmp = p.item.archive;
      tmp += ".tmp";
      fs::copy_file(*p.copy_from, tmp, fs::copy_options::overwrite_existing);
      fs::rename(tmp, p.item.archive);
    }
    if (p.upload) {
      auto stored = blobstore::put_file(*final_blobstore, p.item.archive,
                                        strongest_digest(parse_multi_digest(p.item.sha1)).algorithm);
      report("Uploading", ++uploaded, uploads, std::string(kind_dir(r.kind)) + "/" + r.name);
      BuildIndex index = BuildIndex::load(index_dir(final_root, r) / "index.yml");
      index.put(r.fingerprint, {r.fingerprint, p.item.sha1, stored.id});
      index.save();
    } else if (p.build) {
      record_dev_build(p);
    }
  }

  for (auto& p : plans) {
    switch (p.resource->kind) {
      case ResourceKind::job: release.jobs.push_back(p.item); break;
      case ResourceKind::package: release.packages.push_back(p.item); break;
      case ResourceKind::license: release.license = p.item; break;
    }
  }
  std::sort(release.packages.begin(), release.packages.end(),
            [](const BuiltItem& a, const BuiltItem& b) { return a.name < b.name; });

  // Version, manifest, index: in that order, each atomic.
  throw_if_cancelled();
  release.version = choose_version(options, dir, release.name);
  const fs::path releases_dir = dir / (options.final ? "releases" : "dev_releases") / release.name;
  release.manifest = releases_dir / (release.name + "-" + release.version + ".yml");
  if (options.with_tarball || options.tarball) {
    fs::path tarball = options.tarball ? *options.tarball : releases_dir / (release.name + "-" + release.version + ".tgz");
    fs::create_directories(fs::absolute(tarball).parent_path());
    report("Writing release tarball", 0, 1, tarball.string());
    release.tarball = write_release_tarball(release, tarball);
    report("Writing release tarball", 1, 1, tarball.string());
  }
  throw_if_cancelled();
  write_file_atomic(release.manifest, release_manifest_yaml(release));
  ReleaseIndex index = ReleaseIndex::load(releases_dir / "index.yml");
  index.add(release.version);
  index.save();
  return release;
}

fs::path create_tarball_from_manifest(const fs::path& release_dir, const fs::path& manifest,
                                      std::optional<fs::path> tarball, plugin::Blobstore* final_blobstore,
                                      const Progress& progress) {
  const std::string origin = manifest.string();
  YAML::Node root = load_yaml_file(manifest);
  if (!root.IsMap()) fail<InputError>("{}: expected a release manifest (a map)", origin);
  CreatedRelease release;
  release.name = yaml_string(root, "name", origin);
  release.version = yaml_string(root, "version", origin);
  release.commit_hash = yaml_string(root, "commit_hash", origin);
  release.uncommitted_changes = yaml_string(root, "uncommitted_changes", origin) == "true";
  if (release.name.empty() || release.version.empty())
    fail<InputError>("{}: a release manifest needs name and version", origin);

  auto locate = [&](ResourceKind kind, const YAML::Node& node) {
    BuiltItem item;
    item.name = kind == ResourceKind::license ? "license" : yaml_string(node, "name", origin);
    item.version = yaml_string(node, "version", origin);
    item.fingerprint = yaml_string(node, "fingerprint", origin, item.version);
    item.sha1 = yaml_string(node, "sha1", origin);
    const char* deps_key = kind == ResourceKind::job ? "packages" : "dependencies";
    if (YAML::Node deps = yaml_list(node, deps_key, origin))
      for (const auto& d : deps) item.dependencies.push_back(d.Scalar());
    Resource r;
    r.kind = kind;
    r.name = item.name;
    for (const fs::path& root_dir : {release_dir / ".final_builds", release_dir / ".dev_builds"}) {
      fs::path candidate = index_dir(root_dir, r) / (item.fingerprint + ".tgz");
      if (archive_matches(candidate, item.sha1)) {
        item.archive = candidate;
        return item;
      }
    }
    auto entry = BuildIndex::load(index_dir(release_dir / ".final_builds", r) / "index.yml").find(item.fingerprint);
    if (entry && final_blobstore && !entry->blobstore_id.empty()) {
      fs::path dest = index_dir(release_dir / ".final_builds", r) / (item.fingerprint + ".tgz");
      fs::create_directories(dest.parent_path());
      blobstore::get_file(*final_blobstore, entry->blobstore_id, dest, strongest_digest(parse_multi_digest(item.sha1)));
      item.archive = dest;
      return item;
    }
    fail("{}: {} '{}' ({}) is not in .dev_builds or .final_builds with digest {}", origin, kind_dir(kind), item.name,
         item.fingerprint, item.sha1);
  };
  if (YAML::Node jobs = yaml_list(root, "jobs", origin))
    for (const auto& j : jobs) release.jobs.push_back(locate(ResourceKind::job, j));
  if (YAML::Node packages = yaml_list(root, "packages", origin))
    for (const auto& p : packages) release.packages.push_back(locate(ResourceKind::package, p));
  if (YAML::Node license = yaml_map(root, "license", origin)) release.license = locate(ResourceKind::license, license);

  fs::path out = tarball ? *tarball : fs::path(manifest).replace_extension(".tgz");
  if (progress) progress("Writing release tarball", 0, 1, out.string());
  write_release_tarball(release, out);
  if (progress) progress("Writing release tarball", 1, 1, out.string());
  return out;
}

}  // namespace bosh::release
