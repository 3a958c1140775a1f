// bosh-local-stemcell: builds the local CPI's stemcell from the built agent.
//
//   bosh-local-stemcell [--out FILE] [--version V] [--name NAME] [--os OS] [--agent PATH] [--init PATH]
//
// The stemcell is what BOSH stemcells are: a tarball of stemcell.MF and an
// image. Here the image is a .tgz holding bin/bosh-agent, bin/bosh-vm-init
// and bin/monit (copied from PATH), which the local CPI unpacks and runs.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdlib>
#include <iostream>

#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

fs::path find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (!candidate.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

void copy_executable(const fs::path& from, const fs::path& to) {
  if (access(from.c_str(), X_OK) != 0) bosh::fail("{}: not an executable file", from.string());
  fs::copy_file(fs::canonical(from), to, fs::copy_options::overwrite_existing);
  fs::permissions(to, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                          fs::perms::others_read | fs::perms::others_exec);
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path bin = bosh::executable_path().parent_path();
  po::options_description desc("bosh-local-stemcell options");
  desc.add_options()("help,h", "Show help")("out", po::value<std::string>(), "The stemcell tarball to write")(
      "version", po::value<std::string>()->default_value(BOSH_VERSION), "The stemcell's version")(
      "name", po::value<std::string>()->default_value("bosh-local-go_agent"), "The stemcell's name")(
      "os", po::value<std::string>()->default_value("local"), "The stemcell's operating_system")(
      "agent", po::value<std::string>()->default_value((bin / "bosh-agent").string()), "The bosh-agent binary")(
      "init", po::value<std::string>()->default_value((bin / "bosh-vm-init").string()), "The bosh-vm-init binary")(
      "sshd", po::value<std::string>()->default_value("/usr/local/lib/bosh-cpp/sshd"),
      "The sshd `bosh ssh` starts on a VM (scripts/install-deps puts Debian's there); none: VMs without ssh");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    const std::string version = vm["version"].as<std::string>();
    const fs::path out = vm.count("out") ? fs::path(vm["out"].as<std::string>())
                                         : fs::path("bosh-local-stemcell-" + version + ".tgz");
    const fs::path monit = find_on_path("monit");
    if (monit.empty()) bosh::fail("monit is not on PATH (scripts/install-deps installs it)");

    bosh::TempDir work("bosh-local-stemcell");
    const fs::path image_dir = work.path() / "image", stage = work.path() / "stemcell";
    fs::create_directories(image_dir / "bin");
    fs::create_directories(stage);
    copy_executable(vm["agent"].as<std::string>(), image_dir / "bin/bosh-agent");
    copy_executable(vm["init"].as<std::string>(), image_dir / "bin/bosh-vm-init");
    copy_executable(monit, image_dir / "bin/monit");
    const fs::path sshd = vm["sshd"].as<std::string>();
    std::error_code ec;
    if (fs::exists(sshd, ec))
      copy_executable(sshd, image_dir / "bin/sshd");
    else if (!vm["sshd"].defaulted())
      bosh::fail("--sshd {}: no such file", sshd.string());
    else
      std::cerr << "bosh-local-stemcell: no sshd at " << sshd.string() << ": VMs of this stemcell have no bosh ssh\n";
    bosh::create_tgz(image_dir, stage / "image");
    const std::string sha1 = bosh::file_digest(stage / "image", bosh::DigestAlgorithm::sha1);
    bosh::write_file_atomic(stage / "stemcell.MF",
                            fmt::format("---\nname: {}\nversion: '{}'\nbosh_protocol: '1'\napi_version: 2\n"
                                        "operating_system: {}\nstemcell_formats:\n- local-tgz\nsha1: {}\n"
                                        "cloud_properties: {{}}\n",
                                        vm["name"].as<std::string>(), version, vm["os"].as<std::string>(), sha1));
    bosh::create_tgz(stage, out, {"stemcell.MF", "image"});
    std::cout << "Stemcell " << vm["name"].as<std::string>() << "/" << version << " (" << vm["os"].as<std::string>()
              << "): " << fs::absolute(out).string() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bosh-local-stemcell: " << e.what() << "\n";
    return 1;
  }
}
