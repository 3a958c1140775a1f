#include "bosh/release/release_dir.hpp"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "bosh/common/error.hpp"
#include "bosh/common/glob.hpp"
#include "bosh/common/yaml.hpp"
#include "bosh/release/config.hpp"

namespace bosh::release {

namespace fs = std::filesystem;

std::string_view kind_dir(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::job: return "jobs";
    case ResourceKind::package: return "packages";
    default: return "license";
  }
}

namespace {

std::vector<fs::path> subdirectories(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_directory(ec) && entry.path().filename().string()[0] != '.') out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string rel(const fs::path& dir, const fs::path& p) { return p.lexically_relative(dir).generic_string(); }

}  // namespace

Job read_job_dir(const fs::path& release_dir, const fs::path& job_dir, DigestAlgorithm algorithm, Warnings* warnings) {
  const fs::path spec_path = job_dir / "spec";
  const std::string shown = rel(release_dir, spec_path);
  std::error_code ec;
  if (!fs::is_regular_file(spec_path, ec)) fail<InputError>("{}: job has no spec file", rel(release_dir, job_dir));
  Job job;
  job.kind = ResourceKind::job;
  job.spec = load_job_spec(spec_path, shown, warnings);
  job.name = job.spec.name;
  if (job_dir.filename().string() != job.name)
    fail<InputError>("{}: Job directory '{}' does not match job name '{}' in spec", shown,
                     job_dir.filename().string(), job.name);
  job.follow_symlinks = true;
  job.files.push_back({spec_path, "job.MF"});
  if (fs::exists(job_dir / "monit", ec)) job.files.push_back({job_dir / "monit", "monit"});
  for (const auto& [src, dest] : job.spec.templates) {
    // As Go's filepath.Join cleans it: "./a.erb" and "sub//b.erb" are templates/a.erb and templates/sub/b.erb.
    const fs::path p = (job_dir / "templates" / src).lexically_normal();
    const std::string relative = p.lexically_relative(job_dir).generic_string();
    if (relative.empty() || relative == "." || relative.rfind("..", 0) == 0 ||
        relative.rfind("templates/", 0) != 0)
      fail<InputError>("{}: template '{}' is outside the job's templates/ folder", shown, src);
    if (!fs::exists(p, ec))
      fail<InputError>("{}: template '{}' does not exist (looked for {})", shown, src, rel(release_dir, p));
    job.files.push_back({p, relative});
  }
  job.fingerprint = fingerprint(job.files, {}, algorithm, true);
  return job;
}

namespace {

// bosh-cli's isPackageableFile: regular files and symlinks; a file reached
// through a symlinked directory is left out.
bool packageable(const fs::path& src_dir, const fs::path& path) {
  std::error_code ec;
  auto status = fs::symlink_status(path, ec);
  if (ec || status.type() == fs::file_type::directory) return false;
  if (status.type() == fs::file_type::symlink) return true;
  fs::path full_src = fs::weakly_canonical(src_dir, ec);
  fs::path full = fs::weakly_canonical(path, ec);
  return path.lexically_relative(src_dir) == full.lexically_relative(full_src);
}

}  // namespace

namespace {

// packages/<dir>/spec.lock (bosh vendor-package): {name, fingerprint, dependencies}.
Package read_vendored_package(const fs::path& release_dir, const fs::path& lock_path, Warnings* warnings) {
  const std::string shown = rel(release_dir, lock_path);
  YAML::Node root = load_yaml_file(lock_path);
  if (!root.IsMap()) fail<InputError>("{}: expected a map, got {}", yaml_where(root, shown), yaml_type_name(root));
  Package pkg;
  pkg.kind = ResourceKind::package;
  pkg.vendored = true;
  pkg.lock_file = lock_path;
  pkg.spec.name = yaml_string(root, "name", shown);
  if (pkg.spec.name.empty() || !valid_name(pkg.spec.name))
    fail<InputError>("{}: spec.lock needs a valid 'name'", shown);
  pkg.fingerprint = yaml_string(root, "fingerprint", shown);
  if (pkg.fingerprint.empty()) fail<InputError>("{}: spec.lock needs the package's 'fingerprint'", shown);
  if (YAML::Node deps = yaml_list(root, "dependencies", shown))
    for (const auto& d : deps) pkg.spec.dependencies.push_back(d.Scalar());
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (key != "name" && key != "fingerprint" && key != "dependencies" && warnings)
      warnings->push_back(fmt::format("{}: unknown key '{}' in a spec.lock ignored", yaml_where(kv.first, shown), key));
  }
  pkg.name = pkg.spec.name;
  return pkg;
}

}  // namespace

