// The plugin's entry point: only the BOSH_PLUGIN line.
#include "bosh/plugin/plugin.hpp"
#include "greet.hpp"

BOSH_PLUGIN_DESCRIBED(cli, "greet", "1.0.0", "Example third-party command group", &make_greet_group)
