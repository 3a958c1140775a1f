// Names and versions of what users upload and deploy (releases, stemcells,
// jobs, packages, deployments, instance groups): BOSH's characters only, so
// every one can be addressed in a URL and shown in any terminal.
#pragma once

#include <string>
#include <string_view>

namespace bosh {

// True for 1..255 characters of [A-Za-z0-9_.+-], other than "." and "..".
bool is_bosh_name(std::string_view value);

// InputError "<what> '<value>' may only have letters, digits, '-', '_', '.'
// and '+'" (the value shown with its bad bytes escaped) unless is_bosh_name.
void check_bosh_name(std::string_view what, std::string_view value);

}  // namespace bosh