Package read_package_dir(const fs::path& release_dir, const fs::path& pkg_dir, DigestAlgorithm algorithm,
                         Warnings* warnings, const std::set<std::string>* tracked_blobs) {
  std::error_code ec;
  if (fs::is_regular_file(pkg_dir / "spec.lock", ec))  // as Go: the lock wins over any spec
    return read_vendored_package(release_dir, pkg_dir / "spec.lock", warnings);
  const fs::path spec_path = pkg_dir / "spec";
  const std::string shown = rel(release_dir, spec_path);
  if (!fs::is_regular_file(spec_path, ec))
    fail<InputError>("{}: package has no spec file (nor a spec.lock)", rel(release_dir, pkg_dir));
  Package pkg;
  pkg.kind = ResourceKind::package;
  pkg.spec = load_package_spec(spec_path, shown, warnings);
  pkg.name = pkg.spec.name;
  if (!fs::is_regular_file(pkg_dir / "packaging", ec))
    fail<InputError>("{}: package '{}' has no packaging script", rel(release_dir, pkg_dir / "packaging"), pkg.name);
  pkg.files.push_back({pkg_dir / "packaging", "packaging", false, true});
  if (fs::is_regular_file(pkg_dir / "pre_packaging", ec)) {
    FingerprintFile prep{pkg_dir / "pre_packaging", "pre_packaging", false, true};
    pkg.files.push_back(prep);
    pkg.prep_files.push_back(prep);
  }

  const fs::path src_dir = release_dir / "src", blobs_dir = release_dir / "blobs";
  std::map<std::string, FingerprintFile> by_rel;
  for (const auto& glob : pkg.spec.files) {
    bool matched = false;
    for (const fs::path& base : {src_dir, blobs_dir}) {
      for (const auto& path : recursive_glob(base, glob)) {
        if (!packageable(src_dir, path)) continue;
        const std::string relative = rel(base, path);
        if (base == blobs_dir && tracked_blobs && !tracked_blobs->count(relative)) {
          if (warnings)
            warnings->push_back(fmt::format("blobs/{} is not in config/blobs.yml: left out of package '{}'", relative,
                                            pkg.name));
          continue;
        }
        matched = true;
        by_rel.try_emplace(relative, FingerprintFile{path, relative});
      }
    }
    if (!matched)
      fail<InputError>("{}: files pattern '{}' of package '{}' matches no file in src/ or blobs/", shown, glob,
                       pkg.name);
  }
  for (const auto& glob : pkg.spec.excluded_files)
    for (const fs::path& base : {src_dir, blobs_dir})
      for (const auto& path : recursive_glob(base, glob)) by_rel.erase(rel(base, path));
  for (const char* special : {"packaging", "pre_packaging"})
    if (by_rel.count(special))
      fail<InputError>("{}: package '{}' may not include its special file '{}' through 'files'", shown, pkg.name,
                       special);
  for (auto& [_, file] : by_rel) pkg.files.push_back(std::move(file));
  pkg.fingerprint = fingerprint(pkg.files, pkg.spec.dependencies, algorithm, false);
  return pkg;
}

std::optional<Resource> read_license_dir(const fs::path& release_dir, DigestAlgorithm algorithm) {
  Resource license;
  license.kind = ResourceKind::license;
  license.name = "license";
  std::vector<fs::path> matches;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(release_dir, ec)) {
    std::string name = entry.path().filename().string();
    if ((name.rfind("LICENSE", 0) == 0 || name.rfind("NOTICE", 0) == 0) && !entry.is_directory(ec))
      matches.push_back(entry.path());
  }
  if (matches.empty()) return std::nullopt;
  std::sort(matches.begin(), matches.end());
  for (const auto& m : matches) license.files.push_back({m, m.filename().string(), true, true});
  license.fingerprint = fingerprint(license.files, {}, algorithm, false);
  return license;
}

