// Release engineering: init/generate, create, inspect/verify, and blobs.
#include <unistd.h>

#include <fstream>

#include "../command.hpp"
#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/release/config.hpp"
#include "bosh/release/create.hpp"
#include "bosh/release/spec.hpp"
#include "bosh/release/tarball.hpp"

namespace bosh::cli {

namespace {

namespace fs = std::filesystem;

const plugin::OptionSpec kDirOption{"dir", 0, "Release directory (default: the current directory)", true, "DIR"};
// SHA-256 is the default, as in the Go CLI 7 (whose --sha2 is kept and does nothing).
const plugin::OptionSpec kSha2Option{"sha2", 0, "Use sha256 digests (the default; kept for scripts)", false, ""};
const plugin::OptionSpec kSha1Option{"sha1", 0, "Use sha1 digests (fingerprints and checksums) as CLIs before 7 did",
                                     false, ""};

DigestAlgorithm digest_algorithm(const plugin::Invocation& inv) {
  if (inv.has("sha1") && inv.has("sha2")) throw plugin::UsageError("--sha1 and --sha2 exclude each other");
  return inv.has("sha1") ? DigestAlgorithm::sha1 : DigestAlgorithm::sha256;
}

fs::path release_dir(const plugin::Invocation& inv) { return fs::absolute(inv.value("dir", ".")).lexically_normal(); }

void write_new_file(const fs::path& path, const std::string& content, fs::perms mode = fs::perms::owner_read |
                                                                                       fs::perms::owner_write |
                                                                                       fs::perms::group_read |
                                                                                       fs::perms::others_read) {
  write_file_atomic(path, content, mode);
}

std::string human_size(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string short_digest(const std::string& digest) { return digest; }

// The release blobstore that config/final.yml names (private.yml merged),
// made only when something needs it, so that a dev release of a directory
// naming a blobstore this program lacks (s3, gcs) works as long as all its
// blobs and builds are local. A local blobstore_path is taken relative to
// the release directory.
release::BlobstoreAccess release_blobstore(Context& ctx, const fs::path& dir) {
  auto made = std::make_shared<std::shared_ptr<plugin::Blobstore>>();
  return [&ctx, dir, made](const std::string& why) -> plugin::Blobstore& {
    if (*made) return **made;
    const std::string final_yml = (dir / "config/final.yml").string();
    release::ReleaseConfig config = release::load_release_config(dir);
    if (config.blobstore_provider.empty())
      fail<InputError>("{}: no release blobstore is configured (blobstore.provider), but {} needs one", final_yml,
                       why);
    plugin::Json options = config.blobstore_options.isEmpty() ? plugin::json_object() : config.blobstore_options;
    if (config.blobstore_provider == "local") {
      auto obj = options.extract<Poco::JSON::Object::Ptr>();
      if (obj->has("blobstore_path")) {
        fs::path p = obj->getValue<std::string>("blobstore_path");
        if (p.is_relative()) obj->set("blobstore_path", (dir / p).string());
      }
    }
    try {
      *made = ctx.plugins.create_blobstore(config.blobstore_provider, options);
    } catch (const std::exception& e) {
      fail<InputError>("{}: blobstore provider '{}' cannot be used ({}); {} needs it", final_yml,
                       config.blobstore_provider, e.what(), why);
    }
    return **made;
  };
}

void show_warnings(Context& ctx, const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) ctx.ui.warn(w);
}

// ---- init / generate --------------------------------------------------------

int run_init_release(plugin::Invocation& inv, Context& ctx) {
  fs::path dir = fs::absolute(inv.args.empty() ? "." : inv.args[0]).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  std::error_code ec;
  if (fs::exists(dir / "config/final.yml", ec) || fs::exists(dir / "jobs", ec) || fs::exists(dir / "packages", ec))
    fail<InputError>("{}: already a release directory", dir.string());
  std::string name = dir.filename().string();
  for (const char* sub : {"config", "jobs", "packages", "src", "blobs"}) fs::create_directories(dir / sub);
  write_new_file(dir / "config/final.yml",
                 fmt::format("---\nname: {0}\nblobstore:\n  provider: local\n  options:\n    blobstore_path: "
                             "/tmp/{0}-blobs\n",
                             name));
  write_new_file(dir / "config/blobs.yml", "--- {}\n");
  write_new_file(dir / ".gitignore",
                 "config/dev.yml\nconfig/private.yml\nreleases/*.tgz\nreleases/**/*.tgz\ndev_releases\n"
                 ".dev_builds\n.final_builds/jobs/**/*.tgz\n.final_builds/packages/**/*.tgz\n"
                 ".final_builds/license/*.tgz\nblobs\n.blobs\n.DS_Store\n");
  if (inv.has("git")) {
    auto r = run_process({"git", "init", "-q", dir.string()});
    if (r.exit_code != 0) fail("git init failed: {}", r.err);
  }
  ctx.ui.line("Release directory initialized at " + dir.string());
  return 0;
}

int run_generate_package(plugin::Invocation& inv, Context& ctx) {
  const std::string& name = inv.args[0];
  if (!release::valid_name(name))
    throw plugin::UsageError("package name '" + name + "' may only contain letters, digits, '-', '_' and '.'");
  fs::path dir = release_dir(inv) / "packages" / name;
  std::error_code ec;
  if (fs::exists(dir, ec)) fail<InputError>("{}: package '{}' already exists", dir.string(), name);
  fs::create_directories(dir);
  write_new_file(dir / "spec", fmt::format("---\nname: {}\n\ndependencies: []\n\nfiles: []\n", name));
  write_new_file(dir / "packaging",
                 "# abort script on any command that exits with a non zero value\nset -e -x\n\n"
                 "# Copy files from the package's sources (BOSH_COMPILE_TARGET) and install into\n"
                 "# ${BOSH_INSTALL_TARGET}, e.g.:\n# cp -a my-software/* ${BOSH_INSTALL_TARGET}\n");
  ctx.ui.line("Generated package '" + name + "' in " + dir.string());
  return 0;
}

int run_generate_job(plugin::Invocation& inv, Context& ctx) {
  const std::string& name = inv.args[0];
  if (!release::valid_name(name))
    throw plugin::UsageError("job name '" + name + "' may only contain letters, digits, '-', '_' and '.'");
  fs::path dir = release_dir(inv) / "jobs" / name;
  std::error_code ec;
  if (fs::exists(dir, ec)) fail<InputError>("{}: job '{}' already exists", dir.string(), name);
  fs::create_directories(dir / "templates");
  write_new_file(dir / "spec",
                 fmt::format("---\nname: {}\n\ntemplates: {{}}\n\npackages: []\n\nproperties: {{}}\n", name));
  write_new_file(dir / "monit", "");
  ctx.ui.line("Generated job '" + name + "' in " + dir.string());
  return 0;
}

// ---- create -------------------------------------------------------------------

void show_items(Context& ctx, const std::string& content, const std::vector<release::BuiltItem>& items) {
  Table t;
  t.content = content;
  t.keys = {"name", "fingerprint", "digest", "built", "dependencies"};
  t.headers = {"Name", "Fingerprint", "Digest", "Built", content == "jobs" ? "Packages" : "Dependencies"};
  for (const auto& i : items) {
    std::string deps;
    for (const auto& d : i.dependencies) deps += (deps.empty() ? "" : ", ") + d;
    std::string built = i.origin == "new" ? "new" : "reused (" + i.origin + ")";
    t.rows.push_back({i.name, i.fingerprint, short_digest(i.sha1), built, deps});
  }
  ctx.ui.table(t);
}

int run_create_release(plugin::Invocation& inv, Context& ctx) {
  const fs::path dir = release_dir(inv);
  auto progress = [&](const std::string& stage, std::size_t done, std::size_t total, const std::string& item) {
    ctx.ui.progress(stage, done, total, item);
  };
  if (!inv.args.empty()) {
    fs::path manifest = fs::absolute(inv.args[0]);
    std::optional<fs::path> tarball;
    if (inv.has("tarball")) tarball = fs::absolute(inv.value("tarball"));
    fs::path out = release::create_tarball_from_manifest(dir, manifest, tarball, release_blobstore(ctx, dir), progress);
    ctx.ui.line("Release tarball: " + out.string());
    return 0;
  }
  release::CreateOptions options;
  options.dir = dir;
  options.final = inv.has("final");
  options.force = inv.has("force");
  options.algorithm = digest_algorithm(inv);
  if (inv.has("version")) options.version = inv.value("version");
  if (inv.has("name")) options.name = inv.value("name");
  options.with_tarball = inv.has("with-tarball");
  if (inv.has("tarball")) options.tarball = fs::absolute(inv.value("tarball"));
  options.timestamp_version = inv.has("timestamp-version");
  if (options.final && options.timestamp_version)
    throw plugin::UsageError("--timestamp-version is for dev releases only");
  release::CreatedRelease created = release::create_release(options, release_blobstore(ctx, dir), progress);
  show_warnings(ctx, created.warnings);

  show_items(ctx, "jobs", created.jobs);
  ctx.ui.line("");
  show_items(ctx, "packages", created.packages);
  ctx.ui.line("");
  if (created.license) ctx.ui.line("License: " + created.license->fingerprint + " (" + created.license->origin + ")");
  ctx.ui.line("Name: " + created.name);
  ctx.ui.line("Version: " + created.version);
  ctx.ui.line("Commit hash: " + created.commit_hash + (created.uncommitted_changes ? " (uncommitted changes)" : ""));
  ctx.ui.line("Manifest: " + created.manifest.string());
  if (created.tarball) ctx.ui.line("Tarball: " + created.tarball->string());
  return 0;
}

// ---- inspect / verify -------------------------------------------------------------

void show_manifest(Context& ctx, const release::ReleaseManifest& m) {
  auto table = [&](const std::string& content, const std::vector<release::ManifestItem>& items, bool jobs) {
    if (items.empty() && content == "compiled packages") return;
    Table t;
    t.content = content;
    t.keys = {"name", "version", "fingerprint", "digest", jobs ? "packages" : "dependencies"};
    t.headers = {"Name", "Version", "Fingerprint", "Digest", jobs ? "Packages" : "Dependencies"};
    for (const auto& i : items) {
      std::string deps;
      for (const auto& d : i.dependencies) deps += (deps.empty() ? "" : ", ") + d;
      t.rows.push_back({i.name, i.version, i.fingerprint, i.sha1, deps});
    }
    ctx.ui.table(t);
    ctx.ui.line("");
  };
  table("jobs", m.jobs, true);
  table("packages", m.packages, false);
  table("compiled packages", m.compiled_packages, false);
  if (m.license)
    ctx.ui.line("License: version " + m.license->version + ", fingerprint " + m.license->fingerprint + ", digest " +
                m.license->sha1);
  else
    ctx.ui.line("License: none");
  ctx.ui.line("Name: " + m.name);
  ctx.ui.line("Version: " + m.version);
  ctx.ui.line("Commit hash: " + m.commit_hash + (m.uncommitted_changes ? " (uncommitted changes)" : ""));
}

int run_inspect_release(plugin::Invocation& inv, Context& ctx) {
  std::error_code ec;
  if (!std::filesystem::exists(inv.args[0], ec) && inv.args[0].find('/') != std::string::npos &&
      inv.args[0].find(".tgz") == std::string::npos)
    return inspect_remote_release(inv, ctx);  // NAME/VERSION on the director
  show_manifest(ctx, release::read_release_tarball_manifest(inv.args[0]));
  return 0;
}

int run_verify_release(plugin::Invocation& inv, Context& ctx) {
  auto m = release::verify_release_tarball(inv.args[0]);
  ctx.ui.line(fmt::format("{} is a valid release tarball: {}/{}, {} jobs, {} packages{}", inv.args[0], m.name,
                          m.version, m.jobs.size(), m.packages.size() + m.compiled_packages.size(),
                          m.license ? ", license" : ""));
  return 0;
}

// ---- blobs ------------------------------------------------------------------------

int run_blobs(plugin::Invocation& inv, Context& ctx) {
  const fs::path dir = release_dir(inv);
  Table t;
  t.content = "blobs";
  t.keys = {"path", "size", "blobstore_id", "digest", "local"};
  t.headers = {"Path", "Size", "Blobstore ID", "Digest", "Local copy"};
  t.empty_text = "No blobs.";
  for (const auto& [path, b] : release::load_blobs(dir)) {
    std::error_code ec;
    std::string local = fs::exists(dir / "blobs" / path, ec) ? "yes" : "missing";
    t.rows.push_back({path, human_size(b.size), b.object_id.empty() ? "(not uploaded)" : b.object_id, b.sha, local});
  }
  ctx.ui.table(t);
  return 0;
}

int run_add_blob(plugin::Invocation& inv, Context& ctx) {
  const fs::path dir = release_dir(inv);
  fs::path source = inv.args[0];
  std::error_code ec;
  if (!fs::is_regular_file(source, ec)) fail<InputError>("{}: not a file", source.string());
  std::string prefix = inv.args.size() > 1 ? inv.args[1] : "";
  std::string rel = (fs::path(prefix) / source.filename()).lexically_normal().generic_string();
  if (rel.rfind("../", 0) == 0 || fs::path(rel).is_absolute())
    throw plugin::UsageError("blob path '" + rel + "' must stay inside blobs/");
  auto algorithm = digest_algorithm(inv);
  auto blobs = release::load_blobs(dir);
  fs::path dest = dir / "blobs" / rel;
  fs::create_directories(dest.parent_path());
  if (fs::absolute(source).lexically_normal() != dest.lexically_normal()) {
    fs::path tmp = dest;
    tmp += ".tmp";
    fs::copy_file(source, tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, dest);
  }
  release::BlobRecord record;
  record.size = fs::file_size(dest);
  record.sha = Digest{algorithm, file_digest(dest, algorithm)}.to_string();
  auto old = blobs.find(rel);
  if (old != blobs.end() && old->second.sha == record.sha) record.object_id = old->second.object_id;
  blobs[rel] = record;
  release::save_blobs(dir, blobs);
  ctx.ui.line("Added blob '" + rel + "' (" + human_size(record.size) + ", " + record.sha + ")");
  return 0;
}

int run_upload_blobs(plugin::Invocation& inv, Context& ctx) {
  const fs::path dir = release_dir(inv);
  auto blobs = release::load_blobs(dir);
  auto store = release_blobstore(ctx, dir);
  std::size_t todo = 0, done = 0;
  for (const auto& [_, b] : blobs) todo += b.object_id.empty() ? 1 : 0;
  for (auto& [path, b] : blobs) {
    if (!b.object_id.empty()) continue;
    fs::path local = dir / "blobs" / path;
    std::error_code ec;
    if (!fs::exists(local, ec)) fail<InputError>("blob '{}' is not uploaded and missing from blobs/", path);
    // The digest recorded by add blob is kept (its algorithm too).
    Digest recorded = strongest_digest(parse_multi_digest(b.sha));
    plugin::Blobstore& target = store(fmt::format("uploading blob '{}'", path));
    auto stored = blobstore::put_file(target, local, recorded.algorithm);
    if (stored.digest.hex != recorded.hex) {
      target.delete_blob(stored.id);
      fail<InputError>("blob '{}' changed since it was added (run 'bosh add blob' again)", path);
    }
    b.object_id = stored.id;
    release::save_blobs(dir, blobs);  // after every upload: an interrupted run loses nothing
    ctx.ui.progress("Uploading blobs", ++done, todo, path);
  }
  ctx.ui.line(todo ? fmt::format("Uploaded {} blob{}", todo, todo == 1 ? "" : "s") : "All blobs are uploaded");
  return 0;
}

int run_sync_blobs(plugin::Invocation& inv, Context& ctx) {
  const fs::path dir = release_dir(inv);
  std::size_t todo = release::sync_blobs(dir, release_blobstore(ctx, dir),
                                         [&](const std::string& stage, std::size_t done, std::size_t total,
                                             const std::string& item) { ctx.ui.progress(stage, done, total, item); });
  ctx.ui.line(todo ? fmt::format("Downloaded {} blob{}", todo, todo == 1 ? "" : "s") : "All blobs are present");
  return 0;
}

}  // namespace
void register_release_commands(CommandTable& table) {
  table.add_group({"Release", "", "built-in", true});
  table.add({"Release", "init release", "Create a release directory (config/, jobs/, packages/, src/, blobs/)",
             {{"DIR", false, false}}, {{"git", 0, "Also run git init", false, ""}}, run_init_release});
  table.add({"Release", "generate package", "Create a package skeleton (spec, packaging)", {{"NAME", true, false}},
             {kDirOption}, run_generate_package});
  table.add({"Release", "generate job", "Create a job skeleton (spec, monit, templates/)", {{"NAME", true, false}},
             {kDirOption}, run_generate_job});
  table.add({"Release", "create release",
             "Create a dev or final release (or, given a release manifest, its tarball)",
             {{"MANIFEST", false, false}},
             {{"force", 0, "Create even with uncommitted git changes", false, ""},
              {"final", 0, "Create a final release (uploads new jobs and packages to the blobstore)", false, ""},
              kSha2Option,
              kSha1Option,
              {"version", 0, "The release version (default: the next one)", true, "VERSION"},
              {"name", 0, "The release name (default: config/final.yml's)", true, "NAME"},
              {"with-tarball", 0, "Also write the release tarball", false, ""},
              {"tarball", 0, "Write the release tarball here", true, "PATH"},
              {"timestamp-version", 0, "Dev version from the current time (N+dev.<unix time>)", false, ""},
              kDirOption},
             run_create_release});
  table.add({"Release", "inspect release", "Show a release's jobs, packages, fingerprints and digests (a tarball, or NAME/VERSION on the director)",
             {{"TARBALL|NAME/VERSION", true, false}}, {}, run_inspect_release});
  table.add({"Release", "verify release", "Check a release tarball: structure, every digest, manifest consistency",
             {{"TARBALL", true, false}}, {}, run_verify_release});

  table.add_group({"Blobs", "", "built-in", true});
  table.add({"Blobs", "blobs", "List the release's blobs (config/blobs.yml)", {}, {kDirOption}, run_blobs});
  table.add({"Blobs", "add blob", "Copy a file into blobs/[PREFIX/] and track it in config/blobs.yml",
             {{"PATH", true, false}, {"PREFIX", false, false}}, {kDirOption, kSha2Option, kSha1Option}, run_add_blob});
  table.add({"Blobs", "upload blobs", "Upload blobs not yet in the release blobstore", {}, {kDirOption, kSha2Option},
             run_upload_blobs});
  table.add({"Blobs", "sync blobs", "Download blobs missing from blobs/ (each checked against its digest)", {},
             {kDirOption}, run_sync_blobs});
}

}  // namespace bosh::cli
