#pragma once

#include <memory>

#include "bosh/plugin/cli.hpp"

std::unique_ptr<bosh::plugin::CommandGroup> make_greet_group(bosh::plugin::HostServices& host);