std::vector<std::string> dependency_order(const std::vector<PackageSpec>& packages) {
  std::map<std::string, const PackageSpec*> by_name;
  for (const auto& p : packages) by_name[p.name] = &p;
  std::vector<std::string> order;
  std::map<std::string, int> state;  // 0 new, 1 visiting, 2 done
  std::vector<std::string> stack;
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    if (state[name] == 2) return;
    if (state[name] == 1) {
      auto start = std::find(stack.begin(), stack.end(), name);
      std::string cycle;
      for (auto it = start; it != stack.end(); ++it) cycle += *it + " -> ";
      fail<InputError>("packages have a dependency cycle: {}{}", cycle, name);
    }
    state[name] = 1;
    stack.push_back(name);
    for (const auto& dep : by_name.at(name)->dependencies) {
      if (!by_name.count(dep))
        fail<InputError>("package '{}' depends on '{}', which is not a package of this release", name, dep);
      visit(dep);
    }
    stack.pop_back();
    state[name] = 2;
    order.push_back(name);
  };
  for (const auto& [name, _] : by_name) visit(name);
  return order;
}

ReleaseSources read_release_dir(const fs::path& dir, DigestAlgorithm algorithm,
                                const std::function<void(std::size_t, std::size_t, const std::string&)>& progress) {
  ReleaseSources out;
  out.dir = dir;
  std::error_code ec;
  if (!fs::is_directory(dir / "jobs", ec) && !fs::is_directory(dir / "packages", ec))
    fail<InputError>("{}: not a release directory (no jobs/ or packages/)", dir.string());
  const auto package_dirs = subdirectories(dir / "packages"), job_dirs = subdirectories(dir / "jobs");
  const std::size_t total = package_dirs.size() + job_dirs.size();
  std::size_t done = 0;
  auto report = [&](const char* kind, const std::string& name) {
    if (progress) progress(++done, total, std::string(kind) + "/" + name);
  };
  // What blobs/ may give packages: the files config/blobs.yml lists; a
  // symlink there is refused (the Go CLI refuses it too).
  std::set<std::string> tracked;
  for (const auto& [path, record] : load_blobs(dir)) tracked.insert(path);
  if (fs::is_directory(dir / "blobs", ec))
    for (auto it = fs::recursive_directory_iterator(dir / "blobs", ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_symlink(ec))
        fail<InputError>("{}: a symlink in blobs/; blobs are files (bosh add blob)", rel(dir, it->path()));
  std::map<std::string, Package> packages;
  std::map<std::string, fs::path> package_folder;
  for (const auto& pkg_dir : package_dirs) {
    Package p = read_package_dir(dir, pkg_dir, algorithm, &out.warnings, &tracked);
    report("packages", p.name);
    if (auto [it, fresh] = package_folder.emplace(p.name, pkg_dir); !fresh)
      fail<InputError>("package '{}' is defined twice: in {} and in {}", p.name, rel(dir, it->second), rel(dir, pkg_dir));
    packages.emplace(p.name, std::move(p));
  }
  std::vector<PackageSpec> specs;
  for (const auto& [_, p] : packages) specs.push_back(p.spec);
  for (const auto& name : dependency_order(specs)) out.packages.push_back(std::move(packages.at(name)));
  for (const auto& job_dir : job_dirs) {
    Job job = read_job_dir(dir, job_dir, algorithm, &out.warnings);
    report("jobs", job.name);
    for (const auto& pkg : job.spec.packages)
      if (!packages.count(pkg))
        fail<InputError>("{}: job '{}' needs package '{}', which is not a package of this release",
                         rel(dir, job_dir / "spec"), job.name, pkg);
    out.jobs.push_back(std::move(job));
  }
  out.license = read_license_dir(dir, algorithm);
  return out;
}

}  // namespace bosh::release
