#include "bosh/release/create.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/cancel.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/release/config.hpp"
#include "bosh/release/index.hpp"
#include "create_support.hpp"

namespace bosh::release {

namespace fs = std::filesystem;
using detail::index_dir;

fs::path default_build_cache() {
  const char* home = std::getenv("HOME");
  if (!home || !*home) fail<InputError>("HOME is not set: cannot find the build cache (~/.bosh/cache)");
  return fs::path(home) / ".bosh" / "cache";
}

BlobstoreAccess blobstore_access(plugin::Blobstore* store, const fs::path& release_dir) {
  return [store, release_dir](const std::string& why) -> plugin::Blobstore& {
    if (!store)
      fail<InputError>("{}: no release blobstore is configured (blobstore.provider), but {} needs one",
                       (release_dir / "config/final.yml").string(), why);
    return *store;
  };
}

namespace {

struct GitState {
  std::string commit_hash = "non-git";
  bool dirty = false;
  std::string status;
};

// As the Go CLI: a directory that is not in a git work tree (or a machine
// without git) is "non-git"; a repository without commits is "empty".
GitState git_state(const fs::path& dir) {
  GitState state;
  std::error_code ec;
  const bool has_dot_git = fs::exists(dir / ".git", ec);
  ProcessResult status;
  try {
    status = run_process({"git", "-C", dir.string(), "status", "--short"});
  } catch (const Error& e) {
    if (has_dot_git) fail("{}: has a .git, but git cannot run: {}", dir.string(), e.what());
    return state;
  }
  if (status.exit_code != 0) {
    if (has_dot_git) fail("{}: git status failed: {}", dir.string(), status.err);
    return state;  // not a git work tree
  }
  state.status = status.out;
  state.dirty = status.out.find_first_not_of(" \r\n\t") != std::string::npos;
  auto head = run_process({"git", "-C", dir.string(), "rev-parse", "--short", "HEAD"});
  if (head.exit_code == 0)
    state.commit_hash = head.out.substr(0, head.out.find_first_of("\r\n"));
  else if (head.err.find("Needed a single revision") != std::string::npos)
    state.commit_hash = "empty";
  else
    fail("{}: git rev-parse HEAD failed: {}", dir.string(), head.err);
  return state;
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

struct Plan {
  const Resource* resource;
  BuiltItem item;
  bool build = false;
  bool upload = false;  // final: upload (after building, or from its dev build) and record in .final_builds
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

// The Go CLI's rule: a final release is the last final one's last release
// component + 1 (default 1); a dev release is the newer of the last dev and
// the last final one (default 0+dev.0) with its post-release incremented
// ("+dev.1" when it has none); --timestamp-version takes that release and
// pre-release with +dev.<unix time>.
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
  auto latest_dev = devs.latest();
  Version base = Version::parse("0+dev.0");
  if (latest_dev && latest_final) base = *latest_final < *latest_dev || *latest_final == *latest_dev ? *latest_dev : *latest_final;
  else if (latest_dev) base = *latest_dev;
  else if (latest_final) base = *latest_final;
  if (options.timestamp_version)
    return base.release_part().str() + "+dev." +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
  return base.next_dev().str();
}

std::string describe(const Resource& r) {
  const char* kind = r.kind == ResourceKind::job ? "job" : r.kind == ResourceKind::package ? "package" : "license";
  return fmt::format("{} '{}' ({})", kind, r.name, r.fingerprint);
}

// Where each resource's archive comes from: a recorded build (dev first,
// then final, as the Go CLI), else a new build. A final release records
// every one in .final_builds, uploading those not there yet.
Plan plan_resource(const Resource& r, const CreateOptions& options, const BuildCache& cache,
                   const BlobstoreAccess& blobstore) {
  const fs::path dir = options.dir;
  const fs::path dev_dir = index_dir(dir / ".dev_builds", r.kind, r.name);
  const fs::path final_dir = index_dir(dir / ".final_builds", r.kind, r.name);
  Plan plan{&r, {}};
  plan.item.name = r.name;
  plan.item.fingerprint = r.fingerprint;
  plan.item.version = r.fingerprint;
  if (r.kind == ResourceKind::package) plan.item.dependencies = static_cast<const Package&>(r).spec.dependencies;
  if (r.kind == ResourceKind::job) plan.item.dependencies = static_cast<const Job&>(r).spec.packages;

  auto final_entry = BuildIndex::load(final_dir / "index.yml").find(r.fingerprint);
  auto dev_entry = BuildIndex::load(dev_dir / "index.yml").find(r.fingerprint);
  auto take = [&](const BuildEntry& e, const fs::path& archive, const char* origin) {
    plan.item.sha1 = e.sha1;
    plan.item.archive = archive;
    plan.item.origin = origin;
  };
  const std::string what = describe(r);
  if (options.final && final_entry) {
    if (auto a = detail::locate_build(cache, final_dir, what, *final_entry, &blobstore)) {
      take(*final_entry, *a, "final");
      return plan;
    }
  }
  if (dev_entry)
    if (auto a = detail::locate_build(cache, dev_dir, what, *dev_entry, nullptr)) take(*dev_entry, *a, "dev");
  if (plan.item.archive.empty() && final_entry && !options.final)
    if (auto a = detail::locate_build(cache, final_dir, what, *final_entry, &blobstore))
      take(*final_entry, *a, "final");
  if (plan.item.archive.empty()) {
    if (r.kind == ResourceKind::package && static_cast<const Package&>(r).vendored)
      fail<InputError>("{}: vendored {} is in neither .dev_builds nor .final_builds (nor the build cache {})",
                       static_cast<const Package&>(r).lock_file.string(), what, cache.dir().string());
    plan.build = true;
    plan.item.origin = "new";
  }
  plan.upload = options.final;
  return plan;
}

void record_build(const fs::path& index_file, const Plan& p, const std::string& blobstore_id) {
  BuildIndex index = BuildIndex::load(index_file);
  index.put(p.resource->fingerprint, {p.resource->fingerprint, p.item.sha1, blobstore_id});
  index.save();
}

void build_new(std::vector<Plan>& plans, const CreateOptions& options, const BuildCache& cache,
               const std::function<void(std::size_t, std::size_t, const std::string&)>& report) {
  std::vector<Plan*> to_build;
  for (auto& p : plans)
    if (p.build) to_build.push_back(&p);
  unsigned workers = options.jobs ? options.jobs : std::max(1u, std::thread::hardware_concurrency());
  std::atomic<std::size_t> built{0};
  std::mutex progress_mutex;
  auto record = [&](const Plan& p) {
    record_build(index_dir(options.dir / ".dev_builds", p.resource->kind, p.resource->name) / "index.yml", p, "");
  };
  try {
    parallel_for(to_build.size(), workers, [&](std::size_t i) {
      throw_if_cancelled();
      Plan& p = *to_build[i];
      fs::path tmp = cache.temp_path();
      try {
        std::string digest = build_archive(*p.resource, options.dir, tmp, options.algorithm);
        p.item.archive = cache.adopt(tmp, digest);
        p.item.sha1 = digest;
      } catch (...) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw;
      }
      std::lock_guard lock(progress_mutex);
      report(++built, to_build.size(), std::string(kind_dir(p.resource->kind)) + "/" + p.resource->name);
    });
  } catch (...) {
    // What was built completely is kept for the next run; nothing else is written.
    for (const Plan* p : to_build)
      if (!p->item.sha1.empty()) record(*p);
    throw;
  }
  for (const Plan* p : to_build) record(*p);
}

void upload_final(std::vector<Plan>& plans, const CreateOptions& options, const BlobstoreAccess& blobstore,
                  const std::function<void(std::size_t, std::size_t, const std::string&)>& report) {
  std::size_t uploads = 0, uploaded = 0;
  for (const auto& p : plans) uploads += p.upload && p.item.origin != "final" ? 1 : 0;
  for (auto& p : plans) {
    if (!p.upload || p.item.origin == "final") continue;
    throw_if_cancelled();
    const Resource& r = *p.resource;
    plugin::Blobstore& store = blobstore(describe(r) + " of the final release");
    auto stored = blobstore::put_file(store, p.item.archive, strongest_digest(parse_multi_digest(p.item.sha1)).algorithm);
    report(++uploaded, uploads, std::string(kind_dir(r.kind)) + "/" + r.name);
    record_build(index_dir(options.dir / ".final_builds", r.kind, r.name) / "index.yml", p, stored.id);
  }
}

}  // namespace

CreatedRelease create_release(const CreateOptions& options, const BlobstoreAccess& blobstore,
                              const Progress& progress) {
  const fs::path dir = options.dir;
  ReleaseConfig config = load_release_config(dir);
  CreatedRelease release;
  if (!options.name && config.name_conflict)
    fail<InputError>("Expected 'name' or 'final_name' but not both in config '{}'",
                     (dir / "config/final.yml").string());
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

  auto report = [&](const std::string& stage, std::size_t done, std::size_t total, const std::string& item) {
    if (progress) progress(stage, done, total, item);
  };
  sync_blobs(dir, blobstore, progress);
  ReleaseSources sources =
      read_release_dir(dir, options.algorithm, [&](std::size_t done, std::size_t total, const std::string& item) {
        report("Fingerprinting", done, total, item);
      });
  release.warnings = sources.warnings;

  std::vector<const Resource*> resources;
  for (const auto& p : sources.packages) resources.push_back(&p);
  for (const auto& j : sources.jobs) resources.push_back(&j);
  if (sources.license) resources.push_back(&*sources.license);

  const BuildCache cache(options.cache_dir.empty() ? default_build_cache() : options.cache_dir);
  std::vector<Plan> plans;
  for (const Resource* r : resources) plans.push_back(plan_resource(*r, options, cache, blobstore));
  build_new(plans, options, cache, [&](std::size_t done, std::size_t total, const std::string& item) {
    report("Building", done, total, item);
  });
  if (options.final)
    upload_final(plans, options, blobstore, [&](std::size_t done, std::size_t total, const std::string& item) {
      report("Uploading", done, total, item);
    });

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
    release.tarball = detail::write_release_tarball(release, tarball);
    report("Writing release tarball", 1, 1, tarball.string());
  }
  throw_if_cancelled();
  ReleaseIndex index = ReleaseIndex::load(releases_dir / "index.yml");
  index.add(release.version);
  write_file_atomic(release.manifest, release_manifest_yaml(release));
  index.save();
  return release;
}

}  // namespace bosh::release
