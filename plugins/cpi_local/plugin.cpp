// The local CPI's entry point; behaviour is in local_cpi.cpp.
#include "bosh/plugin/cpi.hpp"
#include "bosh/plugin/plugin.hpp"
#include "local_cpi.hpp"

namespace {
std::unique_ptr<bosh::plugin::Cpi> make_local_cpi(bosh::plugin::HostServices& host, const bosh::plugin::Json& config) {
  return std::make_unique<bosh::cpi_local::LocalCpi>(host, bosh::cpi_local::parse_config(config));
}
}  // namespace

BOSH_PLUGIN_DESCRIBED(cpi, "local", BOSH_VERSION, "VMs as local process trees, disks as directories", &make_local_cpi)
